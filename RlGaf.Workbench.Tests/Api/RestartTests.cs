using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Api;

[Collection(HostedCollection.Name)]
public class RestartTests
{
    [Fact]
    public async Task After_a_restart_runs_are_intact_and_an_interrupted_run_resumes_without_doubling_back()
    {
        var root = TestApp.NewDataRoot();
        string done, interrupted;
        await using (var app = await TestApp.StartAsync(root))
        {
            done = app.Host.Create(TinyModel.Settings(TrainingMethod.Sft, 4), "finished").Id;
            await TestApp.WaitFor(() => app.Store.Get(done)?.Status == RunStatus.Completed, "first run completes");
            interrupted = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 60), "cut off").Id;
            await TestApp.WaitFor(() => app.Store.Get(interrupted)?.Step >= 12, "second run passes a checkpoint");
        }
        // What a crash leaves behind: the store still says Running (the graceful stop above said Interrupted).
        using (var store = new RunStore(root)) store.SetStatus(interrupted, RunStatus.Running, null);

        await using (var app = await TestApp.StartAsync(root))
        {
            var runs = app.Store.List();
            Assert.Equal(2, runs.Count);
            Assert.Equal(RunStatus.Completed, app.Store.Get(done)!.Status);
            Assert.Equal(4, app.Store.Get(done)!.Step);
            Assert.Equal(RunStatus.Interrupted, app.Store.Get(interrupted)!.Status);

            app.Host.Resume(interrupted);
            await TestApp.WaitFor(() => app.Store.Get(interrupted)?.Status is RunStatus.Completed or RunStatus.Failed, "resumed run completes");
            Assert.Equal(RunStatus.Completed, app.Store.Get(interrupted)!.Status);
            Assert.Contains(app.Store.GetEvents(interrupted), e => e.Kind == "resume" && e.Message.StartsWith("continued from checkpoint"));
            // Curves never double back: each training step logged once, in order.
            var trainSteps = app.Store.GetMetrics(interrupted).Where(p => p.Values.ContainsKey("gen/loss")).Select(p => p.Step).ToList();
            Assert.Equal(Enumerable.Range(1, 60), trainSteps);
        }
    }

    [Fact]
    public async Task A_failing_run_is_marked_failed_and_the_app_keeps_serving()
    {
        await using var app = await TestApp.StartAsync();
        // A model directory that exists but holds no model: the run fails at set-up.
        var empty = Directory.CreateDirectory(Path.Combine(app.DataRoot, "models", "empty")).FullName;
        var id = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 5) with { Generator = empty }).Id;
        await TestApp.WaitFor(() => app.Store.Get(id)?.Status == RunStatus.Failed, "run fails");
        Assert.False(string.IsNullOrEmpty(app.Store.Get(id)!.Message));
        // The host still trains the next one.
        var next = app.Host.Create(TinyModel.Settings(TrainingMethod.Sft, 2)).Id;
        await TestApp.WaitFor(() => app.Store.Get(next)?.Status == RunStatus.Completed, "next run completes");
    }

    [Fact]
    public async Task Shutting_down_with_a_paused_run_is_quick_and_the_run_stays_resumable()
    {
        var root = TestApp.NewDataRoot();
        string id;
        var app = await TestApp.StartAsync(root);
        id = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 3000)).Id;
        await TestApp.WaitFor(() => app.Store.Get(id)?.Step >= 3, "trains");
        app.Host.Pause(id);
        await TestApp.WaitFor(() => app.Store.Get(id)?.Status == RunStatus.Paused, "paused");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await app.DisposeAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"shutdown took {clock.Elapsed}");

        await using var again = await TestApp.StartAsync(root);
        Assert.Equal(RunStatus.Paused, again.Store.Get(id)!.Status);
        int step = again.Store.Get(id)!.Step;
        again.Host.Resume(id);
        await TestApp.WaitFor(() => again.Store.Get(id)!.Step > step + 2, "trains on after the restart");
        again.Host.Stop(id);
    }
}
