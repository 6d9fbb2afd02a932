using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Training;

/// <summary>
/// Exports a run as files: config.json, metrics.jsonl ({"step": N, "metrics": {...}} per logged step),
/// samples.jsonl, events.jsonl, and the final checkpoint (plus the generator as a model directory).
/// It writes only into a new or empty folder, or one an earlier export made (it leaves a marker file
/// there): a folder holding anything else is refused before a byte is written, so an export never
/// deletes or overwrites files it did not write.
/// </summary>
public static class RunExport
{
    /// <summary>Left in every export folder: the folder is this tool's to rewrite.</summary>
    public const string MarkerFile = ".rlgaf-export";

    /// <summary>Leaves <see cref="MarkerFile"/> in an export folder: later exports may rewrite what is in it.</summary>
    public static void Mark(string outDir) =>
        File.WriteAllText(Path.Combine(outDir, MarkerFile), "written by RlGaf.Workbench export; its files may be rewritten by the next export here\n");

    /// <summary>ArgumentException naming --out when <paramref name="outDir"/> holds files an export did not write (called before training too).</summary>
    public static void CheckTarget(string outDir)
    {
        var full = Path.GetFullPath(outDir);
        if (File.Exists(full)) throw new ArgumentException($"--out: '{full}' is a file, not a folder. Nothing was written.");
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any() && !File.Exists(Path.Combine(full, MarkerFile)))
            throw new ArgumentException($"--out: '{full}' already holds files that no export wrote; give a new or empty folder " +
                                        "(an export never overwrites or deletes files it did not write). Nothing was written.");
    }

    private static readonly JsonSerializerOptions Line = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <param name="streams">False when <c>train --live</c> already appended metrics, samples and events there (a follower may be reading them).</param>
    public static void Write(RunStore store, string id, string runDir, string outDir, bool streams = true)
    {
        var record = store.Get(id) ?? throw new KeyNotFoundException($"run '{id}' does not exist.");
        Write(record.SettingsJson, store.GetMetrics(id), store.GetSamples(id), store.GetEvents(id).Select(EventView.From).ToList(), runDir, outDir, streams);
    }

    /// <summary>The same files from data read elsewhere (the command line reads it over the HTTP API while a workbench owns the store).</summary>
    public static void Write(string settingsJson, IReadOnlyList<MetricPoint> metrics, IReadOnlyList<SampleDoc> samples, IReadOnlyList<EventView> events,
        string runDir, string outDir, bool streams = true)
    {
        CheckTarget(outDir);
        Directory.CreateDirectory(outDir);
        Mark(outDir); // the marker first: a half-finished export can be redone into the same folder
        File.WriteAllText(Path.Combine(outDir, "config.json"), settingsJson);
        if (streams) WriteStreams(metrics, samples, events, outDir);
        var latest = RunCheckpoint.LatestGood(runDir, []);
        if (latest is { } c)
        {
            var target = Path.Combine(outDir, "checkpoint");
            if (Directory.Exists(target)) Directory.Delete(target, true);
            Directory.CreateDirectory(target);
            foreach (var f in Directory.GetFiles(c.Path)) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
            RunCheckpoint.ExportGenerator(runDir, c.Path, Path.Combine(outDir, "model"));
        }
    }

    private static void WriteStreams(IReadOnlyList<MetricPoint> metrics, IReadOnlyList<SampleDoc> samples, IReadOnlyList<EventView> events, string outDir)
    {
        WriteLines(Path.Combine(outDir, "metrics.jsonl"), metrics.Select(p => new { step = p.Step, metrics = p.Values }));
        WriteLines(Path.Combine(outDir, "samples.jsonl"), samples.Select(s => new
        {
            step = s.Step, prompt_index = s.PromptIndex, prompt = s.Prompt, completion = s.Completion,
            disc_score = s.DiscScore, reward = s.Reward, verdict = s.Verdict,
        }));
        WriteLines(Path.Combine(outDir, "events.jsonl"), events.Select(e => new
        {
            step = e.Step, kind = e.Kind, message = e.Message, setting = e.Setting, old_value = e.OldValue, new_value = e.NewValue, time = e.TimeUtc,
        }));
    }

    private static void WriteLines<T>(string path, IEnumerable<T> rows)
    {
        using var w = new StreamWriter(path);
        foreach (var r in rows) w.WriteLine(JsonSerializer.Serialize(r, Line));
    }
}
