using System.Net.Http.Json;
using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Storage;

/// <summary>A damaged rlgaf.db: a clear error naming the file and the way out, and that way out rebuilding the run list from the run folders.</summary>
[Collection(HostedCollection.Name)]
public sealed class StoreRecoveryTests : IDisposable
{
    private readonly string _root = TestApp.NewDataRoot();

    public void Dispose() => TestApp.TryDelete(_root);

    private string Db => Path.Combine(_root, RunStore.DatabaseFile);

    /// <summary>A run folder as the workbench leaves it: settings, checkpoints at steps 0 and 2, paused at 2 of 4.</summary>
    private string TrainedRunFolder()
    {
        var dir = Path.Combine(RunStore.RunsRootOf(_root), "20260101-120000-abcd");
        using var run = AdversarialRun.Create(dir, TinyModel.Settings(TrainingMethod.Reinforce, steps: 4), Path.Combine(_root, "models"));
        run.Execute(stopAtStep: 2);
        return dir;
    }

    private void Garbage()
    {
        var bytes = new byte[64 * 1024];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(Db, bytes);
    }

    [Fact]
    public void A_corrupt_database_is_a_clear_error_naming_the_file_and_the_way_out()
    {
        Garbage();
        var e = Assert.Throws<StoreCorruptException>(() => new RunStore(_root));
        Assert.Contains(Db, e.Message);
        Assert.Contains("RlGaf:RebuildStore=true", e.Message);
        Assert.Contains("RlGaf__RebuildStore", e.Message);
        // Refusing changed nothing: the damaged file is still there, as it was.
        Assert.Equal(64 * 1024, new FileInfo(Db).Length);
        Assert.Empty(Directory.GetFiles(_root, "rlgaf.db.corrupt-*"));
    }

    [Fact]
    public void The_way_out_moves_the_file_aside_and_rebuilds_runs_from_their_folders()
    {
        var dir = TrainedRunFolder();
        Directory.CreateDirectory(Path.Combine(RunStore.RunsRootOf(_root), "not-a-run")); // no settings.json: skipped
        Garbage();
        var garbage = File.ReadAllBytes(Db);

        using var store = new RunStore(_root, rebuildIfCorrupt: true);
        Assert.NotNull(store.MovedAside);
        Assert.StartsWith(Db + ".corrupt-", store.MovedAside);
        Assert.Equal(garbage, File.ReadAllBytes(store.MovedAside!)); // kept, not deleted
        var r = Assert.Single(store.List());
        Assert.Equal(Path.GetFileName(dir), r.Id);
        Assert.Equal(dir, r.RunDir);
        Assert.Equal(RunStatus.Interrupted, r.Status); // resumable from its checkpoint
        Assert.Equal(2, r.Step);
        Assert.Equal(4, r.TotalSteps);
        Assert.Equal("reinforce", r.Method);
        Assert.Equal(new DateTime(2026, 1, 1, 12, 0, 0, DateTimeKind.Utc), r.CreatedUtc);
        // The evaluations (steps 0 and 2) and the events come back from the checkpoint's state.
        Assert.Equal(new[] { 0, 2 }, store.GetMetrics(r.Id).Select(m => m.Step));
        Assert.Contains("align/positive-rate", r.Latest.Keys);
        Assert.Contains(store.RebuildReport, l => l.StartsWith("not-a-run: skipped"));
        Assert.Contains(store.RebuildReport, l => l.StartsWith(r.Id + ": restored at step 2"));
    }

    [Fact]
    public async Task The_app_refuses_to_start_on_a_corrupt_database_and_starts_with_the_option()
    {
        TrainedRunFolder();
        Garbage();
        await Assert.ThrowsAsync<StoreCorruptException>(() => TestApp.StartAsync(_root));

        await using (var app = await TestApp.StartAsync(_root, "RlGaf:RebuildStore=true"))
        {
            using var http = app.Client();
            var runs = await http.GetFromJsonAsync<JsonElement>("/api/runs");
            var run = Assert.Single(runs.EnumerateArray());
            Assert.Equal("interrupted", run.GetProperty("status").GetString());
            // The rebuilt run resumes from its checkpoint and completes.
            var id = run.GetProperty("id").GetString()!;
            Assert.True((await http.PostAsync($"/api/runs/{id}/resume", null)).IsSuccessStatusCode);
            await TestApp.WaitFor(() => app.Store.Get(id)?.Status is RunStatus.Completed or RunStatus.Failed, "the rebuilt run completes");
            Assert.Equal(RunStatus.Completed, app.Store.Get(id)!.Status);
            Assert.Equal(4, app.Store.Get(id)!.Step);
        }
        // The option only acts on a file it cannot open: a second start keeps the rebuilt database.
        await using (var again = await TestApp.StartAsync(_root, "RlGaf:RebuildStore=true"))
            Assert.Equal(RunStatus.Completed, Assert.Single(again.Store.List()).Status);
        Assert.Single(Directory.GetFiles(_root, "rlgaf.db.corrupt-*"));
    }
}
