using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using RlGaf.Engine.Experiments;

namespace RlGaf.Workbench.Cli;

/// <summary>
/// eval --max-parallel K on this machine: this process is worker 0 and starts K - 1 helpers
/// (<c>eval --resume DIR --worker I/K</c>) on the same suite folder. Each worker claims one run at a time
/// (EvalSuite's RUN.claim lock), so no run trains twice, a worker that dies frees its run for another, and
/// worker 0 waits for the others' runs before it writes results.json and results.md. A suite of small models
/// scales this way where one run cannot use more than one core well.
/// </summary>
internal static class LocalWorkers
{
    /// <param name="log">Every line of the suite's log, the helpers' prefixed "[worker i] " (eval prints them all).</param>
    /// <param name="progress">Runs done of all, as worker 0 counts them.</param>
    public static SuiteResult Run(SuiteOptions o, string commandLine, int workers, bool fresh, Action<string> log, Action<int, int>? progress = null)
    {
        if (workers <= 1) return EvalSuite.Run(o, commandLine, log, progress);
        // The helpers read suite.json, and take what they find finished: a new suite clears the folder's old runs first.
        EvalSuite.Save(o, commandLine);
        if (fresh && Directory.Exists(Path.Combine(o.OutDir, "runs"))) Directory.Delete(Path.Combine(o.OutDir, "runs"), true);
        var helpers = Enumerable.Range(1, workers - 1).Select(i => Start(o.OutDir, i, workers, log)).ToList();
        log($"{workers} workers share {o.OutDir} (this one and {workers - 1} helper process{(workers > 2 ? "es" : "")})");
        try
        {
            return EvalSuite.Run(o with { Resume = true, WorkerIndex = 0, WorkerCount = workers }, commandLine, log, progress);
        }
        finally
        {
            foreach (var (p, i) in helpers.Select((p, i) => (p, i + 1)))
            {
                // Each helper leaves once nothing is left to claim; worker 0 returns only when every run is done.
                if (!p.WaitForExit(TimeSpan.FromSeconds(30))) { log($"worker {i} still running after the suite: stopping it"); p.Kill(entireProcessTree: true); }
                else if (p.ExitCode != 0) log($"worker {i} exited with {p.ExitCode} (its runs were finished by the others)");
                p.Dispose();
            }
        }
    }

    /// <summary>This executable again as helper <paramref name="index"/>, its log lines prefixed with its number.</summary>
    private static Process Start(string outDir, int index, int count, Action<string> log)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable to start the suite's workers");
        // Standard input is a pipe this process never writes: it closes when this process dies, and the helper stops then.
        var psi = new ProcessStartInfo(self) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (var a in new[] { "eval", "--resume", Path.GetFullPath(outDir), "--worker", string.Create(CultureInfo.InvariantCulture, $"{index}/{count}"), "--exit-with-parent" })
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start worker {index}");
        p.ErrorDataReceived += (_, e) => { if (e.Data is { } line) log($"[worker {index}] {line}"); };
        p.OutputDataReceived += (_, e) => { if (e.Data is { } line) log($"[worker {index}] {line}"); };
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return p;
    }
}
