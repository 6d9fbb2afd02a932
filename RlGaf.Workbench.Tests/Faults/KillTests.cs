using System.Net.Http.Json;
using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RlGaf.Workbench.Tests.Faults;

/// <summary>
/// kill -9 (SIGKILL: no handler, no flush, no cleanup) of a headless run and of the workbench while
/// they train, then resume: the metrics must equal a straight run's, step for step and bit for bit,
/// with no step logged twice.
/// </summary>
[Collection("cli")]
[Trait("Category", "Faults")]
public class KillTests(ITestOutputHelper output)
{
    // Long enough that an idle machine cannot finish the run between the test seeing step 7 and the kill (at 14 it did).
    private const int Steps = 40; // checkpoints (checkpoint_every 5) at 0, 5, ..., 40

    private static string[] TrainArgs(string dataRoot, params string[] more) =>
    [
        "train", "--preset", "reinforce",
        .. TinyModel.Overrides(Steps).Where(kv => kv.Key != "steps").SelectMany(kv => new[] { "--set", $"{kv.Key}={kv.Value}" }),
        "--steps", Steps.ToString(), "--data-root", dataRoot, .. more,
    ];

    /// <summary>The same settings trained straight through once, the reference for every test here.</summary>
    private static readonly Lazy<SortedDictionary<int, SortedDictionary<string, double>>> Straight = new(() =>
    {
        var root = TestApp.NewDataRoot();
        try
        {
            using var child = ChildProcess.Start(TrainArgs(root, "--out", Path.Combine(root, "out")));
            var (code, _, err) = child.WaitForExit();
            Assert.True(code == 0, err);
            var trace = MetricTrace.FromJsonl(Path.Combine(root, "out", "metrics.jsonl"));
            Assert.Equal(Steps, trace.Keys.Max());
            return trace;
        }
        finally { TestApp.TryDelete(root); }
    });

    private static string RunIdOf(ChildProcess child) => child.WaitForStderr(@"^run (\S+): ", "the run id").Groups[1].Value;

    /// <summary>Continues the run in a new child to its end and returns what it exported.</summary>
    private static SortedDictionary<int, SortedDictionary<string, double>> ResumeToEnd(string root, string id)
    {
        var outDir = Path.Combine(root, "out-" + id);
        using var child = ChildProcess.Start("resume", id, "--data-root", root, "--out", outDir, "--json");
        var (code, @out, err) = child.WaitForExit();
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(@out.Trim().Split('\n')[^1]);
        Assert.Equal("completed", doc.RootElement.GetProperty("status").GetString());
        return MetricTrace.FromJsonl(Path.Combine(outDir, "metrics.jsonl"));
    }

    [Fact]
    public void A_headless_run_killed_mid_training_resumes_to_the_straight_runs_metrics()
    {
        var straight = Straight.Value;
        var root = TestApp.NewDataRoot();
        try
        {
            string id;
            int killedAfter;
            using (var child = ChildProcess.Start(TrainArgs(root)))
            {
                id = RunIdOf(child);
                // Progress lines come at evaluations (every 2 steps): kill between checkpoints (0, 5, 10).
                var m = child.WaitForStderr($@"\] (\d+)/{Steps} ", "step 6", accept: m => int.Parse(m.Groups[1].Value) >= 6);
                child.KillHard();
                killedAfter = int.Parse(m.Groups[1].Value);
            }
            var runDir = Path.Combine(RunStore.RunsRootOf(root), id);
            var good = RunCheckpoint.LatestGood(runDir, []);
            Assert.NotNull(good);
            int logged;
            using (var store = new RunStore(root)) logged = store.GetMetrics(id).Max(p => p.Step);
            output.WriteLine($"killed after step {killedAfter}: newest good checkpoint at step {good.Value.Step}, metrics logged up to step {logged}");
            Assert.True(logged > good.Value.Step, $"the kill should leave steps logged after the checkpoint at {good.Value.Step} (logged up to {logged})");
            Assert.True(logged < Steps, "the run finished before the kill");

            MetricTrace.AssertIdentical(straight, ResumeToEnd(root, id), "killed mid-training, resumed");
        }
        finally { TestApp.TryDelete(root); }
    }

