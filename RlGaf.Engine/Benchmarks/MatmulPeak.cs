using System.Diagnostics;
using RlGaf.Engine.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Benchmarks;

/// <summary>One [M, K] x [K, N] product of the peak sweep, named after where it comes from.</summary>
public sealed record MatmulShape(string Name, int M, int K, int N)
{
    public double Flops => 2.0 * M * K * N;
}

/// <summary>The measured rate of one shape.</summary>
public sealed record MatmulResult(MatmulShape Shape, double Gflops);

/// <summary>
/// The dense fp32 matmul peak as the best over a sweep of shapes: square 256..4096 and the products
/// the benchmarked models really run (MLP [B*T, E] x [E, 4E] and LM head [B*T, E] x [E, V], tiny and
/// GPT-2 small). Machines of one kind differ in which shape wins, so a fixed shape or two would be an
/// unfair MFU denominator. The PyTorch peer sweeps the same list.
/// </summary>
public static class MatmulPeak
{
    /// <summary>Tokens per MLE step of the tiny default (batch 32 x window 64) and of the GPT-2 small figure (8 x 64).</summary>
    public const int TinyTokens = 32 * 64, SmallTokens = 8 * 64;

    public static IReadOnlyList<MatmulShape> Shapes(int tinyVocab, bool quick)
    {
        var list = new List<MatmulShape>();
        foreach (int s in quick ? new[] { 256, 512, 1024 } : [256, 512, 1024, 2048, 4096]) list.Add(new($"square_{s}", s, s, s));
        var small = Gpt2Config.Gpt2Small();
        list.Add(new("tiny_mlp", TinyTokens, 128, 512));
        list.Add(new("tiny_lm_head", TinyTokens, 128, tinyVocab));
        list.Add(new("gpt2_small_mlp", SmallTokens, small.NEmbd, 4 * small.NEmbd));
        if (!quick) list.Add(new("gpt2_small_lm_head", SmallTokens, small.NEmbd, small.VocabSize));
        return list;
    }

    /// <summary>Repetitions for a shape: fewer for the big ones, so the sweep stays within seconds.</summary>
    public static int Reps(MatmulShape s, bool quick) => quick ? 2 : s.Flops > 2e10 ? 3 : s.Flops > 2e9 ? 5 : 10;

    /// <summary>Times every shape; the best rate is the peak, reported with its shape.</summary>
    public static (MatmulResult Best, IReadOnlyList<MatmulResult> All) Sweep(IEnumerable<MatmulShape> shapes, bool quick, Device device) =>
        Sweep(shapes.Select(s => (s, Reps(s, quick))), device);

    /// <summary>Times every shape with its own repetition count.</summary>
    public static (MatmulResult Best, IReadOnlyList<MatmulResult> All) Sweep(IEnumerable<(MatmulShape Shape, int Reps)> shapes, Device device)
    {
        var all = shapes.Select(s => new MatmulResult(s.Shape, Gflops(s.Shape, s.Reps, device))).ToList();
        return (all.MaxBy(r => r.Gflops)!, all);
    }

    /// <summary>Best GFLOP/s over <paramref name="reps"/> timed products after one warm-up.</summary>
    public static double Gflops(MatmulShape s, int reps, Device device)
    {
        using var scope = NewDisposeScope();
        using var gen = new Generator(42, device);
        var a = randn([s.M, s.K], generator: gen, device: device);
        var b = randn([s.K, s.N], generator: gen, device: device);
        double best = double.MaxValue;
        for (int i = 0; i < reps + 1; i++)
        {
            var sw = Stopwatch.StartNew();
            using (var c = a.matmul(b)) { if (device.type == DeviceType.CUDA) cuda.synchronize(); }
            if (i >= 1) best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return s.Flops / best / 1e9;
    }
}
