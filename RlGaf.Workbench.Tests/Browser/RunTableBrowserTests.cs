using System.Text.RegularExpressions;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Tests.Infrastructure;
using static RlGaf.Workbench.Tests.Infrastructure.BrowserSession;

namespace RlGaf.Workbench.Tests.Browser;

/// <summary>Issue 14 in a real browser: the run table's filter, selection and tags, and "Fork here" on a run page.</summary>
[Collection(HostedCollection.Name)]
public class RunTableBrowserTests
{
    [SkippableFact]
    public async Task The_runs_table_filters_by_query_tags_a_selection_and_filters_by_a_clicked_tag()
    {
        SkipIfMissing();
        await using var app = await TestApp.StartAsync();
        // Stored runs (no training): two PPO and one REINFORCE, each with a final positive rate.
        string Add(TrainingMethod m, string name, double positive)
        {
            var r = app.Store.Create(new RunSettings { Method = m, Steps = 10 }, name);
            app.Store.AddMetrics(r.Id, 10, new Dictionary<string, double> { ["align/positive-rate"] = positive });
            app.Store.SetStatus(r.Id, RunStatus.Completed, null, 10);
            return r.Id;
        }
        var ppoA = Add(TrainingMethod.Ppo, "ppo alpha", 0.8);
        var ppoB = Add(TrainingMethod.Ppo, "ppo beta", 0.9);
        var rf = Add(TrainingMethod.Reinforce, "reinforce gamma", 0.7);

        await using var browser = await LaunchAsync();
        var page = await browser.OpenAsync(app, "/");
        await page.WaitForSelectorAsync($"#runs-table tr:has-text('{rf}')");
        Assert.Equal(3, await page.Locator("#runs-table tbody tr:has(.run-link)").CountAsync());

        // The documented query syntax, typed into the filter.
        await page.FillAsync("#runs-filter", "method:ppo");
        await page.PressAsync("#runs-filter", "Enter");
        await WaitUntil(async () => await page.Locator("#runs-table tbody tr:has(.run-link)").CountAsync() == 2, "only the two PPO runs listed");
        Assert.Equal(0, await page.Locator($"#runs-table tr:has-text('{rf}')").CountAsync());

        // Select both, tag them from the selection bar: the store has the tag, the table shows it.
        foreach (var id in new[] { ppoA, ppoB })
            await page.Locator($"#runs-table tr:has-text('{id}') .select-run input").ClickAsync();
        await page.WaitForSelectorAsync("#selected-count:has-text('2')");
        await page.FillAsync("#selection-tag", "keep");
        await page.Locator("#tag-selected").ClickAsync();
        await TestApp.WaitFor(() => app.Store.Get(ppoA)!.Tags.Contains("keep") && app.Store.Get(ppoB)!.Tags.Contains("keep"), "both selected runs tagged");
        Assert.DoesNotContain("keep", app.Store.Get(rf)!.Tags);

        // Clearing the filter lists all three again; clicking a tag chip filters by that tag.
        await page.FillAsync("#runs-filter", "");
        await page.PressAsync("#runs-filter", "Enter");
        await WaitUntil(async () => await page.Locator("#runs-table tbody tr:has(.run-link)").CountAsync() == 3, "all runs again");
        await page.Locator($"#runs-table tr:has-text('{ppoA}') .run-tag:has-text('keep')").ClickAsync();
        await WaitUntil(async () => (await page.InputValueAsync("#runs-filter")).Contains("tag:keep", StringComparison.Ordinal), "the filter set to the tag");
        await WaitUntil(async () => await page.Locator("#runs-table tbody tr:has(.run-link)").CountAsync() == 2, "the tagged runs only");
    }

    [SkippableFact]
    public async Task Fork_here_on_a_run_page_starts_a_child_from_the_checkpoint_with_the_changed_setting()
    {
        SkipIfMissing();
        await using var app = await TestApp.StartAsync();
        var parent = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 10) with { CheckpointEvery = 5 }, "parent").Id;
        await TestApp.WaitFor(() => app.Store.Get(parent)?.Status == RunStatus.Completed, "the parent completes", 300);

        await using var browser = await LaunchAsync();
        var page = await browser.OpenAsync(app, $"/runs/{parent}");
        await page.WaitForSelectorAsync("#fork-button");
        // The newest kept checkpoint is picked: the parent's last step, so the fork must be given more steps.
        await page.FillAsync("#fork-settings", "gen_lr=0.0003");
        await page.Locator("#fork-button").ClickAsync();
        await page.WaitForSelectorAsync(".mud-snackbar :text('steps: 10 must be above the fork step 10')");
        await page.FillAsync("#fork-settings", "gen_lr=0.0003, steps=14");
        await page.Locator("#fork-button").ClickAsync();
        await WaitUntil(() => Task.FromResult(Regex.IsMatch(page.Url, "/runs/[0-9]{8}-") && !page.Url.EndsWith(parent, StringComparison.Ordinal)), "the fork's page");
        var child = page.Url.Split('/').Last();
        await page.WaitForSelectorAsync("#forked-from");
        var forkedFrom = await page.InnerTextAsync("#forked-from");
        Assert.Contains("at step 10", forkedFrom);
        Assert.Contains("parent", forkedFrom);

        var record = app.Store.Get(child)!;
        Assert.Equal(parent, record.Parent);
        Assert.Equal(10, record.ForkStep);
        Assert.Equal(3e-4, RunSettings.FromJson(record.SettingsJson).GenLr);
        await TestApp.WaitFor(() => app.Store.Get(child)?.Status == RunStatus.Completed && app.Store.Get(child)!.Step == 14, "the fork trains on to step 14", 300);
        Assert.NotEqual(3e-4, RunSettings.FromJson(app.Store.Get(parent)!.SettingsJson).GenLr); // the parent keeps its own
    }
}
