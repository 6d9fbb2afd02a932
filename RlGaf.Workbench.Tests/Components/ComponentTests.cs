using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MudBlazor;
using MudBlazor.Services;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Components.Pages.Runs;
using RlGaf.Workbench.Components.Shared;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Components;

/// <summary>bUnit: components rendered without a browser (MudBlazor's JS in loose mode).</summary>
public class ComponentTests : IAsyncLifetime
{
    private readonly BunitContext _ctx = new();
    private readonly string _root = Directory.CreateTempSubdirectory("rlgaf-bunit-").FullName;
    private RunStore? _store;

    public Task InitializeAsync()
    {
        _ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        _ctx.Services.AddMudServices();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _ctx.DisposeAsync();
        _store?.Dispose();
        RlGaf.Workbench.Tests.Infrastructure.TestApp.TryDelete(_root);
    }

    private static SampleView S(int step, int i, string completion) => new(step, i, "The", completion, 0.5, 0.1, null);

    [Fact]
    public void Samples_table_shows_the_newest_step_and_highlights_repeated_completions()
    {
        var cut = _ctx.Render<SamplesTable>(p => p.Add(x => x.Samples, new List<SampleView>
        {
            S(0, 0, " a fine film."), S(0, 1, " dull."),
            S(10, 0, " great fun."), S(10, 1, " great fun."), S(10, 2, " bad."),
        }));
        Assert.Equal("10", cut.Find("#samples-step").TextContent);
        var rows = cut.FindAll("tbody tr");
        Assert.Equal(3, rows.Count);
        Assert.Equal(2, cut.FindAll("tbody tr.repeated").Count);
        Assert.Contains("great fun.", cut.FindAll("tbody tr.repeated")[0].TextContent);
    }

    [Fact]
    public void Samples_table_says_when_there_are_none()
    {
        var cut = _ctx.Render<SamplesTable>();
        Assert.Contains("No samples yet", cut.Markup);
    }

    private TrainingHost AddHost()
    {
        _store = new RunStore(_root);
        var options = Options.Create(new WorkbenchOptions { DataRoot = _root });
        var host = new TrainingHost(_store, new RunNotifier(), new PathPolicy([_root]), options, NullLogger<TrainingHost>.Instance);
        _ctx.Services.AddSingleton(host);
        _ctx.Services.AddSingleton(new RunViews());
        _ctx.Services.AddSingleton(new RunTable(_store));
        _ctx.Services.AddSingleton(new PathPolicy([_root]));
        _ctx.Services.AddSingleton(new DatasetCatalog(new PathPolicy([_root])));
        _ctx.Services.AddSingleton(new ModelLibrary(options));
        return host; // not started: created runs stay queued
    }

    [Fact]
    public void New_run_page_offers_the_datasets_found_under_the_data_roots_and_loads_their_preset()
    {
        var host = AddHost();
        var imdb = Path.Combine(_root, "corpora", "aclImdb");
        foreach (var split in new[] { "train", "test" })
            foreach (var label in new[] { "pos", "neg" })
            {
                Directory.CreateDirectory(Path.Combine(imdb, split, label));
                File.WriteAllText(Path.Combine(imdb, split, label, "0_8.txt"), "A film.");
            }
        _ctx.Render<MudPopoverProvider>();
        var cut = _ctx.Render<NewRunPage>();
        Assert.Empty(cut.FindAll("#dataset-path")); // built in: no path to give

        cut.FindComponent<MudSelect<DatasetKind>>().InvokeAsync(() => cut.FindComponent<MudSelect<DatasetKind>>().Instance.ValueChanged.InvokeAsync(DatasetKind.Imdb));
        // The only aclImdb folder under the root is preselected, and the IMDB preset of the method is offered.
        Assert.Equal(imdb, cut.Find("#dataset-path").GetAttribute("value"));
        Assert.Contains("found under the data roots (1)", cut.Markup);
        cut.Find("#apply-data-preset").Click();
        cut.Find("#start-run").Click();
        var run = Assert.Single(host.Store.List());
        var settings = RunSettings.FromJson(run.SettingsJson);
        Assert.Equal("imdb:" + imdb, settings.Dataset);
        Assert.Equal(DataPresets.Imdb(TrainingMethod.Reinforce, imdb).ToJson(), settings.ToJson());
        Assert.Equal("imdb-reinforce", run.Name);
    }

    [Fact]
    public void New_run_page_names_a_dataset_path_outside_the_data_roots_or_missing()
    {
        var host = AddHost();
        _ctx.Render<MudPopoverProvider>();
        var cut = _ctx.Render<NewRunPage>();
        var select = cut.FindComponent<MudSelect<DatasetKind>>();
        cut.InvokeAsync(() => select.Instance.ValueChanged.InvokeAsync(DatasetKind.Squad));
        cut.Find("#dataset-path").Change("/etc/passwd");
        Assert.Contains("outside the data roots", cut.Markup);
        cut.Find("#dataset-path").Change(Path.Combine(_root, "missing.json"));
        Assert.Contains("does not exist", cut.Markup);
        cut.Find("#start-run").Click();
        Assert.Contains("dataset:", cut.Find("#form-error").TextContent);
        Assert.Empty(host.Store.List());
    }

