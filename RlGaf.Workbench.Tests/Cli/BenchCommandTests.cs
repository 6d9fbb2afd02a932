using System.Diagnostics;
using System.Text.Json;

namespace RlGaf.Workbench.Tests.Cli;

/// <summary>bench --quick --json: every figure is there (no timing assertions: machines differ and are loaded).</summary>
[Collection("cli")]
public class BenchCommandTests
{
    private static readonly string Exe = Path.Combine(AppContext.BaseDirectory, "RlGaf.Workbench.dll");

    [Fact]
    public async Task Quick_json_has_every_figure()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Exe, "bench", "--quick", "--json", "--threads", "1" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        // Loaded shared machines: the quick run took over 10 min at load ~30.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(20));
        await p.WaitForExitAsync(timeout.Token);
        string err = await stderr, output = await stdout;
        Assert.True(p.ExitCode == 0, err);
        using var doc = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("threads").GetInt32());
        Assert.True(root.GetProperty("quick").GetBoolean());
        Assert.Contains("6 N", root.GetProperty("mfu_formula").GetString());
        var figures = root.GetProperty("figures");
        string[] expected =
        [
            "matmul/peak_gflops", "matmul/square_256_gflops", "matmul/square_1024_gflops", "matmul/tiny_mlp_gflops",
            "matmul/tiny_lm_head_gflops", "matmul/gpt2_small_mlp_gflops",
            "mle_tiny/tokens_per_s", "mle_tiny/mfu", "mle_gpt2_small/tokens_per_s", "mle_gpt2_small/mfu",
            "generate/kv_cache_new_tokens_per_s", "generate/no_cache_new_tokens_per_s", "generate/kv_cache_speedup",
            "memory/rss_mb_step20", "memory/rss_mb_step60", "memory/rss_growth", "tokenizer/gpt2_tokens_per_s",
        ];
        foreach (var key in expected)
        {
            Assert.True(figures.TryGetProperty(key, out var f), $"missing figure {key}");
            Assert.Equal(JsonValueKind.Number, f.GetProperty("value").ValueKind);
            double value = f.GetProperty("value").GetDouble();
            // Growth is a fraction that is rightly <= 0 when the heap trim leaves RSS flat or lower (a clean-clone CI
            // run read it so); it cannot fall to -1 (no resident memory at all). Every other figure is a rate or a size.
            if (key == "memory/rss_growth") Assert.True(value > -1 && double.IsFinite(value), $"{key} = {value}");
            else Assert.True(value > 0, $"{key} is not positive");
        }
        foreach (var key in new[] { "mle_tiny/mfu", "generate/kv_cache_speedup", "memory/rss_growth" })
            Assert.NotEqual(JsonValueKind.Null, figures.GetProperty(key).GetProperty("target").ValueKind);
        foreach (var method in new[] { "sft", "reinforce", "seqgan-rollout", "ppo", "gumbel", "rlhf-proxy" })
        {
            foreach (var part in new[] { "generate", "score", "gen_update", "disc_update", "step", "metrics" })
                Assert.True(figures.TryGetProperty($"adv/{method}/{part}_ms", out _), $"missing adv/{method}/{part}_ms");
            Assert.True(figures.GetProperty($"adv/{method}/step_ms").GetProperty("value").GetDouble() > 0);
            Assert.True(figures.GetProperty($"adv/{method}/metrics_ms").GetProperty("value").GetDouble() > 0);
        }
        // Issue 13's comparison in the same run: the step with a fresh generation per discriminator update, and the shares.
        foreach (var method in new[] { "reinforce", "ppo" })
        {
            double now = figures.GetProperty($"adv/{method}/step_ms").GetProperty("value").GetDouble();
            double before = figures.GetProperty($"adv/{method}/step_fresh_fakes_ms").GetProperty("value").GetDouble();
            Assert.Equal(now / before, figures.GetProperty($"adv/{method}/step_vs_fresh_fakes").GetProperty("value").GetDouble(), 9);
            double share = figures.GetProperty($"adv/{method}/generate_share").GetProperty("value").GetDouble();
            Assert.InRange(share, 0.0, 1.0);
        }
    }
}
