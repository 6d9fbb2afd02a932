using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Sweeps;

/// <summary>
/// Runs trials as runs of this workbench's <see cref="TrainingHost"/> (its slots, RlGaf:MaxConcurrentRuns),
/// never more than the sweep's max_parallel of them at once. The handle is the trial's folder: there
/// Submit writes <c>trial.json</c> (the settings, a valid <c>train --config</c> file) and <c>trial-name.txt</c>, and
/// the executor writes <c>run-id</c> once it made the run, <c>stopped</c> (the reason) when stopped and <c>failed</c> when
/// the host refused it, so a new process finds every trial again from its handle alone.
/// A trial waits for a slot of the sweep until a poll finds one free (the runner polls every second or so).
/// </summary>
public sealed class LocalTrialExecutor(TrainingHost host) : ITrialExecutor
{
    public const string ExecutorName = "local";
    private const string SettingsFile = "trial.json", NameFile = "trial-name.txt", RunIdFile = "run-id", StoppedFile = "stopped", FailedFile = "failed";
    private int _maxParallel = 1;
    private readonly Lock _gate = new();

    public string Name => ExecutorName;
    private RunStore Store => host.Store;

    public IReadOnlyList<TrialHandle> Submit(IReadOnlyList<TrialSpec> trials, int maxParallel)
    {
        _maxParallel = Math.Max(1, maxParallel);
        var handles = new List<TrialHandle>();
        foreach (var t in trials)
        {
            Directory.CreateDirectory(t.OutDir);
            File.WriteAllText(Path.Combine(t.OutDir, SettingsFile), t.Settings.ToJson());
            File.WriteAllText(Path.Combine(t.OutDir, NameFile), t.RunName(t.SweepId));
            handles.Add(new TrialHandle(ExecutorName, t.OutDir));
        }
        return handles;
    }

    public IReadOnlyList<TrialProgress> Poll(IReadOnlyList<TrialHandle> handles, string metric)
    {
        lock (_gate)
        {
            var progress = handles.Select(h => Read(h, metric)).ToArray();
            int active = progress.Count(p => p is { RunId: not null, Ended: false });
            for (int i = 0; i < handles.Count && active < _maxParallel; i++)
            {
                if (progress[i].RunId is not null || progress[i].Ended) continue;
                Start(handles[i]);
                progress[i] = Read(handles[i], metric);
                active++;
            }
            return progress;
        }
    }

    /// <summary>Makes the trial's run on the host (it queues for a host slot there).</summary>
    private void Start(TrialHandle h)
    {
        var dir = h.Id;
        try
        {
            var settings = RunSettings.FromJson(File.ReadAllText(Path.Combine(dir, SettingsFile)), Path.Combine(dir, SettingsFile));
            var name = File.Exists(Path.Combine(dir, NameFile)) ? File.ReadAllText(Path.Combine(dir, NameFile)) : Path.GetFileName(dir);
            var record = host.Create(settings, name);
            File.WriteAllText(Path.Combine(dir, RunIdFile), record.Id);
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidOperationException)
        {
            if (e is HostStoppingException) return; // the next process starts it
            File.WriteAllText(Path.Combine(dir, FailedFile), $"could not start: {e.Message}");
        }
    }

    private TrialProgress Read(TrialHandle h, string metric)
    {
        var dir = h.Id;
        string? stopped = ReadFile(dir, StoppedFile), failed = ReadFile(dir, FailedFile), runId = ReadFile(dir, RunIdFile);
        int total = TotalSteps(dir);
        if (runId is null)
        {
            if (failed is not null) return new(TrialState.Failed, 0, total, failed, [], null);
            if (stopped is not null) return new(TrialState.Stopped, 0, total, stopped, [], null);
            if (!File.Exists(Path.Combine(dir, SettingsFile))) return new(TrialState.Lost, 0, total, $"trial folder {dir} has no {SettingsFile}", [], null);
            return new(TrialState.Queued, 0, total, $"waits for one of the sweep's {_maxParallel} parallel slot(s)", [], null);
        }
        var r = Store.Get(runId);
        if (r is null) return new(TrialState.Lost, 0, total, $"run {runId} was deleted", [], null);
        var values = Store.GetMetrics(runId).Where(p => p.Values.ContainsKey(metric)).Select(p => new MetricValue(p.Step, p.Values[metric])).ToList();
        var state = r.Status switch
        {
            RunStatus.Queued => TrialState.Queued,
            RunStatus.Interrupted => TrialState.Queued,
            RunStatus.Pretraining or RunStatus.Running or RunStatus.Paused => TrialState.Running,
            RunStatus.Completed => TrialState.Completed,
            RunStatus.Failed => TrialState.Failed,
            _ => TrialState.Stopped,
        };
        string? reason = state == TrialState.Stopped && stopped is not null ? stopped : r.Message;
        return new(state, r.Step, r.TotalSteps, reason, values, runId);
    }

    public void Stop(TrialHandle handle, string reason)
    {
        lock (_gate)
        {
            var dir = handle.Id;
            if (File.Exists(Path.Combine(dir, StoppedFile))) return;
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, StoppedFile), reason);
            if (ReadFile(dir, RunIdFile) is not { } runId || Store.Get(runId) is not { } r) return;
            if (r.Status is RunStatus.Completed or RunStatus.Failed or RunStatus.Stopped) return;
            try { host.Stop(runId); }
            catch (InvalidOperationException) { /* ended meanwhile */ }
        }
    }

    public void CancelAll(IReadOnlyList<TrialHandle> handles, string reason)
    {
        foreach (var h in handles) Stop(h, reason);
    }

    public IReadOnlyList<TrialHandle> Reattach(IReadOnlyList<(TrialSpec Spec, TrialHandle Handle)> trials, int maxParallel)
    {
        _maxParallel = Math.Max(1, maxParallel);
        var handles = new List<TrialHandle>();
        foreach (var (spec, handle) in trials)
        {
            // The folder is the whole state; rewrite the config if it went missing (the spec is persisted with the sweep).
            if (!File.Exists(Path.Combine(handle.Id, SettingsFile))) { handles.Add(Submit([spec], maxParallel)[0]); continue; }
            if (ReadFile(handle.Id, RunIdFile) is { } runId && Store.Get(runId) is { Status: RunStatus.Interrupted or RunStatus.Paused })
            {
                try { host.Resume(runId); } // continues from its last checkpoint
                catch (InvalidOperationException) { /* queued or ended meanwhile */ }
            }
            handles.Add(handle);
        }
        return handles;
    }

    private static int TotalSteps(string dir)
    {
        try { return RunSettings.FromJson(File.ReadAllText(Path.Combine(dir, SettingsFile))).Steps; }
        catch (Exception e) when (e is IOException or ArgumentException) { return 0; }
    }

    private static string? ReadFile(string dir, string name)
    {
        var path = Path.Combine(dir, name);
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }
}
