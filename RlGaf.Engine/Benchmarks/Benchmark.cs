using System.Diagnostics;
using System.Globalization;
using RlGaf.Engine.Corpora;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Text;
using RlGaf.Engine.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Benchmarks;

/// <summary>What the benchmark runs; <see cref="Quick"/> gives a smoke test of every figure in well under a minute of work.</summary>
public sealed record BenchOptions
{
    /// <summary>Few repetitions and short runs everywhere: every figure is produced, none is trustworthy.</summary>
    public bool Quick { get; init; }
    /// <summary>A Hugging Face GPT-2 folder (config.json + model.safetensors) for the GPT-2-small figure; null = random weights at GPT-2 small's shape.</summary>
    public string? HfModelDir { get; init; }
    /// <summary>The MLE step at which resident memory is read first (the issue's 500).</summary>
    public int RssFirstStep { get; init; } = 500;
    /// <summary>The MLE step at which resident memory is read again (the issue's 2000); also the length of the tiny MLE run.</summary>
    public int RssSecondStep { get; init; } = 2000;
    /// <summary>The adversarial methods whose step is broken down (preset names).</summary>
    public IReadOnlyList<string> Methods { get; init; } = [.. Presets.All.Keys];
    public Device Device { get; init; } = CPU;

    public static BenchOptions QuickDefaults(BenchOptions o) => o with { Quick = true, RssFirstStep = 20, RssSecondStep = 60 };
}

/// <summary>One measured figure; <see cref="Target"/> is the issue's goal for it where there is one.</summary>
public sealed record BenchFigure(string Key, double Value, string Unit, string Note, BenchTarget? Target = null)
{
    public bool? Met => Target is null || !double.IsFinite(Value) ? null : Target.Below ? Value < Target.Value : Value >= Target.Value;
}

/// <summary>A goal: at least <see cref="Value"/>, or below it when <see cref="Below"/>.</summary>
public sealed record BenchTarget(double Value, bool Below, string Text);

/// <summary>All figures of one benchmark run, with the machine facts they depend on.</summary>
public sealed record BenchReport(int Threads, bool Quick, string Device, IReadOnlyList<BenchFigure> Figures, IReadOnlyList<string> Notes)
{
    public double this[string key] => Figures.First(f => f.Key == key).Value;
}

/// <summary>
/// The performance benchmark of issue 6, measured in one process: the machine's dense fp32 matmul
/// peak, MLE training throughput and MFU (tiny default model and GPT-2 small's shape), generation
/// with and without the KV cache, one adversarial step per method broken down, resident memory
/// across a long MLE run, and tokenizer throughput.
/// </summary>
public static class Benchmark
{
    /// <summary>The model FLOPs formula used for MFU (PaLM appendix B): per token 6 N + 12 L T E.</summary>
    public const string MfuFormula =
        "MFU = tokens/s x (6 N + 12 L T E) / peak, N = parameters used in matmuls (token embedding counted once as the tied LM head, position table excluded), " +
        "L layers, T context (window), E width; tokens = target tokens (padding excluded); peak = the best measured dense fp32 matmul";

