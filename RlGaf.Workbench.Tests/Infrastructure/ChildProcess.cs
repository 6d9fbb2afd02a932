using System.Collections.Concurrent;
using System.Diagnostics;

namespace RlGaf.Workbench.Tests.Infrastructure;

/// <summary>
/// The built workbench executable as a child process (a command-line verb, or the web app with no
/// verb), its output collected line by line, so a test can wait on what it prints and kill it the hard
/// way (SIGKILL, what kill -9 sends: no handler runs, nothing is flushed or released by the process).
/// </summary>
public sealed class ChildProcess : IDisposable
{
    public static readonly string Exe = Path.Combine(AppContext.BaseDirectory, "RlGaf.Workbench.dll");

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
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
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) child._lines.Enqueue(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) child._lines.Enqueue(e.Data); };
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

    /// <summary>Waits for the child to exit by itself (bounded) and returns its exit code.</summary>
    public int WaitForExit(int seconds = 120)
    {
        if (!_process.WaitForExit(TimeSpan.FromSeconds(seconds)))
            throw new TimeoutException($"the child did not exit within {seconds} s\n{Output}");
        _process.WaitForExit(); // drains the output handlers
        return _process.ExitCode;
    }

    /// <summary>kill -9 (Process.Kill sends SIGKILL on Unix), then waits until the kernel has reaped it.</summary>
    public void KillHard()
    {
        _process.Kill(entireProcessTree: false);
        if (!_process.WaitForExit(TimeSpan.FromSeconds(30))) throw new TimeoutException("a killed child did not exit");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            try { _process.Kill(); _process.WaitForExit(TimeSpan.FromSeconds(30)); }
            catch (InvalidOperationException) { } // exited meanwhile
        }
        _process.Dispose();
    }
}
