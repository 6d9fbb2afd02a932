using System.Diagnostics;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Runtime;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Runs;

/// <summary>
/// Long phases observe stop and shutdown, the shared pretraining cache survives two builders, a run's
/// thread count does not outlive it, and checkpoint pruning keeps what it just wrote.
/// </summary>
[Collection("runs")]
public class LongPhaseTests
{
    [Fact]
    public void Stop_during_pretraining_lands_within_a_step_and_publishes_no_cache()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-stop-pretrain-").FullName;
        try
        {
            // 100000 pretraining steps would take hours here: only a stop that lands within a step ends this in time.
            var settings = TinySft.Settings(TrainingMethod.Reinforce) with { Generator = "pretrain", PretrainSteps = 100_000 };
            using var run = AdversarialRun.Create(Path.Combine(root, "r"), settings, root);
            var pretraining = new ManualResetEventSlim();
            run.Log += m => { if (m.StartsWith("pretraining the SFT generator", StringComparison.Ordinal)) pretraining.Set(); };
            var stopper = new Thread(() =>
            {
                if (!pretraining.Wait(TimeSpan.FromSeconds(120))) return;
                Thread.Sleep(1500); // let it take a few steps
                run.RequestStop();
            });
            stopper.Start();
            var clock = Stopwatch.StartNew();
            run.Execute();
            stopper.Join();
            Assert.True(pretraining.IsSet, "pretraining never started");
            Assert.Equal(RunStatus.Stopped, run.Status);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"stop took {clock.Elapsed}");
            Assert.Contains(run.Events, e => e.Kind == RunEventKinds.Stop);
            // Neither a cache folder (it would hold a half-trained model) nor a private build folder is left.
            Assert.Empty(Directory.GetDirectories(root, "sft-*"));
            Assert.Empty(RunCheckpoint.List(run.RunDir));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Shutdown_ends_a_paused_run_which_stays_paused_with_its_checkpoint()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-shutdown-").FullName;
        try
        {
            using var run = AdversarialRun.Create(Path.Combine(root, "r"), TinySft.Settings(TrainingMethod.Reinforce) with { Steps = 50 }, root);
            using var shutdown = new CancellationTokenSource();
            run.MetricsLogged += (step, m) => { if (step == 2 && m.ContainsKey("gen/loss")) run.RequestPause(); };
            run.StatusChanged += (s, _) => { if (s == RunStatus.Paused) shutdown.CancelAfter(300); };
            var thread = new Thread(() => run.Execute(null, shutdown.Token));
            thread.Start();
            // Before, a paused run waited for a resume only: its thread outlived the host.
            Assert.True(thread.Join(TimeSpan.FromSeconds(120)), "the paused run's thread did not end at shutdown");
            Assert.Equal(RunStatus.Paused, run.Status);
            Assert.Equal(2, RunCheckpoint.LatestGood(run.RunDir, [])!.Value.Step);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Two_runs_building_the_same_pretraining_cache_build_it_once()
    {
        TorchRuntime.EnsureLoaded();
        var root = Directory.CreateTempSubdirectory("rlgaf-cache-race-").FullName;
        try
        {
            var settings = new RunSettings { Generator = "pretrain", PretrainSteps = 5, Seed = 3, Device = "cpu" };
            var logs = new System.Collections.Concurrent.ConcurrentQueue<string>();
            using var start = new Barrier(2);
            var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
            var threads = Enumerable.Range(0, 2).Select(i => new Thread(() =>
            {
                try
                {
                    start.SignalAndWait();
                    var loaded = RunSetup.EnsureSft(Path.Combine(root, $"run{i}"), settings, root, CPU, m => logs.Enqueue($"{i}: {m}"));
                    loaded.Model.Dispose();
                }
                catch (Exception e) { errors.Enqueue(e); }
            })).ToList();
            threads.ForEach(t => t.Start());
            Assert.All(threads, t => Assert.True(t.Join(TimeSpan.FromMinutes(3))));
            Assert.Empty(errors);
            Assert.Single(logs, l => l.Contains("pretraining the SFT generator"));
            Assert.Single(logs, l => l.Contains("reusing"));
            var cache = Assert.Single(Directory.GetDirectories(root, "sft-*"));
            Assert.EndsWith("-5steps-seed3", cache);
            // Both runs hold the very same model as the cache: nobody wrote over it half-way.
            var weights = File.ReadAllBytes(Path.Combine(cache, "model.safetensors"));
            Assert.Equal(weights, File.ReadAllBytes(Path.Combine(root, "run0", RunSetup.SftDir, "model.safetensors")));
            Assert.Equal(weights, File.ReadAllBytes(Path.Combine(root, "run1", RunSetup.SftDir, "model.safetensors")));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void A_runs_thread_count_does_not_leak_into_later_runs()
    {
        TorchRuntime.EnsureLoaded();
        int before = get_num_threads();
        // threads is bounded by the cores: on one core, 1 is the only count, and nothing can leak.
        int mine = before == 1 ? Math.Min(2, Environment.ProcessorCount) : 1;
        var root = Directory.CreateTempSubdirectory("rlgaf-threads-").FullName;
        try
        {
            using var run = AdversarialRun.Create(Path.Combine(root, "r"), TinySft.Settings(TrainingMethod.Sft) with { Steps = 2, Threads = mine }, root);
            int during = 0;
            run.MetricsLogged += (_, _) => during = get_num_threads();
            run.Execute();
            Assert.Equal(RunStatus.Completed, run.Status);
            Assert.Equal(mine, during);
            Assert.Equal(before, get_num_threads());
        }
        finally
        {
            set_num_threads(before);
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void Overlapping_runs_give_the_thread_count_back_when_the_last_one_ends()
    {
        TorchRuntime.EnsureLoaded();
        int before = get_num_threads();
        try
        {
            var a = TorchRuntime.UseThreads(before + 1);
            var b = TorchRuntime.UseThreads(before + 2);
            Assert.Equal(before + 2, get_num_threads()); // process-wide: the last one set is in force
            a.Dispose();
            // The first run ending must not restore the old count under the second one, still training.
            Assert.Equal(before + 2, get_num_threads());
            b.Dispose();
            b.Dispose(); // twice is harmless
            Assert.Equal(before, get_num_threads());
            using (TorchRuntime.UseThreads(0)) Assert.Equal(before, get_num_threads());
        }
        finally { set_num_threads(before); }
    }

    [Fact]
    public void Pruning_never_deletes_the_checkpoint_just_written()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-prune-").FullName;
        try
        {
            var dir = Path.Combine(root, "r");
            var settings = TinySft.Settings(TrainingMethod.Reinforce) with { Steps = 4, KeepCheckpoints = 1 };
            using (var run = AdversarialRun.Create(dir, settings, root)) run.Execute();
            // A later checkpoint that does not verify (a crash mid-write, a bad disk): the run continues from step 4.
            var bad = Path.Combine(RunCheckpoint.Directory(dir), "ckpt-0000099");
            Directory.CreateDirectory(bad);
            File.WriteAllText(Path.Combine(bad, "manifest.json"), "{not json");
            using (var run = AdversarialRun.Open(dir, root))
            {
                Assert.Equal(4, run.Step);
                run.ExtendTo(6);
                run.Execute();
                Assert.Equal(RunStatus.Completed, run.Status);
            }
            // Before, "keep the newest 1" kept ckpt-99 and deleted the one just written at step 6.
            var left = RunCheckpoint.List(dir);
            Assert.Equal(6, Assert.Single(left).Step);
            Assert.Null(RunCheckpoint.Verify(left[0].Path));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Prunable_keeps_the_written_one_and_the_newest_earlier_ones()
    {
        (int, string)[] all = [(2, "a"), (4, "b"), (6, "c"), (8, "d"), (12, "e")];
        Assert.Equal(new[] { 12, 2, 4 }, RunCheckpoint.Prunable(all, 8, 2).Select(c => c.Item1));
        Assert.Equal(new[] { 2, 4, 6, 8 }, RunCheckpoint.Prunable(all, 12, 1).Select(c => c.Item1));
        Assert.Empty(RunCheckpoint.Prunable(all, 12, 5));
    }

    [Fact]
    public void Settings_json_is_replaced_whole_and_leaves_no_temporary_file()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-atomic-").FullName;
        try
        {
            var path = Path.Combine(root, "settings.json");
            File.WriteAllText(path, "old");
            DurableFiles.WriteAllTextAtomic(path, "{\"steps\": 3}");
            Assert.Equal("{\"steps\": 3}", File.ReadAllText(path));
            Assert.Equal(new[] { path }, Directory.GetFileSystemEntries(root));
            using (AdversarialRun.Create(Path.Combine(root, "r"), TinySft.Settings(TrainingMethod.Sft), root)) { }
            Assert.Equal(new[] { "settings.json" }, Directory.GetFileSystemEntries(Path.Combine(root, "r")).Select(Path.GetFileName));
            Assert.Contains("missing", Assert.Throws<IOException>(() => DurableFiles.FsyncDirectory(Path.Combine(root, "missing"))).Message);
        }
        finally { Directory.Delete(root, true); }
    }
}
