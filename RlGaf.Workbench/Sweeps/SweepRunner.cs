using Microsoft.Extensions.Logging;

namespace RlGaf.Workbench.Sweeps;

/// <summary>
/// Drives one sweep through an <see cref="ITrialExecutor"/>, whichever it is: submits the planned trials,
/// polls them, applies ASHA (stops a trial that loses at a rung), resubmits a lost one, persists every change
/// (sweep.json, trials.json) and ends the sweep when every trial has ended. On its own thread (the executor's
/// calls are synchronous). A sweep found running at start is resumed: trials that ended are kept, the others
/// are re-attached through their persisted handles (never submitted twice), the never-submitted ones submitted.
/// </summary>
public sealed class SweepRunner : IDisposable
{
    private readonly SweepStore _store;
    private readonly ITrialExecutor _executor;
    private readonly ILogger? _log;
    private readonly Lock _gate = new();
    private readonly SweepRecord _sweep;
    private readonly List<TrialRecord> _trials;
    private readonly AshaScheduler? _asha;
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<int> _userStops = [];
    private Thread? _thread;
    private string? _cancelReason;

    /// <summary>How often trials are polled (tests shorten it).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Raised (on the runner's thread) after each change is persisted: pages refresh from it.</summary>
    public event Action? Changed;

    public SweepRunner(SweepStore store, SweepRecord sweep, List<TrialRecord> trials, ITrialExecutor executor, ILogger? log = null)
    {
        _store = store;
        _sweep = sweep;
        _trials = trials;
        _executor = executor;
        _log = log;
        if (sweep.EarlyTerminate is { } rule)
        {
            _asha = new AshaScheduler(rule, sweep.Metric);
            _asha.Restore(sweep.Rungs);
        }
    }

    public string Id => _sweep.Id;

    public (SweepRecord Sweep, IReadOnlyList<TrialRecord> Trials) Snapshot()
    {
        lock (_gate) return (Clone(_sweep), _trials.Select(t => t.Copy()).ToList());
    }

