using System.Diagnostics;
using System.Text.Json;

namespace RlGaf.Workbench.Tests.Cli;

/// <summary>The command-line contracts users script against, exercised on the built executable.</summary>
[Collection("cli")]
public class CommandLineTests
{
    private static readonly string Exe = Path.Combine(AppContext.BaseDirectory, "RlGaf.Workbench.dll");

    internal static (int Code, string Out, string Err) Run(params string[] args) => RunWith(new Dictionary<string, string>(), args);

    internal static (int Code, string Out, string Err) RunWith(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        psi.ArgumentList.Add(Exe);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)), "command timed out: " + string.Join(' ', args));
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static readonly Lazy<string> TinyModel = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), $"rlgaf-cli-model-{Environment.ProcessId}");
        var (code, @out, err) = Run("pretrain", "--corpus", "synthetic-reviews", "--out", dir, "--steps", "40", "--n-embd", "32",
            "--n-layer", "1", "--n-head", "2", "--train-docs", "800", "--heldout-docs", "50", "--eval-samples", "30", "--batch-size", "16", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(@out.Trim().Split('\n')[^1]);
        var r = doc.RootElement;
        Assert.Equal(40, r.GetProperty("steps").GetInt32());
        Assert.InRange(r.GetProperty("valid_rate").GetDouble(), 0, 1);
        Assert.True(r.GetProperty("grammar_entropy_per_token").GetDouble() > 0);
        Assert.True(File.Exists(Path.Combine(dir, "model.safetensors")) && File.Exists(Path.Combine(dir, "rlgaf-vocab.json")));
        return dir;
    });

    [Fact]
    public void Train_preset_applies_the_configured_preset_overrides()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-cli-overrides-").FullName;
        try
        {
            // An override the validation refuses shows it was applied; without it, the run would start and fail
            // on the missing generator instead (a bounded failure either way).
            var (code, _, err) = RunWith(new Dictionary<string, string> { ["RlGaf__PresetOverrides__batch_size"] = "1" },
                "train", "--preset", "reinforce", "--set", "generator=" + Path.Combine(root, "no-model"), "--data-root", root);
            Assert.NotEqual(0, code);
            Assert.Contains("batch_size: 1", err);
            Assert.False(Directory.Exists(Path.Combine(root, "runs")) && Directory.EnumerateFileSystemEntries(Path.Combine(root, "runs")).Any(), "a run was created");
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void A_lock_file_that_cannot_be_opened_is_a_clear_error_not_a_stack_trace()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-cli-badlock-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "store.lock")); // a folder where the lock file belongs (root ignores permissions, a folder it cannot open)
            var (code, _, err) = Run("runs", "--data-root", root);
            Assert.NotEqual(0, code);
            Assert.Contains("error: runs:", err);
            Assert.Contains(Path.Combine(root, "store.lock"), err);
            Assert.DoesNotContain("   at ", err); // no stack frames
            Assert.False(File.Exists(Path.Combine(root, "rlgaf.db")), "the store opened without its lock");
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Sample_json_gives_gpt2_ids_and_raw_logprobs_reproducibly()
    {
        var (code, @out, err) = Run("sample", "--model", TinyModel.Value, "--prompt", "What a", "--num", "3", "--seed", "5", "--temperature", "0.8", "--top-k", "20", "--json", "--max-new-tokens", "20");
        Assert.True(code == 0, err);
        var lines = @out.Trim().Split('\n');
        Assert.Equal(3, lines.Length);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            Assert.Equal([2061, 257], r.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()); // GPT-2 ids of "What a"
            var ids = r.GetProperty("completion_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var lps = r.GetProperty("token_logprobs").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Assert.Equal(ids.Length, lps.Length);
            Assert.All(lps, lp => Assert.True(lp <= 0));
            Assert.All(ids, id => Assert.InRange(id, 0, 50255));
            Assert.NotNull(r.GetProperty("completion").GetString());
        }
        var again = Run("sample", "--model", TinyModel.Value, "--prompt", "What a", "--num", "3", "--seed", "5", "--temperature", "0.8", "--top-k", "20", "--json", "--max-new-tokens", "20");
        Assert.Equal(@out, again.Out);
    }

    [Theory]
    [InlineData("--greedy", "--temperature", "0.5")]
    [InlineData("--top-p", "1.5")]
    [InlineData("--bogus", "1")]
    public void Sample_refuses_bad_options_naming_them(params string[] extra)
    {
        var (code, _, err) = Run(["sample", "--model", TinyModel.Value, .. extra]);
        Assert.NotEqual(0, code);
        Assert.Contains(extra[0], err);
    }

    [Fact]
    public void Train_refuses_bad_settings_before_starting_and_names_them()
    {
        var data = Directory.CreateTempSubdirectory("rlgaf-cli-data-").FullName;
        try
        {
            var (code, _, err) = Run("train", "--preset", "reinforce", "--set", "batch_size=1", "--data-root", data);
            Assert.NotEqual(0, code);
            Assert.Contains("batch_size", err);
            (code, _, err) = Run("train", "--preset", "nonsense", "--data-root", data);
            Assert.NotEqual(0, code);
            Assert.Contains("preset", err);
            (code, _, err) = Run("train", "--preset", "ppo", "--set", "gen_lrr=1", "--data-root", data);
            Assert.NotEqual(0, code);
            Assert.Contains("gen_lrr", err);
            Assert.False(Directory.Exists(Path.Combine(data, "runs")) && Directory.GetDirectories(Path.Combine(data, "runs")).Length > 0);
        }
        finally { Directory.Delete(data, true); }
    }

    [Fact]
    public void Train_never_opens_a_store_that_a_live_workbench_claimed_without_an_address()
    {
        var data = Directory.CreateTempSubdirectory("rlgaf-cli-data-").FullName;
        try
        {
            // This test process stands in for a live workbench that holds the data root but does not listen yet.
            using (var held = RlGaf.Workbench.Storage.StoreLock.Acquire(data, RlGaf.Workbench.Storage.StoreHolder.Workbench))
            {
                File.WriteAllText(Path.Combine(data, "workbench.pid"), $"{{\"Pid\":{Environment.ProcessId},\"Url\":null}}");
                var (code, _, err) = Run("train", "--preset", "sft", "--data-root", data);
                Assert.NotEqual(0, code);
                Assert.Contains("has not said where it listens", err);
                Assert.Contains("/api/runs", err);
                Assert.False(File.Exists(Path.Combine(data, "rlgaf.db")), "the database was opened");
            }
            // A claim without the lock is stale, even one naming a live process (this one): it does not block.
            var runs = Run("runs", "--data-root", data);
            Assert.True(runs.Code == 0, runs.Err);
            Assert.Contains("no runs in", runs.Out);
            File.WriteAllText(Path.Combine(data, "workbench.pid"), "999999");
            runs = Run("runs", "--data-root", data);
            Assert.True(runs.Code == 0, runs.Err);
        }
        finally { Directory.Delete(data, true); }
    }

    [Fact]
    public void Eval_resume_keeps_the_finished_runs_and_refuses_a_folder_that_is_not_a_suite()
    {
        var dir = Directory.CreateTempSubdirectory("rlgaf-cli-eval-").FullName;
        try
        {
            var (code, _, err) = Run("eval", "--suite", "synthetic-reviews", "--seeds", "1", "--steps-budget", "2", "--methods", "sft", "--out", dir,
                "--set", $"generator={TinyModel.Value}", "--set", "batch_size=4", "--set", "max_new_tokens=10", "--set", "eval_prompts=6",
                "--set", "samples_per_eval=4", "--set", "eval_every=1", "--threads", "1", "--json");
            Assert.True(code == 0, err);
            Assert.True(File.Exists(Path.Combine(dir, "suite.json")));
            var resumed = Run("eval", "--resume", dir, "--json");
            Assert.True(resumed.Code == 0, resumed.Err);
            Assert.Contains("sft seed 1: finished in an earlier sitting, kept", resumed.Err);
            using var doc = JsonDocument.Parse(resumed.Out.Trim().Split('\n')[^1]);
            Assert.Equal("runs/sft-seed1", doc.RootElement.GetProperty("runs")[0].GetProperty("run_dir").GetString());

            var bad = Run("eval", "--resume", Path.Combine(dir, "runs"));
            Assert.NotEqual(0, bad.Code);
            Assert.Contains("--resume:", bad.Err);
            Assert.Contains("suite.json", bad.Err);
            var mixed = Run("eval", "--resume", dir, "--seeds", "3");
            Assert.NotEqual(0, mixed.Code);
            Assert.Contains("--seeds", mixed.Err);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Train_then_runs_then_export_share_one_store()
    {
        var data = Directory.CreateTempSubdirectory("rlgaf-cli-data-").FullName;
        var export = Path.Combine(data, "export");
        try
        {
            var (code, @out, err) = Run("train", "--preset", "reinforce", "--set", $"generator={TinyModel.Value}", "--set", "batch_size=4",
                "--set", "max_new_tokens=10", "--set", "eval_prompts=6", "--set", "samples_per_eval=4", "--set", "eval_every=2", "--set", "disc_pretrain_steps=1",
                "--steps", "3", "--data-root", data, "--out", export, "--json");
            Assert.True(code == 0, err);
            using var doc = JsonDocument.Parse(@out.Trim().Split('\n')[^1]);
            string id = doc.RootElement.GetProperty("run_id").GetString()!;
            Assert.Equal(3, doc.RootElement.GetProperty("step").GetInt32());
            Assert.True(doc.RootElement.GetProperty("metrics").TryGetProperty("disc/real_score", out _));

            var runs = Run("runs", "--json", "--data-root", data);
            Assert.Contains(id, runs.Out);
            Assert.Contains("\"completed\"", runs.Out);

            var metrics = File.ReadAllLines(Path.Combine(export, "metrics.jsonl"));
            Assert.Contains(metrics, l => l.StartsWith("{\"step\":3,", StringComparison.Ordinal));
            Assert.True(File.ReadAllLines(Path.Combine(export, "samples.jsonl")).Length > 0);
            Assert.True(File.Exists(Path.Combine(export, "config.json")));
            Assert.True(File.Exists(Path.Combine(export, "model", "model.safetensors")));
            var sample = Run("sample", "--model", Path.Combine(export, "model"), "--num", "1", "--max-new-tokens", "8");
            Assert.True(sample.Code == 0, sample.Err);
        }
        finally { Directory.Delete(data, true); }
    }
}

/// <summary>The command line against a live workbench: LiteDB has one writer process, so runs go through the workbench's API.</summary>
[Collection(RlGaf.Workbench.Tests.Infrastructure.HostedCollection.Name)]
public class HandOffTests
{
    [Fact]
    public async Task Train_hands_its_run_to_the_running_workbench_follows_it_and_exports_it()
    {
        await using var app = await RlGaf.Workbench.Tests.Infrastructure.TestApp.StartAsync();
        var export = Path.Combine(app.DataRoot, "export");
        var sets = RlGaf.Workbench.Tests.Infrastructure.TinyModel.Overrides(steps: 4).Where(kv => kv.Key != "steps").SelectMany(kv => new[] { "--set", $"{kv.Key}={kv.Value}" });
        var (code, @out, err) = await Task.Run(() => CommandLineTests.Run(
            ["train", "--preset", "reinforce", .. sets, "--steps", "4", "--name", "from-cli", "--data-root", app.DataRoot, "--out", export, "--json"]));
        Assert.True(code == 0, err);
        Assert.Contains($"the workbench at {app.BaseAddress.ToString().TrimEnd('/')}", err);

        using var doc = JsonDocument.Parse(@out.Trim().Split('\n')[^1]);
        string id = doc.RootElement.GetProperty("run_id").GetString()!;
        Assert.Equal("completed", doc.RootElement.GetProperty("status").GetString());
        Assert.Equal(4, doc.RootElement.GetProperty("step").GetInt32());
        // The run trained in the workbench: its store has it, with its metrics, under the given name.
        var record = app.Store.Get(id)!;
        Assert.Equal("from-cli", record.Name);
        Assert.Equal(RlGaf.Engine.Runs.RunStatus.Completed, record.Status);
        Assert.Contains(app.Store.GetMetrics(id), p => p.Step == 4);

        Assert.Contains(File.ReadAllLines(Path.Combine(export, "metrics.jsonl")), l => l.StartsWith("{\"step\":4,", StringComparison.Ordinal));
        Assert.Equal(app.Store.GetSamples(id).Count, File.ReadAllLines(Path.Combine(export, "samples.jsonl")).Length);
        Assert.True(File.Exists(Path.Combine(export, "model", "model.safetensors")));

        var runs = await Task.Run(() => CommandLineTests.Run("runs", "--json", "--data-root", app.DataRoot));
        Assert.True(runs.Code == 0, runs.Err);
        Assert.Contains(id, runs.Out);
        var resume = await Task.Run(() => CommandLineTests.Run("resume", id, "--steps", "8", "--data-root", app.DataRoot));
        Assert.NotEqual(0, resume.Code);
        Assert.Contains("--steps:", resume.Err);
    }
}

[CollectionDefinition("cli", DisableParallelization = true)]
public class CliCollection;
