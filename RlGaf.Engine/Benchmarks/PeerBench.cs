using RlGaf.Engine.Runtime;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Benchmarks;

/// <summary>A GPT-2 shape as the peer script reads it (snake_case JSON).</summary>
public sealed record PeerModel(int VocabSize, int NPositions, int NEmbd, int NLayer, int NHead)
{
    public Gpt2Config ToConfig() => new(VocabSize, NPositions, NEmbd, NLayer, NHead);
    public static PeerModel From(Gpt2Config c) => new(c.VocabSize, c.NPositions, c.NEmbd, c.NLayer, c.NHead);
}

public sealed record PeerMatmul(string Name, int M, int K, int N, int Reps);
public sealed record PeerMle(string Name, PeerModel Model, int Batch, int Window, int Reps);
/// <summary>Generation (and the REINFORCE step): <see cref="Batch"/> prompts of <see cref="Prompt"/> tokens, <see cref="NewTokens"/> sampled each.</summary>
public sealed record PeerGeneration(PeerModel Model, int Batch, int Prompt, int NewTokens, int Reps);

/// <summary>
/// Everything both sides run: threads, seed, warm-up runs, every shape. The engine measures from the
/// same record it sends the peer, so the two cannot drift apart.
/// </summary>
public sealed record PeerSpec(int Threads, int Seed, int Warmup, int Reps, IReadOnlyList<PeerMatmul> MatmulShapes,
    IReadOnlyList<PeerMle> Mle, PeerGeneration Generate, PeerGeneration Reinforce)
{
    /// <summary>The workloads: tiny MLE (3 x 128, window 64, batch 32, the compact vocabulary) and GPT-2 small's,
    /// generation batch 16 x 64 new tokens, one REINFORCE step at the presets' batch 32 x 48 new tokens.</summary>
    public static PeerSpec Default(int threads, int tinyVocab, bool quick)
    {
        var tinyMle = new PeerModel(tinyVocab, 64, 128, 3, 4);
        var small = PeerModel.From(Gpt2Config.Gpt2Small());
        var shapes = MatmulPeak.Shapes(tinyVocab, quick).Select(s => new PeerMatmul(s.Name, s.M, s.K, s.N, MatmulPeak.Reps(s, quick))).ToList();
        return new(threads, 1, 1, quick ? 1 : 5, shapes,
            [new("tiny", tinyMle, 32, 64, quick ? 2 : 10), new("gpt2_small", small, quick ? 2 : 8, quick ? 32 : 64, quick ? 1 : 3)],
            new(PeerModel.From(Gpt2Config.Tiny(4096)), 16, 8, quick ? 16 : 64, quick ? 1 : 3),
            new(PeerModel.From(Gpt2Config.Tiny(tinyVocab)), 32, 8, quick ? 16 : 48, quick ? 1 : 5));
    }

    /// <summary>Toy shapes that run in seconds on either side (tests).</summary>
    public static PeerSpec Toy(int threads)
    {
        var m = new PeerModel(97, 32, 32, 2, 2);
        return new(threads, 3, 1, 1, [new("square_128", 128, 128, 128, 2), new("toy_mlp", 64, 32, 128, 2)],
            [new("toy", m, 4, 16, 2)], new(m, 2, 4, 6, 1), new(m, 4, 4, 6, 2));
    }
}

/// <summary>The peer's answer, as tools/peer/peer_bench.py writes it.</summary>
public sealed record PeerResult(string TorchVersion, int Threads, string Blas, IReadOnlyList<PeerMatmulRate> Matmul,
    IReadOnlyDictionary<string, PeerMleRate> Mle, PeerGenerationRate Generate, PeerReinforceTimes Reinforce);
public sealed record PeerMatmulRate(string Name, int M, int K, int N, double Gflops);
public sealed record PeerMleRate(double TokensPerS, double StepMs);
public sealed record PeerGenerationRate(double NewTokensPerS, double Ms);
public sealed record PeerReinforceTimes(double StepMs, double GenerateMs, double ScoreMs, double UpdateMs);

/// <summary>One figure measured on both sides; <see cref="Ratio"/> &gt; 1 means the engine is faster.</summary>
public sealed record PeerPair(string Key, double Engine, double Peer, string Unit, bool HigherIsBetter)
{
    public double Ratio => HigherIsBetter ? Engine / Peer : Peer / Engine;
}

/// <summary>Both sides' versions and every pair, from one invocation.</summary>
public sealed record PeerReport(string EngineLibtorch, string PeerTorch, string PeerBlas, int Threads,
    IReadOnlyList<PeerPair> Pairs, MatmulResult EnginePeak, PeerMatmulRate PeerPeak);

