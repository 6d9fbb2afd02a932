using RlGaf.Engine.Runs;

namespace RlGaf.Engine.Tests.Runs;

[Collection("runs")]
public class ControlTests
{
    [Fact]
    public void Live_change_lands_at_the_next_step_and_is_recorded()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-live-").FullName;
        try
        {
            using var run = AdversarialRun.Create(Path.Combine(root, "r"), TinySft.Settings(TrainingMethod.Gumbel), root);
            var tauByStep = new Dictionary<int, double>();
            run.MetricsLogged += (step, m) =>
            {
                if (m.TryGetValue("gumbel/tau", out var tau) && m.ContainsKey("gen/loss")) tauByStep[step] = tau;
                // Asked during step 2's bookkeeping, on the run's own thread: must apply before step 3.
                if (step == 2 && m.ContainsKey("gen/loss")) run.RequestChange("gumbel_tau", "0.25");
            };
            run.Execute();
            var e = Assert.Single(run.Events, x => x.Kind == RunEventKinds.Setting);
            Assert.Equal(2, e.Step);
            Assert.Equal("gumbel_tau", e.Setting);
            Assert.Equal("0", e.OldValue);
            Assert.Equal("0.25", e.NewValue);
            Assert.NotEqual(0.25, tauByStep[2], 6);
            Assert.Equal(0.25, tauByStep[3], 6);
            Assert.Equal(0.25, tauByStep[6], 6);
            Assert.Equal(0.25, run.Settings.GumbelTau);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Invalid_or_frozen_live_changes_are_refused_with_the_reason()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-live-").FullName;
        try
        {
            using var run = AdversarialRun.Create(Path.Combine(root, "r"), TinySft.Settings(TrainingMethod.Reinforce), root);
            Assert.Contains("gen_lr", Assert.Throws<ArgumentException>(() => run.RequestChange("gen_lr", "-1")).Message);
            Assert.Contains("d_steps", Assert.Throws<ArgumentException>(() => run.RequestChange("d_steps", "many")).Message);
            Assert.Contains("cannot change while a run trains", Assert.Throws<ArgumentException>(() => run.RequestChange("batch_size", "8")).Message);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Nan_loss_pauses_the_run_and_keeps_the_last_good_checkpoint()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-nan-").FullName;
        try
        {
            var dir = Path.Combine(root, "r");
            using var run = AdversarialRun.Create(dir, TinySft.Settings(TrainingMethod.Reinforce), root);
            run.FaultInjectionStep = 3; // the 4th generator update produces a NaN loss
            var statuses = new List<(RunStatus, string?)>();
            run.StatusChanged += (s, m) =>
            {
                statuses.Add((s, m));
                if (s == RunStatus.Paused) run.RequestStop(); // a user who reads the reason and stops
            };
            run.Execute();
            var paused = Assert.Single(statuses, s => s.Item1 == RunStatus.Paused);
            Assert.Contains("non-finite", paused.Item2);
            Assert.Contains(run.Events, e => e.Kind == RunEventKinds.NonFinite && e.Step == 3);
            Assert.Equal(3, run.Step);
            var good = RunCheckpoint.LatestGood(dir, []);
            Assert.Equal(2, good!.Value.Step);
            Assert.Null(RunCheckpoint.Verify(good.Value.Path));
            Assert.DoesNotContain(RunCheckpoint.List(dir), c => c.Step > 3);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void After_a_nan_pause_a_lower_learning_rate_and_resume_continue_from_the_last_good_checkpoint()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-nan2-").FullName;
        try
        {
            var dir = Path.Combine(root, "r");
            using var run = AdversarialRun.Create(dir, TinySft.Settings(TrainingMethod.Ppo), root);
            run.FaultInjectionStep = 3;
            var rolledBackTo = new List<int>();
            run.ResumedFromCheckpoint += rolledBackTo.Add;
            run.StatusChanged += (s, _) =>
            {
                if (s != RunStatus.Paused) return;
                run.RequestChange("gen_lr", "0.00005"); // what a user does after a NaN
                run.RequestResume();
            };
            run.Execute();
            Assert.Equal(RunStatus.Completed, run.Status);
            Assert.Equal([2], rolledBackTo);
            Assert.Equal(5e-5, run.Settings.GenLr);
            Assert.Contains(run.Events, e => e.Kind == RunEventKinds.Restart && e.Step == 2);
            Assert.Equal(6, run.Step);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Pause_then_resume_continues_and_completes()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-pause-").FullName;
        try
        {
            using var run = AdversarialRun.Create(Path.Combine(root, "r"), TinySft.Settings(TrainingMethod.Sft), root);
            var steps = new List<int>();
            run.MetricsLogged += (step, m) => { if (m.ContainsKey("gen/loss")) steps.Add(step); if (step == 2 && m.ContainsKey("gen/loss")) run.RequestPause(); };
            run.StatusChanged += (s, _) => { if (s == RunStatus.Paused) ThreadPool.QueueUserWorkItem(_ => { Thread.Sleep(50); run.RequestResume(); }); };
            run.Execute();
            Assert.Equal(RunStatus.Completed, run.Status);
            Assert.Equal([1, 2, 3, 4, 5, 6], steps);
            Assert.Contains(run.Events, e => e.Kind == RunEventKinds.Pause && e.Step == 2);
            Assert.Contains(run.Events, e => e.Kind == RunEventKinds.Resume && e.Step == 2);
            Assert.Contains(RunCheckpoint.List(Path.Combine(root, "r")), c => c.Step == 2);
        }
        finally { Directory.Delete(root, true); }
    }
}
