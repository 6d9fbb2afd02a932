using System.Diagnostics;
using System.Text.Json.Serialization;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Metrics;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Runtime;
using RlGaf.Engine.Tasks;
using static TorchSharp.torch;

namespace RlGaf.Engine.Experiments;

/// <summary>
/// What a comparison runs. Equal compute means here: every method makes the same number of
/// generator updates (<see cref="StepsBudget"/>) from the same SFT start per seed; wall-clock then
/// differs by method and is reported next to the scores.
/// </summary>
public sealed record SuiteOptions
{
    /// <summary>synthetic-reviews, imdb or squad.</summary>
    public string Suite { get; init; } = "synthetic-reviews";
    public int Seeds { get; init; } = 3;
    /// <summary>Generator updates of every method (equal for all).</summary>
    public int StepsBudget { get; init; } = 120;
    public string OutDir { get; init; } = "eval-out";
    /// <summary>Data path for imdb (aclImdb folder or CSV) and squad (official JSON).</summary>
    public string? DataPath { get; init; }
    /// <summary>Method names as in the presets: sft, rlhf-proxy, reinforce, reinforce-per-token, ppo, gumbel, seqgan-rollout.</summary>
    public IReadOnlyList<string> Methods { get; init; } = DefaultMethods;
    /// <summary>Sampling temperatures of the MLE (pretrained generator) curve on the quality-diversity plane.</summary>
    public IReadOnlyList<double> Temperatures { get; init; } = [0.6, 0.8, 1.0, 1.2, 1.5];
    /// <summary>Applied last to every run's settings (tests: a tiny generator, small batches).</summary>
    public Func<RunSettings, RunSettings>? Adjust { get; init; }
    /// <summary>libtorch threads per run (0 = default).</summary>
    public int Threads { get; init; }
    /// <summary>Settings applied to every run (eval --set key=value), before <see cref="Adjust"/>; saved in suite.json so a resume applies them again.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Sets { get; init; } = [];
    /// <summary>
    /// Continue the suite in <see cref="OutDir"/>: each finished run (RUN/suite-run.json) is kept and not
    /// rerun, a run that was cut off continues from its last checkpoint, the others start.
    /// </summary>
    public bool Resume { get; init; }
    /// <summary>
    /// Runs every method x seed elsewhere (the workbench's Slurm executor: one array task each) and returns
    /// them in the same order, each <see cref="SuiteRun.RunDir"/> an AdversarialRun folder; null: one after the
    /// other in this process, sharing each seed's SFT start.
    /// </summary>
    public Func<IReadOnlyList<SuiteTask>, CancellationToken, IReadOnlyList<SuiteRun>>? Executor { get; init; }
    /// <summary>
    /// Local workers (eval --max-parallel K): K processes share the suite folder, each claiming one run at a
    /// time (RUN.claim); this process is worker <see cref="WorkerIndex"/> of <see cref="WorkerCount"/>.
    /// </summary>
    public int WorkerIndex { get; init; }
    public int WorkerCount { get; init; } = 1;

    public static readonly IReadOnlyList<string> DefaultMethods = ["sft", "rlhf-proxy", "reinforce", "reinforce-per-token", "ppo", "gumbel", "seqgan-rollout"];
    public static readonly IReadOnlyList<string> Suites = ["synthetic-reviews", "imdb", "squad"];
    /// <summary>The suite's name of REINFORCE with dense per-token discriminator rewards.</summary>
    public const string PerTokenMethod = "reinforce-per-token";

    public void Validate()
    {
        if (!Suites.Contains(Suite)) throw new ArgumentException($"--suite: '{Suite}' is not one of {string.Join(", ", Suites)}.");
        if (Seeds < 1) throw new ArgumentException($"--seeds: {Seeds} must be at least 1.");
        if (StepsBudget < 1) throw new ArgumentException($"--steps-budget: {StepsBudget} must be at least 1.");
        if (Suite != "synthetic-reviews" && string.IsNullOrWhiteSpace(DataPath)) throw new ArgumentException($"--data: suite '{Suite}' needs the dataset path.");
        if (Methods.Count == 0) throw new ArgumentException("--methods: give at least one method.");
        foreach (var m in Methods)
            if (!DefaultMethods.Contains(m)) throw new ArgumentException($"--methods: '{m}' is not one of {string.Join(", ", DefaultMethods)}.");
        if (Temperatures.Any(t => t is <= 0.05 or > 10)) throw new ArgumentException("temperatures must be in (0.05, 10].");
        if (WorkerCount < 1 || WorkerIndex < 0 || WorkerIndex >= WorkerCount) throw new ArgumentException($"--worker: {WorkerIndex}/{WorkerCount} is not a worker of the suite.");
    }
}

