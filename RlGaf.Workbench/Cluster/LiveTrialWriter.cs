using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Cluster;

/// <summary>
/// <c>train --out DIR --live</c>: appends what a run logs to DIR's metrics/samples/events files as it
/// happens (one JSON line per record, flushed at once, so a follower on another machine reading the
/// shared filesystem sees each step), and keeps DIR/status.json current. The final export then adds
/// config, checkpoint and model without rewriting the streams a follower is reading.
/// </summary>
public sealed class LiveTrialWriter : IDisposable
{
    private readonly string _dir;
    private readonly StreamWriter _metrics, _samples, _events;
    private readonly Lock _gate = new();
    private int _totalSteps;

    public LiveTrialWriter(string trialDir)
    {
        _dir = Path.GetFullPath(trialDir);
        Directory.CreateDirectory(_dir);
        // The export marker first: the final export (and a rerun of the trial) may rewrite this folder.
        File.WriteAllText(Path.Combine(_dir, RunExport.MarkerFile), "written by RlGaf.Workbench train --live; its files may be rewritten by the next export here\n");
        // A rerun of the same trial starts its streams over.
        _metrics = Open(TrialFolder.MetricsFile);
        _samples = Open(TrialFolder.SamplesFile);
        _events = Open(TrialFolder.EventsFile);
    }

    public string Dir => _dir;

    private StreamWriter Open(string name) =>
        new(new FileStream(Path.Combine(_dir, name), FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete)) { AutoFlush = true };

    /// <summary>Subscribes to the run's events; writes the "running" status now.</summary>
    public void Attach(AdversarialRun run)
    {
        _totalSteps = run.Settings.Steps;
        WriteStatus("running", run.Step, null);
        run.MetricsLogged += (step, m) => Append(_metrics, new { step, metrics = m });
        run.SamplesLogged += list =>
        {
            foreach (var s in list)
                Append(_samples, new { step = s.Step, prompt_index = s.PromptIndex, prompt = s.Prompt, completion = s.Completion, disc_score = s.DiscScore, reward = s.Reward, verdict = s.Verdict });
        };
        run.EventRaised += e => Append(_events, new
        {
            step = e.Step, kind = e.Kind, message = e.Message, setting = e.Setting, old_value = e.OldValue, new_value = e.NewValue, time = e.Time.UtcDateTime,
        });
        run.StatusChanged += (status, message) =>
        {
            _totalSteps = run.Settings.Steps;
            if (status is RunStatus.Running or RunStatus.Pretraining) WriteStatus("running", run.Step, message);
        };
    }

    /// <summary>The final status (completed, failed, stopped...), written after the export so its files are complete when a follower sees it.</summary>
    public void Finish(string status, int step, string? message) => WriteStatus(status, step, message);

    private void Append<T>(StreamWriter w, T row)
    {
        var line = JsonSerializer.Serialize(row, TrialFolder.Json);
        lock (_gate) w.WriteLine(line);
    }

    private void WriteStatus(string status, int step, string? message)
    {
        lock (_gate)
            TrialFolder.WriteStatus(_dir, new TrialStatus(status, step, _totalSteps, message, Environment.MachineName, Environment.ProcessId,
                SlurmJobId(), DateTime.UtcNow));
    }

    /// <summary>The Slurm task this process runs as (array job_task), when it runs under Slurm.</summary>
    private static string? SlurmJobId()
    {
        var array = Environment.GetEnvironmentVariable("SLURM_ARRAY_JOB_ID");
        var task = Environment.GetEnvironmentVariable("SLURM_ARRAY_TASK_ID");
        return array is not null && task is not null ? $"{array}_{task}" : Environment.GetEnvironmentVariable("SLURM_JOB_ID");
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _metrics.Dispose();
            _samples.Dispose();
            _events.Dispose();
        }
    }
}
