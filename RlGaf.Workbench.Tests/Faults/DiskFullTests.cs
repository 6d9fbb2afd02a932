using System.Diagnostics;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RlGaf.Workbench.Tests.Faults;

/// <summary>A disk that fills up while a run trains: the run pauses with the reason, its last good checkpoint stays intact.</summary>
[Collection(HostedCollection.Name)]
[Trait("Category", "Faults")]
public class DiskFullTests(ITestOutputHelper output)
{
    /// <summary>Runs a command (mount, umount); its exit code and output.</summary>
    private static (int Code, string Text) Sh(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var text = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            if (!p.WaitForExit(TimeSpan.FromSeconds(20))) { p.Kill(); return (-1, "timed out"); }
            return (p.ExitCode, text);
        }
        catch (System.ComponentModel.Win32Exception e) { return (-1, e.Message); }
    }

    [SkippableFact]
    public async Task A_full_disk_during_a_checkpoint_pauses_the_run_with_the_reason_and_keeps_the_last_good_checkpoint()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "needs a Linux tmpfs");
        var root = TestApp.NewDataRoot();
        var runs = Directory.CreateDirectory(Path.Combine(root, "runs")).FullName;
        // The run folders (settings, the SFT copy, checkpoints) on a small tmpfs; the database stays on the real disk.
        var (mounted, why) = Sh("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", runs);
        Skip.If(mounted != 0, $"cannot mount a tmpfs here (needs root): {why.Trim()}");
        try
        {
            await using var app = await TestApp.StartAsync(root);
            var id = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 3000)).Id;
            var runDir = app.Store.Get(id)!.RunDir;
            await TestApp.WaitFor(() => RunCheckpoint.LatestGood(runDir, []) is { Step: >= 5 }, "a checkpoint after step 0", 120);

            // Fill the disk: the next checkpoint cannot be written.
            var filler = Path.Combine(runs, "filler");
            long filled = 0;
            await using (var f = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.None))
            {
                var chunk = new byte[1 << 16];
                try { while (true) { f.Write(chunk); filled += chunk.Length; } }
                catch (IOException) { }
                try { f.Flush(); } catch (IOException) { }
            }
            output.WriteLine($"filled {filled / 1024} KiB");

            await TestApp.WaitFor(() => app.Store.Get(id)?.Status == RunStatus.Paused, "the run pauses", 120);
            var record = app.Store.Get(id)!;
            output.WriteLine($"paused at step {record.Step}: {record.Message}");
            Assert.Contains("could not be written", record.Message);
            Assert.Contains("No space left on device", record.Message);
            Assert.Contains(app.Store.GetEvents(id), e => e.Kind == RunEventKinds.CheckpointFailed);

            // The last good checkpoint is intact and loadable; the partial one is gone.
            var good = RunCheckpoint.LatestGood(runDir, []);
            Assert.NotNull(good);
            Assert.Null(RunCheckpoint.Verify(good.Value.Path));
            Assert.Contains($"the last good checkpoint (step {good.Value.Step}) is intact", record.Message);
            Assert.Equal(good.Value.Step, RunCheckpoint.ReadState(good.Value.Path).Step);
            using (var loaded = RunCheckpoint.LoadGenerator(runDir, good.Value.Path, TorchSharp.torch.CPU).Model) Assert.NotNull(loaded);
            Assert.Empty(Directory.GetDirectories(RunCheckpoint.Directory(runDir), "*.tmp"));

            // Space again: resume writes the refused checkpoint and trains on.
            File.Delete(filler);
            int pausedAt = record.Step;
            app.Host.Resume(id);
            await TestApp.WaitFor(() => RunCheckpoint.LatestGood(runDir, []) is { } c && c.Step > pausedAt, "a checkpoint after the resume", 120);
            Assert.Equal(RunStatus.Running, app.Store.Get(id)!.Status);
            app.Host.Stop(id);
            await TestApp.WaitFor(() => app.Store.Get(id)?.Status == RunStatus.Stopped, "stopped", 60);
        }
        finally
        {
            Sh("umount", "-l", runs);
            TestApp.TryDelete(root);
        }
    }
}
