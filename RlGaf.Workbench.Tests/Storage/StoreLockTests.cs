using System.Diagnostics;
using System.Text.Json;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Tests.Cli;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Storage;

/// <summary>The one-writer lock within this process: refusals name the holder, release is immediate, stale files mean nothing.</summary>
public class StoreLockTests : IDisposable
{
    private readonly string _root = TestApp.NewDataRoot();

    public void Dispose() => TestApp.TryDelete(_root);

    [Fact]
    public void A_second_taker_is_refused_at_once_naming_the_run_and_takes_the_lock_once_it_is_released()
    {
        var first = StoreLock.Acquire(_root, "train");
        first.SetRun("20261202-031500-abcd");

        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<StoreLockException>(() => StoreLock.Acquire(_root, StoreHolder.Workbench));
        Assert.True(clock.Elapsed < StoreLock.BriefWait, $"a training holder is refused at once, not waited for ({clock.Elapsed})");
        Assert.Contains("run 20261202-031500-abcd ('train')", e.Message);
        Assert.Contains($"process {Environment.ProcessId}", e.Message);
        Assert.Equal("20261202-031500-abcd", e.Holder!.RunId);
        // The store itself takes the lock: no second LiteDB instance on the same file.
        Assert.Throws<StoreLockException>(() => new RunStore(_root));
        Assert.False(File.Exists(Path.Combine(_root, "rlgaf.db")), "the refused store opened the database");
        Assert.Equal("20261202-031500-abcd", StoreLock.HolderOf(_root)!.RunId);

        first.Dispose();
        Assert.Null(StoreLock.HolderOf(_root));
        Assert.False(File.Exists(Path.Combine(_root, StoreLock.HolderFile)));
        Assert.True(File.Exists(Path.Combine(_root, StoreLock.LockFile)), "the lock file is never deleted");
        using var store = new RunStore(_root);
        Assert.Equal("store", StoreLock.HolderOf(_root)!.Command);
    }

    [Fact]
    public async Task A_brief_holder_is_waited_for()
    {
        var brief = StoreLock.Acquire(_root, "runs", brief: true);
        var release = Task.Run(async () => { await Task.Delay(500); brief.Dispose(); });
        var clock = Stopwatch.StartNew();
        using var next = StoreLock.Acquire(_root, "train");
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(300), StoreLock.BriefWait);
        await release;
        Assert.Equal("train", StoreLock.HolderOf(_root)!.Command);
    }

    [Fact]
    public void Claim_and_holder_files_that_name_a_live_process_mean_nothing_without_the_lock()
    {
        // What a reused process id looks like: the files a killed workbench left name a process that is alive
        // (pid 1 always is), the workbench's URL included. The old PID check handed off to that URL.
        File.WriteAllText(Path.Combine(_root, "workbench.pid"), JsonSerializer.Serialize(new WorkbenchClaim(1, "http://127.0.0.1:9")));
        File.WriteAllText(Path.Combine(_root, StoreLock.HolderFile),
            JsonSerializer.Serialize(new StoreHolder(1, StoreHolder.Workbench, null, false, DateTime.UtcNow)));
        File.WriteAllText(Path.Combine(_root, StoreLock.LockFile), "");

        Assert.Null(StoreLock.HolderOf(_root));
        Assert.Null(RunStore.RunningWorkbench(_root));
        var clock = Stopwatch.StartNew();
        using var taken = StoreLock.Acquire(_root, "train");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
        var holder = JsonSerializer.Deserialize<StoreHolder>(File.ReadAllText(Path.Combine(_root, StoreLock.HolderFile)))!;
        Assert.Equal((Environment.ProcessId, "train"), (holder.Pid, holder.Command));
    }
}

/// <summary>
/// The lock across real processes: a command-line run and a workbench on one data root, both orders,
/// and holders killed with kill -9 (the kernel drops their lock; nothing stale stays in the way).
/// </summary>
[Collection(HostedCollection.Name)]
public class OneWriterTests
{
    private static readonly System.Text.RegularExpressions.Regex Progress = new(@"\] (\d+)/(\d+) ");

