using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Api;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Tests.Infrastructure;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Training;

/// <summary>
/// The host's races, each made likely by a start that takes its time (the OnStarting hook): slots
/// never oversubscribed, a run queued once, a delete during a start leaves nothing, commands after
/// disposal refused with a clear 409.
/// </summary>
[Collection(HostedCollection.Name)]
public sealed class TrainingHostTests : IDisposable
{
    private readonly string _root = TestApp.NewDataRoot();
    private readonly RunStore _store;
    private readonly RunNotifier _notifier = new();

    public TrainingHostTests() => _store = new RunStore(_root);

    public void Dispose()
    {
        _store.Dispose();
        TestApp.TryDelete(_root);
    }

    private TrainingHost Host(int maxConcurrent) =>
        new(_store, _notifier, new PathPolicy([_root, Path.GetDirectoryName(TinyModel.Path)!]),
            Options.Create(new WorkbenchOptions { MaxConcurrentRuns = maxConcurrent }), NullLogger<TrainingHost>.Instance);

    private static RunSettings Tiny(int steps = 2) => TinyModel.Settings(TrainingMethod.Sft, steps);

    private static bool Ended(RunRecord? r) => r is null || r.Status is RunStatus.Completed or RunStatus.Failed or RunStatus.Stopped;

    [Fact]
    public async Task Concurrent_creates_never_train_more_runs_than_the_slots()
    {
        using var host = Host(maxConcurrent: 1);
        host.OnStarting = _ => Thread.Sleep(300); // opening a run can take seconds (checkpoints, the SFT copy)
        await host.StartAsync(CancellationToken.None);
        using var updates = _notifier.Subscribe(null);
        int most = 0;
        using var watching = new CancellationTokenSource();
        var watcher = Task.Run(() =>
        {
            while (!watching.IsCancellationRequested) { most = Math.Max(most, host.ActiveCount); Thread.Sleep(5); }
        });
        using var go = new Barrier(4);
        var ids = new ConcurrentBag<string>();
        var creators = Enumerable.Range(0, 4).Select(_ => Task.Run(() => { go.SignalAndWait(); ids.Add(host.Create(Tiny()).Id); })).ToArray();
        await Task.WhenAll(creators);
        await TestApp.WaitFor(() => ids.All(id => Ended(_store.Get(id))), "all four runs end", 240);
        watching.Cancel();
        await watcher;

        Assert.All(ids, id => Assert.Equal(RunStatus.Completed, _store.Get(id)!.Status));
        Assert.Equal(1, most);
        // What the runs published agrees: no run started before the one before it had ended.
        int training = 0, peak = 0;
        while (updates.Reader.TryRead(out var u))
        {
            if (u is not StatusUpdate s) continue;
            if (s.Status == RunStatus.Pretraining) peak = Math.Max(peak, ++training);
            else if (s.Status is RunStatus.Completed or RunStatus.Failed or RunStatus.Stopped) training--;
        }
        Assert.Equal(1, peak);
        await host.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Racing_resumes_queue_and_start_a_run_once()
    {
        using var host = Host(maxConcurrent: 2); // room for a second copy, were it queued twice
        await host.StartAsync(CancellationToken.None);
        string id;
        using (host.ReserveSlot("test"))
        using (host.ReserveSlot("test 2"))
        {
            id = host.Create(Tiny()).Id;
            host.Stop(id); // stopped before it started
        }
        Assert.Equal(RunStatus.Stopped, _store.Get(id)!.Status);
        host.OnStarting = _ => Thread.Sleep(300);
        using var updates = _notifier.Subscribe(id);

        using var go = new Barrier(8);
        int accepted = 0, refused = 0;
        var resumers = Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            go.SignalAndWait();
            try { host.Resume(id); Interlocked.Increment(ref accepted); }
            catch (InvalidOperationException) { Interlocked.Increment(ref refused); }
        })).ToArray();
        await Task.WhenAll(resumers);
        Assert.True(host.QueuedCount(id) <= 1);
        await TestApp.WaitFor(() => !host.IsActive(id) && Ended(_store.Get(id)), "the run ends", 120);

        Assert.Equal((1, 7), (accepted, refused));
        Assert.Equal(RunStatus.Completed, _store.Get(id)!.Status);
        int starts = 0;
        while (updates.Reader.TryRead(out var u)) if (u is StatusUpdate { Status: RunStatus.Pretraining }) starts++;
        Assert.Equal(1, starts);
        await host.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Delete_while_a_run_starts_leaves_no_record_and_no_folder()
    {
        using var host = Host(maxConcurrent: 1);
        using var starting = new ManualResetEventSlim();
        using var deleted = new ManualResetEventSlim();
        host.OnStarting = _ => { starting.Set(); deleted.Wait(TimeSpan.FromSeconds(30)); };
        await host.StartAsync(CancellationToken.None);
        var record = host.Create(Tiny(50));
        Assert.True(starting.Wait(TimeSpan.FromSeconds(30)), "the run never started");
        host.Delete(record.Id); // before the run's folder exists: the start that follows creates it
        deleted.Set();
        await TestApp.WaitFor(() => !host.IsActive(record.Id), "the starting run lets go of its slot", 60);

        Assert.Null(_store.Get(record.Id));
        Assert.False(Directory.Exists(record.RunDir), "the start left an orphan folder");
        Assert.Equal(0, host.ActiveCount);
        await host.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_stop_asked_while_a_run_starts_is_kept_and_applied()
    {
        using var host = Host(maxConcurrent: 1);
        using var starting = new ManualResetEventSlim();
        using var asked = new ManualResetEventSlim();
        host.OnStarting = _ => { starting.Set(); asked.Wait(TimeSpan.FromSeconds(30)); };
        await host.StartAsync(CancellationToken.None);
        var id = host.Create(Tiny(500)).Id;
        Assert.True(starting.Wait(TimeSpan.FromSeconds(30)));
        host.Stop(id);
        Assert.Throws<InvalidOperationException>(() => host.Resume(id)); // starting: nothing to resume, and not queued again
        asked.Set();
        await TestApp.WaitFor(() => !host.IsActive(id), "the run ends", 120);
        var r = _store.Get(id)!;
        Assert.Equal(RunStatus.Stopped, r.Status);
        Assert.True(r.Step < 500);
        await host.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Commands_after_shutdown_are_a_clear_409_and_change_nothing()
    {
        var host = Host(maxConcurrent: 1);
        await host.StartAsync(CancellationToken.None);
        string id;
        using (host.ReserveSlot("test"))
        {
            id = host.Create(Tiny()).Id;
            host.Stop(id);
        }
        await host.StopAsync(CancellationToken.None);
        host.Dispose();

        foreach (var command in new Action[] { () => host.Pause(id), () => host.Resume(id), () => host.Stop(id), () => host.Delete(id),
                     () => host.Change(id, "gen_lr", "0.001"), () => host.Create(Tiny()), () => host.Clone(id) })
        {
            var e = Assert.Throws<HostStoppingException>(command);
            Assert.Contains("shutting down", e.Message);
            var result = RunsApi.Guard(() => { command(); return Results.Ok(); });
            var status = Assert.IsAssignableFrom<IStatusCodeHttpResult>(result);
            Assert.Equal(StatusCodes.Status409Conflict, status.StatusCode);
        }
        // A store that went away under a request reads the same, not "Cannot access a disposed object".
        var disposed = RunsApi.Guard(() => throw new ObjectDisposedException("LiteDatabase"));
        Assert.Equal(StatusCodes.Status409Conflict, Assert.IsAssignableFrom<IStatusCodeHttpResult>(disposed).StatusCode);
        Assert.Contains("shutting down", Assert.IsAssignableFrom<IValueHttpResult>(disposed).Value!.ToString());
        Assert.Equal(RunStatus.Stopped, _store.Get(id)!.Status);
        Assert.Single(_store.List());
    }

    [Fact]
    public async Task Shutdown_waits_for_a_paused_run_and_keeps_it_paused()
    {
        var host = Host(maxConcurrent: 1);
        await host.StartAsync(CancellationToken.None);
        var id = host.Create(Tiny(5000)).Id;
        await TestApp.WaitFor(() => _store.Get(id)?.Step >= 2, "the run trains", 120);
        host.Pause(id);
        await TestApp.WaitFor(() => _store.Get(id)?.Status == RunStatus.Paused, "the run pauses", 60);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await host.StopAsync(CancellationToken.None);
        // The paused run's thread has ended (before, it was left waiting for a resume that never came).
        Assert.Equal(0, host.ActiveCount);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"shutdown took {clock.Elapsed}");
        Assert.Equal(RunStatus.Paused, _store.Get(id)!.Status);
        host.Dispose();
    }
}
