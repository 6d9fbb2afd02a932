using System.Text.Json;
using System.Text.Json.Serialization;

namespace RlGaf.Workbench.Cluster;

/// <summary>
/// What a trial's process reports in its status file: written when training starts and again when it
/// ends (atomically: a reader sees the old one or the new one). Status uses the store's words
/// (running, completed, failed, stopped, paused, interrupted).
/// </summary>
public sealed record TrialStatus(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("step")] int Step,
    [property: JsonPropertyName("total_steps")] int TotalSteps,
    [property: JsonPropertyName("message")] string? Message,
    [property: JsonPropertyName("host")] string Host,
    [property: JsonPropertyName("pid")] int Pid,
    [property: JsonPropertyName("slurm_job_id")] string? SlurmJobId,
    [property: JsonPropertyName("time")] DateTime TimeUtc)
{
    public bool Ended => Status is not ("running" or "queued" or "pretraining");
}

/// <summary>
/// The files of one live trial folder (<c>train --out DIR --live</c>): metrics, samples and events are
/// appended line by line as the run produces them (the same JSON lines as <c>export</c> writes), the
/// status file says whether the process still trains, and the trial's own data root lives in data/, so
/// concurrent trials on a shared filesystem never share a LiteDB file.
/// </summary>
public static class TrialFolder
{
    public const string MetricsFile = "metrics.jsonl";
    public const string SamplesFile = "samples.jsonl";
    public const string EventsFile = "events.jsonl";
    public const string StatusFile = "status.json";
    public const string ConfigFile = "config.json";
    public const string DataDir = "data";

    public static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string DataRootOf(string trialDir) => Path.Combine(trialDir, DataDir);

    /// <summary>The status file, or null when it is missing or being replaced (a reader retries at the next poll).</summary>
    public static TrialStatus? ReadStatus(string trialDir)
    {
        var path = Path.Combine(trialDir, StatusFile);
        try { return File.Exists(path) ? JsonSerializer.Deserialize<TrialStatus>(File.ReadAllText(path), Json) : null; }
        catch (Exception e) when (e is IOException or JsonException) { return null; }
    }

    /// <summary>Temp file then rename: readers on the shared filesystem never see half a status.</summary>
    public static void WriteStatus(string trialDir, TrialStatus status)
    {
        var path = Path.Combine(trialDir, StatusFile);
        var temp = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(status, Json));
        File.Move(temp, path, overwrite: true);
    }
}