/// <summary>One run the suite asks for: a method, a seed, its folder and its complete settings.</summary>
public sealed record SuiteTask(string Method, int Seed, string Dir, RunSettings Settings);

/// <summary>One finished run of the suite.</summary>
public sealed record SuiteRun(string Method, int Seed, string RunDir, string Status, double WallClockSeconds, bool CollapseFired,
    IReadOnlyDictionary<string, double> Final, IReadOnlyList<(int Step, Dictionary<string, double> Metrics)> Curve);

/// <summary>A point of the MLE temperature sweep (pretrained generator of one seed).</summary>
public sealed record TemperaturePoint(int Seed, double Temperature, IReadOnlyDictionary<string, double> Metrics);

/// <summary>Mean and sample standard deviation over seeds (NaN values left out; n = the values used).</summary>
public sealed record Stat(double Mean, double Std, int N)
{
    public static Stat Of(IEnumerable<double> values)
    {
        var v = values.Where(double.IsFinite).ToArray();
        if (v.Length == 0) return new(double.NaN, double.NaN, 0);
        double m = v.Average();
        double s = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Length - 1)) : 0;
        return new(m, s, v.Length);
    }
}

/// <summary>Everything the suite measured, and where it wrote its table and plots.</summary>
public sealed record SuiteResult(SuiteOptions Options, IReadOnlyList<SuiteRun> Runs, IReadOnlyList<TemperaturePoint> Sweep,
    IReadOnlyList<string> MetricKeys, string QualityKey, string DiversityKey, string ResultsMarkdown, IReadOnlyList<string> Plots, string CommandLine)
{
    public IReadOnlyDictionary<string, Stat> Summary(string method) =>
        MetricKeys.Concat(["wall_clock_s"]).ToDictionary(k => k, k => Stat.Of(Runs.Where(r => r.Method == method)
            .Select(r => k == "wall_clock_s" ? r.WallClockSeconds : r.Final.GetValueOrDefault(k, double.NaN))));
}

/// <summary>
/// The paper's comparison as one command: every method x seed as an <see cref="AdversarialRun"/> in
/// its own directory under the output folder (the pretrained SFT generator is cached per seed in
/// OUT/models and shared by all methods of that seed), then results.md and PNG plots.
/// </summary>
public static class EvalSuite
{
    /// <summary>The quality metric of a suite's plane and tables (lower is better for NLL / perplexity).</summary>
    public static string QualityKey(string suite) => suite switch
    {
        "synthetic-reviews" => "oracle/nll",
        "imdb" => "quality/ref-perplexity",
        _ => "squad/f1",
    };

    public static IReadOnlyList<string> Keys(string suite)
    {
        var align = suite == "squad" ? new[] { "squad/exact", "squad/f1" } : ["align/positive-rate"];
        var quality = suite switch
        {
            "synthetic-reviews" => new[] { "oracle/nll", "oracle/valid-rate" },
            "imdb" => ["quality/ref-perplexity", "imdb/classifier_score"],
            _ => [],
        };
        var div = new[] { "div/distinct-1", "div/distinct-2", "div/distinct-3", "div/self-bleu-4", "div/unique-ratio" };
        var cov = suite == "synthetic-reviews" ? new[] { "oracle/coverage" } : [];
        var judge = suite == "imdb" ? new[] { "align/judge-ceiling", "imdb/proxy_score" } : [];
        return [.. align, .. judge, .. quality, .. div, .. cov, Adversarial.Evaluator.KlToStartName, "disc/real_score", "disc/fake_score", "disc/acc", "disc/judge_corr"];
    }

    /// <summary>The suite's options (OUT/suite.json), written when it starts: what eval --resume reads back.</summary>
    public const string SuiteFile = "suite.json";
    /// <summary>A finished run's record (RUN/suite-run.json): a resumed suite keeps that run.</summary>
    public const string RunRecordFile = "suite-run.json";