    [Fact]
    public void New_run_page_lists_presets_first_and_hides_other_methods_settings()
    {
        AddHost();
        _ctx.Render<MudPopoverProvider>();
        var cut = _ctx.Render<NewRunPage>();
        Assert.NotNull(cut.Find("#quickstart"));
        foreach (var name in Presets.All.Keys.Where(n => n != RunViews.Quickstart)) Assert.NotNull(cut.Find($"#start-{name}"));
        // Defaults are reinforce: no Gumbel or PPO settings; help and defaults shown.
        Assert.Empty(cut.FindAll("#setting-gumbel_tau"));
        Assert.Empty(cut.FindAll("#setting-ppo_epochs"));
        Assert.Contains("(default 0.0001)", cut.Markup);

        cut.Find("#customize-gumbel").Click();
        Assert.NotEmpty(cut.FindAll("#setting-gumbel_tau"));
        // Gumbel reads kl_coef (its KL anchor), so the form shows it; PPO's epochs it never reads.
        Assert.NotEmpty(cut.FindAll("#setting-kl_coef"));
        Assert.Empty(cut.FindAll("#setting-ppo_epochs"));
    }

    [Fact]
    public void New_run_page_refuses_invalid_settings_before_starting()
    {
        var host = AddHost();
        _ctx.Render<MudPopoverProvider>();
        var cut = _ctx.Render<NewRunPage>();
        cut.Find("#setting-steps").Change("0");
        cut.Find("#start-run").Click();
        Assert.Contains("steps: 0 must be in [1, 1000000]", cut.Find("#form-error").TextContent);
        Assert.Empty(host.Store.List());
    }

    [Fact]
    public void One_click_starts_the_quickstart_and_opens_its_page()
    {
        var host = AddHost();
        _ctx.Render<MudPopoverProvider>();
        var cut = _ctx.Render<NewRunPage>();
        cut.Find("#quickstart").Click();
        var run = Assert.Single(host.Store.List());
        Assert.Equal(RunStatus.Queued, run.Status);
        Assert.Equal(RunViews.Quickstart, run.Method);
        Assert.EndsWith($"/runs/{run.Id}", _ctx.Services.GetRequiredService<NavigationManager>().Uri);
    }

    /// <summary>A run trained to step 4 (checkpoints at 0 and 4) in the store, and the comparer over it.</summary>
    private RunRecord AddTrainedRun(bool train = true)
    {
        var host = AddHost();
        var options = Options.Create(new WorkbenchOptions { DataRoot = _root });
        var settings = RlGaf.Workbench.Tests.Infrastructure.TinyModel.Settings(TrainingMethod.Reinforce, 4);
        var record = host.Store.Create(settings, "tiny");
        if (train)
            using (var run = AdversarialRun.Create(record.RunDir, settings, host.Store.ModelsRoot)) run.Execute();
        _ctx.Services.AddSingleton(new CheckpointComparer(host.Store, new ModelLibrary(options), new PathPolicy([_root]), options));
        return record;
    }

    [Fact]
    public void Compare_page_in_checkpoint_mode_completes_the_same_prompts_with_each_source()
    {
        var run = AddTrainedRun();
        _ctx.Render<MudPopoverProvider>();
        _ctx.Services.GetRequiredService<NavigationManager>().NavigateTo($"/compare?checkpoints={run.Id}@sft,{run.Id}@4&prompts=6");
        var cut = _ctx.Render<ComparePage>();
        Assert.Empty(cut.FindAll("#compare-runs"));
        Assert.Empty(cut.FindAll("#compare-completions"));

        cut.Find("#compare-run").Click();
        cut.WaitForAssertion(() => Assert.Equal(6, cut.FindAll("#compare-completions tbody tr").Count), TimeSpan.FromSeconds(90));
        var header = cut.Find("#compare-completions thead").TextContent;
        Assert.Contains("tiny · sft", header);
        Assert.Contains("tiny · step 4", header);
        // No judge picked: the first picked checkpoint with a discriminator judges.
        Assert.Contains("judge tiny · step 4", cut.Find("#compare-caption").TextContent);
        foreach (var row in cut.FindAll("#compare-completions tbody tr"))
        {
            var cells = row.QuerySelectorAll("td").Skip(2).ToList();
            Assert.Equal(2, cells.Count);
            Assert.All(cells, c => Assert.Matches(@"disc \d\.\d\d · (valid|not in grammar|unfinished)", c.TextContent));
            // Highlighted exactly where both sources completed the prompt the same way.
            bool same = cells[0].ChildNodes[0].TextContent.Trim() == cells[1].ChildNodes[0].TextContent.Trim();
            Assert.All(cells, c => Assert.Equal(same, c.ClassList.Contains("identical")));
        }
        Assert.Contains("align/positive-rate", cut.Find("#compare-summary").TextContent);
        Assert.Empty(cut.FindAll("#compare-error"));
        Assert.False(cut.Find("#compare-run").HasAttribute("disabled"));

        // A look at the runs mode and back keeps the comparison (it is hidden, not thrown away).
        cut.Find("#mode-runs").Click();
        Assert.Contains("display:none", cut.Find("#checkpoint-mode").GetAttribute("style"));
        Assert.NotEmpty(cut.FindAll("#compare-runs"));
        cut.Find("#mode-checkpoints").Click();
        Assert.Equal(6, cut.FindAll("#compare-completions tbody tr").Count);
    }

