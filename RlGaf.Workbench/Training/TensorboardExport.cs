using RlGaf.Engine.Runs;
using RlGaf.Engine.Tensorboard;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Training;

/// <summary>
/// A stored run as one TensorBoard event file: every logged metric under its name at its step (wall time
/// from when it was stored), each evaluation's samples as a markdown table, events as text, the settings
/// the run started with as HParams (with the experiment listing every setting and metric) and its status
/// as the session's end. `tensorboard --logdir DIR` shows it; so do `wandb sync --sync-tensorboard DIR`
/// and `aim convert tensorboard --logdir DIR`. The target folder follows <see cref="RunExport"/>'s rules.
/// </summary>
public static class TensorboardExport
{
    /// <summary>Writes the event file into <paramref name="outDir"/> (new, empty, or an earlier export's); returns its path.</summary>
    public static string Write(RunStore store, string id, string outDir)
    {
        RunExport.CheckTarget(outDir);
        var record = store.Get(id) ?? throw new KeyNotFoundException($"run '{id}' does not exist.");
        Directory.CreateDirectory(outDir);
        RunExport.Mark(outDir);
        return WriteFile(record, store.GetMetrics(id), store.GetSamples(id), store.GetEvents(id).Select(EventView.From).ToList(), outDir);
    }

    /// <summary>The event file's name and bytes (the API's download).</summary>
    public static (string Name, byte[] Bytes) ToBytes(RunStore store, string id)
    {
        var record = store.Get(id) ?? throw new KeyNotFoundException($"run '{id}' does not exist.");
        var dir = Directory.CreateTempSubdirectory("rlgaf-tensorboard-").FullName;
        try
        {
            var path = WriteFile(record, store.GetMetrics(id), store.GetSamples(id), store.GetEvents(id).Select(EventView.From).ToList(), dir);
            return (Path.GetFileName(path), File.ReadAllBytes(path));
        }
        finally { Directory.Delete(dir, true); }
    }

    private static string WriteFile(RunRecord record, IReadOnlyList<MetricPoint> metrics, IReadOnlyList<SampleDoc> samples, IReadOnlyList<EventView> events, string dir)
    {
        var settings = StartSettings(RunSettings.FromJson(record.SettingsJson, $"run {record.Id}"), events, record.ForkStep);
        double start = EventFileWriter.WallTime(record.CreatedUtc);
        using var w = new EventFileWriter(dir, start);
        w.SessionStart(settings, start);
        foreach (var p in metrics) w.Scalars(p.Step, p.Values, EventFileWriter.WallTime(p.Id.CreationTime));
        foreach (var step in samples.GroupBy(s => s.Step).OrderBy(g => g.Key))
            w.Text(step.Key, EventFileWriter.SamplesTag,
                EventFileWriter.SamplesMarkdown(step.OrderBy(s => s.PromptIndex).Select(s => (s.PromptIndex, s.Prompt, s.Completion, s.DiscScore, s.Reward, s.Verdict))),
                WallTimeOfStep(metrics, step.Key) ?? start);
        foreach (var e in events) w.Text(e.Step, EventFileWriter.EventsTag, EventFileWriter.EventMarkdown(e.Kind, e.Message), EventFileWriter.WallTime(e.TimeUtc));
        w.Experiment(settings, metrics.SelectMany(p => p.Values.Keys).Distinct().Order(StringComparer.Ordinal), start);
        w.SessionEnd(record.Status, record.Step, EventFileWriter.WallTime(record.UpdatedUtc));
        w.Flush();
        return w.FilePath;
    }

    private static double? WallTimeOfStep(IReadOnlyList<MetricPoint> metrics, int step) =>
        metrics.LastOrDefault(p => p.Step == step) is { } p ? EventFileWriter.WallTime(p.Id.CreationTime) : null;

    /// <summary>
    /// The settings the run started with: those in force now with its live changes undone, newest first
    /// (a fork's changes at its fork step are its own settings, not live changes: they stay).
    /// </summary>
    public static RunSettings StartSettings(RunSettings inForce, IReadOnlyList<EventView> events, int? forkStep)
    {
        var s = inForce;
        foreach (var e in events.Where(e => e.Kind == RunEventKinds.Setting && e.Setting is not null && e.OldValue is not null && e.Step != forkStep).Reverse())
        {
            try { s = s.With(e.Setting!, e.OldValue!); }
            catch (ArgumentException) { /* a setting this version no longer knows: keep the value in force */ }
        }
        return s;
    }
}
