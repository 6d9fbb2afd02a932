using RlGaf.Engine.Experiments;
using RlGaf.Engine.Metrics;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Sweeps;

namespace RlGaf.Workbench.Cluster;

/// <summary>
/// <c>eval --executor slurm</c>: the suite's method x seed runs as the tasks of one Slurm array (through
/// <see cref="SlurmExecutor"/>), followed into a store of the suite's own (OUT/store: <c>runs --data-root OUT/store</c>
/// lists them), then handed back to <see cref="EvalSuite"/> for its table and plots. Each task trains in its
/// own data root, so each pretrains its seed's SFT start itself (seeded: the same start for every method of a seed).
/// </summary>
public sealed class SlurmSuiteRunner(SlurmOptions options, int maxParallel, Action<string>? log)
{
    public const string StoreDir = "store";
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    public IReadOnlyList<SuiteRun> Run(string outDir, string suite, IReadOnlyList<SuiteTask> tasks, CancellationToken ct)
    {
        var storeRoot = Path.Combine(outDir, StoreDir);
        if (Directory.Exists(storeRoot)) Directory.Delete(storeRoot, true); // a new suite in this folder: the old runs go, as the local suite's do
        using var store = new RunStore(storeRoot);
        var executor = new SlurmExecutor(options, store);
        var specs = tasks.Select((t, i) =>
        {
            if (Directory.Exists(t.Dir)) Directory.Delete(t.Dir, true);
            Directory.CreateDirectory(t.Dir);
            return new TrialSpec($"eval-{suite}", i, i, t.Seed, new Dictionary<string, string> { ["method"] = t.Method }, t.Settings, Path.GetFullPath(t.Dir));
        }).ToList();
        var handles = executor.Submit(specs, maxParallel);
        log?.Invoke($"submitted {handles.Count} runs as Slurm array {handles[0].Id.Split('_')[0]} ({(maxParallel > 0 ? $"{maxParallel}" : "all")} at a time)");
        var firstEval = new DateTime?[specs.Count];
        var ended = new DateTime?[specs.Count];
        var said = new string?[specs.Count];
        List<TrialProgress> progress;
        while (true)
        {
            if (ct.IsCancellationRequested)
            {
                executor.CancelAll(handles, "the eval suite was cancelled");
                ct.ThrowIfCancellationRequested();
            }
            progress = executor.Poll(handles, DiversityReport.Distinct2Name).ToList();
            var now = DateTime.UtcNow;
            for (int i = 0; i < specs.Count; i++)
            {
                var p = progress[i];
                if (p.Metric.Count > 0) firstEval[i] ??= now; // the step-0 evaluation: set-up is over, as the local suite's clock starts
                if (p.Ended) ended[i] ??= now;
                var line = $"{p.State.ToString().ToLowerInvariant()}{(p.Reason is null ? "" : $" ({p.Reason})")}";
                if (line != said[i]) log?.Invoke($"  {tasks[i].Method} seed {tasks[i].Seed}: {line}");
                said[i] = line;
            }
            if (progress.All(p => p.Ended)) break;
            Thread.Sleep(PollInterval);
        }
        return tasks.Select((t, i) => ToSuiteRun(store, t, progress[i], firstEval[i], ended[i])).ToList();
    }

    /// <summary>The run as the suite reads it: its evaluations, the last training step's discriminator figures, its AdversarialRun folder.</summary>
    private static SuiteRun ToSuiteRun(RunStore store, SuiteTask t, TrialProgress p, DateTime? firstEval, DateTime? ended)
    {
        var metrics = p.RunId is { } id ? store.GetMetrics(id) : [];
        var curve = metrics.Where(m => m.Values.ContainsKey(DiversityReport.Distinct2Name)).Select(m => (m.Step, new Dictionary<string, double>(m.Values))).ToList();
        var lastTrain = new Dictionary<string, double>();
        foreach (var m in metrics.Where(m => !m.Values.ContainsKey(DiversityReport.Distinct2Name))) foreach (var (k, v) in m.Values) lastTrain[k] = v;
        var final = new Dictionary<string, double>(curve.Count > 0 ? curve[^1].Item2 : []);
        foreach (var k in new[] { "disc/real_score", "disc/fake_score", "disc/acc" }) final[k] = lastTrain.GetValueOrDefault(k, double.NaN);
        bool collapse = p.RunId is { } rid && store.GetEvents(rid).Any(e => e.Kind == RunEventKinds.Collapse);
        // The task's AdversarialRun folder (its settings and SFT start: the suite's temperature sweep reads them).
        var runs = RunStore.RunsRootOf(TrialFolder.DataRootOf(t.Dir));
        var runDir = Directory.Exists(runs) ? Directory.GetDirectories(runs).OrderBy(Directory.GetLastWriteTimeUtc).LastOrDefault() ?? t.Dir : t.Dir;
        if (p.RunId is { } sid && Directory.Exists(runDir))
        {
            var samples = store.GetSamples(sid);
            var lastStep = samples.Count > 0 ? samples.Max(s => s.Step) : -1;
            File.WriteAllLines(Path.Combine(runDir, "final-samples.txt"), samples.Where(s => s.Step == lastStep).Select(s => s.Completion));
        }
        double seconds = firstEval is { } a && ended is { } b ? (b - a).TotalSeconds : double.NaN;
        var status = p.State switch { TrialState.Completed => "completed", TrialState.Stopped => "stopped", _ => "failed" };
        return new SuiteRun(t.Method, t.Seed, runDir, status, seconds, collapse, final, curve);
    }
}
