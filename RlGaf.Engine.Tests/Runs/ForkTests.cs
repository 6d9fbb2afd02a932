using RlGaf.Engine.Runs;

namespace RlGaf.Engine.Tests.Runs;

/// <summary>Forks from a kept checkpoint: unchanged they replay the parent exactly; a changed setting acts from the fork step.</summary>
[Collection("runs")]
public class ForkTests
{
    private static List<(int Step, string Key, double Value)> Collect(AdversarialRun run)
    {
        var list = new List<(int, string, double)>();
        run.MetricsLogged += (step, m) =>
        {
            foreach (var (k, v) in m.Where(kv => !kv.Key.StartsWith("time/", StringComparison.Ordinal)).OrderBy(kv => kv.Key))
                list.Add((step, k, v));
        };
        return list;
    }

    [Theory]
    [InlineData(TrainingMethod.Ppo)]
    [InlineData(TrainingMethod.Gumbel)]
    public void A_fork_without_changes_reproduces_the_parents_later_steps_and_a_changed_live_setting_differs(TrainingMethod method)
    {
        var settings = TinySft.Settings(method);
        var root = Directory.CreateTempSubdirectory("rlgaf-fork-").FullName;
        try
        {
            var parentDir = Path.Combine(root, "parent");
            List<(int Step, string Key, double Value)> parent;
            using (var run = AdversarialRun.Create(parentDir, settings, root))
            {
                parent = Collect(run);
                run.Execute();
                Assert.Equal(RunStatus.Completed, run.Status);
            }
            Assert.Contains(RunCheckpoint.List(parentDir), c => c.Step == 2);
            var atFork = RunFork.ParentSettings(RunFork.RequireCheckpoint(parentDir, "parent", 2).Path);

            // Unchanged: every metric after step 2 equal to the parent's, bit for bit.
            var same = RunFork.Settings(atFork, 2, []);
            RunFork.Prepare(parentDir, "parent", 2, Path.Combine(root, "same"), same);
            List<(int Step, string Key, double Value)> replay;
            var events = new List<RunEvent>();
            using (var run = AdversarialRun.Open(Path.Combine(root, "same"), root))
            {
                Assert.Equal(2, run.Step);
                replay = Collect(run);
                run.EventRaised += events.Add;
                run.Execute();
                Assert.Equal(RunStatus.Completed, run.Status);
            }
            var expected = parent.Where(p => p.Step > 2).ToList();
            Assert.Equal(expected.Count, replay.Count);
            for (int i = 0; i < expected.Count; i++)
                Assert.True(expected[i].Equals(replay[i]) || (expected[i].Step == replay[i].Step && expected[i].Key == replay[i].Key && double.IsNaN(expected[i].Value) && double.IsNaN(replay[i].Value)),
                    $"{method}: entry {i} differs: parent {expected[i]} vs fork {replay[i]}");
            Assert.Contains(events, e => e.Kind == RunEventKinds.Fork && e.Step == 2 && e.Message.Contains("run parent at step 2"));
            Assert.DoesNotContain(events, e => e.Kind == RunEventKinds.Setting);

            // A live setting changed at the fork: the fork's steps differ from the parent's, and the change is an event at step 2.
            var changed = RunFork.Settings(atFork, 2, [("gen_lr", "0.01")]);
            RunFork.Prepare(parentDir, "parent", 2, Path.Combine(root, "changed"), changed);
            List<(int Step, string Key, double Value)> other;
            events.Clear();
            using (var run = AdversarialRun.Open(Path.Combine(root, "changed"), root))
            {
                Assert.Equal(0.01, run.Settings.GenLr);
                other = Collect(run);
                run.EventRaised += events.Add;
                run.Execute();
            }
            Assert.Equal(expected.Select(e => (e.Step, e.Key)), other.Select(e => (e.Step, e.Key)));
            Assert.NotEqual(expected.Where(e => e.Step == 3).Select(e => e.Value), other.Where(e => e.Step == 3).Select(e => e.Value));
            Assert.Contains(events, e => e is { Kind: RunEventKinds.Setting, Step: 2, Setting: "gen_lr", OldValue: "0.0001", NewValue: "0.01" });

            // Continued later from its own newer checkpoint, the fork keeps its settings.
            using (var run = AdversarialRun.Open(Path.Combine(root, "changed"), root)) Assert.Equal(0.01, run.Settings.GenLr);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void A_step_without_a_kept_checkpoint_and_a_set_up_setting_are_refused_by_name()
    {
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { Steps = 4, KeepCheckpoints = 2 };
        var root = Directory.CreateTempSubdirectory("rlgaf-fork-refused-").FullName;
        try
        {
            var parentDir = Path.Combine(root, "p");
            using (var run = AdversarialRun.Create(parentDir, settings, root)) run.Execute();
            var e = Assert.Throws<ArgumentException>(() => RunFork.RequireCheckpoint(parentDir, "p", 3));
            Assert.Equal("step: run p has no kept checkpoint at step 3 (kept checkpoints are at steps 2, 4); a fork starts from a kept checkpoint.", e.Message);
            // Step 0's checkpoint was pruned (keep_checkpoints = 2).
            Assert.Contains("steps 2, 4", Assert.Throws<ArgumentException>(() => RunFork.Prepare(parentDir, "p", 0, Path.Combine(root, "f"), settings)).Message);
            Assert.False(Directory.Exists(Path.Combine(root, "f")));

            var atFork = RunFork.ParentSettings(RunFork.RequireCheckpoint(parentDir, "p", 2).Path);
            var g = Assert.Throws<ArgumentException>(() => RunFork.Settings(atFork, 2, [("generator", "pretrain")]));
            Assert.StartsWith("generator: fixed when the parent run was set up", g.Message);
            Assert.StartsWith("method:", Assert.Throws<ArgumentException>(() => RunFork.Settings(atFork, 2, [("method", "ppo")])).Message);
            Assert.StartsWith("steps: 2 must be above the fork step 2", Assert.Throws<ArgumentException>(() => RunFork.Settings(atFork, 2, [("steps", "2")])).Message);
            Assert.StartsWith("gen_lr:", Assert.Throws<ArgumentException>(() => RunFork.Settings(atFork, 2, [("gen_lr", "5")])).Message);
            // The same value as the parent's is no change: allowed.
            Assert.Equal(atFork.Generator, RunFork.Settings(atFork, 2, [("generator", atFork.Generator), ("steps", "8")]).Generator);
        }
        finally { Directory.Delete(root, true); }
    }
}
