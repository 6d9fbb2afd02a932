using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Tests.Cli;

/// <summary>
/// The command line handing off to a workbench that is gone or never answers: one clear line and a
/// non-zero exit, never a stack trace. Each test runs the real executable as a child process.
/// </summary>
[Collection("cli")]
public sealed class UnreachableWorkbenchTests : IDisposable
{
    private static readonly string Exe = Path.Combine(AppContext.BaseDirectory, "RlGaf.Workbench.dll");
    private readonly string _data = Directory.CreateTempSubdirectory("rlgaf-cli-gone-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_data, true); } catch (IOException) { }
    }

    private static (int Code, string Out, string Err, TimeSpan Took) Run(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Exe);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2))) { p.Kill(); Assert.Fail("command hung: " + string.Join(' ', args)); }
        return (p.ExitCode, stdout.Result, stderr.Result, clock.Elapsed);
    }

    /// <summary>
    /// A claim as a live workbench leaves it: this test process's id (alive, not the child's) and <paramref name="url"/>,
    /// with the data root's lock held as the workbench until disposed (a claim counts only while its process holds it).
    /// </summary>
    private RunStore Claim(string url)
    {
        var store = new RunStore(_data, StoreLock.Acquire(_data, StoreHolder.Workbench));
        store.ClaimForWorkbench(url);
        return store;
    }

    private static void AssertOneClearLine(string err, string verb)
    {
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected one line, got:\n" + err);
        Assert.StartsWith($"error: {verb}: ", lines[0]);
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("Exception", err);
    }

    [Fact]
    public void A_workbench_that_is_gone_is_one_line_and_exit_2()
    {
        // A port nobody listens on: bind one, note it, let it go.
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        using var claim = Claim($"http://127.0.0.1:{port}");

        var (code, _, err, _) = Run(new Dictionary<string, string>(), "runs", "--data-root", _data);
        Assert.Equal(2, code);
        AssertOneClearLine(err, "runs");
        Assert.Contains($"could not reach the workbench at http://127.0.0.1:{port}", err);
        Assert.Contains("connection refused", err);
    }

    [Fact]
    public async Task A_workbench_that_never_answers_times_out_with_one_line()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60)); // bounded whatever happens
        var held = new List<TcpClient>();
        var silent = Task.Run(async () =>
        {
            try
            {
                // Accept and say nothing: a hung workbench.
                while (!stop.IsCancellationRequested) held.Add(await listener.AcceptTcpClientAsync(stop.Token));
            }
            catch (OperationCanceledException) { }
        });
        using var claim = Claim($"http://127.0.0.1:{port}");

        var (code, _, err, took) = Run(new Dictionary<string, string> { ["RlGaf__CliTimeoutSeconds"] = "1" }, "runs", "--data-root", _data);
        stop.Cancel();
        await silent;
        foreach (var c in held) c.Dispose();

        Assert.Equal(2, code);
        AssertOneClearLine(err, "runs");
        Assert.Contains("did not answer GET /api/runs within 1 s", err);
        Assert.True(took < TimeSpan.FromSeconds(30), $"took {took}");
        Assert.NotEmpty(held); // it did connect: the timeout, not a refusal, ended it
    }

    [Fact]
    public void A_bad_timeout_setting_is_named()
    {
        using var claim = Claim("http://127.0.0.1:9");
        var (code, _, err, _) = Run(new Dictionary<string, string> { ["RlGaf__CliTimeoutSeconds"] = "soon" }, "runs", "--data-root", _data);
        Assert.Equal(2, code);
        AssertOneClearLine(err, "runs");
        Assert.Contains("RlGaf:CliTimeoutSeconds: 'soon'", err);
    }
}