    /// <summary>The run folder of a method and seed.</summary>
    public static string RunDirOf(SuiteOptions o, string method, int seed) => Path.Combine(o.OutDir, "runs", $"{method}-seed{seed}");

    /// <summary>
    /// The options of the suite in <paramref name="dir"/> (its suite.json), set to resume there; the
    /// command line it was made by. Errors name the file.
    /// </summary>
    public static (SuiteOptions Options, string CommandLine) LoadSaved(string dir)
    {
        var path = Path.Combine(dir, SuiteFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: not a suite folder to resume (no {SuiteFile}; suites started before resume existed cannot be resumed).", path);
        SavedSuite? saved;
        try { saved = System.Text.Json.JsonSerializer.Deserialize<SavedSuite>(File.ReadAllText(path)); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{path}: not a valid {SuiteFile} ({e.Message})."); }
        if (saved is null) throw new InvalidDataException($"{path}: empty {SuiteFile}.");
        var o = new SuiteOptions
        {
            Suite = saved.Suite, Seeds = saved.Seeds, StepsBudget = saved.StepsBudget, OutDir = dir, DataPath = saved.DataPath,
            Methods = saved.Methods, Temperatures = saved.Temperatures, Threads = saved.Threads, Sets = saved.Sets.ToList(), Resume = true,
        };
        try { o.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}"); }
        return (o, saved.Command);
    }

    /// <summary>Writes the suite's suite.json (or checks it on a resume) before its workers start.</summary>
    public static void Save(SuiteOptions o, string commandLine)
    {
        o.Validate();
        Directory.CreateDirectory(o.OutDir);
        SaveOrCheck(o, commandLine);
    }

    private static void SaveOrCheck(SuiteOptions o, string commandLine)
    {
        var path = Path.Combine(o.OutDir, SuiteFile);
        var mine = new SavedSuite
        {
            Suite = o.Suite, Seeds = o.Seeds, StepsBudget = o.StepsBudget, Methods = [.. o.Methods], DataPath = o.DataPath,
            Temperatures = [.. o.Temperatures], Threads = o.Threads, Sets = o.Sets.ToDictionary(kv => kv.Key, kv => kv.Value), Command = commandLine,
        };
        if (o.Resume && File.Exists(path))
        {
            var (saved, _) = LoadSaved(o.OutDir);
            // A resume must finish the suite it started: other methods, seeds or budgets would mix two experiments in one table.
            string? differs = saved.Suite != o.Suite ? "--suite" : saved.Seeds != o.Seeds ? "--seeds" : saved.StepsBudget != o.StepsBudget ? "--steps-budget"
                : !saved.Methods.SequenceEqual(o.Methods) ? "--methods" : saved.DataPath != o.DataPath ? "--data" : null;
            if (differs is not null) throw new ArgumentException($"{differs}: differs from the suite being resumed ({path}); resume it as it was started.");
            return;
        }
        DurableFiles.WriteAllTextAtomic(path, System.Text.Json.JsonSerializer.Serialize(mine, SuiteReport.Json));
    }

    /// <summary>suite.json.</summary>
    private sealed record SavedSuite
    {
        [JsonPropertyName("suite")] public string Suite { get; init; } = "";
        [JsonPropertyName("seeds")] public int Seeds { get; init; }
        [JsonPropertyName("steps_budget")] public int StepsBudget { get; init; }
        [JsonPropertyName("methods")] public List<string> Methods { get; init; } = [];
        [JsonPropertyName("data")] public string? DataPath { get; init; }
        [JsonPropertyName("temperatures")] public List<double> Temperatures { get; init; } = [];
        [JsonPropertyName("threads")] public int Threads { get; init; }
        [JsonPropertyName("sets")] public Dictionary<string, string> Sets { get; init; } = [];
        [JsonPropertyName("command")] public string Command { get; init; } = "";
    }

    public static SuiteResult Run(SuiteOptions o, string commandLine, Action<string>? log = null, Action<int, int>? progress = null, CancellationToken ct = default) =>
        RunCore(o, commandLine, aggregate: true, log, progress, ct)!;

    /// <summary>A helper worker (eval --worker I/K): trains every run of the suite it can claim, then returns, leaving the table and plots to worker 0.</summary>
    public static void RunHelper(SuiteOptions o, string commandLine, Action<string>? log = null, CancellationToken ct = default) =>
        RunCore(o, commandLine, aggregate: false, log, null, ct);

    private static SuiteResult? RunCore(SuiteOptions o, string commandLine, bool aggregate, Action<string>? log, Action<int, int>? progress, CancellationToken ct)
    {
        o.Validate();
        Directory.CreateDirectory(o.OutDir);
        SaveOrCheck(o, commandLine);
        var modelsRoot = Path.Combine(o.OutDir, "models");
        var runs = new List<SuiteRun>();
        int total = o.Seeds * o.Methods.Count, done = 0;
        if (o.Executor is { } executor)
        {
            var tasks = Enumerable.Range(1, o.Seeds).SelectMany(seed => o.Methods.Select(m => new SuiteTask(m, seed, Path.Combine(o.OutDir, "runs", $"{m}-seed{seed}"), SettingsFor(o, m, seed)))).ToList();
            log?.Invoke($"{tasks.Count} runs handed to the executor at once");
            runs.AddRange(executor(tasks, ct));
            ct.ThrowIfCancellationRequested();
            progress?.Invoke(total, total);
        }
        // Not ++done inside the call: ?. skips evaluating its arguments when nobody listens.
        void Done() { done++; progress?.Invoke(done, total); }
        if (o.Executor is null)
        {
            var elsewhere = new List<(string Method, int Seed)>();
            var deferred = new List<(string Method, int Seed)>();
            // A run whose seed's SFT start another worker is pretraining right now waits for a second pass,
            // so this worker trains (or pretrains) something else instead of waiting on that lock.
            foreach (var (method, seed) in LocalOrder(o)) Take(method, seed, mayDefer: true);
            foreach (var (method, seed) in deferred.ToList()) Take(method, seed, mayDefer: false);

            void Take(string method, int seed, bool mayDefer)
            {
                ct.ThrowIfCancellationRequested();
                var dir = RunDirOf(o, method, seed);
                if (o.Resume && ReadRecord(dir) is { } kept)
                {
                    log?.Invoke($"[{done + 1}/{total}] {method} seed {seed}: finished in an earlier sitting, kept ({dir})");
                    runs.Add(kept);
                    Done();
                    return;
                }
                if (mayDefer && SftBuiltElsewhere(o, method, seed, modelsRoot))
                {
                    deferred.Add((method, seed));
                    return;
                }
                using var claim = TryClaim(dir);
                if (claim is null)
                {
                    log?.Invoke($"  {method} seed {seed}: another worker trains it");
                    elsewhere.Add((method, seed));
                    return;
                }
                // A worker may have finished it between the record check and the claim.
                if (o.Resume && ReadRecord(dir) is { } justKept) { runs.Add(justKept); Done(); return; }
                runs.Add(RunClaimed(o, method, seed, dir, modelsRoot, $"[{done + 1}/{total}]", log, ct));
                Done();
            }
            if (!aggregate) return null;
            // The runs other workers hold: wait until they let go, then keep their record, or (a worker that died) train it here.
            foreach (var (method, seed) in elsewhere)
            {
                var dir = RunDirOf(o, method, seed);
                using var claim = WaitForClaim(dir, log, ct);
                runs.Add(ReadRecord(dir) ?? RunClaimed(o with { Resume = true }, method, seed, dir, modelsRoot, $"[{done + 1}/{total}]", log, ct));
                Done();
            }
            // Back in the suite's order (seed, then method), whichever worker finished first.
            runs = [.. runs.OrderBy(r => r.Seed).ThenBy(r => o.Methods.ToList().IndexOf(r.Method))];
        }
        if (o.Suite == "imdb") AddReferencePerplexity(o, runs, log);
        var sweep = TemperatureSweep(o, runs, log);
        var keys = Keys(o.Suite);
        string quality = QualityKey(o.Suite), diversity = "div/self-bleu-4";
        var plots = SuitePlots.Write(o, runs, sweep, quality, diversity);
        var result = new SuiteResult(o, runs, sweep, keys, quality, diversity, Path.Combine(o.OutDir, "results.md"), plots, commandLine);
        // results.json first: results.md is written last, and its presence means "complete".
        File.WriteAllText(Path.Combine(o.OutDir, "results.json"), System.Text.Json.JsonSerializer.Serialize(SuiteReport.ToJsonObject(result), SuiteReport.Json));
        File.WriteAllText(result.ResultsMarkdown, SuiteReport.Markdown(result));
        return result;
    }

    /// <summary>
    /// The local runs in the order this worker takes them: seed by seed, each seed's methods together (they
    /// share its SFT start), beginning at this worker's share of the seeds so that two workers do not wait on
    /// the same pretraining.
    /// </summary>
    public static IEnumerable<(string Method, int Seed)> LocalOrder(SuiteOptions o)
    {
        int first = o.WorkerIndex * o.Seeds / Math.Max(1, o.WorkerCount);
        for (int j = 0; j < o.Seeds; j++)
        {
            int seed = (first + j) % o.Seeds + 1;
            foreach (var m in o.Methods) yield return (m, seed);
        }
    }

    /// <summary>Whether another process holds the lock of the SFT start this run needs and has not published it yet.</summary>
    private static bool SftBuiltElsewhere(SuiteOptions o, string method, int seed, string modelsRoot)
    {
        var s = SettingsFor(o, method, seed);
        if (s.Generator != "pretrain") return false;
        var cache = RunSetup.SftCacheDir(s, modelsRoot);
        if (File.Exists(Path.Combine(cache, ModelInfo.FileName)) || !File.Exists(cache + ".lock")) return false;
        try { using var probe = new FileStream(cache + ".lock", FileMode.Open, FileAccess.ReadWrite, FileShare.None); return false; }
        catch (IOException) { return true; }
    }

    /// <summary>RUN.claim beside a run's folder, held (an OS lock, gone with its process) while one worker trains that run.</summary>
    public static string ClaimFileOf(string runDir) => runDir.TrimEnd(Path.DirectorySeparatorChar) + ".claim";

    private static FileStream? TryClaim(string runDir)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ClaimFileOf(runDir))!);
        try { return new FileStream(ClaimFileOf(runDir), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException) { return null; }
    }

