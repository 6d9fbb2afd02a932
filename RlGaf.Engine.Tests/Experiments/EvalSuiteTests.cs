using RlGaf.Engine.Experiments;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tests.Runs;

namespace RlGaf.Engine.Tests.Experiments;

/// <summary>The comparison end to end on a tiny generator: two methods, two seeds, a few steps.</summary>
[Collection("runs")]
public class EvalSuiteTests
{
    [Fact]
    public void Tiny_suite_writes_results_table_and_plots()
    {
        var tiny = TinySft.Settings(TrainingMethod.Sft);
        var outDir = Environment.GetEnvironmentVariable("RLGAF_KEEP_EVAL") ?? Path.Combine(Path.GetTempPath(), $"rlgaf-eval-{Guid.NewGuid():N}");
        var o = new SuiteOptions
        {
            Suite = "synthetic-reviews", Seeds = 2, StepsBudget = 4, OutDir = outDir, Methods = ["sft", "reinforce"],
            Temperatures = [0.7, 1.0, 1.4],
            Adjust = s => s with
            {
                Generator = tiny.Generator, BatchSize = tiny.BatchSize, MaxNewTokens = tiny.MaxNewTokens, EvalEvery = 2,
                EvalPrompts = tiny.EvalPrompts, SamplesPerEval = 4, DiscPretrainSteps = 1, Device = "cpu",
            },
        };
        try
        {
            var result = EvalSuite.Run(o, "test");
            Assert.Equal(4, result.Runs.Count);
            Assert.All(result.Runs, r => Assert.Equal("completed", r.Status));
            Assert.All(result.Runs, r => Assert.True(Directory.Exists(r.RunDir)));
            // Each run keeps its evaluations at steps 0, 2 and 4.
            Assert.All(result.Runs, r => Assert.Equal([0, 2, 4], r.Curve.Select(c => c.Step).ToArray()));
            Assert.Equal(6, result.Sweep.Count); // 2 seeds x 3 temperatures

            var md = File.ReadAllText(Path.Combine(outDir, "results.md"));
            var perMethod = md[md.IndexOf("## Per method", StringComparison.Ordinal)..md.IndexOf("## Runs", StringComparison.Ordinal)];
            var rows = perMethod.Split('\n').Where(l => l.StartsWith("| sft |") || l.StartsWith("| reinforce |")).ToList();
            Assert.Equal(2, rows.Count); // one row per method in the per-method table
            Assert.Contains("oracle/nll", md);
            Assert.Contains("div/self-bleu-4", md);
            Assert.Contains("disc/fake_score", md);
            Assert.Contains("same number of generator updates", md);
            var reinforce = result.Summary("reinforce");
            Assert.Equal(2, reinforce["div/distinct-2"].N);
            Assert.True(double.IsFinite(reinforce["disc/real_score"].Mean));

            Assert.True(result.Plots.Count >= 4);
            foreach (var png in result.Plots.Append(Path.Combine(outDir, SuitePlots.PlaneFile)))
            {
                Assert.True(File.Exists(png), png);
                var head = File.ReadAllBytes(png).Take(8).ToArray();
                Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, head); // a PNG signature
            }
            Assert.Contains(result.Plots, p => p.EndsWith(SuitePlots.CurveFile("align/positive-rate")));
        }
        finally
        {
            if (Environment.GetEnvironmentVariable("RLGAF_KEEP_EVAL") is null)
                try { Directory.Delete(outDir, true); } catch (IOException) { }
        }
    }
}
