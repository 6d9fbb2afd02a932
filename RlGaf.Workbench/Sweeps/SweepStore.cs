using System.Text.Json;
using System.Text.Json.Serialization;

namespace RlGaf.Workbench.Sweeps;

/// <summary>
/// Sweeps on disk: <c>DATA/sweeps/ID/</c> with sweep.json (the record), trials.json (every trial, its handle and
/// last report) and <c>trials/NNNN/</c> (each trial's folder). Each file is replaced whole (write, then move), so
/// a crash leaves the previous version, never half of one. Listed after a restart by reading the folders.
/// </summary>
public sealed class SweepStore(string dataRoot)
{
    public const string SweepFile = "sweep.json", TrialsFile = "trials.json";

    public string Root { get; } = Path.Combine(dataRoot, "sweeps");

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public string Dir(string id) => Path.Combine(Root, id);

    public string NewId()
    {
        Directory.CreateDirectory(Root);
        while (true)
        {
            var id = $"sw-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
            if (!Directory.Exists(Dir(id))) return id;
        }
    }

    public void Save(SweepRecord sweep, IReadOnlyList<TrialRecord> trials)
    {
        Directory.CreateDirectory(Dir(sweep.Id));
        Write(Path.Combine(Dir(sweep.Id), TrialsFile), JsonSerializer.Serialize(trials, Json));
        Write(Path.Combine(Dir(sweep.Id), SweepFile), JsonSerializer.Serialize(sweep, Json));
    }

    public (SweepRecord Sweep, List<TrialRecord> Trials)? Load(string id)
    {
        var dir = Dir(id);
        if (!File.Exists(Path.Combine(dir, SweepFile))) return null;
        try
        {
            var sweep = JsonSerializer.Deserialize<SweepRecord>(File.ReadAllText(Path.Combine(dir, SweepFile)), Json)!;
            var trials = File.Exists(Path.Combine(dir, TrialsFile))
                ? JsonSerializer.Deserialize<List<TrialRecord>>(File.ReadAllText(Path.Combine(dir, TrialsFile)), Json)! : [];
            return (sweep, trials);
        }
        catch (JsonException e) { throw new InvalidDataException($"{dir}: {e.Message}"); }
    }

    /// <summary>Every sweep folder that reads back, newest first (a damaged one is skipped, named in <paramref name="problems"/>).</summary>
    public IReadOnlyList<(SweepRecord Sweep, List<TrialRecord> Trials)> List(List<string>? problems = null)
    {
        if (!Directory.Exists(Root)) return [];
        var list = new List<(SweepRecord, List<TrialRecord>)>();
        foreach (var dir in Directory.GetDirectories(Root))
        {
            try { if (Load(Path.GetFileName(dir)) is { } s) list.Add(s); }
            catch (InvalidDataException e) { problems?.Add(e.Message); }
        }
        return list.OrderByDescending(s => s.Item1.CreatedUtc).ToList();
    }

    private static void Write(string path, string text)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}