    private static int LastStep(ChildProcess child) =>
        Progress.Matches(child.Output).Select(m => int.Parse(m.Groups[1].Value)).DefaultIfEmpty(0).Max();

    // Enough that the command-line run is still training after the refusals below (each a child process) on a quiet machine.
    private const int Steps = 60;

    [Fact]
    public async Task A_cli_run_holds_its_root_against_a_workbench_and_other_commands_until_killed_then_the_workbench_resumes_it()
    {
        var root = TestApp.NewDataRoot();
        try
        {
            var sets = TinyModel.Overrides(steps: Steps).Where(kv => kv.Key != "steps").SelectMany(kv => new[] { "--set", $"{kv.Key}={kv.Value}" });
            using var cli = ChildProcess.Start(["train", "--preset", "reinforce", .. sets, "--steps", Steps.ToString(), "--data-root", root]);
            // Past the checkpoint at step 10 (checkpoint_every=5), so there is something to resume from.
            await cli.WaitFor(() => LastStep(cli) >= 12, "the command-line run passes step 12");
            var holder = StoreLock.HolderOf(root);
            Assert.NotNull(holder);
            Assert.Equal((cli.Pid, "train"), (holder.Pid, holder.Command));
            string id = holder.RunId!;
            Assert.Contains($"run {id}", cli.Output);

            // The workbench refuses to start on that root, naming the run and its process; it opened nothing.
            var refused = await Assert.ThrowsAsync<StoreLockException>(() => TestApp.StartAsync(root));
            Assert.Contains($"command-line run {id} ('train'), process {cli.Pid}", refused.Message);
            Assert.Null(RunStore.ReadClaim(root));
            // Other command lines refuse too, resume above all (it would put a second trainer on the run's folder).
            var resume = CommandLineTests.Run("resume", id, "--data-root", root);
            Assert.Equal(2, resume.Code);
            Assert.Contains($"run {id}", resume.Err);
            Assert.Contains($"process {cli.Pid}", resume.Err);
            var runs = CommandLineTests.Run("runs", "--data-root", root);
            Assert.Equal(2, runs.Code);
            Assert.Contains($"run {id}", runs.Err);
            // ...and the run trains on, undisturbed.
            int seen = LastStep(cli);
            await cli.WaitFor(() => LastStep(cli) > seen, "the command-line run trains on after the refusals");

            Assert.False(cli.HasExited, "the command-line run ended before it could be killed: raise Steps\n" + cli.Output);
            cli.KillHard();
            // The kernel dropped the lock with the process: the next taker gets it at once, stale holder file or not.
            Assert.True(File.Exists(Path.Combine(root, StoreLock.HolderFile)), "kill -9 leaves the holder file behind");
            Assert.Null(StoreLock.HolderOf(root));
            await using var app = await TestApp.StartAsync(root);
            Assert.Equal(StoreHolder.Workbench, StoreLock.HolderOf(root)!.Command);
            var record = app.Store.Get(id)!;
            Assert.Equal(RlGaf.Engine.Runs.RunStatus.Interrupted, record.Status);
            Assert.InRange(record.Step, 10, Steps - 1);

            app.Host.Resume(id);
            await TestApp.WaitFor(() => app.Store.Get(id)?.Status is RlGaf.Engine.Runs.RunStatus.Completed or RlGaf.Engine.Runs.RunStatus.Failed, "the resumed run ends");
            Assert.Equal(RlGaf.Engine.Runs.RunStatus.Completed, app.Store.Get(id)!.Status);
            Assert.Contains(app.Store.GetEvents(id), e => e.Kind == "resume" && e.Message.StartsWith("continued from checkpoint"));
            // One trainer at a time: every step logged once, in order, across the two processes.
            var trainSteps = app.Store.GetMetrics(id).Where(p => p.Values.ContainsKey("gen/loss")).Select(p => p.Step).ToList();
            Assert.Equal(Enumerable.Range(1, Steps), trainSteps);
        }
        finally { TestApp.TryDelete(root); }
    }

