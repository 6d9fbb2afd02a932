using Microsoft.Extensions.Options;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Sweeps;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Cluster;

/// <summary>
/// Runs trials as the tasks of one Slurm job array (<see cref="SlurmArrayScript"/>): submitted with
/// <c>sbatch --parsable</c>, followed with squeue / scontrol / sacct (<see cref="SlurmClient"/>) and through
/// each trial's live folder on the shared filesystem (<see cref="TrialFolderFollower"/>: the trial is a run
/// of the store from its first step, drawn live), stopped with <c>scancel JOB_TASK</c>, the whole sweep with
/// <c>scancel JOB</c>. A handle is "JOBID_TASK" and the trial folder keeps the rest (its config, its run id,
/// why it was stopped), so a new process re-attaches from handles and folders alone.
/// </summary>
public sealed class SlurmExecutor : ITrialExecutor
{
    public const string ExecutorName = "slurm";
    /// <summary>In the trial folder: the store's run id of the trial (re-attach continues that run).</summary>
    public const string RunIdFile = "run-id.txt";
    /// <summary>In the trial folder: why this process stopped the trial (a later process reports the same reason).</summary>
    public const string StopReasonFile = "stop-reason.txt";

    private readonly RunStore _store;
    private readonly RunNotifier? _notifier;
    private readonly SlurmOptions _options;
    private readonly SlurmClient _slurm;
    private readonly Dictionary<string, Tracked> _trials = [];
    private readonly Lock _gate = new();

    private sealed class Tracked(TrialSpec spec, TrialFolderFollower follower)
    {
        public TrialSpec Spec { get; } = spec;
        public TrialFolderFollower Follower { get; } = follower;
        public TrialProgress? Final { get; set; }
    }

    public SlurmExecutor(RunStore store, RunNotifier notifier, IOptions<WorkbenchOptions> options)
        : this(options.Value.Slurm, store, notifier) { }

    public SlurmExecutor(SlurmOptions options, RunStore store, RunNotifier? notifier = null)
    {
        _options = options.Validate();
        _store = store;
        _notifier = notifier;
        _slurm = new SlurmClient(options);
    }

    /// <summary>
    /// For a sweep (<see cref="TrialExecutors"/>): the sweep's store, the app's live feed and RlGaf:Slurm from the
    /// app's options; on the command line (no services) RlGaf:Slurm from appsettings.json and the environment.
    /// </summary>
    public static SlurmExecutor For(TrialExecutorContext c)
    {
        var options = c.Services?.GetService<IOptions<WorkbenchOptions>>()?.Value.Slurm
                      ?? WorkbenchPaths.CommandLineConfiguration().GetSection("RlGaf:Slurm").Get<SlurmOptions>() ?? new SlurmOptions();
        return new SlurmExecutor(options, c.Host.Store, c.Services?.GetService<RunNotifier>());
    }

    public string Name => ExecutorName;
    public SlurmClient Client => _slurm;

    public IReadOnlyList<TrialHandle> Submit(IReadOnlyList<TrialSpec> trials, int maxParallel)
    {
        if (trials.Count == 0) return [];
        if (trials.Select(t => t.Index).Distinct().Count() != trials.Count) throw new ArgumentException("trials: two trials have the same index (the array task id).");
        foreach (var t in trials) CheckShared(t.OutDir);
        var slurmDir = SlurmArrayScript.SlurmDirOf(trials[0].OutDir);
        Directory.CreateDirectory(slurmDir);
        foreach (var t in trials) PrepareFolder(t);
        var script = Path.Combine(slurmDir, $"array-{DateTime.UtcNow:yyyyMMdd-HHmmss-fff}.sh");
        File.WriteAllText(script, SlurmArrayScript.Build($"rlgaf-{trials[0].SweepId}", trials, maxParallel, _options, slurmDir));
        var job = _slurm.Submit(script);
        File.AppendAllText(Path.Combine(slurmDir, "jobs.txt"), $"{job} {Path.GetFileName(script)} {DateTime.UtcNow:O}\n");
        var handles = new List<TrialHandle>();
        lock (_gate)
            foreach (var t in trials)
            {
                var h = new TrialHandle(ExecutorName, $"{job}_{t.Index}");
                _trials[h.Id] = new Tracked(t, Follower(t, null));
                handles.Add(h);
            }
        return handles;
    }

    /// <summary>The folder the task trains into: its config, and the export marker so train --out accepts the folder.</summary>
    private static void PrepareFolder(TrialSpec t)
    {
        Directory.CreateDirectory(t.OutDir);
        var marker = Path.Combine(t.OutDir, RunExport.MarkerFile);
        if (Directory.EnumerateFileSystemEntries(t.OutDir).Any() && !File.Exists(marker))
            throw new ArgumentException($"{t.OutDir}: the trial folder holds files that no trial wrote; give the sweep a new folder.");
        File.WriteAllText(marker, "a trial folder of RlGaf.Workbench: train --live writes here\n");
        File.WriteAllText(Path.Combine(t.OutDir, SlurmArrayScript.TrialConfigFile), t.Settings.ToJson());
        File.Delete(Path.Combine(t.OutDir, StopReasonFile));
        File.Delete(Path.Combine(t.OutDir, TrialFolder.StatusFile));
    }

