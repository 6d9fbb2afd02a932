using System.Collections.Concurrent;
using RlGaf.Engine.Experiments;

namespace RlGaf.Workbench.Training;

/// <summary>Where an experiment suite stands.</summary>
public enum ExperimentStatus { Running, Completed, Failed, Cancelled }

/// <summary>One launched suite: progress while it runs, then the results.md and PNG paths (or the error).</summary>
public sealed class ExperimentJob
{
    private readonly ConcurrentQueue<string> _log = new();
    internal readonly CancellationTokenSource Cancel = new();

    public string Id { get; } = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss") + "-" + Guid.NewGuid().ToString("N")[..6];
    public SuiteOptions Options { get; }
    public ExperimentStatus Status { get; internal set; } = ExperimentStatus.Running;
    /// <summary>Runs finished and runs in all (methods x seeds).</summary>
    public int RunsDone { get; internal set; }
    public int RunsTotal { get; }
    public string? Error { get; internal set; }
    public SuiteResult? Result { get; internal set; }
    public string? ResultsMarkdownPath => Result?.ResultsMarkdown;
    public IReadOnlyList<string> PlotPaths => Result?.Plots ?? [];
    /// <summary>The suite's log lines so far (the last 500).</summary>
    public IReadOnlyList<string> Log => [.. _log];
    public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;

    internal ExperimentJob(SuiteOptions options)
    {
        Options = options;
        RunsTotal = options.Seeds * options.Methods.Count;
    }

    internal void Append(string line)
    {
        _log.Enqueue(line);
        while (_log.Count > 500) _log.TryDequeue(out _);
    }
}

/// <summary>
/// Launches experiment suites (the eval verb's engine) on a dedicated background thread each, as the
/// field notes require for TorchSharp (grad mode and dispose scopes are thread-local), and reports
/// progress and the finished results.md / PNG paths. <see cref="Changed"/> is raised on the suite's
/// thread: a page must marshal it (InvokeAsync) and never block it.
/// </summary>
public sealed class ExperimentService : IDisposable
{
    private readonly ConcurrentDictionary<string, ExperimentJob> _jobs = new();

    /// <summary>Raised after progress, a log line, or the end of a job.</summary>
    public event Action<ExperimentJob>? Changed;

    public IReadOnlyList<ExperimentJob> Jobs => [.. _jobs.Values.OrderByDescending(j => j.Started)];

    public ExperimentJob? Get(string id) => _jobs.GetValueOrDefault(id);

    /// <summary>Validates the options (throws <see cref="ArgumentException"/> naming the option) and starts the suite.</summary>
    public ExperimentJob Start(SuiteOptions options)
    {
        options.Validate();
        var job = new ExperimentJob(options);
        _jobs[job.Id] = job;
        var thread = new Thread(() => Execute(job)) { IsBackground = true, Name = $"experiment {job.Id}" };
        thread.Start();
        return job;
    }

    /// <summary>Asks a running suite to stop before its next run.</summary>
    public void Cancel(string id)
    {
        if (_jobs.TryGetValue(id, out var job)) job.Cancel.Cancel();
    }

    private void Execute(ExperimentJob job)
    {
        try
        {
            job.Result = EvalSuite.Run(job.Options, $"workbench experiment {job.Id}",
                line => { job.Append(line); Notify(job); },
                (done, _) => { job.RunsDone = done; Notify(job); },
                job.Cancel.Token);
            job.Status = ExperimentStatus.Completed;
        }
        catch (OperationCanceledException) { job.Status = ExperimentStatus.Cancelled; }
        catch (Exception e)
        {
            // Never let a failed suite take the host down (an unhandled exception on a thread ends the process).
            job.Error = e.Message;
            job.Status = ExperimentStatus.Failed;
        }
        Notify(job);
    }

    private void Notify(ExperimentJob job)
    {
        try { Changed?.Invoke(job); }
        catch (Exception e) { job.Append($"listener failed: {e.Message}"); }
    }

    public void Dispose()
    {
        foreach (var job in _jobs.Values) job.Cancel.Cancel();
    }
}
