using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using RlGaf.Workbench.Security;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Infrastructure;

/// <summary>
/// The workbench hosted in the test process on Kestrel at a free loopback port, over its own data
/// root (a temp folder unless given, so a test can "restart" the app on the same data). It requires an
/// access token as the real one does (a fresh random one, <see cref="Token"/>, unless the test sets
/// RlGaf:AccessToken itself); <see cref="Client"/> and the browser session send it.
/// </summary>
public sealed class TestApp : IAsyncDisposable
{
    public WebApplication App { get; }
    public string DataRoot { get; }
    public Uri BaseAddress { get; }
    public TrainingHost Host => App.Services.GetRequiredService<TrainingHost>();
    public RunStore Store => App.Services.GetRequiredService<RunStore>();
    public RunNotifier Notifier => App.Services.GetRequiredService<RunNotifier>();
    /// <summary>The token the app requires; null when a test opted out ("RlGaf:AccessToken=").</summary>
    public string? Token { get; }

    private TestApp(WebApplication app, string dataRoot, Uri baseAddress, string? token) { App = app; DataRoot = dataRoot; BaseAddress = baseAddress; Token = token; }

    /// <summary>A fresh data root; a caller that makes one (to restart on it) deletes it itself.</summary>
    public static string NewDataRoot() => Directory.CreateTempSubdirectory("rlgaf-wb-test-").FullName;

    /// <summary>Whether this app made its data root (and so removes it when disposed).</summary>
    private bool _ownsRoot;

    /// <param name="extra">More configuration as "key=value" (e.g. "RlGaf:AccessToken=a-token-of-16-chars+", or "RlGaf:AccessToken=" for none).</param>
    public static async Task<TestApp> StartAsync(string? dataRoot = null, params string[] extra)
    {
        bool owns = dataRoot is null;
        dataRoot ??= NewDataRoot();
        var args = Args(dataRoot, extra);
        var app = WorkbenchHost.Build(args);
        await app.StartAsync();
        var address = app.Urls.First();
        return new TestApp(app, dataRoot, new Uri(address), TokenOf(args)) { _ownsRoot = owns };
    }

    /// <summary>The token that arguments from <see cref="Args"/> configure (the last value wins); null for the opt-out.</summary>
    public static string? TokenOf(IEnumerable<string> args) =>
        args.LastOrDefault(a => a.StartsWith("--" + AccessToken.ConfigKey + "=", StringComparison.Ordinal)) is { } t
        && t[(AccessToken.ConfigKey.Length + 3)..] is { Length: > 0 } v ? v : null;

    /// <summary>The workbench's arguments for <paramref name="dataRoot"/>, in this process or a child one (<see cref="ChildProcess"/>).</summary>
    public static string[] Args(string dataRoot, params string[] extra)
    {
        var args = new List<string>
        {
            $"--RlGaf:DataRoot={dataRoot}", "--urls=http://127.0.0.1:0", "--environment=Development",
            "--Logging:LogLevel:Default=Warning",
            // The tiny generator lives outside the data root: allow both.
            $"--RlGaf:DataRoots:0={dataRoot}", $"--RlGaf:DataRoots:1={Path.GetDirectoryName(TinyModel.Path)}",
        };
        // A fresh token for each app; a later value wins, so a test's own RlGaf:AccessToken replaces it.
        args.Add($"--{AccessToken.ConfigKey}={AccessToken.Generate()}");
        args.AddRange(extra.Select(e => "--" + e));
        return [.. args];
    }

    /// <summary>A client that sends the app's token ("Authorization: Bearer"), as scripts and the command line do.</summary>
    public HttpClient Client()
    {
        var http = new HttpClient { BaseAddress = BaseAddress };
        if (Token is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return http;
    }

    /// <summary>The address of a page with the token in it, as the workbench prints it at start (a browser's first visit).</summary>
    public Uri PageWithToken(string path)
    {
        var uri = new Uri(BaseAddress, path);
        if (Token is null) return uri;
        var sep = string.IsNullOrEmpty(uri.Query) ? "?" : "&";
        return new Uri(uri + sep + AccessToken.QueryName + "=" + Uri.EscapeDataString(Token));
    }

    /// <summary>Polls until <paramref name="condition"/> holds (training runs on its own thread).</summary>
    public static async Task WaitFor(Func<bool> condition, string what, int seconds = 120)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {seconds} s waiting for: {what}");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        if (_ownsRoot) TryDelete(DataRoot);
    }

    /// <summary>Best effort: a paused run's thread may still hold a file.</summary>
    public static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Tests that host the app and train share the two cores: one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HostedCollection
{
    public const string Name = "hosted";
}
