using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MudBlazor;
using MudBlazor.Services;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Components.Pages.Runs;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Components;

/// <summary>
/// A run that pretrains its SFT model for real: the run page shows the phase (step of steps, loss,
/// elapsed, time left, the loss curve) and the chart titles with their waiting state before any point;
/// the runs list shows the phase too; the table filters and tags from the page.
/// </summary>
[Collection(Infrastructure.HostedCollection.Name)]
public class PhaseProgressTests : IAsyncLifetime
{
    private readonly BunitContext _ctx = new();
    private readonly string _root = Directory.CreateTempSubdirectory("rlgaf-phase-").FullName;
    private RunStore _store = default!;
    private TrainingHost _host = default!;

    public async Task InitializeAsync()
    {
        _ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        _ctx.Services.AddMudServices();
        _store = new RunStore(_root);
        var notifier = new RunNotifier();
        var options = Options.Create(new WorkbenchOptions { DataRoot = _root });
        _host = new TrainingHost(_store, notifier, new PathPolicy([_root]), options, NullLogger<TrainingHost>.Instance);
        _ctx.Services.AddSingleton(_host);
        _ctx.Services.AddSingleton(notifier);
        _ctx.Services.AddSingleton(new RunViews());
        _ctx.Services.AddSingleton(new RunTable(_store));
        await _host.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _host.StopAsync(CancellationToken.None);
        await _ctx.DisposeAsync();
        _host.Dispose();
        _store.Dispose();
        Infrastructure.TestApp.TryDelete(_root);
    }

    [Fact]
    public async Task Pretraining_shows_its_progress_on_the_run_page_and_the_runs_list_and_charts_wait_with_their_titles()
    {
        // 100,000 pretraining steps: the phase lasts for as long as the test looks; it is stopped at the end.
        var run = _host.Create(new RunSettings { Generator = "pretrain", PretrainSteps = 100_000, Steps = 5, Device = "cpu" }, "pretrains");
        _ctx.Render<MudPopoverProvider>();
        var page = _ctx.Render<RunPage>(p => p.Add(x => x.Id, run.Id));

        // Before any point: every chart has its title and says it waits.
        var titles = page.FindAll(".chart-title").Select(t => t.TextContent.Trim()).ToList();
        Assert.Equal(RunViews.Groups.Where(g => g.Id != "gumbel").Select(g => g.Title), titles);
        Assert.Equal(titles.Count, page.FindAll(".chart-waiting").Count);
        Assert.All(page.FindAll(".chart-waiting"), w => Assert.Contains("waiting for the first point", w.TextContent));

        // The phase text moves: step N of 100000 with a loss, time elapsed and an estimate of the time left.
        int first = 0;
        page.WaitForAssertion(() =>
        {
            var text = page.Find("#phase-text").TextContent;
            var m = System.Text.RegularExpressions.Regex.Match(text, @"SFT pretraining: step (\d+) / 100000 \(\d+%\) · loss (\d+\.\d{3}) · .+ elapsed · about .+ left");
            Assert.True(m.Success, text);
            first = int.Parse(m.Groups[1].Value);
            Assert.True(first > 0, text);
        }, TimeSpan.FromSeconds(180));
        page.WaitForAssertion(() =>
        {
            var m = System.Text.RegularExpressions.Regex.Match(page.Find("#phase-text").TextContent, @"step (\d+) / 100000");
            Assert.True(int.Parse(m.Groups[1].Value) > first, "the step did not move");
            Assert.NotEmpty(page.FindAll("#phase-loss polyline")); // the loss curve has two points or more
        }, TimeSpan.FromSeconds(120));
        Assert.Contains("SFT pretraining", page.Find(".d-flex .mud-typography-body2").TextContent + page.Markup);
        Assert.Equal(titles.Count, page.FindAll(".chart-waiting").Count); // still no generator step: still waiting
        Assert.Contains("SFT pretraining runs first", page.Find(".chart-waiting").TextContent);

        // The runs list shows the phase, and the store holds it for a page opened later.
        var list = _ctx.Render<RunsPage>();
        list.WaitForAssertion(() => Assert.StartsWith("SFT pretraining ", list.Find(".run-phase").TextContent.Trim()), TimeSpan.FromSeconds(30));
        Assert.Equal(RunPhases.Pretraining, _store.Get(run.Id)!.Phase!.Name);

        // Tag it from the run page; the list's filter finds it by the tag and not by another.
        page.Find("#add-tag").Change("slow-start");
        page.Find("#add-tag-button").Click();
        Assert.Equal(["slow-start"], _store.Get(run.Id)!.Tags);
        list.Find("#runs-filter").Change("tag:slow-start status:pretraining");
        list.WaitForAssertion(() => Assert.Contains("pretrains", list.Find("#runs-table").TextContent));
        list.Find("#runs-filter").Change("tag:other");
        list.WaitForAssertion(() => Assert.NotEmpty(list.FindAll("#runs-none")));
        list.Find("#runs-filter").Change("gumbel_tau>");
        list.WaitForAssertion(() => Assert.Contains("'>' needs a value", list.Find("#filter-error").TextContent));

        _host.Stop(run.Id);
        await Infrastructure.TestApp.WaitFor(() => _store.Get(run.Id)?.Status == RunStatus.Stopped, "the run stops");
        Assert.Null(_store.Get(run.Id)!.Phase); // a stop ends the phase
        Assert.True(_store.Get(run.Id)!.PhaseCurves[RunPhases.Pretraining].Count >= 2);
    }
}
