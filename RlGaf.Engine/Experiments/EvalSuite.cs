using System.Diagnostics;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Metrics;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runs;
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
    /// <summary>Method names as in the presets: sft, rlhf-proxy, reinforce, ppo, gumbel, seqgan-rollout.</summary>
    public IReadOnlyList<string> Methods { get; init; } = DefaultMethods;
    /// <summary>Sampling temperatures of the MLE (pretrained generator) curve on the quality-diversity plane.</summary>
    public IReadOnlyList<double> Temperatures { get; init; } = [0.6, 0.8, 1.0, 1.2, 1.5];
    /// <summary>Applied last to every run's settings (tests: a tiny generator, small batches).</summary>
    public Func<RunSettings, RunSettings>? Adjust { get; init; }
    /// <summary>libtorch threads per run (0 = default).</summary>
    public int Threads { get; init; }

    public static readonly IReadOnlyList<string> DefaultMethods = ["sft", "rlhf-proxy", "reinforce", "ppo", "gumbel", "seqgan-rollout"];
    public static readonly IReadOnlyList<string> Suites = ["synthetic-reviews", "imdb", "squad"];

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
    }
}

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
        return [.. align, .. quality, .. div, .. cov, "disc/real_score", "disc/fake_score", "disc/acc"];
    }

    public static SuiteResult Run(SuiteOptions o, string commandLine, Action<string>? log = null, Action<int, int>? progress = null, CancellationToken ct = default)
    {
        o.Validate();
        Directory.CreateDirectory(o.OutDir);
        var modelsRoot = Path.Combine(o.OutDir, "models");
        var runs = new List<SuiteRun>();
        int total = o.Seeds * o.Methods.Count, done = 0;
        for (int seed = 1; seed <= o.Seeds; seed++)
        {
            foreach (var method in o.Methods)
            {
                ct.ThrowIfCancellationRequested();
                var s = SettingsFor(o, method, seed);
                var dir = Path.Combine(o.OutDir, "runs", $"{method}-seed{seed}");
                if (Directory.Exists(dir)) Directory.Delete(dir, true);
                log?.Invoke($"[{done + 1}/{total}] {method} seed {seed}: {s.Steps} generator updates in {dir}");
                runs.Add(RunOne(method, seed, dir, s, modelsRoot, log, ct));
                // A run cancelled mid-way returns (checkpointed, interrupted) instead of throwing: it is not
                // done, and after the last run the suite must not go on to write results.md over it.
                ct.ThrowIfCancellationRequested();
                done++; // not inside the call: ?. skips evaluating its arguments when nobody listens
                progress?.Invoke(done, total);
            }
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

    /// <summary>A method's settings: its preset (synthetic) or data preset (imdb, squad), the seed, the shared step budget.</summary>
    public static RunSettings SettingsFor(SuiteOptions o, string method, int seed)
    {
        var m = RunSettings.FromJson($"{{\"method\":\"{method}\"}}").Method;
        var s = o.Suite switch
        {
            "imdb" => DataPresets.Imdb(m, o.DataPath!),
            "squad" => DataPresets.Squad(m, o.DataPath!),
            _ => Presets.Get(method),
        };
        // seqgan-rollout has no data preset of its own: the data preset's common part with the rollout settings.
        if (m == TrainingMethod.SeqganRollout) s = s with { Rollouts = 2, GenLr = 2e-4, KlCoef = 0.02 };
        s = s with
        {
            Seed = seed, Steps = o.StepsBudget, EvalEvery = Math.Max(1, o.StepsBudget / 6), Threads = o.Threads,
            CheckpointEvery = Math.Max(o.StepsBudget, 1), KeepCheckpoints = 1, CollapseAction = CollapseAction.Warn,
        };
        s = s with { SamplesPerEval = Math.Min(s.EvalPrompts, o.Suite == "imdb" ? 64 : 8) };
        return (o.Adjust?.Invoke(s) ?? s).Validate();
    }

    private static SuiteRun RunOne(string method, int seed, string dir, RunSettings s, string modelsRoot, Action<string>? log, CancellationToken ct)
    {
        var curve = new SortedDictionary<int, Dictionary<string, double>>();
        var lastTrain = new Dictionary<string, double>();
        bool collapse = false;
        Stopwatch? clock = null;
        var samples = new List<string>();
        using var run = AdversarialRun.Create(dir, s, modelsRoot);
        run.MetricsLogged += (step, m) =>
        {
            if (m.ContainsKey(DiversityReport.Distinct2Name))
            {
                clock ??= Stopwatch.StartNew(); // the step-0 evaluation: set-up (pretraining, reward model, D pretraining) is over
                curve[step] = new Dictionary<string, double>(m);
            }
            else foreach (var (k, v) in m) lastTrain[k] = v;
        };
        run.SamplesLogged += list => { samples.Clear(); samples.AddRange(list.Select(x => x.Completion)); };
        run.EventRaised += e =>
        {
            if (e.Kind == RunEventKinds.Collapse) { collapse = true; log?.Invoke($"  collapse at step {e.Step}: {e.Message}"); }
        };
        run.Log += m => { if (m.StartsWith("pretrain", StringComparison.Ordinal) || m.StartsWith("reward model acc", StringComparison.Ordinal)) log?.Invoke("  " + m); };
        run.Execute(cancellationToken: ct);
        double seconds = clock?.Elapsed.TotalSeconds ?? double.NaN;
        var final = new Dictionary<string, double>(curve.Count > 0 ? curve.Last().Value : []);
        // Discriminator statistics at the end: the last training step's figures.
        foreach (var k in new[] { "disc/real_score", "disc/fake_score", "disc/acc" })
            final[k] = lastTrain.GetValueOrDefault(k, double.NaN);
        File.WriteAllLines(Path.Combine(dir, "final-samples.txt"), samples);
        log?.Invoke($"  {run.Status.ToString().ToLowerInvariant()} in {seconds:0.0}s of training");
        return new SuiteRun(method, seed, dir, run.Status.ToString().ToLowerInvariant(), seconds, collapse, final,
            curve.Select(kv => (kv.Key, kv.Value)).ToList());
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
            var s = RunSettings.FromJson(File.ReadAllText(Path.Combine(first.RunDir, AdversarialRun.SettingsFile)));
            var sftDir = Path.Combine(first.RunDir, RunSetup.SftDir);
            if (!Directory.Exists(sftDir)) continue;
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
