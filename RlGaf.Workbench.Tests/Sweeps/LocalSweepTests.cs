using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Sweeps;
using RlGaf.Workbench.Tests.Infrastructure;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Sweeps;

/// <summary>
/// The local executor end to end: a 4-trial grid of tiny runs (2 configurations x 2 seeds) on the training
/// host's slots, and a sweep cut off by a restart that resumes (finished trials kept, the interrupted run
/// continued from its checkpoint, no trial started twice).
/// </summary>
[Collection(HostedCollection.Name)]
public sealed class LocalSweepTests : IDisposable
{
    private readonly string _root = TestApp.NewDataRoot();

    public void Dispose() => TestApp.TryDelete(_root);

    private string SweepFile(int steps)
    {
        var basePath = Path.Combine(_root, "base.json");
        File.WriteAllText(basePath, TinyModel.Settings(TrainingMethod.Sft, steps).ToJson());
        return $$"""
            name: tiny-grid
            method: grid
            base: {{basePath}}
            metric: {name: gen/loss, goal: minimize}
            parameters:
              gen_lr: {values: [0.001, 0.003]}
            seeds: [1, 2]
            max_parallel: 2
            """;
    }

    private TrainingHost Host(RunStore store, int slots) =>
        new(store, new RunNotifier(), new PathPolicy([_root, Path.GetDirectoryName(TinyModel.Path)!]),
            Options.Create(new WorkbenchOptions { MaxConcurrentRuns = slots }), NullLogger<TrainingHost>.Instance);

    private SweepService Service(TrainingHost host) =>
        new(new SweepStore(_root), host, Presets.Get) { PollInterval = TimeSpan.FromMilliseconds(200) };

    [Fact]
    public async Task A_four_trial_grid_of_tiny_runs_completes_on_the_hosts_slots()
    {
        using var store = new RunStore(_root);
        using var host = Host(store, slots: 2);
        await host.StartAsync(CancellationToken.None);
        using var sweeps = Service(host);
        await sweeps.StartAsync(CancellationToken.None);
        int most = 0;
        var sweep = sweeps.Create(new SweepRequest(SweepFile(steps: 4), "tiny.yaml"));
        sweeps.Changed += _ => most = Math.Max(most, host.ActiveCount);
        Assert.True(sweeps.Wait(sweep.Id, TimeSpan.FromMinutes(4)), "the sweep ends within 4 minutes");

        var (done, trials) = sweeps.Get(sweep.Id)!.Value;
        Assert.Equal(SweepStatus.Completed, done.Status);
        Assert.All(trials, t => Assert.Equal(TrialState.Completed, t.State));
        Assert.Equal(4, store.List().Count);
        Assert.True(most <= 2);
        foreach (var t in trials)
        {
            var run = store.Get(t.RunId!)!;
            var s = RunSettings.FromJson(run.SettingsJson);
            Assert.Equal((t.Seed, double.Parse(t.Parameters["gen_lr"], System.Globalization.CultureInfo.InvariantCulture)), (s.Seed, s.GenLr));
            Assert.Equal(RunStatus.Completed, run.Status);
            Assert.NotEmpty(t.Metric); // gen/loss at every step
            Assert.Equal(store.GetMetrics(t.RunId!).Where(p => p.Values.ContainsKey("gen/loss")).Select(p => p.Values["gen/loss"]), t.Metric.Select(m => m.Value));
            Assert.True(File.Exists(Path.Combine(t.OutDir, "trial.json")));
        }
        var best = SweepResults.Best(done, trials)!;
        Assert.True(best.Seeds == 2, $"{done.Message}: {string.Join("; ", trials.Select(t => t.Last))}");
        Assert.Contains($"best configuration {best.ConfigIndex}", done.Message);
        await host.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_sweep_cut_off_by_a_restart_resumes_where_it_stopped()
    {
        string id;
        string firstRun;
        using (var store = new RunStore(_root))
        {
            using var host = Host(store, slots: 1);
            await host.StartAsync(CancellationToken.None);
            using var sweeps = Service(host);
            var sweep = sweeps.Create(new SweepRequest(SweepFile(steps: 60).Replace("max_parallel: 2", "max_parallel: 1"), "tiny.yaml")); // long enough that the cut lands mid-run on a quiet machine
            id = sweep.Id;
            await TestApp.WaitFor(() => sweeps.Get(id)!.Value.Trials[0] is { RunId: not null } t && store.Get(t.RunId!)!.Step >= 6, "trial 0 trains past its step-5 checkpoint", 180);
            firstRun = sweeps.Get(id)!.Value.Trials[0].RunId!;
            // The workbench stops: the sweep detaches (nothing cancelled), the host checkpoints and marks the run interrupted.
            await sweeps.StopAsync(CancellationToken.None);
            await host.StopAsync(CancellationToken.None);
        }
        var cut = new SweepStore(_root).Load(id)!.Value;
        Assert.Equal(SweepStatus.Running, cut.Sweep.Status);

        using (var store = new RunStore(_root))
        {
            Assert.Equal(RunStatus.Interrupted, store.Get(firstRun)!.Status);
            using var host = Host(store, slots: 1);
            await host.StartAsync(CancellationToken.None);
            using var sweeps = Service(host);
            await sweeps.StartAsync(CancellationToken.None); // finds the sweep running: resumes it
            Assert.Single(sweeps.List());
            Assert.True(sweeps.Wait(id, TimeSpan.FromMinutes(5)), "the resumed sweep ends");
            var (done, trials) = sweeps.Get(id)!.Value;
            Assert.Equal(SweepStatus.Completed, done.Status);
            Assert.All(trials, t => Assert.Equal(TrialState.Completed, t.State));
            Assert.Equal(firstRun, trials[0].RunId); // re-attached, not started again
            Assert.Equal(4, store.List().Count);     // one run per trial
            Assert.Contains(store.GetEvents(firstRun), e => e.Message.Contains("checkpoint", StringComparison.OrdinalIgnoreCase));
            await host.StopAsync(CancellationToken.None);
        }
    }
}
