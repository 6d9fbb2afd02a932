using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace RlGaf.Workbench.Tests.Infrastructure;

/// <summary>
/// The built workbench executable as a child process (a command-line verb, or the web app with no
/// verb), its output collected line by line as it comes, so a test can wait on what it prints and kill
/// it the hard way (SIGKILL, what kill -9 sends: no handler runs, nothing is flushed or released by the process).
/// </summary>
public sealed class ChildProcess : IDisposable
{
    public static readonly string Exe = Path.Combine(AppContext.BaseDirectory, "RlGaf.Workbench.dll");

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new(), _stdout = new(), _stderr = new();
    private readonly TaskCompletionSource _outDone = new(TaskCreationOptions.RunContinuationsAsynchronously),
                                          _errDone = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public IReadOnlyCollection<string> Stdout => _stdout;
    public IReadOnlyCollection<string> Stderr => _stderr;
    /// <summary>Everything printed so far, stdout and stderr interleaved as they came.</summary>
    public string Output => string.Join('\n', _lines);

    private ChildProcess(Process process) => _process = process;

    public static ChildProcess Start(params string[] args) => Start(new Dictionary<string, string>(), args);

    /// <param name="environment">Variables set for the child on top of this process's.</param>
    /// <param name="args">The executable's arguments.</param>
    public static ChildProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        psi.ArgumentList.Add(Exe);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi };
        var child = new ChildProcess(p);
        p.OutputDataReceived += (_, e) => { if (e.Data is null) child._outDone.TrySetResult(); else { child._stdout.Enqueue(e.Data); child._lines.Enqueue(e.Data); } };
        p.ErrorDataReceived += (_, e) => { if (e.Data is null) child._errDone.TrySetResult(); else { child._stderr.Enqueue(e.Data); child._lines.Enqueue(e.Data); } };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return child;
    }

    /// <summary>Polls until <paramref name="condition"/> holds; fails early, with the output, when the process ends first.</summary>
    public async Task WaitFor(Func<bool> condition, string what, int seconds = 120)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (_process.HasExited && !condition())
                throw new InvalidOperationException($"the child exited ({_process.ExitCode}) before: {what}\n{Output}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {seconds} s waiting for: {what}\n{Output}");
            await Task.Delay(100);
        }
    }

    /// <summary>The first match of <paramref name="pattern"/> in stderr, waiting for it (bounded).</summary>
    public Match WaitForStderr(string pattern, string what, int seconds = 120, Func<Match, bool>? accept = null)
    {
        var regex = new Regex(pattern);
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            foreach (var line in _stderr)
                if (regex.Match(line) is { Success: true } m && (accept?.Invoke(m) ?? true)) return m;
            if (_process.HasExited && _errDone.Task.IsCompleted)
                throw new InvalidOperationException($"the child exited ({_process.ExitCode}) before {what}:\n{Output}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {seconds} s waiting for {what}:\n{Output}");
            Thread.Sleep(20);
        }
    }

    /// <summary>kill -9 (Process.Kill sends SIGKILL on Unix), then waits until the kernel has reaped it.</summary>
    public void KillHard()
    {
        _process.Kill(entireProcessTree: true);
        if (!_process.WaitForExit(TimeSpan.FromSeconds(30))) throw new TimeoutException("a killed child did not exit");
    }

    /// <summary>Waits for the child to end by itself (bounded; killed past it) and returns its exit code and output.</summary>
    public (int Code, string Out, string Err) WaitForExit(int seconds = 300)
    {
        if (!_process.WaitForExit(TimeSpan.FromSeconds(seconds)))
        {
            KillHard();
            throw new TimeoutException($"the child did not finish in {seconds} s:\n{Output}");
        }
        Task.WaitAll([_outDone.Task, _errDone.Task], TimeSpan.FromSeconds(10));
        return (_process.ExitCode, string.Join('\n', _stdout), string.Join('\n', _stderr));
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

/// <summary>
/// The web workbench as a child process on its own data root and a free loopback port (read back from
/// the claim file it writes once it listens), with an HTTP client for its API.
/// </summary>
public sealed class WorkbenchProcess : IDisposable
{
    public ChildProcess Child { get; }
    public Uri BaseAddress { get; }
    public HttpClient Http { get; }

    private WorkbenchProcess(ChildProcess child, Uri address, string? token)
    {
        Child = child;
        BaseAddress = address;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null) Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <param name="token">An access token to start with and send (RlGaf:AccessToken); null: the one the workbench generates, read from its claim file as the command line does.</param>
    public static WorkbenchProcess Start(string dataRoot, string? token = null, params string[] extra)
    {
        var claim = Path.Combine(dataRoot, "workbench.pid");
        string[] args =
        [
            $"--RlGaf:DataRoot={dataRoot}", "--urls=http://127.0.0.1:0", "--environment=Development", "--Logging:LogLevel:Default=Warning",
            $"--RlGaf:DataRoots:0={dataRoot}", $"--RlGaf:DataRoots:1={Path.GetDirectoryName(TinyModel.Path)}",
            .. token is null ? Array.Empty<string>() : [$"--RlGaf:AccessToken={token}"],
            .. extra.Select(e => "--" + e),
        ];
        var child = ChildProcess.Start(args);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (child.HasExited) throw new InvalidOperationException($"the workbench exited at start:\n{child.Output}");
            if (ReadClaim(claim, child.Pid) is { } c) return new WorkbenchProcess(child, new Uri(c.Url), token ?? c.Token);
            if (DateTime.UtcNow > deadline)
            {
                child.Dispose();
                throw new TimeoutException($"the workbench did not listen within 60 s:\n{child.Output}");
            }
            Thread.Sleep(50);
        }
    }

    private static (string Url, string? Token)? ReadClaim(string claimFile, int pid)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(claimFile));
            var root = doc.RootElement;
            if (root.GetProperty("Pid").GetInt32() != pid || root.GetProperty("Url").GetString() is not { } u) return null;
            return (u, root.TryGetProperty("Token", out var t) ? t.GetString() : null);
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException) { return null; }
    }

    public void Dispose()
    {
        Http.Dispose();
        Child.Dispose();
    }
}
