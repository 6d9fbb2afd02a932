using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Tests.Infrastructure;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Training;

/// <summary>The service's contract without training: validation up front, folders on disk listed as what they are, no file served from outside.</summary>
public sealed class ExperimentServiceTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("rlgaf-exp-").FullName;
    private string Root => Path.Combine(_data, "experiments");

    private ExperimentService Service(IReadOnlyDictionary<string, string>? overrides = null) => new(Root, new PathPolicy([_data]), null, overrides);

    public void Dispose() => TestApp.TryDelete(_data);

    [Fact]
    public void Bad_options_are_refused_before_a_folder_or_thread_exists()
    {
        using var service = Service();
        var e = Assert.Throws<ArgumentException>(() => service.Start(new ExperimentRequest { Suite = "nope" }));
        Assert.StartsWith("--suite:", e.Message);
        Assert.StartsWith("--seeds:", Assert.Throws<ArgumentException>(() => service.Start(new ExperimentRequest { Seeds = 0 })).Message);
        Assert.StartsWith("--methods:", Assert.Throws<ArgumentException>(() => service.Start(new ExperimentRequest { Methods = ["sft", "dpo"] })).Message);
        Assert.StartsWith("--data:", Assert.Throws<ArgumentException>(() => service.Start(new ExperimentRequest { Suite = "imdb" })).Message);
        Assert.Empty(service.List());
        Assert.False(Directory.Exists(Root) && Directory.EnumerateFileSystemEntries(Root).Any());
    }

    [Fact]
    public void A_data_path_must_resolve_under_the_data_roots_and_exist()
    {
        using var service = Service();
        var outside = Assert.Throws<ArgumentException>(() => service.SuiteOptionsFor(new ExperimentRequest { Suite = "squad", DataPath = "/etc/passwd" }));
        Assert.StartsWith("--data:", outside.Message);
        Assert.Contains("outside the data roots", outside.Message);
        var climbing = Assert.Throws<ArgumentException>(() => service.SuiteOptionsFor(new ExperimentRequest { Suite = "squad", DataPath = "../../etc/passwd" }));
        Assert.Contains("outside the data roots", climbing.Message);
        Assert.Contains("does not exist", Assert.Throws<ArgumentException>(() => service.SuiteOptionsFor(new ExperimentRequest { Suite = "imdb", DataPath = "aclImdb" })).Message);

        File.WriteAllText(Path.Combine(_data, "dev.json"), "{}");
        var o = service.SuiteOptionsFor(new ExperimentRequest { Suite = "squad", DataPath = "dev.json", Methods = ["sft", "sft", "ppo"] });
        Assert.Equal(Path.Combine(_data, "dev.json"), o.DataPath); // relative: under the first root
        Assert.Equal(new[] { "sft", "ppo" }, o.Methods); // a method named twice runs once
        // The synthetic suite ignores a path left in the form.
        Assert.Null(service.SuiteOptionsFor(new ExperimentRequest { DataPath = "/etc/passwd" }).DataPath);
    }

    [Fact]
    public void Folders_on_disk_are_listed_as_completed_interrupted_or_not_at_all()
    {
        ExperimentFixture.Completed(Root, "20250101-100000-aaaaaa");
        ExperimentFixture.Interrupted(Root, "20250102-100000-bbbbbb");
        // Made by the eval verb (eval --out DATA/experiments/cli-run): results.md, no manifest.
        Directory.CreateDirectory(Path.Combine(Root, "cli-run"));
        File.WriteAllText(Path.Combine(Root, "cli-run", "results.md"), "# Results: imdb\n\nMade by: `eval`\n");
        // A newer eval verb also leaves results.json: the page then knows seeds, budget and methods.
        Directory.CreateDirectory(Path.Combine(Root, "cli-json"));
        File.WriteAllText(Path.Combine(Root, "cli-json", "results.json"),
            """{"suite": "synthetic-reviews", "seeds": 3, "steps_budget": 120, "command": "eval --suite synthetic-reviews", "methods": {"sft": {}, "ppo": {}}}""");
        File.WriteAllText(Path.Combine(Root, "cli-json", "results.md"), "# Results: synthetic-reviews\n");
        Directory.CreateDirectory(Path.Combine(Root, "models-scratch")); // neither: not an experiment
        File.WriteAllText(Path.Combine(Root, "stray.txt"), "not a folder");

        using var service = Service();
        var list = service.List();
        Assert.Equal(new[] { "20250101-100000-aaaaaa", "20250102-100000-bbbbbb", "cli-json", "cli-run" }, list.Select(i => i.Id).Order(StringComparer.Ordinal));

        var done = service.Get("20250101-100000-aaaaaa")!;
        Assert.Equal(ExperimentStatus.Completed, done.Status);
        Assert.Equal((4, 4), (done.RunsDone, done.RunsTotal));
        Assert.Equal(new[] { "sft", "reinforce" }, done.Methods);

        var cut = service.Get("20250102-100000-bbbbbb")!;
        Assert.Equal(ExperimentStatus.Interrupted, cut.Status);
        Assert.Equal((1, 4), (cut.RunsDone, cut.RunsTotal)); // as the manifest recorded after each run
        Assert.Equal(new[] { "[1/4] sft seed 1", "[2/4] reinforce seed 1" }, service.Log(cut.Id));

        var cli = service.Get("cli-run")!;
        Assert.Equal((ExperimentStatus.Completed, "imdb"), (cli.Status, cli.Suite));
        var json = service.Get("cli-json")!;
        Assert.Equal((ExperimentStatus.Completed, "synthetic-reviews", 3, 120, 6, 6), (json.Status, json.Suite, json.Seeds, json.StepsBudget, json.RunsDone, json.RunsTotal));
        Assert.Equal(new[] { "sft", "ppo" }, json.Methods);
        Assert.Null(service.Get("models-scratch"));
        Assert.Null(service.Get("nope"));
    }

    [Fact]
    public void Only_plots_table_and_log_directly_inside_an_experiment_folder_are_served()
    {
        var dir = ExperimentFixture.Completed(Root, "20250101-100000-aaaaaa");
        File.WriteAllText(Path.Combine(_data, "secret.txt"), "secret");
        File.WriteAllText(Path.Combine(Root, "secret.txt"), "secret");
        File.WriteAllText(Path.Combine(dir, ".hidden.txt"), "secret");
        File.CreateSymbolicLink(Path.Combine(dir, "linked.txt"), Path.Combine(_data, "secret.txt"));
        Directory.CreateSymbolicLink(Path.Combine(Root, "linked-dir"), _data);
        using var service = Service();
        const string id = "20250101-100000-aaaaaa";

        Assert.Equal(Path.Combine(dir, "quality-diversity.png"), service.FilePath(id, "quality-diversity.png"));
        Assert.Equal(Path.Combine(dir, "results.md"), service.FilePath(id, "results.md"));
        foreach (var name in new[] { "../secret.txt", "..", "../../secret.txt", "/etc/passwd", "..\\secret.txt", "runs/sft-seed1/final-samples.txt",
                                     ".hidden.txt", "linked.txt", "experiment.json", "missing.png", "", " results.md", "results.md\0.png" })
            Assert.Null(service.FilePath(id, name));
        foreach (var badId in new[] { "..", ".", "../experiments/" + id, "/", "linked-dir", "", id + "/..", "%2e%2e" })
            Assert.Null(service.FilePath(badId, "secret.txt"));
        Assert.Null(service.Get("linked-dir")); // a linked folder is not listed either
    }
}

