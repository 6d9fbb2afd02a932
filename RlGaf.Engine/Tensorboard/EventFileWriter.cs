using System.Text;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Runs;

namespace RlGaf.Engine.Tensorboard;

/// <summary>
/// Writes one TensorBoard event file (events.out.tfevents.TIME.HOST.PID.N) in a folder: scalars under
/// their metric names, text summaries (markdown), the settings as HParams, restarts. Each record is
/// framed by <see cref="TfRecord"/>; <see cref="Flush"/> hands them to the OS, so TensorBoard reading
/// the folder sees them at once. TorchSharp's SummaryWriter is not used: it has no HParams, takes int32
/// steps and whole-second wall times, and reopens the file for every event.
/// Scalars are float32 in the format (simple_value); metrics.jsonl keeps full precision.
/// </summary>
public sealed class EventFileWriter : IDisposable
{
    private readonly FileStream _file;
    private static int _sequence;

    public string FilePath { get; }

    /// <summary>Creates a new event file in <paramref name="directory"/> (created if missing); a new file per writer, never appended to.</summary>
    public EventFileWriter(string directory, double? wallTime = null)
    {
        Directory.CreateDirectory(directory);
        double now = wallTime ?? Now();
        string host = new string(Environment.MachineName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());
        while (true)
        {
            string name = $"events.out.tfevents.{(long)now:D10}.{host}.{Environment.ProcessId}.{Interlocked.Increment(ref _sequence)}";
            FilePath = Path.Combine(directory, name);
            try { _file = new FileStream(FilePath, FileMode.CreateNew, FileAccess.Write, FileShare.Read); break; }
            catch (IOException) when (File.Exists(FilePath)) { /* a name taken by an earlier writer: the next number */ }
        }
        TfRecord.Write(_file, EventMessages.FileVersionEvent(now));
        _file.Flush();
    }

    /// <summary>Seconds since the Unix epoch, with the fraction (TensorBoard's wall_time).</summary>
    public static double Now() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / (double)TimeSpan.TicksPerSecond;

    public static double WallTime(DateTime utc) => (utc - DateTime.UnixEpoch).Ticks / (double)TimeSpan.TicksPerSecond;

    /// <summary>One event holding every scalar of a step.</summary>
    public void Scalars(long step, IEnumerable<KeyValuePair<string, double>> values, double? wallTime = null)
    {
        var list = values.ToList();
        if (list.Count == 0) return;
        Write(EventMessages.SummaryEvent(wallTime ?? Now(), step, s => { foreach (var (k, v) in list) EventMessages.Scalar(s, k, v); }));
    }

    /// <summary>A text summary (markdown, as the text plugin renders it) under <paramref name="tag"/>.</summary>
    public void Text(long step, string tag, string markdown, double? wallTime = null) =>
        Write(EventMessages.SummaryEvent(wallTime ?? Now(), step, s => EventMessages.Text(s, tag, markdown)));

    /// <summary>This session's settings as HParams values (every setting; numbers and booleans typed, the rest as text).</summary>
    public void SessionStart(RunSettings settings, double startTime, string group = "") =>
        Write(EventMessages.SummaryEvent(startTime, 0, s => EventMessages.SessionStart(s,
            RunSettings.Metadata.Select(m => (m.Key, EventMessages.SettingValue(settings, m.Key))), group, startTime)));

    /// <summary>The HParams experiment: every setting with its help, and the metric tags (the dashboard's columns).</summary>
    public void Experiment(RunSettings settings, IEnumerable<string> metricTags, double time) =>
        Write(EventMessages.SummaryEvent(time, 0, s => EventMessages.Experiment(s,
            RunSettings.Metadata.Select(m => (m.Key, m.Help, EventMessages.SettingValue(settings, m.Key), EventMessages.SettingDomain(m.Key))), metricTags, time)));

    /// <summary>The session's end: its status as the HParams dashboard shows it.</summary>
    public void SessionEnd(RunStatus status, long step, double? wallTime = null)
    {
        int code = status switch { RunStatus.Completed => 1, RunStatus.Failed => 2, RunStatus.Running or RunStatus.Pretraining or RunStatus.Queued => 3, _ => 0 };
        double t = wallTime ?? Now();
        Write(EventMessages.SummaryEvent(t, step, s => EventMessages.SessionEnd(s, code, t)));
    }

    /// <summary>
    /// The run continues from its checkpoint at <paramref name="checkpointStep"/>: what earlier files logged
    /// after that step is void, and TensorBoard drops it on this SessionLog START (written at the next step).
    /// </summary>
    public void Restart(long checkpointStep, string message, double? wallTime = null) =>
        Write(EventMessages.SessionStartEvent(wallTime ?? Now(), checkpointStep + 1, message));

    public void Flush() => _file.Flush();

    private void Write(byte[] record) => TfRecord.Write(_file, record);

    public void Dispose() => _file.Dispose();

    /// <summary>Tags of the text summaries.</summary>
    public const string SamplesTag = "samples", EventsTag = "events";

    /// <summary>One evaluation's samples as a markdown table (the text plugin renders tables).</summary>
    public static string SamplesMarkdown(IEnumerable<(int PromptIndex, string Prompt, string Completion, double DiscScore, double Reward, string? Verdict)> rows)
    {
        var sb = new StringBuilder("| # | prompt | completion | disc score | reward | verdict |\n| --- | --- | --- | --- | --- | --- |\n");
        foreach (var r in rows)
            sb.Append($"| {r.PromptIndex} | {Cell(r.Prompt)} | {Cell(r.Completion)} | {Number(r.DiscScore)} | {Number(r.Reward)} | {Cell(r.Verdict ?? "")} |\n");
        return sb.ToString();
    }

    public static string SamplesMarkdown(IEnumerable<SampleRecord> samples) =>
        SamplesMarkdown(samples.Select(s => (s.PromptIndex, s.Prompt, s.Completion, s.DiscScore, s.Reward, s.Verdict)));

    /// <summary>A run event as one line of markdown: "**kind**: message".</summary>
    public static string EventMarkdown(string kind, string message) => $"**{kind}**: {Cell(message)}";

    private static string Number(double v) => v.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Table cells: pipes escaped, line breaks as spaces, markdown's emphasis characters escaped so text shows as written.</summary>
    private static string Cell(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (c is '\r' or '\n') sb.Append(' ');
            else if (c is '|' or '\\' or '*' or '_' or '`' or '<' or '[' or ']' or '#') sb.Append('\\').Append(c);
            else sb.Append(c);
        }
        return sb.ToString();
    }
}
