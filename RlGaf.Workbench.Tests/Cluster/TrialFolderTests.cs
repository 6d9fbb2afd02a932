using RlGaf.Engine.Runs;
using RlGaf.Workbench.Cluster;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Sweeps;
using RlGaf.Workbench.Tests.Infrastructure;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Cluster;

/// <summary>Live trial folders (train --live), the follower that tails them, and the array script: no Slurm needed.</summary>
public sealed class TrialFolderTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"rlgaf-trial-test-{Guid.NewGuid():N}"[..36]);

    public TrialFolderTests() => Directory.CreateDirectory(_root);

    [Fact]
    public void A_partial_last_line_waits_for_its_newline_and_a_file_started_over_is_read_from_the_top()
    {
        var path = Path.Combine(_root, "m.jsonl");
        var tail = new JsonLinesTail(path);
        Assert.Empty(tail.ReadNew()); // not there yet
        File.WriteAllText(path, "{\"step\":1}\n{\"st");
        Assert.Equal(["{\"step\":1}"], tail.ReadNew());
        Assert.Empty(tail.ReadNew());
        File.AppendAllText(path, "ep\":2}\n");
        Assert.Equal(["{\"step\":2}"], tail.ReadNew());
        File.WriteAllText(path, "{\"step\":1}\n");
        Assert.Equal(["{\"step\":1}"], tail.ReadNew());
        Assert.True(tail.Restarted);
    }

    [Fact]
    public void A_live_train_process_is_followed_into_the_store_while_it_trains()
    {
        var settings = TinyModel.Settings(TrainingMethod.Reinforce, steps: 16) with { EvalEvery = 4 };
        var config = Path.Combine(_root, "trial.json");
        File.WriteAllText(config, settings.ToJson());
        var dir = Path.Combine(_root, "trial");
        using var store = new RunStore(Path.Combine(_root, "data"));
        var notifier = new RunNotifier();
        using var sub = notifier.Subscribe(null);
        var follower = new TrialFolderFollower(dir, settings, "trial 0", store, notifier);
        using var child = ChildProcess.Start("train", "--config", config, "--out", dir, "--live", "--json");
        int sawWhileRunning = 0;
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (!child.HasExited)
        {
            follower.Poll();
            if (follower.Status is { Ended: false } && follower.RunId is { } id) sawWhileRunning = Math.Max(sawWhileRunning, store.GetMetrics(id).Count);
            Assert.True(DateTime.UtcNow < deadline, child.Output);
            Thread.Sleep(200);
        }
        Assert.True(child.WaitForExit().Code == 0, child.Output);
        Assert.True(sawWhileRunning > 0, "metrics reached the store while the trial trained");
        var status = TrialFolder.ReadStatus(dir)!;
        Assert.Equal("completed", status.Status);
        Assert.Equal(16, status.Step);
        // Its own data root inside the trial folder, and the export's files beside the live streams.
        Assert.True(File.Exists(Path.Combine(dir, "data", RunStore.DatabaseFile)));
        Assert.True(File.Exists(Path.Combine(dir, "config.json")));
        Assert.True(Directory.Exists(Path.Combine(dir, "model")));
        var runId = follower.Complete(RunStatus.Completed, null);
        var run = store.Get(runId)!;
        Assert.Equal(RunStatus.Completed, run.Status);
        Assert.Equal(16, run.Step);
        // Every step the process logged, in order, the same values; its samples and its checkpoints came along.
        var lines = File.ReadAllLines(Path.Combine(dir, TrialFolder.MetricsFile));
        var stored = store.GetMetrics(runId);
        Assert.Equal(lines.Length, stored.Count);
        Assert.Equal(Enumerable.Range(0, 17).Where(s => s > 0).ToList(), stored.Where(m => m.Values.ContainsKey("reward/mean")).Select(m => m.Step).ToList());
        Assert.Equal([0, 4, 8, 12, 16], stored.Where(m => m.Values.ContainsKey("oracle/nll")).Select(m => m.Step).ToList());
        Assert.Equal(File.ReadAllLines(Path.Combine(dir, TrialFolder.SamplesFile)).Length, store.GetSamples(runId).Count);
        Assert.True(store.GetSamples(runId).Count > 0);
        Assert.NotNull(RunCheckpoint.LatestGood(run.RunDir, []));
        var updates = new List<RunUpdate>();
        while (sub.Reader.TryRead(out var u)) updates.Add(u);
        Assert.Equal(stored.Count, updates.OfType<MetricsUpdate>().Count());
        Assert.Contains(updates, u => u is SamplesUpdate);
    }

    [Fact]
    public void A_trial_that_cannot_start_leaves_a_failed_status_with_the_reason()
    {
        var settings = TinyModel.Settings(TrainingMethod.Reinforce, steps: 4) with { Generator = Path.Combine(_root, "missing-model") };
        var config = Path.Combine(_root, "bad.json");
        File.WriteAllText(config, settings.ToJson());
        var dir = Path.Combine(_root, "bad");
        using var child = ChildProcess.Start("train", "--config", config, "--out", dir, "--live");
        var (code, _, err) = child.WaitForExit(120);
        Assert.NotEqual(0, code);
        var status = TrialFolder.ReadStatus(dir);
        Assert.NotNull(status);
        Assert.Equal("failed", status.Status);
        Assert.Contains("missing-model", status.Message);
        Assert.Contains("missing-model", err);
    }

    [Fact]
    public void The_array_script_has_the_resources_the_setup_line_and_one_train_per_task()
    {
        var s = TinyModel.Settings(TrainingMethod.Reinforce, steps: 4) with { Threads = 0 };
        var trials = new[] { 0, 2, 3 }.Select(i => new TrialSpec("sw1", i, i, 1, new Dictionary<string, string>(), i == 3 ? s with { Threads = 1 } : s,
            Path.Combine(_root, "sw1", "trials", $"{i:0000}"))).ToList();
        var o = new SlurmOptions
        {
            Partition = "gpu", Time = "1-00:00:00", CpusPerTask = 4, Mem = "16G", Gpus = 1, Setup = "module load dotnet/10.0\nsource /opt/env.sh",
            Launcher = "apptainer exec --nv rlgaf.sif", Executable = "/opt/rlgaf/RlGaf.Workbench", ExtraOptions = ["--account=proj42"],
        }.Validate();
        var script = SlurmArrayScript.Build("rlgaf-sw1", trials, 2, o, "/shared/sw1/slurm");
        Assert.Contains("#SBATCH --array=0,2,3%2\n", script); // a resubmission with gaps: a list, still capped
        Assert.Contains("#SBATCH --partition=gpu\n#SBATCH --time=1-00:00:00\n#SBATCH --cpus-per-task=4\n#SBATCH --mem=16G\n#SBATCH --gres=gpu:1\n#SBATCH --account=proj42\n", script);
        Assert.Contains("#SBATCH --output=/shared/sw1/slurm/%A_%a.out\n", script);
        Assert.Contains("module load dotnet/10.0\nsource /opt/env.sh\n", script);
        Assert.Contains($"  2) exec apptainer exec --nv rlgaf.sif /opt/rlgaf/RlGaf.Workbench train --config '{trials[1].OutDir}/trial.json' --out '{trials[1].OutDir}' --live --threads \"$SLURM_CPUS_PER_TASK\" ;;", script);
        Assert.Contains($"  3) exec apptainer exec --nv rlgaf.sif /opt/rlgaf/RlGaf.Workbench train --config '{trials[2].OutDir}/trial.json' --out '{trials[2].OutDir}' --live ;;", script);
        Assert.Equal("0-3", SlurmArrayScript.ArraySpec([0, 1, 2, 3], 4));
        Assert.Equal("5", SlurmArrayScript.ArraySpec([5], 2));
        Assert.Equal("'it'\\''s'", SlurmArrayScript.Quote("it's"));
    }

    [Theory]
    [InlineData("Time", "two hours")]
    [InlineData("Mem", "lots")]
    [InlineData("CpusPerTask", "0")]
    [InlineData("ExtraOptions", "account=x")]
    public void Bad_slurm_settings_are_refused_naming_the_field(string field, string value)
    {
        var o = new SlurmOptions();
        switch (field)
        {
            case "Time": o.Time = value; break;
            case "Mem": o.Mem = value; break;
            case "CpusPerTask": o.CpusPerTask = int.Parse(value); break;
            default: o.ExtraOptions = [value]; break;
        }
        var e = Assert.Throws<ArgumentException>(() => o.Validate());
        Assert.StartsWith($"RlGaf:Slurm:{field}:", e.Message);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
