using RlGaf.Engine.Runs;
using RlGaf.Workbench.Sweeps;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Sweeps;

/// <summary>
/// The runner through the executor contract, with a scripted executor (no training): ASHA stops exactly the
/// trials that lose at a rung, max_parallel holds, and a runner cut off is resumed from the persisted
/// handles (re-attached, not submitted again; finished trials kept).
/// </summary>
public sealed class SweepRunnerTests : IDisposable
{
    private readonly string _root = TestApp.NewDataRoot();

    public void Dispose() => TestApp.TryDelete(_root);

    /// <summary>A cluster in memory: each poll moves every running trial one step, logging its scripted value.</summary>
    private sealed class ScriptedExecutor(Func<int, int, double> value, int steps) : ITrialExecutor
    {
        public readonly Dictionary<string, (int Index, TrialState State, int Step, string? Reason)> Trials = [];
        public readonly List<(int Index, string Reason)> Stops = [];
        public readonly List<int> Submitted = [];
        public readonly List<int> Reattached = [];
        public int MostRunning;
        private int _maxParallel;

        public string Name => "scripted";

        public IReadOnlyList<TrialHandle> Submit(IReadOnlyList<TrialSpec> trials, int maxParallel)
        {
            _maxParallel = maxParallel;
            foreach (var t in trials) { Trials[$"job_{t.Index}"] = (t.Index, TrialState.Queued, 0, null); Submitted.Add(t.Index); }
            return trials.Select(t => new TrialHandle(Name, $"job_{t.Index}")).ToList();
        }

        public IReadOnlyList<TrialProgress> Poll(IReadOnlyList<TrialHandle> handles, string metric)
        {
            lock (Trials)
            {
                foreach (var (id, t) in Trials.OrderBy(t => t.Value.Index).ToList())
                {
                    if (t.State == TrialState.Running) Trials[id] = t.Step + 1 >= steps ? t with { Step = steps, State = TrialState.Completed } : t with { Step = t.Step + 1 };
                }
                foreach (var (id, t) in Trials.OrderBy(t => t.Value.Index).ToList())
                    if (t.State == TrialState.Queued && Trials.Values.Count(x => x.State == TrialState.Running) < _maxParallel) Trials[id] = t with { State = TrialState.Running };
                MostRunning = Math.Max(MostRunning, Trials.Values.Count(x => x.State == TrialState.Running));
                return handles.Select(h =>
                {
                    var t = Trials[h.Id];
                    var values = Enumerable.Range(1, t.Step).Select(s => new MetricValue(s, value(t.Index, s))).ToList();
                    return new TrialProgress(t.State, t.Step, steps, t.Reason, values, $"run-{t.Index}");
                }).ToList();
            }
        }

        public void Stop(TrialHandle handle, string reason)
        {
            lock (Trials)
            {
                var t = Trials[handle.Id];
                Stops.Add((t.Index, reason));
                if (t.State is TrialState.Queued or TrialState.Running) Trials[handle.Id] = t with { State = TrialState.Stopped, Reason = reason };
            }
        }

        public void CancelAll(IReadOnlyList<TrialHandle> handles, string reason) { foreach (var h in handles) Stop(h, reason); }

        public IReadOnlyList<TrialHandle> Reattach(IReadOnlyList<(TrialSpec Spec, TrialHandle Handle)> trials, int maxParallel)
        {
            _maxParallel = maxParallel;
            Reattached.AddRange(trials.Select(t => t.Spec.Index));
            return trials.Select(t => t.Handle).ToList();
        }
    }

    private (SweepRecord, List<TrialRecord>) Plan(SweepStore store, int maxParallel, int steps = 8)
    {
        var config = SweepFileParser.Parse($$"""
            method: grid
            metric: {name: loss, goal: minimize}
            early_terminate: {type: hyperband, min_iter: 2, eta: 2}
            parameters:
              d_steps: {values: [1, 2, 3, 4]}
              steps: {value: {{steps}}}
            """, "s.yaml", Presets.Get);
        var id = store.NewId();
        var trials = SweepPlanner.Trials(config, id, store.Dir(id)).Select(TrialRecord.From).ToList();
        var sweep = new SweepRecord
        {
            Id = id, Name = "t", Status = SweepStatus.Running, Executor = "scripted", MaxParallel = maxParallel, MetricName = "loss", Goal = MetricGoal.Minimize,
            AshaMinIter = 2, AshaEta = 2, ParameterKeys = ["d_steps", "steps"], CreatedUtc = DateTime.UtcNow,
        };
        store.Save(sweep, trials);
        return (sweep, trials);
    }

    // Trial i logs a constant: 5, 4, 6, 3 (lower is better).
    private static double Constant(int index, int step) => new[] { 5.0, 4, 6, 3 }[index];

