using System.Diagnostics;
using System.Runtime.InteropServices;
using RlGaf.Engine.Benchmarks;
using RlGaf.Engine.Runtime;

namespace RlGaf.Workbench.Tests.Cli;

/// <summary>
/// bench's comparisons: the PyTorch peer script on toy shapes (skipped with the reason when Debian's
/// python3-torch is missing), the matmul sweep, the shared-cores orchestration and the OpenMP
/// environment the engine sets before libtorch loads. No timing targets: the machine is shared.
/// </summary>
[Collection("cli")]
public class PeerBenchTests
{
    [SkippableFact]
    public void Peer_script_runs_the_toy_spec_and_answers_every_figure()
    {
        var why = PeerBench.Unavailable();
        Skip.If(why is not null, "PyTorch peer: " + why);
        var spec = PeerSpec.Toy(threads: 1);
        var r = PeerBench.RunPeer(spec, timeout: TimeSpan.FromMinutes(5));
        Assert.StartsWith("1.", r.TorchVersion); // Debian's 1.13; a different torch would be a different peer
        Assert.Equal(1, r.Threads);
        Assert.Equal(spec.MatmulShapes.Select(s => s.Name), r.Matmul.Select(m => m.Name));
        foreach (var m in r.Matmul)
        {
            var s = spec.MatmulShapes.Single(x => x.Name == m.Name);
            Assert.Equal((s.M, s.K, s.N), (m.M, m.K, m.N));
            Assert.True(double.IsFinite(m.Gflops) && m.Gflops > 0, $"{m.Name}: {m.Gflops}");
        }
        Assert.True(r.Mle["toy"].TokensPerS > 0);
        // tokens/s and step time are the same measurement: batch x window / step.
        Assert.Equal(4 * 16 / (r.Mle["toy"].StepMs / 1000), r.Mle["toy"].TokensPerS, 1e-6 * r.Mle["toy"].TokensPerS);
        Assert.Equal(2 * 6 / (r.Generate.Ms / 1000), r.Generate.NewTokensPerS, 1e-6 * r.Generate.NewTokensPerS);
        var rl = r.Reinforce;
        Assert.True(rl.GenerateMs > 0 && rl.ScoreMs > 0 && rl.UpdateMs > 0);
        Assert.True(rl.GenerateMs + rl.ScoreMs + rl.UpdateMs <= rl.StepMs * 1.001, $"parts {rl.GenerateMs}+{rl.ScoreMs}+{rl.UpdateMs} exceed the step {rl.StepMs}");
        Assert.False(string.IsNullOrEmpty(r.Blas));
    }

    [SkippableFact]
    public void Peer_and_engine_pair_up_with_ratios_in_one_run()
    {
        var why = PeerBench.Unavailable();
        Skip.If(why is not null, "PyTorch peer: " + why);
        TorchRuntime.EnsureLoaded();
        int before = TorchSharp.torch.get_num_threads();
        var report = PeerBench.Run(PeerSpec.Toy(threads: 1), TorchSharp.torch.CPU);
        string[] keys = ["matmul/square_128", "matmul/toy_mlp", "matmul/peak", "mle_toy/tokens_per_s", "generate/kv_cache_new_tokens_per_s",
                         "reinforce/step_ms", "reinforce/generate_ms", "reinforce/score_ms", "reinforce/update_ms"];
        Assert.Equal(keys, report.Pairs.Select(p => p.Key));
        foreach (var p in report.Pairs)
        {
            Assert.True(p.Engine > 0 && p.Peer > 0, $"{p.Key}: engine {p.Engine}, peer {p.Peer}");
            Assert.Equal(p.HigherIsBetter ? p.Engine / p.Peer : p.Peer / p.Engine, p.Ratio, 12);
        }
        Assert.Contains("libtorch 2.", report.EngineLibtorch);
        Assert.StartsWith("torch 1.", report.PeerTorch);
        Assert.Equal(report.Pairs.Single(p => p.Key == "matmul/peak").Engine, report.EnginePeak.Gflops);
        Assert.Equal(before, TorchSharp.torch.get_num_threads()); // the spec's thread count is given back
    }

    [Fact]
    public void Matmul_sweep_reports_the_best_shape_as_the_peak_and_covers_the_models_shapes()
    {
        TorchRuntime.EnsureLoaded();
        var shapes = MatmulPeak.Shapes(tinyVocab: 1146, quick: false);
        foreach (var n in new[] { "square_256", "square_4096", "tiny_mlp", "tiny_lm_head", "gpt2_small_mlp", "gpt2_small_lm_head" })
            Assert.Contains(shapes, s => s.Name == n);
        Assert.Equal((2048, 128, 1146), shapes.Where(s => s.Name == "tiny_lm_head").Select(s => (s.M, s.K, s.N)).Single());
        Assert.Equal((512, 768, 50257), shapes.Where(s => s.Name == "gpt2_small_lm_head").Select(s => (s.M, s.K, s.N)).Single());
        var (best, all) = MatmulPeak.Sweep([new MatmulShape("a", 64, 64, 64), new MatmulShape("b", 256, 256, 256)], quick: true, TorchSharp.torch.CPU);
        Assert.Equal(2, all.Count);
        Assert.All(all, r => Assert.True(r.Gflops > 0));
        Assert.Equal(all.Max(r => r.Gflops), best.Gflops);
    }

    [Fact]
    public void Shared_cores_bench_reads_its_probes_and_names_a_failing_one()
    {
        var ok = SharedCoresBench.Run(() => Shell($"echo warming up; echo {SharedCoresBench.ProbePrefix}1000"), threads: 2);
        Assert.Equal(1000, ok.Solo);
        Assert.Equal((1000.0, 1000.0), (ok.SharedA, ok.SharedB));
        Assert.Equal(1.0, ok.WorstRatio);
        var e = Assert.Throws<InvalidOperationException>(() => SharedCoresBench.Run(() => Shell("echo no figure >&2; exit 3"), threads: 2));
        Assert.Contains("exited with 3", e.Message);
        Assert.Contains("no figure", e.Message);
    }

    [Fact]
    public void Engine_sets_a_short_openmp_spin_in_the_native_environment_before_libtorch_loads()
    {
        TorchRuntime.EnsureLoaded();
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null && !OpenMpEnvironment.Applied.StartsWith("kept", StringComparison.Ordinal))
        {
            // The native environ (what libgomp reads), not .NET's copy of it.
            Assert.Equal(OpenMpEnvironment.SpinCount, Marshal.PtrToStringAnsi(getenv("GOMP_SPINCOUNT")));
            Assert.Equal($"GOMP_SPINCOUNT={OpenMpEnvironment.SpinCount}", OpenMpEnvironment.Applied);
        }
        else Assert.StartsWith("kept the user's", OpenMpEnvironment.Applied);
    }

    [DllImport("libc")]
    private static extern IntPtr getenv(string name);

    private static ProcessStartInfo Shell(string script)
    {
        var psi = new ProcessStartInfo("/bin/sh");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        return psi;
    }
}
