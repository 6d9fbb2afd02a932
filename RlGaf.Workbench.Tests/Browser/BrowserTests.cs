using System.Text.RegularExpressions;
using Microsoft.Playwright;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Tests.Infrastructure;
using static RlGaf.Workbench.Tests.Infrastructure.BrowserSession;

namespace RlGaf.Workbench.Tests.Browser;

/// <summary>The workbench in a real browser: Debian's Chromium through Playwright, against the app hosted in this process.</summary>
[Collection(HostedCollection.Name)]
public class BrowserTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Quickstart_from_the_new_run_page_streams_points_into_the_chart()
    {
        SkipIfMissing();
        await using var app = await TestApp.StartAsync(null, TinyModel.PresetOverrideArgs(steps: 3000));
        await using var browser = await LaunchAsync();
        var page = await browser.OpenAsync(app, "/runs/new");

        await Click(page, "#quickstart");
        // Blazor navigates in the page (no load event): watch the address.
        await WaitUntil(() => Task.FromResult(Regex.IsMatch(page.Url, "/runs/[0-9]{8}-")), "the new run's page");
        var id = page.Url.Split('/').Last();
        Assert.Equal(RunViews_Quickstart, app.Store.Get(id)!.Method);

        await WaitUntil(async () => await PointCount(page, "plot-disc") > 0, "first points in the discriminator chart");
        int before = await PointCount(page, "plot-disc");
        await WaitUntil(async () => await PointCount(page, "plot-disc") > before + 4, "more points arriving live");
        await WaitUntil(async () => await PointCount(page, "plot-reward") > 0, "points in the reward chart");
        app.Host.Stop(id);
    }

    /// <summary>
    /// A click dispatched to the element: a page whose charts extend several times a second never looks
    /// "stable" to Playwright's actionability checks. Blazor handles the event all the same.
    /// </summary>
    private static async Task Click(IPage page, string selector)
    {
        await page.WaitForSelectorAsync(selector + ":not([disabled])");
        await page.Locator(selector).First.DispatchEventAsync("click");
    }

    private const string RunViews_Quickstart = Services.RunViews.Quickstart;

    [SkippableFact]
    public async Task Changing_tau_mid_run_draws_an_event_line_then_pause_stops_the_points_and_resume_restarts_them()
    {
        SkipIfMissing();
        await using var app = await TestApp.StartAsync();
        var id = app.Host.Create(TinyModel.Settings(TrainingMethod.Gumbel, 5000), "gumbel live").Id;
        await using var browser = await LaunchAsync();
        var page = await browser.OpenAsync(app, $"/runs/{id}");
        await WaitUntil(async () => await PointCount(page, "plot-gumbel") > 0, "gumbel tau chart has points");

        await page.FillAsync("#live-gumbel_tau", "0.5");
        await Click(page, "#apply-changes");
        await WaitUntil(async () => await ShapeCount(page, "plot-disc") > 0, "event line on the charts");
        await page.WaitForSelectorAsync("#events-list :text('gumbel_tau')");
        await page.WaitForSelectorAsync(".mud-snackbar :text('gumbel_tau')");
        // The new value reaches the metrics (and so the tau chart).
        int changedAt = app.Store.GetEvents(id).First(e => e.Setting == "gumbel_tau").Step;
        await TestApp.WaitFor(() => app.Store.GetMetrics(id).Any(p => p.Step > changedAt && p.Values.GetValueOrDefault("gumbel/tau") == 0.5), "tau = 0.5 logged");
        await WaitUntil(async () => await page.EvaluateAsync<bool>("() => document.getElementById('plot-gumbel').data.some(t => t.y.includes(0.5))"), "tau 0.5 drawn");

        await Click(page, "#pause-button");
        await page.WaitForSelectorAsync("#run-status:has-text('paused')");
        await Task.Delay(500); // the last points of the step in flight
        int paused = await PointCount(page, "plot-disc");
        await Task.Delay(2000);
        Assert.Equal(paused, await PointCount(page, "plot-disc"));

        await Click(page, "#resume-button");
        await page.WaitForSelectorAsync("#run-status:has-text('running')");
        await WaitUntil(async () => await PointCount(page, "plot-disc") > paused + 4, "points again after resume");
        await MaybeScreenshot(page, "run.png");
        app.Host.Stop(id);
    }

    [SkippableFact]
    public async Task Two_runs_compare_side_by_side()
    {
        SkipIfMissing();
        await using var app = await TestApp.StartAsync();
        var a = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 6), "seed one").Id;
        var b = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 6) with { Seed = 2 }, "seed two").Id;
        await TestApp.WaitFor(() => app.Store.Get(b)?.Status == RunStatus.Completed && app.Store.Get(a)?.Status == RunStatus.Completed, "both runs complete");

        await using var browser = await LaunchAsync();
        var page = await browser.OpenAsync(app, $"/compare?runs={a},{b}");
        var diff = await page.InnerTextAsync("#settings-diff");
        Assert.Contains("seed", diff);
        Assert.DoesNotContain("method", diff);
        var header = await page.InnerTextAsync("#compare-samples thead");
        Assert.Contains("seed one", header);
        Assert.Contains("seed two", header);
        Assert.True(await page.Locator("#compare-samples tbody tr").CountAsync() >= 2);
        await WaitUntil(async () => await page.EvaluateAsync<int>("() => (document.getElementById('plot-compare').data || []).length") == 2, "two runs overlaid");
        await MaybeScreenshot(page, "compare.png");

        // A run page links to its checkpoints compared on the same prompts: the run's start against its newest.
        var runPage = await browser.OpenAsync(app, $"/runs/{a}");
        await runPage.Locator("#compare-checkpoints").ClickAsync();
        await WaitUntil(() => Task.FromResult(runPage.Url.Contains("/compare?checkpoints=", StringComparison.Ordinal)), "the compare page in checkpoint mode");
        await Click(runPage, "#compare-run");
        await WaitUntil(async () => await runPage.Locator("#compare-completions tbody tr").CountAsync() == 16, "16 prompts completed by both");
        var columns = await runPage.InnerTextAsync("#compare-completions thead");
        Assert.Contains("seed one · sft", columns);
        Assert.Contains("seed one · step 6", columns);
        Assert.Contains("judge seed one · step 6", await runPage.InnerTextAsync("#compare-caption"));
        await MaybeScreenshot(runPage, "compare-checkpoints.png");
    }

    [SkippableFact]
    public async Task After_a_restart_the_runs_are_listed_and_the_interrupted_one_resumes_from_the_runs_page()
    {
        SkipIfMissing();
        var root = TestApp.NewDataRoot();
        string id;
        await using (var first = await TestApp.StartAsync(root))
        {
            id = first.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 3000), "cut off").Id;
            await TestApp.WaitFor(() => first.Store.Get(id)?.Step >= 6, "run passes a checkpoint");
        }
        await using var app = await TestApp.StartAsync(root);
        Assert.Equal(RunStatus.Interrupted, app.Store.Get(id)!.Status);
        int step = app.Store.Get(id)!.Step;

        await using var browser = await LaunchAsync();
        var page = await browser.OpenAsync(app, "/");
        await page.WaitForSelectorAsync("#runs-table .run-status:has-text('interrupted')");
        await Click(page, "#runs-table .resume-run");
        await page.WaitForSelectorAsync("#runs-table .run-status:has-text('running')");
        await TestApp.WaitFor(() => app.Store.Get(id)!.Step > step + 3, "trains on from its checkpoint");
        Assert.Contains(app.Store.GetEvents(id), e => e.Kind == "resume");
        app.Host.Stop(id);
    }

    [SkippableFact]
    public async Task A_tiny_suite_launched_from_the_experiments_page_follows_live_then_shows_its_table_and_plots()
    {
        SkipIfMissing();
        // Every run of the suite on the tiny generator (the suite keeps its own method, seed and steps).
        await using var app = await TestApp.StartAsync(null, TinyModel.PresetOverrideArgs(steps: 2));
        await using var browser = await LaunchAsync();
        // The form filled through its query, as "Run again" does; 1 seed x 2 methods x 2 updates.
        var page = await browser.OpenAsync(app, "/experiments?seeds=1&steps=2&methods=sft,reinforce");
        Assert.Contains("2 methods × 1 seeds", await page.InnerTextAsync("#estimate"));

        await Click(page, "#start-experiment");
        await WaitUntil(() => Task.FromResult(Regex.IsMatch(page.Url, "/experiments/[0-9]{8}-")), "the experiment's page");
        Assert.Equal("running", (await page.InnerTextAsync("#experiment-status")).Trim());
        // No reload from here: the page follows the suite through ExperimentService.Changed.
        await page.WaitForSelectorAsync("#experiment-status:has-text('completed')", new() { Timeout = 180_000 });
        Assert.True(await page.Locator(".results-table table").CountAsync() >= 3);
        Assert.Contains("reinforce", await page.InnerTextAsync(".results-table table"));
        var plots = page.Locator("img.results-plot");
        Assert.True(await plots.CountAsync() >= 4);
        // Every plot was served by the file endpoint and decoded as an image.
        await WaitUntil(async () => await page.EvaluateAsync<bool>("() => [...document.querySelectorAll('img.results-plot')].every(i => i.complete && i.naturalWidth > 0)"), "plots load");
        var id = page.Url.Split('/').Last();

        // The list shows it too, from its folder on disk.
        await page.GotoAsync("/experiments");
        await WaitInteractive(page);
        await page.WaitForSelectorAsync($"#experiments-table tr:has-text('{id}') .experiment-status:has-text('completed')");
        Assert.Contains("2 / 2 runs", await page.InnerTextAsync($"#experiments-table tr:has-text('{id}')"));
        await MaybeScreenshot(page, "experiments.png");
    }

    [SkippableFact]
    public async Task A_published_metric_reaches_the_open_charts_of_two_tabs_at_once()
    {
        SkipIfMissing();
        await using var app = await TestApp.StartAsync();
        var id = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 2), "finished").Id;
        await TestApp.WaitFor(() => app.Store.Get(id)?.Status == RunStatus.Completed, "run completes");
        await using var browser = await LaunchAsync();
        var tabs = new[] { await browser.OpenAsync(app, $"/runs/{id}"), await browser.OpenAsync(app, $"/runs/{id}") };
        foreach (var tab in tabs) await WaitUntil(async () => await PointCount(tab, "plot-disc") > 0, "history drawn");
        await Task.Delay(500); // both circuits subscribed
        var before = new List<int>();
        foreach (var tab in tabs) before.Add(await PointCount(tab, "plot-disc"));

        // Each tab records in the browser when its chart grew, so polling does not add to the measurement.
        foreach (var tab in tabs)
            await tab.EvaluateAsync(@"() => { const el = document.getElementById('plot-disc'); const n0 = el.data.reduce((n, t) => n + t.x.length, 0);
                window.__grewAt = null; const poll = () => { const n = el.data.reduce((n, t) => n + t.x.length, 0);
                if (n > n0) { window.__grewAt = Date.now(); } else { requestAnimationFrame(poll); } }; poll(); }");
        double sentAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        app.Notifier.Publish(new RlGaf.Workbench.Training.MetricsUpdate(id, 3, new Dictionary<string, double> { ["disc/loss"] = 0.5, ["disc/acc"] = double.NaN }));
        foreach (var tab in tabs)
        {
            await WaitUntil(async () => await tab.EvaluateAsync<bool>("() => window.__grewAt !== null"), "the new point in each tab", 10);
            double latency = await tab.EvaluateAsync<double>("() => window.__grewAt") - sentAt;
            output.WriteLine($"publish -> chart: {latency} ms (load average {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?")})");
            // The 250 ms target is a figure for an idle machine (reported here and by the load test), not an assertion
            // that a busy CI machine would fail; this bound catches a point stuck behind a queue (seconds).
            Assert.True(latency < 3000, $"metric took {latency} ms to reach the chart");
        }
    }
}