    private static SweepRecord Clone(SweepRecord s)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(s, SweepStore.Json);
        return System.Text.Json.JsonSerializer.Deserialize<SweepRecord>(json, SweepStore.Json)!;
    }

    public void Start()
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = $"sweep {_sweep.Id}" };
        _thread.Start();
    }

    /// <summary>Blocks until the sweep has ended (the command line's sweep verb).</summary>
    public bool Wait(TimeSpan timeout) => _thread?.Join(timeout) ?? true;

    /// <summary>Cancels every trial still queued or running; the sweep ends Cancelled.</summary>
    public void Cancel(string reason = "cancelled")
    {
        lock (_gate)
        {
            if (_sweep.Ended) throw new InvalidOperationException($"sweep {_sweep.Id} is {_sweep.Status.ToString().ToLowerInvariant()}: nothing to cancel.");
            _cancelReason = reason;
        }
        _stop.Cancel();
    }

    /// <summary>Stops one trial (the page's stop button); the others go on.</summary>
    public void StopTrial(int index)
    {
        lock (_gate)
        {
            var t = _trials.FirstOrDefault(t => t.Index == index) ?? throw new KeyNotFoundException($"sweep {_sweep.Id} has no trial {index}.");
            if (t.Ended) throw new InvalidOperationException($"trial {index} is {t.State.ToString().ToLowerInvariant()}: nothing to stop.");
            _userStops.Add(index);
        }
    }

    private void Loop()
    {
        try
        {
            Begin();
            while (true)
            {
                if (_stop.IsCancellationRequested) { if (!_detached) EndCancelled(); return; }
                if (Step()) return;
                _stop.Token.WaitHandle.WaitOne(PollInterval);
            }
        }
        catch (ObjectDisposedException) { /* the app is shutting down: the sweep resumes at the next start */ }
        catch (Exception e)
        {
            _log?.LogError(e, "sweep {Id} failed", _sweep.Id);
            lock (_gate) { _sweep.Status = SweepStatus.Failed; _sweep.Message = e.Message; }
            Save();
        }
    }

    /// <summary>Re-attaches what was submitted before (a resume), submits the rest.</summary>
    private void Begin()
    {
        var attach = _trials.Where(t => !t.Ended && t.Handle is not null).ToList();
        if (attach.Count > 0)
        {
            var handles = _executor.Reattach(attach.Select(t => (t.ToSpec(_sweep.Id), t.Handle!)).ToList(), _sweep.MaxParallel);
            lock (_gate) for (int i = 0; i < attach.Count; i++) attach[i].Handle = handles[i];
            _log?.LogInformation("sweep {Id}: re-attached {Count} trial(s)", _sweep.Id, attach.Count);
        }
        var planned = _trials.Where(t => t.Handle is null && !t.Ended).ToList();
        if (planned.Count > 0) Submit(planned);
        Save();
    }

    private void Submit(List<TrialRecord> trials)
    {
        foreach (var t in trials) Directory.CreateDirectory(t.OutDir);
        var handles = _executor.Submit(trials.Select(t => t.ToSpec(_sweep.Id)).ToList(), _sweep.MaxParallel);
        lock (_gate)
            for (int i = 0; i < trials.Count; i++) { trials[i].Handle = handles[i]; trials[i].State = TrialState.Queued; trials[i].Reason = null; }
    }

    /// <summary>One poll: reports in, ASHA decisions and user stops out. True when every trial has ended.</summary>
    private bool Step()
    {
        var open = _trials.Where(t => !t.Ended && t.Handle is not null).ToList();
        var progress = open.Count > 0 ? _executor.Poll(open.Select(t => t.Handle!).ToList(), _sweep.MetricName) : [];
        var lost = new List<TrialRecord>();
        var stops = new List<(TrialRecord Trial, string Reason)>();
        lock (_gate)
        {
            for (int i = 0; i < open.Count; i++)
            {
                var (t, p) = (open[i], progress[i]);
                t.Step = p.Step;
                if (p.TotalSteps > 0) t.TotalSteps = p.TotalSteps;
                t.RunId = p.RunId ?? t.RunId;
                t.Metric = [.. p.Metric];
                t.Reason = p.Reason;
                if (p.State == TrialState.Lost) { lost.Add(t); continue; }
                // A trial ASHA (or the user) stopped stays stopped, whatever the executor says while it winds down.
                t.State = t.StoppedAtRung is not null && !p.Ended ? TrialState.Running : p.State;
                if (t.StoppedAtRung is not null && p.Ended) t.Reason = StopReason(t.StoppedAtRung.Value);
            }
            if (_asha is not null)
                foreach (var t in open.Where(t => t.StoppedAtRung is null).OrderBy(t => t.Index))
                    if (_asha.Report(t.Index, t.TotalSteps, t.Metric) is { } rung && !t.Ended)
                    {
                        t.StoppedAtRung = rung;
                        stops.Add((t, StopReason(rung)));
                    }
            foreach (var index in _userStops)
                if (_trials.First(t => t.Index == index) is { Ended: false, Handle: not null } t) stops.Add((t, "stopped by the user"));
            _userStops.Clear();
            if (_asha is not null) _sweep.Rungs = [.. _asha.Records()];
        }
        foreach (var (t, reason) in stops) _executor.Stop(t.Handle!, reason);
        if (lost.Count > 0)
        {
            _log?.LogWarning("sweep {Id}: {Count} trial(s) lost by the executor, submitted again", _sweep.Id, lost.Count);
            Submit(lost);
        }
        bool done;
        lock (_gate)
        {
            done = _trials.All(t => t.Ended);
            if (done)
            {
                _sweep.Status = SweepStatus.Completed;
                _sweep.Message = Summary();
            }
        }
        Save();
        return done;
    }

    private string StopReason(int rung) =>
        $"stopped by ASHA at step {rung}: not in the top 1/{_sweep.AshaEta} of the trials that reached it ({_sweep.MetricName}, {_sweep.Goal.ToString().ToLowerInvariant()})";

    private void EndCancelled()
    {
        var open = _trials.Where(t => !t.Ended && t.Handle is not null).Select(t => t.Handle!).ToList();
        string reason = _cancelReason ?? "cancelled";
        if (open.Count > 0) _executor.CancelAll(open, $"sweep cancelled: {reason}");
        lock (_gate)
        {
            foreach (var t in _trials.Where(t => !t.Ended)) { t.State = TrialState.Stopped; t.Reason = $"sweep cancelled: {reason}"; }
            _sweep.Status = SweepStatus.Cancelled;
            _sweep.Message = reason;
        }
        Save();
    }

    private string Summary()
    {
        var best = SweepResults.Best(_sweep, _trials);
        int completed = _trials.Count(t => t.State == TrialState.Completed), failed = _trials.Count(t => t.State == TrialState.Failed);
        int stopped = _trials.Count(t => t.StoppedAtRung is not null);
        return $"{completed} completed, {stopped} stopped early, {failed} failed" +
               (best is null ? "" : $"; best configuration {best.ConfigIndex} ({SweepPlanner.Describe(best.Parameters)}): {_sweep.MetricName} {best.Score:G5} over {best.Seeds} seed(s)");
    }

    private void Save()
    {
        lock (_gate)
        {
            _sweep.UpdatedUtc = DateTime.UtcNow;
            _store.Save(_sweep, _trials);
        }
        try { Changed?.Invoke(); }
        catch (Exception e) { _log?.LogWarning(e, "sweep {Id}: a listener failed", _sweep.Id); }
    }

    /// <summary>Stops the loop without cancelling trials (the app shuts down: they are re-attached at the next start).</summary>
    public void Dispose()
    {
        _detached = true;
        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(10));
    }

    private volatile bool _detached;
}
