using System.Text.Json;
using System.Text.Json.Serialization;
using RlGaf.Engine.Runtime;

namespace RlGaf.Engine.Experiments;

/// <summary>One line of a suite run's journal: a training step's or an evaluation's metrics, or a collapse alert.</summary>
public sealed record JournalEntry
{
    [JsonPropertyName("step")] public int Step { get; init; }
    /// <summary>train, eval or collapse.</summary>
    [JsonPropertyName("kind")] public string Kind { get; init; } = "";
    /// <summary>Training seconds so far (from the step-0 evaluation), across sittings.</summary>
    [JsonPropertyName("clock")] public double Clock { get; init; }
    [JsonPropertyName("metrics")] public Dictionary<string, double>? Metrics { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
}

/// <summary>
/// What the suite learns from a run as it trains (RUN/suite-journal.jsonl, one line per training step,
/// evaluation and collapse alert), so a run continued from its checkpoint after the process died still
/// reports the curve, the last training figures and the alerts from before. Opening the journal of a
/// run continued from step c keeps the lines up to c and drops the rest: what the dead process logged
/// after its last checkpoint is redone (bit-identically) by the continued run. A torn last line (a kill
/// mid-write) ends the kept part.
/// </summary>
public sealed class SuiteRunJournal
{
    public const string FileName = "suite-journal.jsonl";
    private static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private readonly string _path;
    private readonly List<JournalEntry> _entries;

    private SuiteRunJournal(string path, List<JournalEntry> entries)
    {
        _path = path;
        _entries = entries;
    }

    public IReadOnlyList<JournalEntry> Entries => _entries;

    /// <summary>
    /// The journal of a run in <paramref name="runDir"/>: a fresh one when <paramref name="keepUpToStep"/>
    /// is null (a new run, or one that starts over), else the entries up to that step (the checkpoint a
    /// continued run starts from). The file is rewritten with what is kept, atomically.
    /// </summary>
    public static SuiteRunJournal Open(string runDir, int? keepUpToStep)
    {
        var path = Path.Combine(runDir, FileName);
        var kept = new List<JournalEntry>();
        if (keepUpToStep is { } upTo && File.Exists(path))
        {
            foreach (var line in File.ReadLines(path))
            {
                JournalEntry? e;
                try { e = JsonSerializer.Deserialize<JournalEntry>(line, Json); }
                catch (JsonException) { break; } // torn by a kill: nothing after it was written whole
                if (e is null) break;
                if (e.Step <= upTo) kept.Add(e);
            }
        }
        DurableFiles.WriteAllTextAtomic(path, string.Concat(kept.Select(e => JsonSerializer.Serialize(e, Json) + "\n")));
        return new SuiteRunJournal(path, kept);
    }

    public void Append(JournalEntry e)
    {
        _entries.Add(e);
        File.AppendAllText(_path, JsonSerializer.Serialize(e, Json) + "\n");
    }

    /// <summary>Training seconds recorded so far (0 before the step-0 evaluation).</summary>
    public double Clock => _entries.Count == 0 ? 0 : _entries[^1].Clock;
}
