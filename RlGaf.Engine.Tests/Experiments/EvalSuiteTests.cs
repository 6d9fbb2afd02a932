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

    private static SuiteOptions Tiny(string outDir) 
    {
        var tiny = TinySft.Settings(TrainingMethod.Sft);
        return new SuiteOptions
        {
            Suite = "synthetic-reviews", Seeds = 1, StepsBudget = 4, OutDir = outDir, Methods = ["sft", "reinforce"], Temperatures = [1.0],
            Adjust = s => s with
            {
                Generator = tiny.Generator, BatchSize = tiny.BatchSize, MaxNewTokens = tiny.MaxNewTokens, EvalEvery = 2,
                EvalPrompts = tiny.EvalPrompts, SamplesPerEval = 4, DiscPretrainSteps = 1, Device = "cpu",
            },
        };
    }

    /// <summary>results.json without what differs between two sittings by nature: timings and the command line.</summary>
    private static string Comparable(string dir)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "results.json")))!;
        Strip(node);
        return node.ToJsonString();

        static void Strip(System.Text.Json.Nodes.JsonNode? n)
        {
            if (n is System.Text.Json.Nodes.JsonObject o)
            {
                foreach (var k in o.Select(kv => kv.Key).Where(k => k is "wall_clock_s" or "command" || k.StartsWith("time/", StringComparison.Ordinal)).ToList()) o.Remove(k);
                foreach (var kv in o) Strip(kv.Value);
            }
            else if (n is System.Text.Json.Nodes.JsonArray a) foreach (var x in a) Strip(x);
        }
    }

    [Fact]
    public void A_suite_cut_off_mid_run_resumes_to_the_results_of_an_uninterrupted_one()
    {
        var root = Path.Combine(Path.GetTempPath(), $"rlgaf-resume-{Guid.NewGuid():N}");
        string whole = Path.Combine(root, "whole"), cut = Path.Combine(root, "cut");
        try
        {
            EvalSuite.Run(Tiny(whole), "test");

            // Cut the second run (reinforce) right after its step-2 checkpoint, as a stop or a crash would.
            using var cts = new CancellationTokenSource();
            var log = new List<string>();
            bool inReinforce = false;
            void Log(string line)
            {
                lock (log) log.Add(line);
                inReinforce |= line.Contains("reinforce seed 1", StringComparison.Ordinal);
                if (inReinforce && line.Trim() == "checkpoint ckpt-0000002") cts.Cancel();
            }
            Assert.ThrowsAny<OperationCanceledException>(() => EvalSuite.Run(Tiny(cut), "test", Log, ct: cts.Token));
            Assert.False(File.Exists(Path.Combine(cut, "results.md")));
            var sftDir = EvalSuite.RunDirOf(Tiny(cut), "sft", 1);
            var reinforceDir = EvalSuite.RunDirOf(Tiny(cut), "reinforce", 1);
            Assert.True(File.Exists(Path.Combine(sftDir, EvalSuite.RunRecordFile)));
            Assert.False(File.Exists(Path.Combine(reinforceDir, EvalSuite.RunRecordFile)));
            var sftRecordTime = File.GetLastWriteTimeUtc(Path.Combine(sftDir, EvalSuite.RunRecordFile));
            // What a killed process leaves after its last checkpoint: a later step's line, then a line torn mid-write. Both are void.
            File.AppendAllText(Path.Combine(reinforceDir, SuiteRunJournal.FileName),
                "{\"step\":3,\"kind\":\"eval\",\"clock\":1,\"metrics\":{\"div/distinct-2\":0.123}}\n{\"step\":4,\"ki");

            var (saved, command) = EvalSuite.LoadSaved(cut);
            Assert.Equal(("synthetic-reviews", 1, 4, true), (saved.Suite, saved.Seeds, saved.StepsBudget, saved.Resume));
            Assert.Equal("test", command);
            var resumedLog = new List<string>();
            var resumed = EvalSuite.Run(Tiny(cut) with { Resume = true }, "test", resumedLog.Add);
            Assert.Contains(resumedLog, l => l.Contains("sft seed 1: finished in an earlier sitting, kept", StringComparison.Ordinal));
            Assert.Contains(resumedLog, l => l.Trim() == "continuing from the checkpoint at step 2");
            Assert.Equal(sftRecordTime, File.GetLastWriteTimeUtc(Path.Combine(sftDir, EvalSuite.RunRecordFile))); // not rerun
            Assert.All(resumed.Runs, r => Assert.Equal([0, 2, 4], r.Curve.Select(c => c.Step).ToArray()));
            Assert.Equal(Comparable(whole), Comparable(cut));

            // Killed after the run's last checkpoint but before its record: it reopens at its end, trains nothing, reports the same.
            File.Delete(Path.Combine(reinforceDir, EvalSuite.RunRecordFile));
            EvalSuite.Run(Tiny(cut) with { Resume = true }, "test");
            Assert.Equal(Comparable(whole), Comparable(cut));

            // A resume must finish the suite it started.
            var e = Assert.Throws<ArgumentException>(() => EvalSuite.Run(Tiny(cut) with { Resume = true, StepsBudget = 6 }, "test"));
            Assert.StartsWith("--steps-budget:", e.Message);
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task A_run_another_worker_holds_is_waited_for_and_kept_not_trained_twice()
    {
        var root = Path.Combine(Path.GetTempPath(), $"rlgaf-claim-{Guid.NewGuid():N}");
        try
        {
            var o = Tiny(root);
            EvalSuite.Run(o, "test");
            var reinforceDir = EvalSuite.RunDirOf(o, "reinforce", 1);
            var record = Path.Combine(reinforceDir, EvalSuite.RunRecordFile);
            var finished = File.ReadAllText(record);
            var expected = Comparable(root);
            // Another worker is "still training" reinforce: its claim is held and its record not yet written.
            File.Delete(record);
            File.WriteAllText(Path.Combine(reinforceDir, "other-worker-was-here"), "");
            var claim = new FileStream(EvalSuite.ClaimFileOf(reinforceDir), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var suite = Task.Run(() => EvalSuite.Run(o with { Resume = true }, "test", log.Enqueue));
            await WaitForLine(log, "waiting for the worker that trains reinforce-seed1", suite, 120);
            await Task.Delay(1500);
            Assert.False(suite.IsCompleted); // it waits while the claim is held
            // The other worker finishes: its record, then it lets go.
            File.WriteAllText(record, finished);
            claim.Dispose();
            var result = await suite.WaitAsync(TimeSpan.FromSeconds(120));
            Assert.Contains(log, l => l.Contains("reinforce seed 1: another worker trains it", StringComparison.Ordinal));
            Assert.DoesNotContain(log, l => l.Contains("reinforce seed 1: 4 generator updates", StringComparison.Ordinal));
            Assert.True(File.Exists(Path.Combine(reinforceDir, "other-worker-was-here"))); // its folder was not started over
            Assert.Equal(["sft", "reinforce"], result.Runs.Select(r => r.Method));
            Assert.Equal(expected, Comparable(root));
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task A_worker_trains_another_seed_while_a_second_process_pretrains_the_first_ones_start()
    {
        var root = Path.Combine(Path.GetTempPath(), $"rlgaf-defer-{Guid.NewGuid():N}");
        try
        {
            var tiny = Tiny(root);
            var o = tiny with { Seeds = 2, Methods = ["sft"], Adjust = s => tiny.Adjust!(s) with { Generator = "pretrain", PretrainSteps = 2 } };
            // Another process is building seed 1's SFT start: its cache lock is held and nothing is published yet.
            var cache = RunSetup.SftCacheDir(EvalSuite.SettingsFor(o, "sft", 1), Path.Combine(root, "models"));
            Directory.CreateDirectory(Path.GetDirectoryName(cache)!);
            var held = new FileStream(cache + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var suite = Task.Run(() => EvalSuite.Run(o, "test", log.Enqueue));
            await WaitForLine(log, "waiting for another run that builds", suite, 300);
            // Seed 2 was trained first, to the end, while seed 1's start was being built elsewhere.
            var lines = log.ToList();
            int seed2 = lines.FindIndex(l => l.Contains("sft seed 2: 4 generator updates", StringComparison.Ordinal));
            int seed1 = lines.FindIndex(l => l.Contains("sft seed 1: 4 generator updates", StringComparison.Ordinal));
            Assert.True(seed2 >= 0 && seed1 > seed2, string.Join('\n', lines));
            Assert.Contains(lines.Skip(seed2).Take(seed1 - seed2), l => l.Contains("completed in", StringComparison.Ordinal));
            held.Dispose(); // the other process died without publishing: this one builds seed 1's start itself
            var result = await suite.WaitAsync(TimeSpan.FromSeconds(300));
            Assert.Equal([1, 2], result.Runs.Select(r => r.Seed));
            Assert.All(result.Runs, r => Assert.Equal("completed", r.Status));
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }

    /// <summary>Until the suite running in the background logs a line containing <paramref name="text"/>; fails with its log if it ends or times out first.</summary>
    private static async Task WaitForLine(System.Collections.Concurrent.ConcurrentQueue<string> log, string text, Task suite, int seconds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!log.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            Assert.False(suite.IsCompleted, string.Join('\n', log) + suite.Exception);
            Assert.True(DateTime.UtcNow < deadline, $"never logged '{text}':\n" + string.Join('\n', log));
            await Task.Delay(50);
        }
    }

    [Fact]
    public void Workers_begin_at_their_own_share_of_the_seeds()
    {
        var o = new SuiteOptions { Seeds = 5, Methods = ["sft", "ppo"], WorkerIndex = 1, WorkerCount = 2 };
        Assert.Equal([("sft", 3), ("ppo", 3), ("sft", 4), ("ppo", 4), ("sft", 5), ("ppo", 5), ("sft", 1), ("ppo", 1), ("sft", 2), ("ppo", 2)],
            EvalSuite.LocalOrder(o).ToList());
        Assert.Equal([1, 1, 2, 2, 3, 3, 4, 4, 5, 5], EvalSuite.LocalOrder(o with { WorkerIndex = 0 }).Select(x => x.Seed));
        Assert.Throws<ArgumentException>(() => (o with { WorkerIndex = 2 }).Validate());
    }

    [Fact]
    public void Imdb_suite_reports_the_held_out_judge_its_ceiling_and_judge_agreement_per_method_and_seed()
    {
        var csv = Path.Combine(AppContext.BaseDirectory, "Fixtures", "imdb-tiny.csv");
        var outDir = Path.Combine(Path.GetTempPath(), $"rlgaf-eval-imdb-{Guid.NewGuid():N}");
        var o = new SuiteOptions
        {
            Suite = "imdb", Seeds = 1, StepsBudget = 2, OutDir = outDir, DataPath = csv, Methods = ["reinforce"], Temperatures = [1.0],
            Adjust = s => s with { PretrainSteps = 5, BatchSize = 4, MaxNewTokens = 8, EvalEvery = 1, EvalPrompts = 8, SamplesPerEval = 4, DiscPretrainSteps = 1, Device = "cpu" },
        };
        try
        {
            var result = EvalSuite.Run(o, "test");
            var run = Assert.Single(result.Runs);
            foreach (var k in new[] { "align/positive-rate", "align/judge-ceiling", "div/distinct-2", "quality/ref-perplexity", "imdb/proxy_score" })
                Assert.True(double.IsFinite(run.Final[k]), k);
            Assert.True(run.Final.ContainsKey("disc/judge_corr"));
            Assert.InRange(run.Final["align/judge-ceiling"], 0.5, 1);
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
            var metrics = json.RootElement.GetProperty("methods").GetProperty("reinforce").GetProperty("metrics");
            foreach (var k in new[] { "align/positive-rate", "align/judge-ceiling", "div/distinct-2", "quality/ref-perplexity", "disc/judge_corr" })
                Assert.True(metrics.TryGetProperty(k, out _), k);
            var md = File.ReadAllText(Path.Combine(outDir, "results.md"));
            var runsTable = md[md.IndexOf("## Runs", StringComparison.Ordinal)..];
            Assert.Contains("| align/positive-rate | align/judge-ceiling | div/distinct-2 | disc/judge_corr |", runsTable);
        }
        finally
        {
            try { Directory.Delete(outDir, true); } catch (IOException) { }
        }
    }
}