    private static FileStream WaitForClaim(string runDir, Action<string>? log, CancellationToken ct)
    {
        bool told = false;
        while (true)
        {
            if (TryClaim(runDir) is { } claim) return claim;
            if (!told) log?.Invoke($"  waiting for the worker that trains {Path.GetFileName(runDir)}");
            told = true;
            ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
            ct.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Trains a run this process has claimed: from its checkpoint when a resume finds it cut off, else anew.</summary>
    private static SuiteRun RunClaimed(SuiteOptions o, string method, int seed, string dir, string modelsRoot, string counter, Action<string>? log, CancellationToken ct)
    {
        var s = SettingsFor(o, method, seed);
        // A run cut off mid-way continues from its last checkpoint (its settings.json is authoritative).
        bool reopen = o.Resume && File.Exists(Path.Combine(dir, AdversarialRun.SettingsFile));
        if (!reopen && Directory.Exists(dir)) Directory.Delete(dir, true);
        log?.Invoke($"{counter} {method} seed {seed}: {s.Steps} generator updates in {dir}{(reopen ? " (continuing the run that was cut off)" : "")}");
        var run = RunOne(method, seed, dir, reopen ? null : s, modelsRoot, log, ct);
        // A run cancelled mid-way returns (checkpointed, interrupted) instead of throwing: it is not
        // done, and after the last run the suite must not go on to write results.md over it.
        ct.ThrowIfCancellationRequested();
        return run;
    }

    /// <summary>A method's settings: its preset (synthetic) or data preset (imdb, squad), the seed, the shared step budget.</summary>
    public static RunSettings SettingsFor(SuiteOptions o, string method, int seed)
    {
        // reinforce-per-token is REINFORCE with ScratchGAN's dense reward estimator, not a method of its own.
        bool perToken = method == SuiteOptions.PerTokenMethod;
        var m = RunSettings.FromJson($"{{\"method\":\"{(perToken ? "reinforce" : method)}\"}}").Method;
        var s = o.Suite switch
        {
            "imdb" => DataPresets.Imdb(m, o.DataPath!),
            "squad" => DataPresets.Squad(m, o.DataPath!),
            _ => Presets.Get(method),
        };
        if (perToken && o.Suite != "synthetic-reviews") s = DataPresets.PerToken(s);
        // seqgan-rollout has no data preset of its own: the data preset's common part with the rollout settings.
        if (m == TrainingMethod.SeqganRollout) s = s with { Rollouts = 2, GenLr = 2e-4, KlCoef = 0.02 };
        s = s with
        {
            Seed = seed, Steps = o.StepsBudget, EvalEvery = Math.Max(1, o.StepsBudget / 6), Threads = o.Threads,
            // A checkpoint at every evaluation: a suite cut off mid-run loses at most one evaluation interval.
            CheckpointEvery = Math.Max(1, o.StepsBudget / 6), KeepCheckpoints = 1, CollapseAction = CollapseAction.Warn,
        };
        s = s with { SamplesPerEval = Math.Min(s.EvalPrompts, o.Suite == "imdb" ? 64 : 8) };
        // --set last (before a test's Adjust), as before Sets existed: the user's value wins over the suite's.
        s = o.Sets.Aggregate(s, (acc, kv) => acc.With(kv.Key, kv.Value));
        return (o.Adjust?.Invoke(s) ?? s).Validate();
    }

    /// <param name="s">Settings of a new run; null to continue the run in <paramref name="dir"/> from its last checkpoint.</param>
    private static SuiteRun RunOne(string method, int seed, string dir, RunSettings? s, string modelsRoot, Action<string>? log, CancellationToken ct)
    {
        using var run = s is null ? AdversarialRun.Open(dir, modelsRoot) : AdversarialRun.Create(dir, s, modelsRoot);
        bool continued = s is null && !run.StartsOver;
        if (continued) log?.Invoke($"  continuing from the checkpoint at step {run.Step}");
        var journal = SuiteRunJournal.Open(dir, continued ? run.Step : null);
        double offset = journal.Clock;
        // A continued run has trained before: its clock goes on from there (set-up is not counted, as on a fresh start).
        Stopwatch? clock = continued && journal.Entries.Count > 0 ? Stopwatch.StartNew() : null;
        double Now() => offset + (clock?.Elapsed.TotalSeconds ?? 0);
        var samplesFile = Path.Combine(dir, "final-samples.txt");
        run.MetricsLogged += (step, m) =>
        {
            bool eval = m.ContainsKey(DiversityReport.Distinct2Name);
            if (eval) clock ??= Stopwatch.StartNew(); // the step-0 evaluation: set-up (pretraining, reward model, D pretraining) is over
            journal.Append(new JournalEntry { Step = step, Kind = eval ? "eval" : "train", Clock = Now(), Metrics = new Dictionary<string, double>(m) });
        };
        // Written at every evaluation: a run continued at its very end logs no new samples.
        run.SamplesLogged += list => DurableFiles.WriteAllTextAtomic(samplesFile, string.Concat(list.Select(x => x.Completion + "\n")));
        run.EventRaised += e =>
        {
            if (e.Kind != RunEventKinds.Collapse) return;
            journal.Append(new JournalEntry { Step = e.Step, Kind = "collapse", Clock = Now(), Message = e.Message });
            log?.Invoke($"  collapse at step {e.Step}: {e.Message}");
        };
        run.Log += m =>
        {
            if (m.StartsWith("pretrain", StringComparison.Ordinal) || m.StartsWith("reward model acc", StringComparison.Ordinal)
                || m.StartsWith("IMDB", StringComparison.Ordinal) || m.StartsWith("checkpoint", StringComparison.Ordinal)
                || m.StartsWith("waiting for another run", StringComparison.Ordinal)) log?.Invoke("  " + m);
        };
        run.Execute(cancellationToken: ct);
        var result = Summarise(method, seed, dir, run.Status.ToString().ToLowerInvariant(), journal);
        if (!File.Exists(samplesFile)) File.WriteAllText(samplesFile, "");
        log?.Invoke($"  {result.Status} in {result.WallClockSeconds:0.0}s of training");
        // An interrupted run is not done: no record, so a resume continues it.
        if (run.Status != RunStatus.Interrupted && !ct.IsCancellationRequested) WriteRecord(result);
        return result;
    }

    /// <summary>A run's result from its journal: the last evaluation, the last training step's disc/* figures, the curve, the alerts.</summary>
    private static SuiteRun Summarise(string method, int seed, string dir, string status, SuiteRunJournal journal)
    {
        var curve = new SortedDictionary<int, Dictionary<string, double>>();
        var lastTrain = new Dictionary<string, double>();
        bool collapse = false;
        double seconds = double.NaN;
        foreach (var e in journal.Entries)
        {
            if (e.Kind == "eval") { curve[e.Step] = e.Metrics ?? []; seconds = e.Clock; }
            else if (e.Kind == "train") { foreach (var (k, v) in e.Metrics ?? []) lastTrain[k] = v; seconds = e.Clock; }
            else if (e.Kind == "collapse") collapse = true;
        }
        var final = new Dictionary<string, double>(curve.Count > 0 ? curve.Last().Value : []);
        // Discriminator statistics at the end: the last training step's figures.
        foreach (var k in new[] { "disc/real_score", "disc/fake_score", "disc/acc" })
            final[k] = lastTrain.GetValueOrDefault(k, double.NaN);
        return new SuiteRun(method, seed, dir, status, seconds, collapse, final, curve.Select(kv => (kv.Key, kv.Value)).ToList());
    }

    private sealed record RunRecord
    {
        [JsonPropertyName("method")] public string Method { get; init; } = "";
        [JsonPropertyName("seed")] public int Seed { get; init; }
        [JsonPropertyName("status")] public string Status { get; init; } = "";
        [JsonPropertyName("wall_clock_s")] public double WallClockSeconds { get; init; }
        [JsonPropertyName("collapse")] public bool Collapse { get; init; }
        [JsonPropertyName("final")] public Dictionary<string, double> Final { get; init; } = [];
        [JsonPropertyName("curve")] public List<CurvePoint> Curve { get; init; } = [];
    }

    private sealed record CurvePoint([property: JsonPropertyName("step")] int Step, [property: JsonPropertyName("metrics")] Dictionary<string, double> Metrics);

    private static void WriteRecord(SuiteRun r)
    {
        var record = new RunRecord
        {
            Method = r.Method, Seed = r.Seed, Status = r.Status, WallClockSeconds = r.WallClockSeconds, Collapse = r.CollapseFired,
            Final = new Dictionary<string, double>(r.Final), Curve = r.Curve.Select(c => new CurvePoint(c.Step, c.Metrics)).ToList(),
        };
        DurableFiles.WriteAllTextAtomic(Path.Combine(r.RunDir, RunRecordFile), System.Text.Json.JsonSerializer.Serialize(record, SuiteReport.Json));
    }

    /// <summary>A finished run's record, or null when the run has none (not started, cut off, or the record is unreadable: then it is redone).</summary>
    private static SuiteRun? ReadRecord(string dir)
    {
        var path = Path.Combine(dir, RunRecordFile);
        if (!File.Exists(path)) return null;
        try
        {
            var r = System.Text.Json.JsonSerializer.Deserialize<RunRecord>(File.ReadAllText(path), SuiteReport.Json);
            return r is null ? null : new SuiteRun(r.Method, r.Seed, dir, r.Status, r.WallClockSeconds, r.Collapse, r.Final,
                r.Curve.Select(c => (c.Step, c.Metrics)).ToList());
        }
        catch (System.Text.Json.JsonException) { return null; }
    }

    /// <summary>
    /// MLE plus temperature, as in "Language GANs Falling Short": each seed's pretrained generator (the
    /// common start of every method) sampled at several temperatures on the same held-out prompts and
    /// judged like a run's evaluation.
    /// </summary>
    private static List<TemperaturePoint> TemperatureSweep(SuiteOptions o, List<SuiteRun> runs, Action<string>? log)
    {
        var points = new List<TemperaturePoint>();
        foreach (var bySeed in runs.GroupBy(r => r.Seed))
        {
            var first = bySeed.First();
            var sftDir = Path.Combine(first.RunDir, RunSetup.SftDir);
            if (!Directory.Exists(sftDir)) continue;
            var s = RunSettings.FromJson(File.ReadAllText(Path.Combine(first.RunDir, AdversarialRun.SettingsFile)));
            var loaded = ModelDirectory.Load(sftDir, CPU);
            using var model = loaded.Model;
            var task = RunSetup.CreateTask(s.Dataset, loaded.Vocabulary, new TaskContext(Path.Combine(o.OutDir, "models"), s.MaxNewTokens, loaded.Config.NPositions));
            var heldOut = task.HeldOut(s.EvalPrompts);
            int eot = loaded.Vocabulary.EndOfTextId;
            foreach (var t in o.Temperatures)
            {
                int room = loaded.Config.NPositions - heldOut.Max(e => e.Prompt.Length);
                var gen = TextGenerator.Generate(model, heldOut.Select(e => (IReadOnlyList<int>)e.Prompt).ToList(), new GenerationOptions
                {
                    MaxNewTokens = Math.Min(s.MaxNewTokens, room), DoSample = true, Temperature = t, Seed = 0x7E3A11 + bySeed.Key,
                    EosId = eot, BosId = eot, PadId = eot,
                });
                var judged = heldOut.Select((e, i) =>
                {
                    var ids = gen.Sequences[i].Tokens.Where(x => x != eot).ToArray();
                    return new JudgedSample(e.PromptText, loaded.Vocabulary.Decode(ids), ids.Length, gen.Sequences[i].EndedWithEos);
                }).ToList();
                var m = new Dictionary<string, double>();
                foreach (var (k, v) in Diversity.ComputeOverWords(judged.Select(j => j.CompletionText).ToList()).ToMetrics()) m[k] = v;
                foreach (var (k, v) in task.Judge(judged)) m[k] = v;
                if (o.Suite == "imdb")
                    m["quality/ref-perplexity"] = ReferencePerplexity(ReferenceFor(o, runs, bySeed.Key), judged.Select(j => j.CompletionText).ToList());
                points.Add(new TemperaturePoint(bySeed.Key, t, m));
                log?.Invoke($"temperature {t} seed {bySeed.Key}: {QualityKey(o.Suite)} {m.GetValueOrDefault(QualityKey(o.Suite), double.NaN):0.000}, self-bleu-4 {m.GetValueOrDefault("div/self-bleu-4", double.NaN):0.000}");
            }
        }
        return points;
    }

    /// <summary>The held-out reference model for a seed's samples: the pretrained generator of the next seed (itself with one seed).</summary>
    private static string ReferenceFor(SuiteOptions o, List<SuiteRun> runs, int seed)
    {
        int other = o.Seeds > 1 ? seed % o.Seeds + 1 : seed;
        return Path.Combine(runs.First(r => r.Seed == other).RunDir, RunSetup.SftDir);
    }

    private static void AddReferencePerplexity(SuiteOptions o, List<SuiteRun> runs, Action<string>? log)
    {
        foreach (var r in runs)
        {
            var samples = File.ReadAllLines(Path.Combine(r.RunDir, "final-samples.txt")).ToList();
            ((Dictionary<string, double>)r.Final)["quality/ref-perplexity"] = ReferencePerplexity(ReferenceFor(o, runs, r.Seed), samples);
        }
        log?.Invoke("reference perplexity: each run's final samples under the pretrained generator of another seed");
    }

    /// <summary>exp(mean NLL per token) of texts under a model directory ([eot] text [eot], the model's own vocabulary).</summary>
    public static double ReferencePerplexity(string modelDir, IReadOnlyList<string> texts)
    {
        if (texts.Count == 0) return double.NaN;
        var loaded = ModelDirectory.Load(modelDir, CPU);
        using var model = loaded.Model;
        model.eval();
        int eot = loaded.Vocabulary.EndOfTextId, window = loaded.Config.NPositions;
        double nll = 0;
        long count = 0;
        using var noGrad = no_grad();
        foreach (var text in texts)
        {
            using var scope = NewDisposeScope();
            int[] ids = [eot, .. loaded.Vocabulary.Encode(text), eot];
            if (ids.Length > window) ids = ids[..window];
            var input = tensor(ids[..^1].Select(i => (long)i).ToArray(), [1, ids.Length - 1]);
            var target = tensor(ids[1..].Select(i => (long)i).ToArray(), [ids.Length - 1]);
            nll += ChunkedHead.CrossEntropy(model.ForwardHidden(input), model.TokenEmbedding, target.unsqueeze(0), sum: true).item<float>();
            count += ids.Length - 1;
        }
        return Math.Exp(nll / count);
    }
}
