using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MudBlazor;
using MudBlazor.Services;
using RlGaf.Workbench.Components.Pages.Experiments;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Tests.Infrastructure;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Components;

/// <summary>bUnit: the Experiments pages over experiment folders the test writes (nothing trains).</summary>
public sealed class ExperimentPagesTests : IAsyncLifetime
{
    private readonly BunitContext _ctx = new();
    private readonly string _data = Directory.CreateTempSubdirectory("rlgaf-bunit-exp-").FullName;
    private ExperimentService? _service;
    private string Root => Path.Combine(_data, "experiments");

    public Task InitializeAsync()
    {
        _ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        _ctx.Services.AddMudServices();
        _service = new ExperimentService(Root, new PathPolicy([_data]));
        _ctx.Services.AddSingleton(_service);
        _ctx.Services.AddSingleton(new PathPolicy([_data]));
        _ctx.Services.AddSingleton(Options.Create(new WorkbenchOptions { DataRoot = _data }));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _ctx.DisposeAsync();
        _service?.Dispose();
        TestApp.TryDelete(_data);
    }

    [Fact]
    public void An_invalid_field_shows_the_reason_under_that_field_and_nothing_starts()
    {
        _ctx.Render<MudPopoverProvider>();
        var cut = _ctx.Render<ExperimentsPage>();
        Assert.Contains("about 1 h", cut.Find("#estimate").TextContent); // the defaults are the full synthetic suite

        cut.Find("input#seeds").Change("0");
        var seeds = cut.Find("input#seeds").Closest(".mud-input-control")!;
        Assert.Contains("--seeds: 0 must be at least 1", seeds.TextContent);
        Assert.DoesNotContain("--seeds", cut.Find("input#steps-budget").Closest(".mud-input-control")!.TextContent);

        cut.Find("#start-experiment").Click();
        Assert.Contains("--seeds: 0 must be at least 1", cut.Find("input#seeds").Closest(".mud-input-control")!.TextContent);
        Assert.Empty(_service!.List());
        Assert.Null(cut.FindAll("#experiment-error").FirstOrDefault());

        // Fixing it clears the message; unticking every method names the methods instead.
        cut.Find("input#seeds").Change("2");
        Assert.DoesNotContain("--seeds", cut.Markup);
        foreach (var m in Engine.Experiments.SuiteOptions.DefaultMethods) cut.Find($"input#method-{m}").Change(false);
        Assert.Contains("--methods: give at least one method", cut.Find("#error-methods").TextContent);
        Assert.Contains("0 methods × 2 seeds", cut.Find("#estimate").TextContent);
    }

    [Fact]
    public void A_data_path_outside_the_data_roots_is_refused_next_to_the_data_field()
    {
        _ctx.Services.GetRequiredService<NavigationManager>().NavigateTo("/experiments?suite=imdb&seeds=1&methods=sft,ppo&data=/etc");
        _ctx.Render<MudPopoverProvider>();
        var cut = _ctx.Render<ExperimentsPage>();
        Assert.Contains("not measured for imdb", cut.Find("#estimate").TextContent);
        Assert.Contains("2 methods × 1 seeds", cut.Find("#estimate").TextContent);

        cut.Find("#start-experiment").Click();
        var data = cut.Find("input#data-path").Closest(".mud-input-control")!.TextContent;
        Assert.Contains("--data: '/etc' is outside the data roots", data);
        Assert.Empty(_service!.List());
    }

    [Fact]
    public void A_finished_experiment_shows_its_tables_and_its_plots_from_the_file_endpoint()
    {
        const string id = "20250101-100000-aaaaaa";
        var dir = ExperimentFixture.Completed(Root, id);
        var cut = _ctx.Render<ExperimentPage>(p => p.Add(x => x.Id, id));

        Assert.Equal("completed", cut.Find("#experiment-status").TextContent.Trim());
        var tables = cut.FindAll(".results-table table");
        Assert.True(tables.Count >= 3, $"{tables.Count} tables"); // per method, runs, MLE + temperature
        var perMethod = tables[0];
        Assert.Contains("oracle/nll", perMethod.QuerySelector("thead")!.TextContent);
        Assert.Equal(new[] { "sft", "reinforce" }, perMethod.QuerySelectorAll("tbody tr").Select(r => r.QuerySelector("td")!.TextContent.Trim()));
        Assert.Equal(4, tables[1].QuerySelectorAll("tbody tr").Length); // 2 methods x 2 seeds
        Assert.NotNull(cut.Find("#experiment-results code")); // `models/`, run directories: inline code, not raw backticks
        Assert.DoesNotContain("`", cut.Find("#experiment-results").TextContent);

        var images = cut.FindAll("img.results-plot").Select(i => i.GetAttribute("src")).ToList();
        Assert.Equal(ExperimentFixture.PlotFiles(dir).Select(f => $"/api/experiments/{id}/files/{f}").Order(StringComparer.Ordinal), images.Order(StringComparer.Ordinal));
        Assert.Contains($"/api/experiments/{id}/files/quality-diversity.png", images);
        Assert.Empty(cut.FindAll("#cancel-experiment"));
        Assert.Contains("suite=synthetic-reviews", cut.Find("#run-again").GetAttribute("href"));
    }