    private void CheckShared(string dir)
    {
        if (string.IsNullOrWhiteSpace(_options.SharedFolder)) return;
        var shared = Path.GetFullPath(_options.SharedFolder).TrimEnd('/') + "/";
        if (!(Path.GetFullPath(dir).TrimEnd('/') + "/").StartsWith(shared, StringComparison.Ordinal))
            throw new ArgumentException($"{dir}: trial folders must lie under RlGaf:Slurm:SharedFolder ({shared}), which the nodes see; put the sweep's folder there.");
    }

    private TrialFolderFollower Follower(TrialSpec t, string? runId) =>
        new(t.OutDir, t.Settings, t.RunName(t.SweepId), _store, _notifier, runId);

    public IReadOnlyList<TrialProgress> Poll(IReadOnlyList<TrialHandle> handles, string metric)
    {
        lock (_gate)
        {
            var states = QueryJobs(handles.Where(h => _trials.TryGetValue(h.Id, out var t) && t.Final is null).Select(h => h.Id));
            return handles.Select(h => Progress(h, metric, states)).ToList();
        }
    }

    /// <summary>One Slurm query per array job, not per task.</summary>
    private Dictionary<string, SlurmTaskState> QueryJobs(IEnumerable<string> ids)
    {
        var result = new Dictionary<string, SlurmTaskState>();
        foreach (var job in ids.Select(Parse).GroupBy(p => p.Job))
            foreach (var (task, state) in _slurm.Query(job.Key, job.Select(p => p.Task).ToList()))
                result[$"{job.Key}_{task}"] = state;
        return result;
    }

    private TrialProgress Progress(TrialHandle h, string metric, Dictionary<string, SlurmTaskState> states)
    {
        if (!_trials.TryGetValue(h.Id, out var t)) return new TrialProgress(TrialState.Lost, 0, 0, $"Slurm job {h.Id} is not one this executor submitted or re-attached", [], null);
        if (t.Final is { } done) return done with { Metric = Values(t, metric) };
        var f = t.Follower;
        f.Poll();
        if (f.RunId is { } id) File.WriteAllText(Path.Combine(t.Spec.OutDir, RunIdFile), id);
        int total = t.Spec.Settings.Steps;
        var (job, task) = Parse(h.Id);
        if (!states.TryGetValue(h.Id, out var s))
        {
            // Slurm forgot it (purged, no accounting): the trial's own status file may still say how it ended.
            if (f.Status is { Ended: true } st) return Finish(t, FromStatusFile(st), st.Message, metric);
            return new TrialProgress(TrialState.Lost, f.Step, total, $"Slurm no longer knows job {h.Id} and the trial left no final status", Values(t, metric), f.RunId);
        }
        var (state, reason) = Map(s, t, job, task);
        if (state is TrialState.Queued or TrialState.Running)
            return new TrialProgress(state, f.Step, total, reason, Values(t, metric), f.RunId);
        return Finish(t, state, reason, metric);
    }

    /// <summary>Imports the ended trial (final status, its run folder) and remembers the result: later polls return it as it is.</summary>
    private TrialProgress Finish(Tracked t, TrialState state, string? reason, string metric)
    {
        var status = state switch { TrialState.Completed => RunStatus.Completed, TrialState.Stopped => RunStatus.Stopped, _ => RunStatus.Failed };
        var id = t.Follower.Complete(status, reason);
        File.WriteAllText(Path.Combine(t.Spec.OutDir, RunIdFile), id);
        t.Final = new TrialProgress(state, t.Follower.Step, t.Spec.Settings.Steps, reason, Values(t, metric), id);
        return t.Final;
    }

    private static TrialState FromStatusFile(TrialStatus s) => s.Status switch
    {
        "completed" => TrialState.Completed,
        "stopped" => TrialState.Stopped,
        _ => TrialState.Failed,
    };

