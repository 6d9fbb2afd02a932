using Microsoft.Playwright;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Browser;

/// <summary>
/// Not a test: takes the README's screenshots from a running workbench. Set RLGAF_SCREENSHOT_URL
/// (the address the workbench printed, e.g. http://127.0.0.1:5180/?access_token=...; or the bare address
/// with the token in RLGAF_SCREENSHOT_TOKEN), RLGAF_SCREENSHOT_RUN (a run id), RLGAF_SCREENSHOT_COMPARE
/// (comma-separated ids), RLGAF_SCREENSHOT_CHECKPOINTS (compare keys, e.g. ID@sft,ID@200),
/// RLGAF_SCREENSHOT_EXPERIMENT (an experiment id) and RLGAF_SCREENSHOTS (output folder), then run this one "test".
/// </summary>
public class ScreenshotTool
{
    [SkippableFact]
    public async Task Take_screenshots_of_a_running_workbench()
    {
        var url = Environment.GetEnvironmentVariable("RLGAF_SCREENSHOT_URL");
        Skip.If(string.IsNullOrEmpty(url), "screenshot tool: set RLGAF_SCREENSHOT_URL to take screenshots of a running workbench.");
        BrowserSession.SkipIfMissing();
        var printed = new Uri(url!);
        var token = Environment.GetEnvironmentVariable("RLGAF_SCREENSHOT_TOKEN") is { Length: > 0 } t ? t
            : System.Web.HttpUtility.ParseQueryString(printed.Query)[RlGaf.Workbench.Security.AccessToken.QueryName];
        var origin = new Uri(printed.GetLeftPart(UriPartial.Authority));
        var outDir = Environment.GetEnvironmentVariable("RLGAF_SCREENSHOTS") ?? "docs/screenshots";
        Directory.CreateDirectory(outDir);
        await using var browser = await BrowserSession.LaunchAsync();
        foreach (var (path, file) in new[] { ("/", "runs.png"), ("/runs/new", "new-run.png") })
        {
            if (Environment.GetEnvironmentVariable("RLGAF_SCREENSHOT_ALL") != "1") break;
            var page = await browser.OpenAsync(origin, path, token);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(outDir, file), FullPage = true });
        }
        if (Environment.GetEnvironmentVariable("RLGAF_SCREENSHOT_RUN") is { Length: > 0 } run)
        {
            var page = await browser.OpenAsync(origin, $"/runs/{run}", token);
            await BrowserSession.WaitUntil(async () => await BrowserSession.PointCount(page, "plot-disc") > 0, "charts drawn");
            await Task.Delay(1500);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(outDir, "run.png"), FullPage = true });
        }
        if (Environment.GetEnvironmentVariable("RLGAF_SCREENSHOT_COMPARE") is { Length: > 0 } ids)
        {
            var page = await browser.OpenAsync(origin, $"/compare?runs={ids}", token);
            await Task.Delay(1500);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(outDir, "compare.png"), FullPage = true });
        }
        if (Environment.GetEnvironmentVariable("RLGAF_SCREENSHOT_CHECKPOINTS") is { Length: > 0 } keys)
        {
            var page = await browser.OpenAsync(origin, $"/compare?checkpoints={Uri.EscapeDataString(keys)}&prompts=12", token);
            await page.ClickAsync("#compare-run");
            await page.WaitForSelectorAsync("#compare-completions", new PageWaitForSelectorOptions { Timeout = 300_000 });
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(outDir, "compare-checkpoints.png"), FullPage = true });
        }
        if (Environment.GetEnvironmentVariable("RLGAF_SCREENSHOT_EXPERIMENT") is { Length: > 0 } experiment)
        {
            var page = await browser.OpenAsync(origin, $"/experiments/{experiment}", token);
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await Task.Delay(1500);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(outDir, "experiments.png"), FullPage = true });
        }
    }
}