    [Fact]
    public async Task With_a_workbench_up_the_cli_hands_off_and_a_second_workbench_refuses_naming_the_first()
    {
        await using var app = await TestApp.StartAsync();
        string url = app.BaseAddress.ToString().TrimEnd('/');

        // A second workbench, as a real process: exit code 2 and the first one's address.
        using (var second = ChildProcess.Start(TestApp.Args(app.DataRoot)))
        {
            Assert.Equal(2, second.WaitForExit().Code);
            Assert.Contains("refusing to start", second.Output);
            Assert.Contains($"the workbench at {url} (process {Environment.ProcessId})", second.Output);
        }
        // ...and in this process, a second app on the same root.
        var inProcess = await Assert.ThrowsAsync<StoreLockException>(() => TestApp.StartAsync(app.DataRoot));
        Assert.Contains(url, inProcess.Message);
        // Neither took over the claim: the command line still finds the first one and goes through it.
        Assert.Equal(new WorkbenchClaim(Environment.ProcessId, url, app.Token), RunStore.ReadClaim(app.DataRoot));
        var id = app.Host.Create(TinyModel.Settings(RlGaf.Engine.Runs.TrainingMethod.Sft, 2), "made-in-the-workbench").Id;
        var runs = await Task.Run(() => CommandLineTests.Run("runs", "--json", "--data-root", app.DataRoot));
        Assert.True(runs.Code == 0, runs.Err);
        Assert.Contains(id, runs.Out); // read over the API: this process holds the lock, a direct open would have been refused
        await TestApp.WaitFor(() => app.Store.Get(id)?.Status == RlGaf.Engine.Runs.RunStatus.Completed, "the run completes");
    }

    [Fact]
    public async Task A_workbench_killed_with_kill_9_leaves_no_stale_lock_and_the_cli_opens_the_store_directly()
    {
        var root = TestApp.NewDataRoot();
        try
        {
            using (var workbench = ChildProcess.Start(TestApp.Args(root)))
            {
                await workbench.WaitFor(() => RunStore.RunningWorkbench(root)?.Url is not null, "the child workbench listens");
                Assert.Equal(workbench.Pid, RunStore.RunningWorkbench(root)!.Pid);
                workbench.KillHard();
            }
            // What it left: its claim (with the address) and holder file. The lock went with the process.
            Assert.NotNull(RunStore.ReadClaim(root)?.Url);
            Assert.True(File.Exists(Path.Combine(root, StoreLock.HolderFile)));
            Assert.Null(StoreLock.HolderOf(root));
            Assert.Null(RunStore.RunningWorkbench(root));

            var runs = CommandLineTests.Run("runs", "--data-root", root);
            Assert.True(runs.Code == 0, runs.Err);
            Assert.Contains($"no runs in {root}", runs.Out); // opened directly, not sent to the dead address
            // A workbench starts at once on the same root.
            await using var app = await TestApp.StartAsync(root);
            Assert.Equal(Environment.ProcessId, StoreLock.HolderOf(root)!.Pid);
        }
        finally { TestApp.TryDelete(root); }
    }

    [Fact]
    public void With_file_locking_turned_off_the_cli_refuses_to_open_the_store()
    {
        var root = TestApp.NewDataRoot();
        try
        {
            using var cli = ChildProcess.Start(new Dictionary<string, string> { ["DOTNET_SYSTEM_IO_DISABLEFILELOCKING"] = "1" }, "runs", "--data-root", root);
            Assert.Equal(2, cli.WaitForExit().Code);
            Assert.Contains("DOTNET_SYSTEM_IO_DISABLEFILELOCKING", cli.Output);
            Assert.False(File.Exists(Path.Combine(root, "rlgaf.db")), "the database was opened without the lock");
        }
        finally { TestApp.TryDelete(root); }
    }
}