    /// <summary>Slurm's state onto the trial's, with Slurm's own words as the reason (and the trial's error line when it failed).</summary>
    private (TrialState, string?) Map(SlurmTaskState s, Tracked t, string job, int task)
    {
        string? stopReason = ReadStopReason(t.Spec.OutDir);
        switch (s.State)
        {
            case "PENDING" or "REQUEUED" or "REQUEUE_HOLD" or "REQUEUE_FED" or "RESV_DEL_HOLD" or "CONFIGURING" or "SUSPENDED" or "STOPPED":
                return (TrialState.Queued, s.Reason is null ? s.State : $"{s.State} ({s.Reason})");
            case "RUNNING" or "COMPLETING" or "SIGNALING" or "STAGE_OUT" or "RESIZING":
                // A task that scancel reached but has not ended yet is still running.
                return (TrialState.Running, null);
            case "COMPLETED":
                // Exit code 0; the status file says whether training completed (a run that ends paused by a fault exits 1, so FAILED).
                if (t.Follower.Status is { Ended: true } st && st.Status != "completed")
                    return (FromStatusFile(st), $"COMPLETED (Slurm), but the trial ended {st.Status}{(st.Message is null ? "" : $": {st.Message}")}");
                return (TrialState.Completed, null);
            case "CANCELLED":
                return (TrialState.Stopped, stopReason is null ? $"CANCELLED{(s.Reason is null ? "" : $" ({s.Reason})")}" : $"CANCELLED: {stopReason}");
            default:
                // FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE: Slurm's word first, then what the task printed.
                var words = new List<string> { s.State };
                if (s.State == "TIMEOUT") words.Add($"time limit {_options.Time}");
                if (s.State == "OUT_OF_MEMORY") words.Add($"memory limit {_options.Mem ?? "the partition's"}");
                if (s.State is not ("TIMEOUT" or "OUT_OF_MEMORY") && s.ExitCode is { } code && code != "0:0") words.Add($"exit code {code}"); // a kill signal says nothing more there
                var detail = LastError(SlurmArrayScript.LogOf(t.Spec.OutDir, job, task)) ?? t.Follower.Status?.Message;
                return (TrialState.Failed, $"{words[0]}{(words.Count > 1 ? $" ({string.Join(", ", words.Skip(1))})" : "")}{(detail is null ? "" : $": {detail}")}");
        }
    }

    /// <summary>The task's last error line (the workbench's "error: ..." or Slurm's "*** ... CANCELLED ... DUE TO TIME LIMIT ***").</summary>
    private static string? LastError(string log)
    {
        if (!File.Exists(log)) return null;
        try
        {
            return File.ReadLines(log).Select(l => l.Trim())
                .LastOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal) || l.StartsWith("slurmstepd:", StringComparison.Ordinal) || l.Contains("***", StringComparison.Ordinal))
                ?.Trim('*', ' ');
        }
        catch (IOException) { return null; }
    }

    private static string? ReadStopReason(string dir)
    {
        var p = Path.Combine(dir, StopReasonFile);
        return File.Exists(p) ? File.ReadAllText(p).Trim() : null;
    }

    private IReadOnlyList<MetricValue> Values(Tracked t, string metric) =>
        t.Follower.Values(metric).Select(v => new MetricValue(v.Step, v.Value)).ToList();

    public void Stop(TrialHandle handle, string reason)
    {
        lock (_gate)
        {
            if (_trials.TryGetValue(handle.Id, out var t))
            {
                if (t.Final is not null) return;
                File.WriteAllText(Path.Combine(t.Spec.OutDir, StopReasonFile), reason);
            }
        }
        _slurm.Cancel(handle.Id);
    }

    public void CancelAll(IReadOnlyList<TrialHandle> handles, string reason)
    {
        lock (_gate)
            foreach (var h in handles)
                if (_trials.TryGetValue(h.Id, out var t) && t.Final is null)
                    File.WriteAllText(Path.Combine(t.Spec.OutDir, StopReasonFile), reason);
        foreach (var job in handles.Select(h => Parse(h.Id).Job).Distinct()) _slurm.Cancel(job);
    }

    public IReadOnlyList<TrialHandle> Reattach(IReadOnlyList<(TrialSpec Spec, TrialHandle Handle)> trials, int maxParallel)
    {
        var result = new TrialHandle?[trials.Count];
        var again = new List<int>();
        lock (_gate)
        {
            var states = QueryJobs(trials.Where(x => x.Handle.Executor == ExecutorName && IsHandle(x.Handle.Id)).Select(x => x.Handle.Id));
            for (int i = 0; i < trials.Count; i++)
            {
                var (spec, handle) = trials[i];
                var runIdFile = Path.Combine(spec.OutDir, RunIdFile);
                string? runId = File.Exists(runIdFile) ? File.ReadAllText(runIdFile).Trim() : null;
                // Known to Slurm (queued, running, or ended meanwhile: the next poll imports it), or ended with its own status: the same trial.
                if (handle.Executor == ExecutorName && IsHandle(handle.Id) && (states.ContainsKey(handle.Id) || TrialFolder.ReadStatus(spec.OutDir) is { Ended: true }))
                {
                    _trials[handle.Id] = new Tracked(spec, Follower(spec, runId));
                    result[i] = handle;
                }
                else again.Add(i);
            }
        }
        if (again.Count > 0)
        {
            var fresh = Submit(again.Select(i => trials[i].Spec).ToList(), maxParallel);
            for (int k = 0; k < again.Count; k++) result[again[k]] = fresh[k];
        }
        return result.Select(h => h!).ToList();
    }

    private static bool IsHandle(string id) => id.Split('_') is [var j, var t] && long.TryParse(j, out _) && int.TryParse(t, out _);

    private static (string Job, int Task) Parse(string id)
    {
        if (!IsHandle(id)) throw new ArgumentException($"'{id}' is not a Slurm array task (JOBID_TASK).");
        var p = id.Split('_');
        return (p[0], int.Parse(p[1]));
    }
}