/// <summary>Real (tiny) suites: they train, so they run one at a time with the other hosted tests.</summary>
[Collection(HostedCollection.Name)]
public sealed class ExperimentServiceSuiteTests : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("rlgaf-exp-suite-").FullName;
    private RunStore? _store;
    private TrainingHost? _host;
    private string Root => Path.Combine(_data, "experiments");

    /// <summary>Every run of a suite on the tiny generator (the suite keeps its own method, seed and steps).</summary>
    private static Dictionary<string, string> Tiny => TinyModel.Overrides();

    public async Task InitializeAsync()
    {
        _store = new RunStore(_data);
        _host = new TrainingHost(_store, new RunNotifier(), new PathPolicy([_data, Path.GetDirectoryName(TinyModel.Path)!]),
            Options.Create(new WorkbenchOptions { DataRoot = _data, MaxConcurrentRuns = 1 }), NullLogger<TrainingHost>.Instance);
        await _host.StartAsync(default);
    }

    public async Task DisposeAsync()
    {
        if (_host is not null) { await _host.StopAsync(default); _host.Dispose(); }
        _store?.Dispose();
        TestApp.TryDelete(_data);
    }

    private static async Task<ExperimentInfo> Ended(ExperimentService service, string id)
    {
        await TestApp.WaitFor(() => service.Get(id)?.Status is not ExperimentStatus.Running, $"experiment {id} ends", 240);
        return service.Get(id)!;
    }

    [Fact]
    public async Task A_suite_waits_for_a_free_slot_runs_alone_persists_its_results_and_lets_queued_runs_start_after_it()
    {
        using var service = new ExperimentService(Root, new PathPolicy([_data]), _host, Tiny);
        var request = new ExperimentRequest { Seeds = 1, StepsBudget = 2, Methods = ["sft", "reinforce"] };

        // A training run holds the only slot: the suite is refused, naming the run.
        var blocker = _host!.Create(TinyModel.Settings(TrainingMethod.Reinforce, 5000), "long run");
        var refused = Assert.Throws<InvalidOperationException>(() => service.Start(request));
        Assert.Contains("long run", refused.Message);
        Assert.Contains("MaxConcurrentRuns", refused.Message);
        Assert.Empty(service.List());
        _host.Stop(blocker.Id);
        await TestApp.WaitFor(() => !_host.IsActive(blocker.Id), "the run releases its slot");

        var job = service.Start(request);
        Assert.Equal(2, job.RunsTotal);
        Assert.True(File.Exists(Path.Combine(Root, job.Id, ExperimentService.ManifestFile)));
        // One suite at a time, and a run created meanwhile waits for the suite's slot.
        Assert.Contains("one suite at a time", Assert.Throws<InvalidOperationException>(() => service.Start(request)).Message);
        var queued = _host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 2), "after the suite");
        Assert.False(_host.IsActive(queued.Id));
        Assert.Equal(RunStatus.Queued, _store!.Get(queued.Id)!.Status);
        Assert.Equal($"waits for a training slot: experiment {job.Id} holds it", _store.Get(queued.Id)!.Message);

        var ended = await Ended(service, job.Id);
        Assert.True(ended.Status == ExperimentStatus.Completed, $"{ended.Status}: {ended.Error}\n{string.Join('\n', service.Log(job.Id))}");
        Assert.Equal(2, ended.RunsDone);
        await TestApp.WaitFor(() => _store.Get(queued.Id)!.Status != RunStatus.Queued, "the queued run starts once the suite ends");

        // What a restart finds: the same experiment, complete, with its table, plots and the command that reruns it.
        using var restarted = new ExperimentService(Root, new PathPolicy([_data]));
        var found = Assert.Single(restarted.List());
        Assert.Equal((job.Id, ExperimentStatus.Completed, 2), (found.Id, found.Status, found.RunsTotal));
        var md = File.ReadAllText(found.ResultsPath);
        Assert.Contains("| reinforce |", md);
        Assert.Contains($"eval --suite synthetic-reviews --seeds 1 --steps-budget 2 --methods sft,reinforce --out {found.Folder}", md);
        Assert.NotNull(restarted.FilePath(job.Id, "quality-diversity.png"));
        using (var results = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(found.Folder, "results.json"))))
            Assert.Equal(new[] { "sft", "reinforce" }, results.RootElement.GetProperty("methods").EnumerateObject().Select(p => p.Name));
        Assert.Contains(restarted.Log(job.Id), l => l.StartsWith("[2/2] reinforce seed 1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_suite_cut_off_by_shutdown_is_listed_as_interrupted_after_a_restart()
    {
        var service = new ExperimentService(Root, new PathPolicy([_data]), _host, Tiny);
        var job = service.Start(new ExperimentRequest { Seeds = 1, StepsBudget = 5000, Methods = ["reinforce", "ppo"] });
        await TestApp.WaitFor(() => service.Log(job.Id).Count > 0, "the suite starts its first run");
        service.Dispose(); // what the host does on shutdown
        await TestApp.WaitFor(() => job.Status != ExperimentStatus.Running, "the suite stops");
        Assert.Equal(ExperimentStatus.Interrupted, job.Status);
        Assert.Null(_host!.WhyNoSlot("a check")); // the slot came back

        using var restarted = new ExperimentService(Root, new PathPolicy([_data]));
        var found = restarted.Get(job.Id)!;
        Assert.Equal(ExperimentStatus.Interrupted, found.Status);
        Assert.Equal((0, 2), (found.RunsDone, found.RunsTotal)); // the run it cut off is not counted as done
        Assert.False(File.Exists(found.ResultsPath));
        Assert.Contains("\"status\": \"running\"", File.ReadAllText(Path.Combine(found.Folder, ExperimentService.ManifestFile))); // no end was written
        Assert.Contains(restarted.Log(job.Id), l => l.StartsWith("[1/2] reinforce seed 1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_cancelled_suite_says_so_after_a_restart_and_a_failed_one_keeps_its_reason()
    {
        using (var service = new ExperimentService(Root, new PathPolicy([_data]), _host, Tiny))
        {
            var job = service.Start(new ExperimentRequest { Seeds = 1, StepsBudget = 5000, Methods = ["reinforce"] });
            await TestApp.WaitFor(() => service.Log(job.Id).Count > 0, "the suite starts its first run");
            service.Cancel(job.Id);
            var cancelled = await Ended(service, job.Id);
            Assert.Equal(ExperimentStatus.Cancelled, cancelled.Status);
            Assert.Throws<InvalidOperationException>(() => service.Cancel(job.Id));
        }
        using (var broken = new ExperimentService(Root, new PathPolicy([_data]), _host, new Dictionary<string, string>(Tiny) { ["generator"] = Path.Combine(_data, "no-such-model") }))
        {
            var job = broken.Start(new ExperimentRequest { Seeds = 1, StepsBudget = 1, Methods = ["sft"] });
            var failed = await Ended(broken, job.Id);
            Assert.Equal(ExperimentStatus.Failed, failed.Status);
            Assert.Contains("no-such-model", failed.Error);
        }
        Assert.Null(_host!.WhyNoSlot("a check")); // both suites gave their slot back

        using var restarted = new ExperimentService(Root, new PathPolicy([_data]));
        var list = restarted.List();
        Assert.Equal(new[] { ExperimentStatus.Failed, ExperimentStatus.Cancelled }, list.Select(i => i.Status));
        Assert.Contains("no-such-model", list[0].Error);
        Assert.All(list, i => Assert.False(File.Exists(i.ResultsPath)));
        restarted.Delete(list[1].Id);
        Assert.Single(restarted.List());
    }
}