    /// <param name="log">The figures as they are measured, and what each part is doing.</param>
    /// <param name="section">The name of each part as it starts (for a live status; not part of the log).</param>
    public static BenchReport Run(BenchOptions o, Action<string>? log = null, Action<string>? section = null)
    {
        var figures = new List<BenchFigure>();
        var notes = new List<string>();
        void Add(BenchFigure f)
        {
            figures.Add(f);
            log?.Invoke($"{f.Key} = {f.Value.ToString("G4", CultureInfo.InvariantCulture)} {f.Unit}");
        }
        int threads = get_num_threads();

        // 1. Dense fp32 matmul peak: the best over a sweep of shapes (MatmulPeak), the winner named.
        section?.Invoke("matmul peak");
        int tinyVocab = TinyMleWorkload.Vocabulary(TinyMleWorkload.TrainingTexts(o.Quick ? 3000 : new PretrainSettings().TrainDocuments)).Size;
        var (best, sweep) = MatmulPeak.Sweep(MatmulPeak.Shapes(tinyVocab, o.Quick), o.Quick, o.Device);
        double peak = best.Gflops;
        foreach (var r in sweep)
            Add(new($"matmul/{r.Shape.Name}_gflops", r.Gflops, "GFLOP/s", $"[{r.Shape.M}, {r.Shape.K}] x [{r.Shape.K}, {r.Shape.N}], best of {MatmulPeak.Reps(r.Shape, o.Quick)} after a warm-up"));
        Add(new("matmul/peak_gflops", peak, "GFLOP/s", $"best of the sweep, won by {best.Shape.Name} [{best.Shape.M}, {best.Shape.K}] x [{best.Shape.K}, {best.Shape.N}]: the denominator of MFU"));
        notes.Add($"matmul peak won by {best.Shape.Name} ({best.Shape.M}x{best.Shape.K}x{best.Shape.N}) at {threads} threads");

        // 2. MLE at the default tiny configuration, with resident memory at two steps of the same run.
        section?.Invoke("MLE, tiny model");
        var (mleTps, mleFlopsPerToken, rss1, rss2) = TinyMle(o, notes);
        Add(new("mle_tiny/tokens_per_s", mleTps, "tokens/s", "median per-step throughput after warm-up (n_embd 128, 3 layers, 4 heads, window 64, batch 32, compact vocab)"));
        Add(new("mle_tiny/mfu", mleTps * mleFlopsPerToken / (peak * 1e9), "fraction of peak", MfuFormula, new BenchTarget(0.5, false, ">= 0.5")));
        Add(new($"memory/rss_mb_step{o.RssFirstStep}", rss1 / 1048576.0, "MB", "VmRSS during the tiny MLE run"));
        Add(new($"memory/rss_mb_step{o.RssSecondStep}", rss2 / 1048576.0, "MB", "VmRSS during the tiny MLE run"));
        Add(new("memory/rss_growth", (double)rss2 / rss1 - 1, "fraction", $"(rss@{o.RssSecondStep} - rss@{o.RssFirstStep}) / rss@{o.RssFirstStep}", new BenchTarget(0.10, true, "< 0.10")));

        // 3. MLE at GPT-2 small's shape.
        section?.Invoke("MLE, GPT-2 small shape");
        var (smallTps, smallFlops) = Gpt2SmallMle(o, notes);
        Add(new("mle_gpt2_small/tokens_per_s", smallTps, "tokens/s", o.HfModelDir is null ? "random weights, GPT-2 small shape" : $"weights from {o.HfModelDir}"));
        Add(new("mle_gpt2_small/mfu", smallTps * smallFlops / (peak * 1e9), "fraction of peak", "same formula", new BenchTarget(0.5, false, ">= 0.5")));

        // 4. Generation with and without the KV cache.
        section?.Invoke("generation");
        var (cached, uncached) = Generation(o);
        Add(new("generate/kv_cache_new_tokens_per_s", cached, "tokens/s", "tiny shape (n_positions 128), batch 16, 64 new tokens, prompt 8 tokens"));
        Add(new("generate/no_cache_new_tokens_per_s", uncached, "tokens/s", "same, recomputing the whole sequence each step"));
        Add(new("generate/kv_cache_speedup", cached / uncached, "x", "cached / uncached", new BenchTarget(3, false, ">= 3x")));

        // 5. One adversarial step per method, broken down.
        section?.Invoke("adversarial steps");
        foreach (var f in AdversarialSteps(o, notes, log)) Add(f);

        // 6. Tokenizer throughput.
        section?.Invoke("tokenizer");
        Add(new("tokenizer/gpt2_tokens_per_s", TokenizerThroughput(o), "tokens/s", "Gpt2Tokenizer.Encode over synthetic reviews, one thread"));
        return new BenchReport(threads, o.Quick, o.Device.ToString(), figures, notes);
    }

