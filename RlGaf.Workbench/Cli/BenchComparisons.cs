using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using RlGaf.Engine.Benchmarks;
using RlGaf.Engine.Runtime;
using TorchSharp;

namespace RlGaf.Workbench.Cli;

/// <summary>What bench compares besides its own figures: a PyTorch peer, solo vs shared cores; and whether its main figures run.</summary>
internal sealed record BenchComparisonOptions(bool Peer, bool Shared, bool MainFigures, bool Quick, string Python, int ProbeSteps);

/// <summary>
/// bench's comparisons (issue 13): the PyTorch peer side by side in the same invocation, and two
/// engine processes on the same cores against one alone. Kept apart from BenchCommand's parsing.
/// </summary>
internal static class BenchComparisons
{
    /// <summary>Runs what the options ask for; each result is a JSON-ready object (null when not asked).</summary>
    /// <param name="section">The name of each comparison as it starts (for a live status; not part of the log).</param>
    public static (PeerReport? Peer, SharedCoresReport? Shared) Run(BenchComparisonOptions o, torch.Device device, Action<string> log, Action<string>? section = null)
    {
        PeerReport? peer = null;
        SharedCoresReport? shared = null;
        int threads = torch.get_num_threads();
        if (o.Peer)
        {
            section?.Invoke("PyTorch peer");
            int docs = o.Quick ? 3000 : new Engine.Training.PretrainSettings().TrainDocuments;
            int vocab = TinyMleWorkload.Vocabulary(TinyMleWorkload.TrainingTexts(docs)).Size;
            peer = PeerBench.Run(PeerSpec.Default(threads, vocab, o.Quick), device, o.Python, log);
        }
        // The probes run as users' trainings do: with --threads given, that count; without, the automatic count (Runtime/CoreShare.cs).
        int probeThreads = Engine.Runtime.TorchRuntime.ThreadsFixed ? threads : 0;
        if (o.Shared)
        {
            section?.Invoke("shared cores");
            shared = SharedCoresBench.Run(() => ProbeProcess(o.ProbeSteps, probeThreads), probeThreads, log);
        }
        return (peer, shared);
    }

    /// <summary>This executable again, running only the MLE probe (bench --probe-mle STEPS).</summary>
    private static ProcessStartInfo ProbeProcess(int steps, int threads)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable to start the shared-cores probe");
        var psi = new ProcessStartInfo(self);
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (var a in new[] { "bench", "--probe-mle", steps.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture), "--device", "cpu" })
            psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>The child side: the tiny MLE run alone, its median tokens/s on one line.</summary>
    public static int Probe(int steps, torch.Device device)
    {
        double tps = TinyMleWorkload.TokensPerSecond(steps, 3000, device);
        Console.WriteLine(SharedCoresBench.ProbePrefix + tps.ToString("R", CultureInfo.InvariantCulture));
        return 0;
    }

    public static object? PeerJson(PeerReport? p) => p is null ? null : new
    {
        engine = p.EngineLibtorch, peer = p.PeerTorch, peer_blas = p.PeerBlas, threads = p.Threads,
        engine_peak = new { shape = p.EnginePeak.Shape.Name, gflops = p.EnginePeak.Gflops },
        peer_peak = new { shape = p.PeerPeak.Name, gflops = p.PeerPeak.Gflops },
        ratio_meaning = "engine / peer for rates, peer / engine for times: > 1 means the engine is faster",
        pairs = p.Pairs.ToDictionary(x => x.Key, x => (object)new { engine = x.Engine, peer = x.Peer, unit = x.Unit, ratio = x.Ratio, target = ">= 1.0", met = x.Ratio >= 1.0 }),
    };

    public static object? SharedJson(SharedCoresReport? s) => s is null ? null : new
    {
        solo_tokens_per_s = s.Solo, shared_tokens_per_s = new[] { s.SharedA, s.SharedB }, worst_ratio = s.WorstRatio,
        target = ">= 0.45", met = s.WorstRatio >= 0.45, threads = s.Threads, openmp = s.OpenMp,
        note = "tiny default MLE (3 x 128, window 64, batch 32) in child processes: one alone, then two started together on the same cores",
    };

    public static void Print(PeerReport? p, SharedCoresReport? s)
    {
        if (p is not null)
        {
            Console.WriteLine($"peer: engine {p.EngineLibtorch} vs {p.PeerTorch} ({p.PeerBlas}), {p.Threads} threads; ratio > 1 = engine faster");
            foreach (var x in p.Pairs)
                Console.WriteLine($"  {x.Key,-40} engine {F(x.Engine),10}  peer {F(x.Peer),10} {x.Unit,-9} ratio {x.Ratio:0.00}{(x.Ratio >= 1 ? "" : "  (target >= 1.0 MISSED)")}");
            Console.WriteLine($"  peak: engine {p.EnginePeak.Shape.Name} {F(p.EnginePeak.Gflops)}, peer {p.PeerPeak.Name} {F(p.PeerPeak.Gflops)} GFLOP/s");
        }
        if (s is not null)
            Console.WriteLine($"shared cores ({s.Threads} threads each, OpenMP {s.OpenMp}): solo {F(s.Solo)} tokens/s, two at once {F(s.SharedA)} and {F(s.SharedB)}; " +
                              $"worst {s.WorstRatio:0.00}x solo (target >= 0.45: {(s.WorstRatio >= 0.45 ? "met" : "MISSED")})");
    }

    private static string F(double v) => !double.IsFinite(v) ? "-" : Math.Abs(v) >= 100 ? v.ToString("N0", CultureInfo.InvariantCulture) : v.ToString("0.00", CultureInfo.InvariantCulture);
}
