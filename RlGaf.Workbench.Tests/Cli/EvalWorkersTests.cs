using System.Text.Json;
using RlGaf.Engine.Experiments;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Cli;

/// <summary>eval --max-parallel K on this machine: K processes share one suite folder and train each run exactly once.</summary>
[Collection("cli")]
public class EvalWorkersTests
{
    [Fact]
    public void Two_local_workers_split_the_suite_and_train_each_run_once()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-eval-workers-").FullName;
        try
        {
            var outDir = Path.Combine(root, "suite");
            var sets = TinyModel.Overrides().Where(kv => kv.Key != "steps").SelectMany(kv => new[] { "--set", $"{kv.Key}={kv.Value}" });
            using var child = ChildProcess.Start(["eval", "--suite", "synthetic-reviews", "--methods", "sft,reinforce", "--seeds", "2", "--steps-budget", "4",
                "--max-parallel", "2", "--out", outDir, "--json", .. sets]);
            var (code, stdout, err) = child.WaitForExit(600);
            Assert.True(code == 0, err + stdout);
            Assert.Contains("2 workers share", err);

            // Every run was started by exactly one worker, and the helper trained some of them.
            var starts = err.Split('\n').Where(l => l.Contains(" generator updates in ", StringComparison.Ordinal)).ToList();
            foreach (var run in new[] { "sft-seed1", "reinforce-seed1", "sft-seed2", "reinforce-seed2" })
                Assert.Single(starts, l => l.Contains(run, StringComparison.Ordinal));
            Assert.Contains(starts, l => l.StartsWith("[worker 1]", StringComparison.Ordinal));
            Assert.Contains(starts, l => !l.StartsWith("[worker 1]", StringComparison.Ordinal));

            // One table over all four runs, in the suite's order, each completed with its evaluations at steps 0, 2 and 4.
            using var doc = JsonDocument.Parse(stdout);
            var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToList();
            Assert.Equal(["sft/1", "reinforce/1", "sft/2", "reinforce/2"], runs.Select(r => $"{r.GetProperty("method").GetString()}/{r.GetProperty("seed").GetInt32()}"));
            Assert.All(runs, r => Assert.Equal("completed", r.GetProperty("status").GetString()));
            Assert.True(File.Exists(Path.Combine(outDir, "results.md")));
            foreach (var dir in Directory.GetDirectories(Path.Combine(outDir, "runs")))
                Assert.True(File.Exists(Path.Combine(dir, EvalSuite.RunRecordFile)), dir);
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }
}