    [Fact]
    public void Compare_page_names_the_source_a_comparison_refuses()
    {
        var run = AddTrainedRun(train: false);
        _ctx.Render<MudPopoverProvider>();
        _ctx.Services.GetRequiredService<NavigationManager>().NavigateTo($"/compare?checkpoints={run.Id}@sft,{run.Id}@3");
        var cut = _ctx.Render<ComparePage>();
        cut.Find("#compare-run").Click();
        cut.WaitForAssertion(() => Assert.StartsWith("tiny · sft: model directory", cut.Find("#compare-error").TextContent.Trim()), TimeSpan.FromSeconds(30));
        Assert.Empty(cut.FindAll("#compare-completions"));
        Assert.False(cut.Find("#compare-run").HasAttribute("disabled")); // ready for another try
    }

    [Fact]
    public void Runs_page_deletes_a_run_only_after_confirmation()
    {
        var host = AddHost();
        _ctx.Services.AddSingleton(new RunNotifier());
        var run = host.Create(new RunSettings { Steps = 5 }, "doomed");
        var dialogs = _ctx.Render<MudDialogProvider>();
        var cut = _ctx.Render<RunsPage>();
        cut.WaitForAssertion(() => Assert.Contains("doomed", cut.Find("#runs-table").TextContent));
        Assert.Contains("queued", cut.Find(".run-status").TextContent);

        // Click without awaiting: the handler waits on the dialog until it is answered.
        cut.Find("button[title=Delete]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("cannot be undone", dialogs.Markup));
        Assert.NotNull(host.Store.Get(run.Id)); // nothing happens before the answer
        dialogs.FindAll("button").First(b => b.TextContent.Trim() == "Delete").Click();
        cut.WaitForAssertion(() => Assert.Null(host.Store.Get(run.Id)));
    }

    [Fact]
    public void Run_page_forks_from_a_kept_checkpoint_and_the_fork_links_to_its_parent()
    {
        var host = AddHost();
        _ctx.Services.AddSingleton(new RunNotifier());
        _ctx.Render<MudPopoverProvider>();
        var settings = new RunSettings { Steps = 6 };
        var parent = host.Create(settings, "the parent");
        RlGaf.Workbench.Tests.Infrastructure.FakeCheckpoints.Write(parent.RunDir, settings, 2, 4);
        for (int step = 0; step <= 4; step++) host.Store.AddMetrics(parent.Id, step, new Dictionary<string, double> { ["disc/loss"] = 1.0 / (step + 1) });
        host.Store.AddSamples(parent.Id, [new Engine.Adversarial.SampleRecord(4, 0, "The", " fine.", 0.5, 0.1, null)]);

        var cut = _ctx.Render<RunPage>(p => p.Add(x => x.Id, parent.Id));
        Assert.Empty(cut.FindAll("#forked-from"));
        Assert.NotNull(cut.Find("#samples-fork")); // the samples' step 4 has a kept checkpoint
        Assert.Equal("/api/runs/" + parent.Id + "/tensorboard", cut.Find("#tensorboard-export").GetAttribute("href"));
        cut.Find("#fork-settings").Input("gen_lr=0.0003");
        cut.Find("#fork-button").Click();
        var fork = Assert.Single(host.Store.List(), r => r.Id != parent.Id);
        Assert.Equal(parent.Id, fork.Parent);
        Assert.Equal(4, fork.ForkStep); // the newest kept checkpoint unless another is picked
        Assert.Equal(0.0003, RunSettings.FromJson(fork.SettingsJson).GenLr);
        Assert.EndsWith($"/runs/{fork.Id}", _ctx.Services.GetRequiredService<NavigationManager>().Uri);

        // A refused fork says why and creates nothing.
        cut.Find("#fork-settings").Input("generator=elsewhere");
        cut.Find("#fork-button").Click();
        Assert.Equal(2, host.Store.List().Count);

        var page = _ctx.Render<RunPage>(p => p.Add(x => x.Id, fork.Id));
        var link = page.Find("#forked-from");
        Assert.Contains("forked from the parent at step 4", link.TextContent);
        Assert.Equal($"/runs/{parent.Id}", link.QuerySelector("a")!.GetAttribute("href"));
    }
}
