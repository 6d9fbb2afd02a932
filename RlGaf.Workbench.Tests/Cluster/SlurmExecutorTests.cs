using RlGaf.Engine.Runs;
using RlGaf.Workbench.Cluster;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Sweeps;
using RlGaf.Workbench.Tests.Infrastructure;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Cluster;

/// <summary>
/// The Slurm executor against a real one-node Slurm cluster (<see cref="SlurmCluster"/>): trials are array
/// tasks that run the built workbench executable (<c>train --live</c>) and are followed through their folders.
/// </summary>
public sealed class SlurmExecutorTests(SlurmCluster cluster) : IClassFixture<SlurmCluster>, IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"rlgaf-slurm-test-{Guid.NewGuid():N}"[..36]);
    private RunStore? _store;

    private RunStore Store => _store ??= new RunStore(Path.Combine(_root, "data"));

    /// <summary>Trials of a tiny REINFORCE run over the tiny generator; <paramref name="adjust"/> sets each one's settings.</summary>
    private List<TrialSpec> Trials(string sweep, int count, Func<int, RunSettings, RunSettings> adjust, int steps = 12)
    {
        var trials = new List<TrialSpec>();
        for (int i = 0; i < count; i++)
        {
            var s = adjust(i, TinyModel.Settings(TrainingMethod.Reinforce, steps) with { Seed = 1 + i % 2 });
            var dir = Path.Combine(_root, sweep, "trials", $"{i:0000}");
            Directory.CreateDirectory(dir);
            trials.Add(new TrialSpec(sweep, i, i / 2, s.Seed, new Dictionary<string, string> { ["gen_lr"] = s.GenLr.ToString("R") }, s.Validate(), dir));
        }
        return trials;
    }

    private static List<TrialProgress> WaitUntil(SlurmExecutor ex, IReadOnlyList<TrialHandle> handles, string metric, Func<List<TrialProgress>, bool> done,
        int seconds, Action<List<TrialProgress>>? each = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var p = ex.Poll(handles, metric).ToList();
            each?.Invoke(p);
            if (done(p)) return p;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"after {seconds} s: {string.Join("; ", p.Select(x => $"{x.State} step {x.Step} {x.Reason}"))}");
            Thread.Sleep(250);
        }
    }

    [SkippableFact]
    public void Four_trials_run_as_one_array_followed_live_and_imported_as_runs()
    {
        cluster.SkipIfUnavailable();
        var notifier = new RunNotifier();
        using var feed = notifier.Subscribe(null);
        var ex = new SlurmExecutor(cluster.Options(), Store, notifier);
        // 80 steps, not 12: on an idle machine a 12-step trial ended between two polls, so it was never seen running with metrics.
        const int steps = 80;
        var trials = Trials("sweep4", 4, (i, s) => s with { GenLr = new[] { 1e-4, 3e-4, 1e-3, 3e-3 }[i] }, steps);
        var handles = ex.Submit(trials, maxParallel: 2);

        // One array job, task id = trial index.
        Assert.Single(handles.Select(h => h.Id.Split('_')[0]).Distinct());
        Assert.Equal(["0", "1", "2", "3"], handles.Select(h => h.Id.Split('_')[1]));
        var script = File.ReadAllText(Directory.GetFiles(Path.Combine(_root, "sweep4", "slurm"), "array-*.sh").Single());
        Assert.Contains("#SBATCH --array=0-3%2", script);
        Assert.Contains("#SBATCH --cpus-per-task=1", script);
        Assert.Contains("#SBATCH --partition=debug", script);

        bool sawThrottled = false, sawLive = false;
        int mostRunning = 0;
        var final = WaitUntil(ex, handles, "div/distinct-2", p => p.All(x => x.Ended), 600, p =>
        {
            sawThrottled |= p.Any(x => x.State == TrialState.Queued && x.Reason == "PENDING (JobArrayTaskLimit)");
            // Followed live: a running trial already has evaluations in the store, before Slurm says it ended.
            sawLive |= p.Any(x => x.State == TrialState.Running && x.Metric.Count > 0 && x.RunId is { } id && Store.GetMetrics(id).Count > 0);
            mostRunning = Math.Max(mostRunning, p.Count(x => x.State == TrialState.Running));
        });
        Assert.True(sawThrottled, "tasks 2 and 3 waited with Slurm's reason PENDING (JobArrayTaskLimit)");
        Assert.True(sawLive, "a running trial's metrics reached the store while it trained");
        Assert.InRange(mostRunning, 1, 2);
        Assert.All(final, p => Assert.Equal(TrialState.Completed, p.State));
        for (int i = 0; i < 4; i++)
        {
            var run = Store.Get(final[i].RunId!)!;
            Assert.Equal(RunStatus.Completed, run.Status);
            Assert.Equal(steps, run.Step);
            // Imported in full: every line the trial appended, its checkpoints in the run's folder.
            int lines = File.ReadAllLines(Path.Combine(trials[i].OutDir, TrialFolder.MetricsFile)).Length;
            Assert.Equal(lines, Store.GetMetrics(run.Id).Count);
            Assert.True(Directory.Exists(Path.Combine(run.RunDir, "checkpoints")), $"checkpoints copied into {run.RunDir}");
            Assert.Equal(trials[i].Settings.GenLr, RunSettings.FromJson(run.SettingsJson).GenLr);
            // The metric series the sweep ranks by: every evaluation, ascending, the same as the store's.
            var stored = Store.GetMetrics(run.Id).Where(m => m.Values.ContainsKey("div/distinct-2")).Select(m => (m.Step, m.Values["div/distinct-2"])).ToList();
            Assert.Equal(stored, final[i].Metric.Select(m => (m.Step, m.Value)).ToList());
            Assert.True(final[i].Metric.Count >= 2);
        }
        // The live feed carried each trial's metrics and its completion, as for a local run.
        var updates = new List<RunUpdate>();
        while (feed.Reader.TryRead(out var u)) updates.Add(u);
        foreach (var p in final)
        {
            Assert.Contains(updates, u => u is MetricsUpdate m && m.RunId == p.RunId);
            Assert.Contains(updates, u => u is StatusUpdate { Status: RunStatus.Completed } s && s.RunId == p.RunId);
        }
        // The best configuration by the sweep's metric (higher distinct-2) is one of them, with its settings in the store.
        var best = final.Select((p, i) => (i, last: p.Metric[^1].Value)).Where(x => double.IsFinite(x.last)).MaxBy(x => x.last);
        Assert.Equal(trials[best.i].Settings.GenLr, RunSettings.FromJson(Store.Get(final[best.i].RunId!)!.SettingsJson).GenLr);
    }

    [SkippableFact]
    public void The_sweep_verb_runs_a_4_trial_grid_on_slurm_and_reports_the_best_configuration()
    {
        cluster.SkipIfUnavailable();
        var sweepDir = Path.Combine(_root, "verb");
        Directory.CreateDirectory(sweepDir);
        File.WriteAllText(Path.Combine(sweepDir, "base.json"), TinyModel.Settings(TrainingMethod.Reinforce, steps: 8).ToJson());
        var file = Path.Combine(sweepDir, "sweep.yaml");
        File.WriteAllText(file, "method: grid\nbase: base.json\nmetric: {name: div/distinct-2, goal: maximize}\nparameters:\n  gen_lr: {values: [0.0001, 0.0003, 0.001, 0.003]}\n");
        var data = Path.Combine(_root, "verb-data");
        var o = cluster.Options();
        // RlGaf:Slurm from the environment, as a cluster's login node would set it in appsettings.json.
        var env = new Dictionary<string, string>
        {
            ["RlGaf__Slurm__SlurmConf"] = o.SlurmConf!, ["RlGaf__Slurm__JobCompFile"] = o.JobCompFile!, ["RlGaf__Slurm__CpusPerTask"] = "1",
            ["RlGaf__Slurm__Mem"] = o.Mem!, ["RlGaf__Slurm__Partition"] = "debug", ["RlGaf__Slurm__SharedFolder"] = _root,
        };
        using var child = ChildProcess.Start(env, "sweep", "--config", file, "--executor", "slurm", "--max-parallel", "2", "--out", Path.Combine(sweepDir, "out"),
            "--json", "--data-root", data);
        var (code, stdout, err) = child.WaitForExit(600);
        Assert.True(code == 0, err + stdout);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        var trials = doc.RootElement.GetProperty("trials").EnumerateArray().ToList();
        Assert.Equal("completed", doc.RootElement.GetProperty("sweep").GetProperty("status").GetString());
        Assert.Equal(4, trials.Count);
        Assert.All(trials, t => Assert.Equal("completed", t.GetProperty("state").GetString()));
        // One array job did it all.
        var jobs = Directory.GetFiles(Path.Combine(data, "sweeps"), "jobs.txt", SearchOption.AllDirectories);
        Assert.Single(File.ReadAllLines(Assert.Single(jobs)));
        // The best configuration is the trial with the highest final distinct-2 (the tiny generator writes no valid review, so oracle/nll is NaN here).
        var best = trials.Where(t => t.GetProperty("last").ValueKind == System.Text.Json.JsonValueKind.Number).MaxBy(t => t.GetProperty("last").GetDouble());
        Assert.True(best.ValueKind != System.Text.Json.JsonValueKind.Undefined, stdout);
        var bestConfig = RunSettings.FromJson(File.ReadAllText(Path.Combine(sweepDir, "out", "best-config.json")));
        Assert.Equal(double.Parse(best.GetProperty("parameters").GetProperty("gen_lr").GetString()!, System.Globalization.CultureInfo.InvariantCulture), bestConfig.GenLr);
        // Each trial is a completed run of the data root's store, with its evaluations.
        using var store = new RunStore(data);
        var runs = store.List();
        Assert.Equal(4, runs.Count);
        Assert.All(runs, r => Assert.Equal(RunStatus.Completed, r.Status));
        Assert.All(runs, r => Assert.True(store.GetMetrics(r.Id).Count(m => m.Values.ContainsKey("oracle/nll")) >= 2));
    }

    [SkippableFact]
    public void The_eval_suite_runs_its_method_seed_runs_as_array_tasks()
    {
        cluster.SkipIfUnavailable();
        var o = cluster.Options();
        var env = new Dictionary<string, string>
        {
            ["RlGaf__Slurm__SlurmConf"] = o.SlurmConf!, ["RlGaf__Slurm__JobCompFile"] = o.JobCompFile!, ["RlGaf__Slurm__CpusPerTask"] = "1",
            ["RlGaf__Slurm__Mem"] = o.Mem!, ["RlGaf__Slurm__Partition"] = "debug",
        };
        var outDir = Path.Combine(_root, "eval");
        var sets = TinyModel.Overrides().Where(kv => kv.Key != "steps").SelectMany(kv => new[] { "--set", $"{kv.Key}={kv.Value}" });
        using var child = ChildProcess.Start(env, ["eval", "--suite", "synthetic-reviews", "--methods", "sft,reinforce", "--seeds", "1", "--steps-budget", "4",
            "--executor", "slurm", "--max-parallel", "2", "--out", outDir, "--json", .. sets]);
        var (code, stdout, err) = child.WaitForExit(600);
        Assert.True(code == 0, err + stdout);
        Assert.Contains("submitted 2 runs as Slurm array", err);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.True(File.Exists(Path.Combine(outDir, "results.md")));
        var md = File.ReadAllText(Path.Combine(outDir, "results.md"));
        Assert.Contains("sft", md);
        Assert.Contains("reinforce", md);
        // Both runs are in the suite's own store, completed, each with its evaluations (steps 0, 2, 4).
        using var store = new RunStore(Path.Combine(outDir, SlurmSuiteRunner.StoreDir));
        var runs = store.List();
        Assert.Equal(2, runs.Count);
        Assert.All(runs, r => Assert.Equal(RunStatus.Completed, r.Status));
        Assert.All(runs, r => Assert.Equal([0, 2, 4], store.GetMetrics(r.Id).Where(m => m.Values.ContainsKey("div/distinct-2")).Select(m => m.Step)));
    }

    [SkippableFact]
    public void A_failing_trial_and_one_past_the_time_limit_report_Slurms_reasons()
    {
        cluster.SkipIfUnavailable();
        var ex = new SlurmExecutor(cluster.Options(time: "0:05"), Store); // 5 seconds: Slurm rounds it up to its 1-minute unit
        var trials = Trials("fail", 2, (i, s) => i == 0
            ? s with { Generator = Path.Combine(_root, "no-such-model") }
            : s with { Steps = 100_000, EvalEvery = 1000, CheckpointEvery = 1000 });
        var handles = ex.Submit(trials, maxParallel: 2);
        var final = WaitUntil(ex, handles, "oracle/nll", p => p.All(x => x.Ended), 300);

        Assert.Equal(TrialState.Failed, final[0].State);
        Assert.StartsWith("FAILED (exit code ", final[0].Reason);
        Assert.Contains("no-such-model", final[0].Reason); // the trial's own error line
        Assert.Equal(TrialState.Failed, final[1].State);
        Assert.StartsWith("TIMEOUT (time limit 0:05)", final[1].Reason);
        Assert.Contains("DUE TO TIME LIMIT", final[1].Reason);
        // Both are runs of the store with the reason, and the timed-out one kept what it trained.
        Assert.Equal(RunStatus.Failed, Store.Get(final[0].RunId!)!.Status);
        var timedOut = Store.Get(final[1].RunId!)!;
        Assert.Equal(RunStatus.Failed, timedOut.Status);
        Assert.Equal(final[1].Reason, timedOut.Message);
        Assert.True(Store.GetMetrics(timedOut.Id).Count > 0);
    }

    [SkippableFact]
    public void Stopping_one_trial_and_cancelling_the_sweep_after_a_reattach_without_resubmitting()
    {
        cluster.SkipIfUnavailable();
        var ex = new SlurmExecutor(cluster.Options(), Store);
        var trials = Trials("cancel", 3, (_, s) => s with { Steps = 100_000, EvalEvery = 2, CheckpointEvery = 1000 });
        var handles = ex.Submit(trials, maxParallel: 2);
        WaitUntil(ex, handles, "oracle/nll", p => p[0].State == TrialState.Running && p[0].Metric.Count > 0 && p[1].State == TrialState.Running, 300);

        ex.Stop(handles[0], "lost at rung 1 (ASHA)");
        var afterStop = WaitUntil(ex, handles, "oracle/nll", p => p[0].Ended, 120);
        Assert.Equal(TrialState.Stopped, afterStop[0].State);
        Assert.Equal("CANCELLED: lost at rung 1 (ASHA)", afterStop[0].Reason);
        Assert.Equal(RunStatus.Stopped, Store.Get(afterStop[0].RunId!)!.Status);
        Assert.True(Store.GetMetrics(afterStop[0].RunId!).Count > 0, "what the stopped trial logged is kept");

        // A new process (same store and folders): the live trials are picked up, not submitted again.
        var jobsFile = Path.Combine(_root, "cancel", "slurm", "jobs.txt");
        var again = new SlurmExecutor(cluster.Options(), Store);
        var reattached = again.Reattach(trials.Skip(1).Zip(handles.Skip(1)).Select(x => (x.First, x.Second)).ToList(), 2);
        Assert.Equal(handles.Skip(1), reattached);
        Assert.Single(File.ReadAllLines(jobsFile));
        var runId = File.ReadAllText(Path.Combine(trials[1].OutDir, SlurmExecutor.RunIdFile)).Trim();
        WaitUntil(again, reattached, "oracle/nll", p => p[0].State == TrialState.Running && p[0].RunId == runId && p[0].Metric.Count > 0, 120);

        again.CancelAll(reattached, "cancelled from the Sweeps page");
        var end = WaitUntil(again, reattached, "oracle/nll", p => p.All(x => x.Ended), 120);
        Assert.All(end, p => Assert.Equal(TrialState.Stopped, p.State));
        Assert.All(end, p => Assert.Equal("CANCELLED: cancelled from the Sweeps page", p.Reason));
        Assert.Equal(runId, end[0].RunId); // the same run continued after the re-attach, not a second one
        Assert.Equal(3, Store.List().Count);
    }

    public void Dispose()
    {
        _store?.Dispose();
        try { Directory.Delete(_root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