    [Fact]
    public void A_headless_run_killed_while_writing_checkpoints_resumes_to_the_straight_runs_metrics()
    {
        var straight = Straight.Value;
        var root = TestApp.NewDataRoot();
        try
        {
            string? id = null;
            var landed = new List<int>();
            // First the step-0 checkpoint (no good one exists yet: the run starts over), then later ones
            // until a kill lands while one is written with a good one before it.
            foreach (int target in new[] { 0, 5, 10 })
            {
                using var child = id is null ? ChildProcess.Start(TrainArgs(root)) : ChildProcess.Start("resume", id, "--data-root", root);
                id ??= RunIdOf(child);
                var ckpts = RunCheckpoint.Directory(Path.Combine(RunStore.RunsRootOf(root), id));
                var tmp = Path.Combine(ckpts, $"ckpt-{target:D7}.tmp");
                var deadline = DateTime.UtcNow.AddSeconds(120);
                while (!Directory.Exists(tmp))
                {
                    Assert.False(child.HasExited, $"the run ended before its checkpoint at step {target}:\n{child.Output}");
                    Assert.True(DateTime.UtcNow < deadline, $"no checkpoint at step {target} within 120 s:\n{child.Output}");
                    Thread.SpinWait(200);
                }
                child.KillHard();
                bool mid = Directory.Exists(tmp);
                var good = RunCheckpoint.LatestGood(Path.Combine(RunStore.RunsRootOf(root), id), []);
                output.WriteLine($"kill at checkpoint {target}: {(mid ? "landed while it was written" : "too late, it was complete")}; newest good checkpoint: {good?.Step.ToString() ?? "none"}");
                if (mid)
                {
                    landed.Add(target);
                    // The checkpoint being written is not taken for a good one; the one before it is intact.
                    Assert.True(good is null ? target == 0 : good.Value.Step < target, $"after a kill mid-checkpoint {target} the newest good one is {good?.Step}");
                }
                if (landed.Any(s => s > 0)) break;
            }
            Assert.True(landed.Any(s => s > 0), "no kill landed while a checkpoint after step 0 was written");

            MetricTrace.AssertIdentical(straight, ResumeToEnd(root, id!), "killed mid-checkpoint, resumed");
        }
        finally { TestApp.TryDelete(root); }
    }

    [Fact]
    public async Task The_workbench_killed_while_it_trains_restarts_with_the_run_interrupted_and_it_resumes_bit_identically()
    {
        var root = TestApp.NewDataRoot();
        try
        {
            var body = new { preset = "reinforce", set = TinyModel.Overrides(Steps) };
            string id;
            using (var wb = WorkbenchProcess.Start(root))
            {
                var created = await wb.Http.PostAsJsonAsync("/api/runs", body);
                Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
                id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
                await WaitForRun(wb, id, r => r.GetProperty("step").GetInt32() >= 7, "step 7");
                wb.Child.KillHard();
            }
            using (var wb = WorkbenchProcess.Start(root))
            {
                var run = await Run(wb, id);
                Assert.Equal("interrupted", run.GetProperty("status").GetString());
                output.WriteLine($"after the restart: {run.GetProperty("status")} at step {run.GetProperty("step")}: {run.GetProperty("message")}");
                Assert.True((await wb.Http.PostAsync($"/api/runs/{id}/resume", null)).IsSuccessStatusCode);
                await WaitForRun(wb, id, r => r.GetProperty("status").GetString() is "completed" or "failed", "the resumed run ends");
                Assert.Equal("completed", (await Run(wb, id)).GetProperty("status").GetString());
                var resumed = await Metrics(wb, id);

                // The straight run of the same settings, in the same workbench.
                var created = await wb.Http.PostAsJsonAsync("/api/runs", body);
                var straightId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
                await WaitForRun(wb, straightId, r => r.GetProperty("status").GetString() is "completed" or "failed", "the straight run ends");
                MetricTrace.AssertIdentical(await Metrics(wb, straightId), resumed, "workbench killed, restarted, resumed");
            }
        }
        finally { TestApp.TryDelete(root); }
    }

    private static async Task<JsonElement> Run(WorkbenchProcess wb, string id) =>
        (await wb.Http.GetFromJsonAsync<JsonElement>($"/api/runs/{id}")).GetProperty("run");

    private static async Task<SortedDictionary<int, SortedDictionary<string, double>>> Metrics(WorkbenchProcess wb, string id) =>
        MetricTrace.From((await wb.Http.GetFromJsonAsync<JsonElement>($"/api/runs/{id}/metrics.json")).EnumerateArray(), $"run {id}");

    private static async Task WaitForRun(WorkbenchProcess wb, string id, Func<JsonElement, bool> condition, string what, int seconds = 180)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var run = await Run(wb, id);
            if (condition(run)) return;
            if (run.GetProperty("status").GetString() == "failed") throw new InvalidOperationException($"run {id} failed: {run.GetProperty("message")}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {seconds} s waiting for {what}; run: {run}\n{wb.Child.Output}");
            await Task.Delay(50);
        }
    }
}
