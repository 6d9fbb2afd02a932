using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Tests.Infrastructure;
using Reader = RlGaf.Engine.Tests.Tensorboard.EventFileReader;

namespace RlGaf.Workbench.Tests.Cli;

/// <summary>train --fork and export --format tensorboard on the built executable, against a store with one run.</summary>
[Collection("cli")]
public class ForkCommandTests
{
    /// <summary>A stored run with two verified checkpoints (state and manifest only: enough to be listed, verified and refused).</summary>
    private static string StoreWithRun(string root)
    {
        using var store = new RunStore(root);
        var settings = new RunSettings { Steps = 6, Generator = "pretrain" };
        var r = store.Create(settings, "parent");
        FakeCheckpoints.Write(r.RunDir, settings, 2, 4);
        store.AddMetrics(r.Id, 0, new Dictionary<string, double> { ["oracle/valid-rate"] = 0.625, ["div/distinct-2"] = 0.3 });
        store.SetStatus(r.Id, RunStatus.Completed, null, 6);
        return r.Id;
    }

    [Fact]
    public void Fork_refusals_name_the_kept_steps_and_the_fixed_setting()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-cli-fork-").FullName;
        try
        {
            var id = StoreWithRun(root);
            var (code, _, err) = CommandLineTests.Run("train", "--fork", $"{id}@3", "--data-root", root);
            Assert.Equal(2, code);
            Assert.Contains($"run {id} has no kept checkpoint at step 3 (kept checkpoints are at steps 2, 4)", err);
            (code, _, err) = CommandLineTests.Run("train", "--fork", $"{id}@4", "--set", "generator=models/other", "--data-root", root);
            Assert.Equal(2, code);
            Assert.Contains("generator: fixed when the parent run was set up", err);
            (code, _, err) = CommandLineTests.Run("train", "--fork", $"{id}@4", "--preset", "ppo", "--data-root", root);
            Assert.Equal(2, code);
            Assert.Contains("--preset: not with --fork", err);
            (code, _, err) = CommandLineTests.Run("train", "--fork", id, "--data-root", root);
            Assert.Equal(2, code);
            Assert.Contains("is not RUN_ID@STEP", err);
            using var store = new RunStore(root);
            Assert.Single(store.List()); // nothing was created
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Export_writes_a_tensorboard_event_file_and_keeps_the_export_rules()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-cli-tb-").FullName;
        try
        {
            var id = StoreWithRun(root);
            var outDir = Path.Combine(root, "tb");
            var (code, output, err) = CommandLineTests.Run("export", id, "--format", "tensorboard", "--out", outDir, "--data-root", root);
            Assert.True(code == 0, err);
            Assert.Contains("tensorboard --logdir", output);
            var events = Reader.ReadDirectory(outDir).Select(r => r.Event).ToList();
            Assert.Equal("brain.Event:2", events[0].FileVersion);
            var scalars = events.SelectMany(e => e.Values.Where(v => v.SimpleValue is not null).Select(v => (e.Step, v.Tag, v.SimpleValue!.Value))).ToList();
            Assert.Equal([(0L, "div/distinct-2", 0.3f), (0L, "oracle/valid-rate", 0.625f)], scalars.OrderBy(s => s.Tag, StringComparer.Ordinal));
            var start = Reader.SessionStartHParams(events.SelectMany(e => e.Values).Single(v => v.Tag == "_hparams_/session_start_info").PluginContent!);
            Assert.Equal("pretrain", start["generator"]);
            Assert.Equal(false, start["tensorboard"]);

            // Again into the same folder: allowed (an export wrote it); a folder of other files is refused.
            Assert.Equal(0, CommandLineTests.Run("export", id, "--format", "tensorboard", "--out", outDir, "--data-root", root).Code);
            var foreign = Path.Combine(root, "foreign");
            Directory.CreateDirectory(foreign);
            File.WriteAllText(Path.Combine(foreign, "notes.txt"), "mine");
            (code, _, err) = CommandLineTests.Run("export", id, "--format", "tensorboard", "--out", foreign, "--data-root", root);
            Assert.NotEqual(0, code); // as the files export refuses it
            Assert.Contains("already holds files that no export wrote", err);
            (code, _, err) = CommandLineTests.Run("export", id, "--format", "csv", "--out", outDir, "--data-root", root);
            Assert.Equal(2, code);
            Assert.Contains("--format: 'csv' is not files or tensorboard", err);
        }
        finally { Directory.Delete(root, true); }
    }
}