/// <summary>
/// bench --peer pytorch: the same work in the engine and in plain PyTorch (tools/peer/peer_bench.py,
/// Debian's python3-torch), one after the other in one invocation, same threads, shapes and seeds, the
/// same protocol (warm-up, then the best of N), and the ratio of each pair.
/// </summary>
public static class PeerBench
{
    /// <summary>Debian's interpreter: its python3-torch is not visible to pyenv's python3, which comes first on PATH.</summary>
    public const string DefaultPython = "/usr/bin/python3";

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The peer script, copied next to the engine's assembly at build time.</summary>
    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "peer", "peer_bench.py");

    /// <summary>Null when <paramref name="python"/> can import torch; otherwise why the peer cannot run and how to get it.</summary>
    public static string? Unavailable(string python = DefaultPython)
    {
        if (!File.Exists(python)) return $"{python} does not exist (install Debian's python3 and python3-torch: apt-get install -y python3-torch libopenblas0-openmp)";
        if (!File.Exists(ScriptPath)) return $"the peer script {ScriptPath} is missing (rebuild: the engine project copies tools/peer/peer_bench.py)";
        var (code, _, err) = RunProcess(python, ["-c", "import torch"], null, TimeSpan.FromSeconds(60));
        return code == 0 ? null : $"{python} cannot import torch (apt-get install -y python3-torch libopenblas0-openmp): {FirstLine(err)}";
    }

    /// <summary>Runs the peer script on <paramref name="spec"/> and parses its answer; errors name the script and its stderr.</summary>
    public static PeerResult RunPeer(PeerSpec spec, string python = DefaultPython, TimeSpan? timeout = null)
    {
        var (code, output, err) = RunProcess(python, [ScriptPath, "-"], JsonSerializer.Serialize(spec, Json), timeout ?? TimeSpan.FromMinutes(30));
        if (code != 0) throw new InvalidOperationException($"peer {ScriptPath} exited with {code}: {LastLines(err)}");
        try
        {
            return JsonSerializer.Deserialize<PeerResult>(output, Json) ?? throw new InvalidDataException("null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"peer {ScriptPath} printed something that is not its JSON answer ({e.Message}): {output[..Math.Min(200, output.Length)]}", e);
        }
    }

    /// <summary>Measures the engine's side, then the peer's, and pairs them.</summary>
    public static PeerReport Run(PeerSpec spec, Device device, string python = DefaultPython, Action<string>? log = null)
    {
        if (Unavailable(python) is { } why) throw new InvalidOperationException("--peer pytorch: " + why);
        int before = get_num_threads();
        set_num_threads(spec.Threads);
        try
        {
            log?.Invoke("peer: engine side");
            var sweep = MatmulPeak.Sweep(spec.MatmulShapes.Select(s => (new MatmulShape(s.Name, s.M, s.K, s.N), s.Reps)), device);
            var engineMle = spec.Mle.ToDictionary(m => m.Name, m => MleTokensPerSecond(m, spec, device));
            double engineGen = GenerationTokensPerSecond(spec.Generate, spec, device);
            var engineRl = ReinforceStep(spec.Reinforce, spec, device);
            log?.Invoke("peer: PyTorch side");
            var peer = RunPeer(spec, python);
            var pairs = new List<PeerPair>();
            var peerPeak = peer.Matmul.MaxBy(m => m.Gflops)!;
            foreach (var e in sweep.All)
                if (peer.Matmul.FirstOrDefault(p => p.Name == e.Shape.Name) is { } p) pairs.Add(new($"matmul/{e.Shape.Name}", e.Gflops, p.Gflops, "GFLOP/s", true));
            pairs.Add(new("matmul/peak", sweep.Best.Gflops, peerPeak.Gflops, "GFLOP/s", true));
            foreach (var (name, tps) in engineMle) pairs.Add(new($"mle_{name}/tokens_per_s", tps, peer.Mle[name].TokensPerS, "tokens/s", true));
            pairs.Add(new("generate/kv_cache_new_tokens_per_s", engineGen, peer.Generate.NewTokensPerS, "tokens/s", true));
            pairs.Add(new("reinforce/step_ms", engineRl.Step, peer.Reinforce.StepMs, "ms", false));
            pairs.Add(new("reinforce/generate_ms", engineRl.Generate, peer.Reinforce.GenerateMs, "ms", false));
            pairs.Add(new("reinforce/score_ms", engineRl.Score, peer.Reinforce.ScoreMs, "ms", false));
            pairs.Add(new("reinforce/update_ms", engineRl.Update, peer.Reinforce.UpdateMs, "ms", false));
            return new PeerReport($"libtorch {torch.__version__} (TorchSharp {typeof(torch).Assembly.GetName().Version})", $"torch {peer.TorchVersion}", peer.Blas,
                spec.Threads, pairs, sweep.Best, peerPeak);
        }
        finally
        {
            set_num_threads(before);
        }
    }

    /// <summary>Best-of-N time of <paramref name="step"/> after the spec's warm-up runs, in seconds.</summary>
    private static double BestOf(Action step, int warmup, int reps)
    {
        for (int i = 0; i < warmup; i++) step();
        double best = double.MaxValue;
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            step();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>MLE step on random tokens: forward, cross-entropy, backward, clip 1.0, AdamW (the peer's step).</summary>
    public static double MleTokensPerSecond(PeerMle m, PeerSpec spec, Device device)
    {
        var c = m.Model.ToConfig();
        using var model = new Gpt2Model(c, seed: spec.Seed);
        model.to(device);
        model.train();
        using var opt = new Optim.AdamW(model.parameters(), 1e-4, 0.9, 0.999, 1e-8, 0.0);
        using var gen = new Generator((ulong)spec.Seed + 1, device);
        double sec = BestOf(() =>
        {
            using var scope = NewDisposeScope();
            var ids = randint(0, c.VocabSize, [m.Batch, m.Window + 1], generator: gen, dtype: ScalarType.Int64, device: device);
            var logits = model.Forward(ids.narrow(1, 0, m.Window));
            var loss = nn.functional.cross_entropy(logits.view(-1, c.VocabSize), ids.narrow(1, 1, m.Window).reshape(-1));
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(model.parameters(), 1.0);
            opt.step();
        }, spec.Warmup, m.Reps);
        return m.Batch * m.Window / sec;
    }

    private static List<IReadOnlyList<int>> RandomPrompts(PeerGeneration g, Random rng) =>
        Enumerable.Range(0, g.Batch).Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, g.Prompt).Select(_ => rng.Next(g.Model.VocabSize)).ToArray()).ToList();

    /// <summary>The engine's generation path (TextGenerator, KV cache, sampling at temperature 1, no end token).</summary>
    public static double GenerationTokensPerSecond(PeerGeneration g, PeerSpec spec, Device device)
    {
        using var model = new Gpt2Model(g.Model.ToConfig(), seed: spec.Seed);
        model.to(device);
        var prompts = RandomPrompts(g, new Random(spec.Seed));
        var opts = new GenerationOptions { MaxNewTokens = g.NewTokens, DoSample = true, Seed = spec.Seed + 1, UseCache = true, EosId = null };
        double sec = BestOf(() => TextGenerator.Generate(model, prompts, opts), spec.Warmup, g.Reps);
        return g.Batch * g.NewTokens / sec;
    }

    /// <summary>
    /// One REINFORCE step with the engine's parts: TextGenerator samples, the Discriminator scores (sigmoid,
    /// whitened over the batch as the advantage), PolicyMath's completion log-probabilities, backward, clip, AdamW.
    /// Times in ms of the fastest step and its three parts.
    /// </summary>
    public static (double Step, double Generate, double Score, double Update) ReinforceStep(PeerGeneration g, PeerSpec spec, Device device)
    {
        var c = g.Model.ToConfig();
        using var policy = new Gpt2Model(c, seed: spec.Seed);
        policy.to(device);
        using var disc = new Discriminator(c, seed: spec.Seed + 2);
        disc.to(device);
        disc.eval();
        using var opt = new Optim.AdamW(policy.parameters(), 1e-4, 0.9, 0.999, 1e-8, 0.0);
        var rng = new Random(spec.Seed);
        var opts = new GenerationOptions { MaxNewTokens = g.NewTokens, DoSample = true, UseCache = true, EosId = null };
        (double Step, double Generate, double Score, double Update) best = (double.MaxValue, 0, 0, 0);
        for (int i = 0; i < spec.Warmup + g.Reps; i++)
        {
            using var scope = NewDisposeScope();
            var prompts = RandomPrompts(g, rng);
            var sw = Stopwatch.StartNew();
            var result = TextGenerator.Generate(policy, prompts, opts with { Seed = spec.Seed + 1 + i });
            var batch = new SequenceBatch(prompts.Select(p => p.ToArray()).ToList(), result.Sequences.Select(s => s.Tokens).ToList(), 0, device);
            double tGen = sw.Elapsed.TotalMilliseconds;
            Tensor advantage;
            using (no_grad())
            {
                var reward = disc.Score(batch).sigmoid();
                advantage = (reward - reward.mean()) / reward.std().Plus(1e-8);
            }
            double tScore = sw.Elapsed.TotalMilliseconds;
            policy.train();
            var logp = PolicyMath.TokenLogProbs(PolicyMath.CompletionLogits(policy.Forward(batch.Tokens, batch.AttentionMask), batch), batch);
            var loss = -(advantage.unsqueeze(1) * logp).mean();
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(policy.parameters(), 1.0);
            opt.step();
            double tAll = sw.Elapsed.TotalMilliseconds;
            if (i >= spec.Warmup && tAll < best.Step) best = (tAll, tGen, tScore - tGen, tAll - tScore);
        }
        return best;
    }

    private static (int Code, string Stdout, string Stderr) RunProcess(string file, IEnumerable<string> args, string? stdin, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var outTask = p.StandardOutput.ReadToEndAsync();
        var errTask = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish within {timeout.TotalSeconds:0} s");
        }
        return (p.ExitCode, outTask.Result, errTask.Result);
    }

    private static string FirstLine(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
    private static string LastLines(string s) => string.Join(" | ", s.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(3));
}