    [Theory]
    [InlineData(4)]
    [InlineData(2)]
    public void ASHA_stops_exactly_the_trial_that_loses_at_the_first_rung(int maxParallel)
    {
        var store = new SweepStore(_root);
        var (sweep, trials) = Plan(store, maxParallel);
        var exec = new ScriptedExecutor(Constant, 8);
        using var runner = new SweepRunner(store, sweep, trials, exec) { PollInterval = TimeSpan.FromMilliseconds(5) };
        runner.Start();
        Assert.True(runner.Wait(TimeSpan.FromSeconds(30)));

        // Rung 2, in arrival order: 5 (first, kept), 4 (2 there, top 1: kept), 6 (3 there, top 2: rank 3, stopped), 3 (kept).
        // Rung 4: 5, 4, 3 arrive in that order and each is within the top ceil(n/2) when it arrives.
        var (done, final) = runner.Snapshot();
        Assert.Equal(SweepStatus.Completed, done.Status);
        Assert.Equal([TrialState.Completed, TrialState.Completed, TrialState.Stopped, TrialState.Completed], final.Select(t => t.State));
        Assert.Equal([null, null, 2, null], final.Select(t => t.StoppedAtRung));
        Assert.Equal(2, Assert.Single(exec.Stops).Index);
        Assert.StartsWith("stopped by ASHA at step 2", final[2].Reason);
        Assert.Equal(maxParallel, exec.MostRunning);
        Assert.Contains("best configuration 3 (d_steps=4, steps=8): loss 3", done.Message);
        // What the folder says is what the runner said.
        var (saved, savedTrials) = store.Load(sweep.Id)!.Value;
        Assert.Equal(SweepStatus.Completed, saved.Status);
        Assert.Equal(final.Select(t => t.State), savedTrials.Select(t => t.State));
        Assert.Equal(7, saved.Rungs.Count);
    }

    [Fact]
    public void A_runner_cut_off_is_resumed_from_its_handles_without_resubmitting()
    {
        var store = new SweepStore(_root);
        var (sweep, trials) = Plan(store, maxParallel: 1, steps: 3); // rung 2 only
        var exec = new ScriptedExecutor(Constant, 3);
        var first = new SweepRunner(store, sweep, trials, exec) { PollInterval = TimeSpan.FromMilliseconds(5) };
        first.Start();
        SpinWait.SpinUntil(() => first.Snapshot().Trials.Count(t => t.Ended) >= 2, TimeSpan.FromSeconds(30));
        first.Dispose(); // the process stops: nothing is cancelled
        var (cut, cutTrials) = store.Load(sweep.Id)!.Value;
        Assert.Equal(SweepStatus.Running, cut.Status);
        var endedBefore = cutTrials.Where(t => t.Ended).Select(t => t.Index).ToList();
        Assert.True(endedBefore.Count >= 2);
        Assert.Equal(4, exec.Submitted.Count);

        using var second = new SweepRunner(store, cut, cutTrials, exec) { PollInterval = TimeSpan.FromMilliseconds(5) };
        second.Start();
        Assert.True(second.Wait(TimeSpan.FromSeconds(30)));
        Assert.Equal(4, exec.Submitted.Count); // none submitted again
        Assert.Equal(Enumerable.Range(0, 4).Except(endedBefore), exec.Reattached);
        var (done, final) = second.Snapshot();
        Assert.Equal(SweepStatus.Completed, done.Status);
        // Trial 2 loses at rung 2 whichever process saw it (ASHA's records were persisted).
        Assert.Equal([TrialState.Completed, TrialState.Completed, TrialState.Stopped, TrialState.Completed], final.Select(t => t.State));
    }

    [Fact]
    public void Cancel_stops_every_open_trial_and_ends_the_sweep_cancelled()
    {
        var store = new SweepStore(_root);
        var (sweep, trials) = Plan(store, maxParallel: 1, steps: 1000);
        var exec = new ScriptedExecutor((_, _) => 1, 1000);
        using var runner = new SweepRunner(store, sweep, trials, exec) { PollInterval = TimeSpan.FromMilliseconds(5) };
        runner.Start();
        SpinWait.SpinUntil(() => runner.Snapshot().Trials[0].State == TrialState.Running, TimeSpan.FromSeconds(30));
        runner.Cancel("enough");
        Assert.True(runner.Wait(TimeSpan.FromSeconds(30)));
        var (done, final) = runner.Snapshot();
        Assert.Equal(SweepStatus.Cancelled, done.Status);
        Assert.All(final, t => Assert.Equal(TrialState.Stopped, t.State));
        Assert.All(final, t => Assert.Equal("sweep cancelled: enough", t.Reason));
        Assert.Equal(4, exec.Stops.Count);
        Assert.Throws<InvalidOperationException>(() => runner.Cancel());
    }
}
