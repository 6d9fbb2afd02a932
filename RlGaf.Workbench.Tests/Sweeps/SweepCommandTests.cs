using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Tests.Cli;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Sweeps;

/// <summary>The sweep verb on the built executable: a 2-trial grid of tiny runs to its end, its results, its refusals.</summary>
[Collection("cli")]
public sealed class SweepCommandTests
{
    [Fact]
    public void A_tiny_grid_runs_to_its_end_and_writes_the_results()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-cli-sweep-").FullName;
        try
        {
            var basePath = Path.Combine(root, "base.json");
            File.WriteAllText(basePath, TinyModel.Settings(TrainingMethod.Sft, steps: 3).ToJson());
            var file = Path.Combine(root, "sweep.yaml");
            File.WriteAllText(file, "method: grid\nbase: base.json\nmetric: {name: gen/loss, goal: minimize}\nparameters:\n  gen_lr: {values: [0.001, 0.003]}\n");
            var outDir = Path.Combine(root, "out");

            var (code, stdout, err) = CommandLineTests.Run("sweep", "--config", file, "--max-parallel", "2", "--out", outDir, "--json", "--data-root", Path.Combine(root, "data"));
            Assert.True(code == 0, err);
            using var doc = JsonDocument.Parse(stdout);
            var r = doc.RootElement;
            Assert.Equal("completed", r.GetProperty("sweep").GetProperty("status").GetString());
            Assert.Equal(["completed", "completed"], r.GetProperty("trials").EnumerateArray().Select(t => t.GetProperty("state").GetString()));
            Assert.All(r.GetProperty("trials").EnumerateArray(), t => Assert.True(t.GetProperty("last").GetDouble() > 0));
            var best = RunSettings.FromJson(File.ReadAllText(Path.Combine(outDir, "best-config.json")));
            Assert.Contains(best.GenLr, new[] { 0.001, 0.003 });
            Assert.True(File.Exists(Path.Combine(outDir, "trials.json")));

            var (again, _, runsErr) = CommandLineTests.Run("runs", "--json", "--data-root", Path.Combine(root, "data"));
            Assert.True(again == 0, runsErr);
        }
        finally { TestApp.TryDelete(root); }
    }

    [Fact]
    public void Bad_options_and_files_are_refused_naming_them()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-cli-sweep-").FullName;
        try
        {
            var file = Path.Combine(root, "s.yaml");
            File.WriteAllText(file, "method: grid\nmetric: {name: x}\nparameters:\n  d_stepz: {values: [1]}\n");
            var (code, _, err) = CommandLineTests.Run("sweep", "--config", file, "--data-root", root);
            Assert.Equal(1, code);
            Assert.Contains($"error: sweep: {file}: line 4: parameters.d_stepz: not a setting", err);
            (code, _, err) = CommandLineTests.Run("sweep", "--config", file, "--executor", "k8s", "--data-root", root);
            Assert.Equal(2, code);
            Assert.Contains("--executor: 'k8s' is not available in this build (executors: local", err);
            (code, _, err) = CommandLineTests.Run("sweep", "--data-root", root);
            Assert.Equal(2, code);
            Assert.Contains("--config is required", err);
        }
        finally { TestApp.TryDelete(root); }
    }
}