    [Fact]
    public void An_interrupted_experiment_says_so_and_shows_its_log_instead_of_a_table()
    {
        const string id = "20250102-100000-bbbbbb";
        ExperimentFixture.Interrupted(Root, id);
        var cut = _ctx.Render<ExperimentPage>(p => p.Add(x => x.Id, id));
        Assert.Equal("interrupted", cut.Find("#experiment-status").TextContent.Trim());
        var alert = cut.Find("#experiment-interrupted").TextContent;
        Assert.Contains("no results.md", alert);
        Assert.Contains("1 of 4 runs had finished", alert);
        Assert.Contains("[2/4] reinforce seed 1", cut.Find("#experiment-log").TextContent);
        Assert.Empty(cut.FindAll(".results-table"));
    }

    [Fact]
    public void Resume_continues_an_interrupted_suite_and_the_page_shows_its_table()
    {
        const string id = "20250102-100000-cccccc";
        ExperimentFixture.ResumableWithoutTraining(Root, id);
        ExperimentFixture.Interrupted(Root, "20250102-100000-dddddd"); // started before suites could resume: no button
        var old = _ctx.Render<ExperimentPage>(p => p.Add(x => x.Id, "20250102-100000-dddddd"));
        Assert.Empty(old.FindAll("#resume-experiment"));
        Assert.Contains("run it again", old.Find("#experiment-interrupted").TextContent);

        _ctx.Render<MudPopoverProvider>();
        var cut = _ctx.Render<ExperimentPage>(p => p.Add(x => x.Id, id));
        Assert.Contains("Resume keeps them", cut.Find("#experiment-interrupted").TextContent);
        cut.Find("#resume-experiment").Click();
        // Every run had finished: the resume keeps all four, writes the table and the page shows it.
        cut.WaitForAssertion(() => Assert.Equal("completed", cut.Find("#experiment-status").TextContent.Trim()), TimeSpan.FromSeconds(60));
        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll(".results-table")), TimeSpan.FromSeconds(10));
        Assert.Contains(_service!.Log(id), l => l.Contains("reinforce seed 2: finished in an earlier sitting, kept", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(Root, id, "results.json")));
        Assert.Empty(cut.FindAll("#resume-experiment"));
    }

    [Fact]
    public void The_list_shows_experiments_found_on_disk_with_their_state()
    {
        ExperimentFixture.Completed(Root, "20250101-100000-aaaaaa");
        ExperimentFixture.Interrupted(Root, "20250102-100000-bbbbbb");
        _ctx.Render<MudPopoverProvider>();
        var cut = _ctx.Render<ExperimentsPage>();
        var rows = cut.FindAll("#experiments-table tbody tr");
        Assert.Equal(2, rows.Count);
        var byId = rows.ToDictionary(r => r.QuerySelector(".experiment-link")!.TextContent.Trim(), r => r);
        Assert.Equal("completed", byId["20250101-100000-aaaaaa"].QuerySelector(".experiment-status")!.TextContent.Trim());
        Assert.Equal("interrupted", byId["20250102-100000-bbbbbb"].QuerySelector(".experiment-status")!.TextContent.Trim());
        Assert.Contains("1 / 4 runs", byId["20250102-100000-bbbbbb"].TextContent);
    }

    [Fact]
    public void An_unknown_experiment_is_reported_not_thrown()
    {
        var cut = _ctx.Render<ExperimentPage>(p => p.Add(x => x.Id, ".."));
        Assert.Contains("does not exist", cut.Find("#experiment-missing").TextContent);
    }
}
