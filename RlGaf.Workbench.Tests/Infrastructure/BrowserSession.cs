using Microsoft.Playwright;

namespace RlGaf.Workbench.Tests.Infrastructure;

/// <summary>
/// Debian's Chromium driven by Playwright (no "playwright install": that download cannot work here).
/// Tests call <see cref="SkipIfMissing"/> first, so without Chromium they report as skipped with the reason.
/// </summary>
public sealed class BrowserSession : IAsyncDisposable
{
    public static string ExecutablePath => Environment.GetEnvironmentVariable("RLGAF_CHROMIUM") ?? "/usr/bin/chromium";

    public static void SkipIfMissing() =>
        Skip.IfNot(File.Exists(ExecutablePath), $"Chromium not found at {ExecutablePath} (apt-get install chromium, or set RLGAF_CHROMIUM); browser tests skipped.");

    private readonly IPlaywright _playwright;
    public IBrowser Browser { get; }

    private BrowserSession(IPlaywright playwright, IBrowser browser) { _playwright = playwright; Browser = browser; }

    public static async Task<BrowserSession> LaunchAsync()
    {
        var pw = await Playwright.CreateAsync();
        var browser = await pw.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExecutablePath, Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        return new BrowserSession(pw, browser);
    }

    /// <summary>A new tab (its own cookie jar) on a page of the test app, opened as a user does the first time: with the token in the address.</summary>
    public Task<IPage> OpenAsync(TestApp app, string path) => OpenAsync(app.BaseAddress, path, app.Token);

    /// <summary>
    /// A new tab on <paramref name="path"/>; with a token it first goes to the address with ?access_token=,
    /// which the workbench answers with its cookie and a redirect to the same page without the token.
    /// </summary>
    public async Task<IPage> OpenAsync(Uri baseAddress, string path, string? token)
    {
        var page = await Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1600, Height = 1100 }, BaseURL = baseAddress.ToString() });
        page.SetDefaultTimeout(60_000);
        await page.GotoAsync(token is null ? path : path + (path.Contains('?') ? "&" : "?") + "access_token=" + Uri.EscapeDataString(token));
        await WaitInteractive(page);
        if (token is not null)
        {
            // Every browser test checks the first visit: the token left the address bar and page scripts cannot read the cookie.
            Assert.DoesNotContain("access_token", page.Url);
            Assert.DoesNotContain(token, await page.EvaluateAsync<string>("() => document.cookie"));
        }
        return page;
    }

    /// <summary>Blazor Server pages react to clicks only once their circuit is up.</summary>
    public static async Task WaitInteractive(IPage page) =>
        await page.WaitForFunctionAsync("() => document.querySelector('#interactive-marker[data-interactive=yes]') !== null",
            null, new PageWaitForFunctionOptions { Timeout = 60_000 });

    /// <summary>Points currently drawn by a Plotly chart (all traces).</summary>
    public static Task<int> PointCount(IPage page, string plotId) =>
        page.EvaluateAsync<int>($"() => {{ const el = document.getElementById('{plotId}'); return el && Array.isArray(el.data) ? el.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : -1; }}");

    public static Task<int> ShapeCount(IPage page, string plotId) =>
        page.EvaluateAsync<int>($"() => {{ const el = document.getElementById('{plotId}'); return el && el.layout && el.layout.shapes ? el.layout.shapes.length : 0; }}");

    public static async Task WaitUntil(Func<Task<bool>> condition, string what, int seconds = 90)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {seconds} s waiting for: {what}");
            await Task.Delay(150);
        }
    }

    /// <summary>Where screenshots go when RLGAF_SCREENSHOTS is set (the README's pictures).</summary>
    public static async Task MaybeScreenshot(IPage page, string name)
    {
        var dir = Environment.GetEnvironmentVariable("RLGAF_SCREENSHOTS");
        if (string.IsNullOrEmpty(dir)) return;
        Directory.CreateDirectory(dir);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(dir, name), FullPage = true });
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright.Dispose();
    }
}