    /// <summary>Best GFLOP/s of an [m,k] x [k,n] fp32 product over <paramref name="reps"/> timed runs after two warm-up runs.</summary>
    public static double MatmulGflops(int m, int k, int n, int reps, Device device)
    {
        using var scope = NewDisposeScope();
        using var gen = new Generator(42, device);
        var a = randn([m, k], generator: gen, device: device);
        var b = randn([k, n], generator: gen, device: device);
        double best = double.MaxValue;
        for (int i = 0; i < reps + 2; i++)
        {
            var sw = Stopwatch.StartNew();
            using (var c = a.matmul(b)) { if (device.type == DeviceType.CUDA) cuda.synchronize(); }
            if (i >= 2) best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return 2.0 * m * k * n / best / 1e9;
    }

    /// <summary>Model FLOPs per trained token: 6 N + 12 L T E (N without the position table).</summary>
    public static double FlopsPerToken(Gpt2Model model, int window)
    {
        var c = model.Config;
        long n = model.parameters().Sum(p => p.numel()) - (long)c.NPositions * c.NEmbd;
        return 6.0 * n + 12.0 * c.NLayer * window * c.NEmbd;
    }

    private static (double Tps, double FlopsPerToken, long Rss1, long Rss2) TinyMle(BenchOptions o, List<string> notes)
    {
        var d = new PretrainSettings(); // the defaults this benchmark measures
        var grammar = ReviewGrammar.Default;
        int docs = o.Quick ? 3000 : d.TrainDocuments;
        var train = grammar.Sample(docs, seed: 1).Select(r => r.Text).ToList();
        var held = grammar.Sample(200, seed: 1_000_004).Select(r => r.Text).ToList();
        var spellings = grammar.Terminals.SelectMany(t => new[] { t, " " + t, Cap(t), " " + Cap(t) });
        var vocab = Vocabulary.BuildCompact(train.Concat(spellings), d.MaxVocabulary);
        var corpus = new TokenizedCorpus(vocab, train, held, d.NPositions);
        var config = new Gpt2Config(vocab.Size, d.NPositions, d.NEmbd, d.NLayer, d.NHead);
        using var model = new Gpt2Model(config, seed: 1);
        model.to(o.Device);
        int steps = Math.Max(o.RssSecondStep, o.Quick ? 20 : 100);
        var mle = d.Mle with { Steps = steps, EvalEvery = int.MaxValue, EvalSequences = 32 };
        var perStep = new List<double>();
        long rss1 = 0, rss2 = 0;
        using (var trainer = new MleTrainer(model, corpus, mle, o.Device))
        {
            trainer.StepCompleted += s =>
            {
                if (s.Step > Math.Min(10, steps / 4)) perStep.Add(s.TokensPerSecond);
                if (s.Step == o.RssFirstStep) rss1 = ResidentBytes();
                if (s.Step == o.RssSecondStep) rss2 = ResidentBytes();
            };
            trainer.Train();
        }
        notes.Add($"tiny MLE: vocab {vocab.Size}, {steps} steps, {docs} training documents" + (o.Quick ? " (quick: fewer documents than the default 50,000)" : ""));
        perStep.Sort();
        return (perStep[perStep.Count / 2], FlopsPerToken(model, d.NPositions), rss1, rss2);
    }

    private static string Cap(string t) => t.Length > 0 ? char.ToUpperInvariant(t[0]) + t[1..] : t;

    private static (double Tps, double FlopsPerToken) Gpt2SmallMle(BenchOptions o, List<string> notes)
    {
        Gpt2Model model;
        if (o.HfModelDir is not null) model = HfCheckpoint.Load(o.HfModelDir, o.Device).Model;
        else { model = new Gpt2Model(Gpt2Config.Gpt2Small(), seed: 1); model.to(o.Device); }
        using var _ = model;
        int batch = o.Quick ? 2 : 8, window = o.Quick ? 32 : 64, steps = o.Quick ? 2 : 5;
        var c = model.Config;
        using var opt = new Optim.AdamW(model.parameters(), 1e-5);
        using var gen = new Generator(7, o.Device);
        model.train();
        var times = new List<double>();
        for (int i = 0; i < steps + 1; i++)
        {
            using var scope = NewDisposeScope();
            var ids = randint(0, c.VocabSize, [batch, window + 1], generator: gen, dtype: ScalarType.Int64, device: o.Device);
            var sw = Stopwatch.StartNew();
            var logits = model.Forward(ids.narrow(1, 0, window));
            var loss = nn.functional.cross_entropy(logits.view(-1, c.VocabSize), ids.narrow(1, 1, window).reshape(-1));
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(model.parameters(), 1.0);
            opt.step();
            if (i > 0) times.Add(sw.Elapsed.TotalSeconds); // the first step allocates the optimizer state
        }
        notes.Add($"GPT-2 small shape: batch {batch} x window {window}, {steps} timed steps after one warm-up, AdamW, clip 1.0");
        return (batch * window / times.Min(), FlopsPerToken(model, window));
    }

    private static (double Cached, double Uncached) Generation(BenchOptions o)
    {
        var config = Gpt2Config.Tiny(4096);
        using var model = new Gpt2Model(config, seed: 3);
        model.to(o.Device);
        var prompts = Enumerable.Range(0, 16).Select(i => (IReadOnlyList<int>)Enumerable.Range(1 + i, 8).ToArray()).ToList();
        double Time(bool cache)
        {
            var opts = new GenerationOptions { MaxNewTokens = 64, DoSample = true, Seed = 5, UseCache = cache, EosId = null };
            TextGenerator.Generate(model, prompts, opts with { MaxNewTokens = 4 }); // warm-up
            double best = double.MaxValue;
            for (int r = 0; r < (o.Quick ? 1 : 3); r++)
            {
                var sw = Stopwatch.StartNew();
                var result = TextGenerator.Generate(model, prompts, opts);
                best = Math.Min(best, sw.Elapsed.TotalSeconds / result.Sequences.Sum(s => s.Tokens.Length));
            }
            return 1 / best;
        }
        return (Time(true), Time(false));
    }

    private static IEnumerable<BenchFigure> AdversarialSteps(BenchOptions o, List<string> notes, Action<string>? log)
    {
        var root = Path.Combine(Path.GetTempPath(), $"rlgaf-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(root);
        try
        {
            // A short-pretrained generator at the default tiny shape: the step's cost does not depend on its quality.
            var sftDir = Path.Combine(root, "sft");
            var pre = new PretrainSettings { TrainDocuments = o.Quick ? 2000 : 10_000, HeldOutDocuments = 50, EvalSamples = 0,
                Mle = new MleOptions { Steps = o.Quick ? 10 : 100, WarmupSteps = 5, EvalEvery = 100_000, EvalSequences = 16 } };
            Pretraining.Run(pre, sftDir, o.Device);
            // The first step warms caches up; the median of the later ones is reported.
            int steps = o.Quick ? 2 : 5;
            (Dictionary<string, double> Median, double MetricsMs, RunSettings Settings) Time(string name, bool freshFakes)
            {
                var s = Presets.Get(name) with
                {
                    Generator = sftDir, Steps = steps, EvalEvery = steps, CheckpointEvery = 1000, DiscPretrainSteps = 1,
                    RewardModelSteps = 2, Device = o.Device.type == DeviceType.CUDA ? "cuda" : "cpu",
                    EvalPrompts = o.Quick ? 32 : 200, SamplesPerEval = 0, DiscFreshFakes = freshFakes,
                };
                var perStep = new List<Dictionary<string, double>>();
                double metricsMs = double.NaN;
                using (var run = AdversarialRun.Create(Path.Combine(root, freshFakes ? name + "-fresh" : name), s, root))
                {
                    run.MetricsLogged += (step, m) =>
                    {
                        if (m.ContainsKey("time/step") && step >= 2) perStep.Add(new Dictionary<string, double>(m));
                        if (step == steps && m.TryGetValue("time/metrics", out var mm)) metricsMs = mm;
                    };
                    run.Execute();
                }
                var keys = perStep.SelectMany(m => m.Keys).Distinct();
                return (keys.ToDictionary(k => k, k => Median(perStep.Select(m => m.GetValueOrDefault(k, double.NaN)).ToList())), metricsMs, s);
            }
            foreach (var name in o.Methods)
            {
                var (last, metricsMs, s) = Time(name, freshFakes: false);
                foreach (var part in new[] { "generate", "score", "rollouts", "gen_update", "disc_update", "step" })
                    yield return new BenchFigure($"adv/{name}/{part}_ms", last.GetValueOrDefault("time/" + part, double.NaN), "ms",
                        part == "step" ? $"whole step, batch {s.BatchSize}, {s.MaxNewTokens} new tokens" : part == "rollouts" ? "SeqGAN's Monte-Carlo rollouts (inside score); NaN for other methods" : "absent (NaN) when the method has no such phase");
                yield return new BenchFigure($"adv/{name}/metrics_ms", metricsMs, "ms", $"one evaluation over {s.EvalPrompts} held-out prompts");
                double step = last.GetValueOrDefault("time/step", double.NaN);
                yield return new BenchFigure($"adv/{name}/generate_share", last.GetValueOrDefault("time/generate", double.NaN) / step, "ratio",
                    "generation / whole step (issue 13 target for reinforce and ppo: <= 0.30)");
                if (name is "reinforce" or "ppo")
                {
                    // Issue 13's "today": every discriminator update generated a fresh batch (d_steps of them a step).
                    var (fresh, _, _) = Time(name, freshFakes: true);
                    double before = fresh.GetValueOrDefault("time/step", double.NaN);
                    yield return new BenchFigure($"adv/{name}/step_fresh_fakes_ms", before, "ms", "the same step with disc_fresh_fakes = true (one generation per discriminator update, as before issue 13)");
                    yield return new BenchFigure($"adv/{name}/step_vs_fresh_fakes", step / before, "ratio", "whole step now / with fresh fakes, same run (issue 13 target: <= 0.5)");
                }
                log?.Invoke($"adversarial step timed: {name}");
            }
            notes.Add("adversarial steps: presets' batch sizes and lengths, the median of generator updates 2.." + steps + " of a run; 'score' is inside 'generate'/'gen_update' for methods that do not log it separately (gumbel)");
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }

    /// <summary>The median of the finite values; NaN when there are none.</summary>
    private static double Median(IReadOnlyList<double> values)
    {
        var v = values.Where(double.IsFinite).OrderBy(x => x).ToArray();
        return v.Length == 0 ? double.NaN : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    private static double TokenizerThroughput(BenchOptions o)
    {
        var texts = ReviewGrammar.Default.Sample(o.Quick ? 500 : 5000, seed: 9).Select(r => r.Text).ToList();
        var tok = Gpt2Tokenizer.Shared;
        foreach (var t in texts.Take(50)) tok.Encode(t); // warm-up
        long tokens = 0;
        var sw = Stopwatch.StartNew();
        foreach (var t in texts) tokens += tok.Encode(t).Length;
        return tokens / sw.Elapsed.TotalSeconds;
    }

    /// <summary>Resident set size in bytes: VmRSS from /proc/self/status on Linux, the working set elsewhere.</summary>
    public static long ResidentBytes()
    {
        const string status = "/proc/self/status";
        if (File.Exists(status))
            foreach (var line in File.ReadLines(status))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        using var p = Process.GetCurrentProcess();
        return p.WorkingSet64;
    }
}
