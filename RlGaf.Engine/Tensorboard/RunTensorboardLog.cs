using RlGaf.Engine.Runs;

namespace RlGaf.Engine.Tensorboard;

/// <summary>
/// Live TensorBoard logging of a run (setting tensorboard = true): a new event file in RUN_DIR/tensorboard
/// per process start, as TensorBoard expects, holding the run's metrics at their steps, each evaluation's
/// samples as a markdown table, events (setting changes, alerts, pauses) as text, and the settings as
/// HParams. Flushed after every step. A continuation from a checkpoint writes a restart marker, so
/// TensorBoard drops what an earlier process logged after that checkpoint. A write that fails (a full
/// disk) turns the log off with a message; it never fails the run.
/// </summary>
public sealed class RunTensorboardLog : IDisposable
{
    public const string Folder = "tensorboard";

    private readonly AdversarialRun _run;
    private readonly EventFileWriter _writer;
    private readonly SortedSet<string> _tags = new(StringComparer.Ordinal);
    private readonly RunSettings _settings;
    private readonly double _start = EventFileWriter.Now();
    private bool _failed;

    private RunTensorboardLog(AdversarialRun run, RunSettings settings)
    {
        _run = run;
        _settings = settings;
        _writer = new EventFileWriter(Path.Combine(run.RunDir, Folder), _start);
        run.MetricsLogged += OnMetrics;
        run.SamplesLogged += OnSamples;
        run.EventRaised += OnEvent;
        run.ResumedFromCheckpoint += OnResumed;
        run.StatusChanged += OnStatus;
        // The values now, so a process killed later still leaves them; the experiment (metric columns) comes at the end.
        Guard(() => { _writer.SessionStart(settings, _start); _writer.Flush(); });
    }

    /// <summary>Starts logging <paramref name="run"/> with the settings it starts with; null when the setting is off.</summary>
    public static RunTensorboardLog? Attach(AdversarialRun run, RunSettings settings)
    {
        if (!settings.Tensorboard) return null;
        try { return new RunTensorboardLog(run, settings); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The run matters more than its TensorBoard copy: it trains, and says why there is none.
            run.ReportLog($"tensorboard: cannot write into {Path.Combine(run.RunDir, Folder)} ({e.Message}); the run trains without TensorBoard files.");
            return null;
        }
    }

    private void OnMetrics(int step, IReadOnlyDictionary<string, double> metrics) => Guard(() =>
    {
        foreach (var k in metrics.Keys) _tags.Add(k);
        _writer.Scalars(step, metrics);
        _writer.Flush();
    });

    private void OnSamples(IReadOnlyList<Adversarial.SampleRecord> samples) => Guard(() =>
    {
        foreach (var step in samples.GroupBy(s => s.Step))
            _writer.Text(step.Key, EventFileWriter.SamplesTag, EventFileWriter.SamplesMarkdown(step.OrderBy(s => s.PromptIndex)));
        _writer.Flush();
    });

    private void OnEvent(RunEvent e) => Guard(() =>
    {
        _writer.Text(e.Step, EventFileWriter.EventsTag, EventFileWriter.EventMarkdown(e.Kind, e.Message), EventFileWriter.WallTime(e.Time.UtcDateTime));
        _writer.Flush();
    });

    private void OnResumed(int step) => Guard(() => _writer.Restart(step, $"continued from the checkpoint at step {step}"));

    private void OnStatus(RunStatus status, string? message) => Guard(() =>
    {
        if (status is RunStatus.Running or RunStatus.Pretraining or RunStatus.Queued) return;
        _writer.Flush();
    });

    private void Guard(Action write)
    {
        if (_failed) return;
        try { write(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _failed = true;
            _run.ReportLog($"tensorboard: writing {_writer.FilePath} failed ({e.Message}); TensorBoard logging is off until the run restarts.");
        }
    }

    /// <summary>
    /// Ends the file: the HParams experiment (it lists the metrics this process logged: the dashboard's
    /// columns) and the session's end status.
    /// </summary>
    public void Dispose()
    {
        _run.MetricsLogged -= OnMetrics;
        _run.SamplesLogged -= OnSamples;
        _run.EventRaised -= OnEvent;
        _run.ResumedFromCheckpoint -= OnResumed;
        _run.StatusChanged -= OnStatus;
        Guard(() =>
        {
            _writer.Experiment(_settings, _tags, _start);
            _writer.SessionEnd(_run.Status, _run.Step);
            _writer.Flush();
        });
        _writer.Dispose();
    }
}
