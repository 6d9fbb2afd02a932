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

    [Fact]
    public void A_helper_stops_when_worker_0_is_killed_and_each_run_keeps_a_checkpoint_to_resume_from()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-eval-orphan-").FullName;
        try
        {
            var outDir = Path.Combine(root, "suite");
            var sets = TinyModel.Overrides().Where(kv => kv.Key != "steps").SelectMany(kv => new[] { "--set", $"{kv.Key}={kv.Value}" });
            // Long runs (100,000 updates): both workers are mid-run when worker 0 is killed.
            using var child = ChildProcess.Start(["eval", "--suite", "synthetic-reviews", "--methods", "reinforce", "--seeds", "2", "--steps-budget", "100000",
                "--max-parallel", "2", "--out", outDir, .. sets]);
            child.WaitForStderr(@"^\[worker 1\] .* generator updates in ", "the helper starting a run");
            child.WaitForStderr(@"^\[worker 1\]   checkpoint", "the helper's first checkpoint", seconds: 180);
            child.WaitForStderr(@"^  checkpoint", "worker 0's first checkpoint", seconds: 180);
            int helper = HelperPid(outDir) ?? throw new InvalidOperationException("no helper process found\n" + child.Output);

            // kill -9 worker 0 alone (not its process tree): no handler of its runs, nothing stops the helper but the helper itself.
            using (var worker0 = System.Diagnostics.Process.GetProcessById(child.Pid)) worker0.Kill(entireProcessTree: false);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Alive(helper) && DateTime.UtcNow < deadline) Thread.Sleep(200);
            Assert.False(Alive(helper), $"helper {helper} still trains 60 s after worker 0 was killed\n{child.Output}");

            // Neither run was finished, and each kept a checkpoint to continue from.
            foreach (var run in new[] { "reinforce-seed1", "reinforce-seed2" })
            {
                Assert.False(File.Exists(Path.Combine(outDir, "runs", run, EvalSuite.RunRecordFile)), run);
                Assert.NotEmpty(Directory.GetDirectories(Path.Combine(outDir, "runs", run, "checkpoints")));
            }
        }
        finally
        {
            if (HelperPid(Path.Combine(root, "suite")) is { } left) try { System.Diagnostics.Process.GetProcessById(left).Kill(); } catch (ArgumentException) { }
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }

    /// <summary>The helper process of the suite in <paramref name="outDir"/> (eval --resume OUT --worker 1/2), from /proc.</summary>
    private static int? HelperPid(string outDir)
    {
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string cmd;
            try { cmd = File.ReadAllText(Path.Combine(dir, "cmdline")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            var args = cmd.Split('\0');
            if (args.Contains("--worker") && args.Contains(Path.GetFullPath(outDir))) return pid;
        }
        return null;
    }

    private static bool Alive(int pid)
    {
        // A zombie (exited, not yet reaped) has no cmdline left; its stat state is Z.
        try { return !File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2].Equals("Z", StringComparison.Ordinal); }
        catch (IOException) { return false; }
    }
}
