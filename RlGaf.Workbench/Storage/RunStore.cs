using LiteDB;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Runs;

namespace RlGaf.Workbench.Storage;

/// <summary>A run as the store keeps it (one document in "runs").</summary>
public sealed class RunRecord
{
    [BsonId] public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTime CreatedUtc { get; set; }
    public DateTime UpdatedUtc { get; set; }
    public RunStatus Status { get; set; }
    public string? Message { get; set; }
    public string Method { get; set; } = "";
    public string Dataset { get; set; } = "";
    public int Step { get; set; }
    public int TotalSteps { get; set; }
    public string SettingsJson { get; set; } = "";
    public string RunDir { get; set; } = "";
    /// <summary>The newest value of every metric (for run lists).</summary>
    public Dictionary<string, double> Latest { get; set; } = [];
}

/// <summary>The metrics logged at one step of one run.</summary>
/// <summary>Who serves a data root: the workbench's process id and, once it listens, an address the command line can reach.</summary>
public sealed record WorkbenchClaim(int Pid, string? Url);

public sealed class MetricPoint
{
    public ObjectId Id { get; set; } = ObjectId.NewObjectId();
    public string RunId { get; set; } = "";
    public int Step { get; set; }
    public Dictionary<string, double> Values { get; set; } = [];
}

public sealed class SampleDoc
{
    public ObjectId Id { get; set; } = ObjectId.NewObjectId();
    public string RunId { get; set; } = "";
    public int Step { get; set; }
    public int PromptIndex { get; set; }
    public string Prompt { get; set; } = "";
    public string Completion { get; set; } = "";
    public double DiscScore { get; set; }
    public double Reward { get; set; }
    public string? Verdict { get; set; }
}

public sealed class EventDoc
{
    public ObjectId Id { get; set; } = ObjectId.NewObjectId();
    public string RunId { get; set; } = "";
    public int Step { get; set; }
    public string Kind { get; set; } = "";
    public string Message { get; set; } = "";
    public string? Setting { get; set; }
    public string? OldValue { get; set; }
    public string? NewValue { get; set; }
    public DateTime TimeUtc { get; set; }
}

/// <summary>
/// Runs, metrics, samples and events in one LiteDB file (direct mode: one shared instance, one
/// writer and many readers in this process). Run directories with checkpoints live beside it under
/// {DataRoot}/runs. Thread-safe.
/// </summary>
public sealed class RunStore : IDisposable
{
    private readonly LiteDatabase _db;
    public string DataRoot { get; }
    public string RunsRoot => RunsRootOf(DataRoot);

    /// <summary>Where runs of a data root keep their files (checkpoints), also for processes that cannot open the database.</summary>
    public static string RunsRootOf(string dataRoot) => Path.Combine(dataRoot, "runs");
    public string ModelsRoot => Path.Combine(DataRoot, "models");

    private ILiteCollection<RunRecord> Runs => _db.GetCollection<RunRecord>("runs");
    private ILiteCollection<MetricPoint> Metrics => _db.GetCollection<MetricPoint>("metrics");
    private ILiteCollection<SampleDoc> Samples => _db.GetCollection<SampleDoc>("samples");
    private ILiteCollection<EventDoc> Events => _db.GetCollection<EventDoc>("events");

    public RunStore(string dataRoot)
    {
        DataRoot = Path.GetFullPath(dataRoot);
        Directory.CreateDirectory(DataRoot);
        Directory.CreateDirectory(RunsRoot);
        // LiteDB turns "" into null by default; an empty prompt is a real value here.
        var mapper = new BsonMapper { EmptyStringToNull = false, TrimWhitespace = false };
        _db = new LiteDatabase(new ConnectionString { Filename = Path.Combine(DataRoot, "rlgaf.db"), Connection = ConnectionType.Direct }, mapper);
        Metrics.EnsureIndex(m => m.RunId);
        Samples.EnsureIndex(s => s.RunId);
        Events.EnsureIndex(e => e.RunId);
    }

    /// <summary>Registers a new run and returns it (id, run directory).</summary>
    public RunRecord Create(RunSettings settings, string? name = null)
    {
        var id = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss") + "-" + Guid.NewGuid().ToString("N")[..4];
        var now = DateTime.UtcNow;
        var r = new RunRecord
        {
            Id = id, Name = name ?? $"{Kebab(settings.Method.ToString())} {settings.Dataset} s{settings.Seed}",
            CreatedUtc = now, UpdatedUtc = now, Status = RunStatus.Queued,
            Method = Kebab(settings.Method.ToString()), Dataset = settings.Dataset, TotalSteps = settings.Steps,
            SettingsJson = settings.ToJson(), RunDir = Path.Combine(RunsRoot, id),
        };
        Runs.Insert(r);
        return r;
    }

    public RunRecord? Get(string id) => Runs.FindById(id);
    public IReadOnlyList<RunRecord> List() => Runs.FindAll().OrderByDescending(r => r.CreatedUtc).ToList();

    public void Update(RunRecord record)
    {
        record.UpdatedUtc = DateTime.UtcNow;
        Runs.Update(record);
    }

    public void SetStatus(string id, RunStatus status, string? message, int? step = null, RunSettings? settings = null)
    {
        var r = Get(id) ?? throw new KeyNotFoundException($"run '{id}' does not exist.");
        r.Status = status;
        r.Message = message;
        if (step is { } s) r.Step = s;
        if (settings is not null) { r.SettingsJson = settings.ToJson(); r.TotalSteps = settings.Steps; }
        Update(r);
    }

    /// <summary>Records the settings in force after a live change (so the pages, clone and the API show them).</summary>
    public void UpdateSettings(string id, RunSettings settings)
    {
        var r = Get(id);
        if (r is null) return;
        r.SettingsJson = settings.ToJson();
        r.TotalSteps = settings.Steps;
        Update(r);
    }

    public void AddMetrics(string id, int step, IReadOnlyDictionary<string, double> values)
    {
        Metrics.Insert(new MetricPoint { RunId = id, Step = step, Values = new(values) });
        var r = Get(id);
        if (r is null) return;
        foreach (var (k, v) in values) r.Latest[k] = v;
        r.Step = Math.Max(r.Step, step);
        Update(r);
    }

    public void AddSamples(string id, IReadOnlyList<SampleRecord> samples) =>
        Samples.InsertBulk(samples.Select(s => new SampleDoc
        {
            RunId = id, Step = s.Step, PromptIndex = s.PromptIndex, Prompt = s.Prompt, Completion = s.Completion,
            DiscScore = s.DiscScore, Reward = s.Reward, Verdict = s.Verdict,
        }));

    public void AddEvent(string id, RunEvent e) => Events.Insert(new EventDoc
    {
        RunId = id, Step = e.Step, Kind = e.Kind, Message = e.Message, Setting = e.Setting,
        OldValue = e.OldValue, NewValue = e.NewValue, TimeUtc = e.Time.UtcDateTime,
    });

    /// <summary>Drops what was logged after <paramref name="step"/> (a run continuing from a checkpoint there), so curves never double back.</summary>
    public void TruncateAfter(string id, int step)
    {
        Metrics.DeleteMany(m => m.RunId == id && m.Step > step);
        Samples.DeleteMany(s => s.RunId == id && s.Step > step);
        Events.DeleteMany(e => e.RunId == id && e.Step > step);
        var r = Get(id);
        if (r is null) return;
        r.Step = Math.Max(step, 0);
        r.Latest = [];
        foreach (var p in GetMetrics(id)) foreach (var (k, v) in p.Values) r.Latest[k] = v;
        Update(r);
    }

    public IReadOnlyList<MetricPoint> GetMetrics(string id, int afterStep = int.MinValue) =>
        Metrics.Find(m => m.RunId == id && m.Step > afterStep).OrderBy(m => m.Step).ThenBy(m => m.Id).ToList();

    public IReadOnlyList<SampleDoc> GetSamples(string id) =>
        Samples.Find(s => s.RunId == id).OrderBy(s => s.Step).ThenBy(s => s.PromptIndex).ToList();

    public IReadOnlyList<EventDoc> GetEvents(string id) =>
        Events.Find(e => e.RunId == id).OrderBy(e => e.Step).ThenBy(e => e.TimeUtc).ToList();

    public void Delete(string id)
    {
        var r = Get(id);
        Metrics.DeleteMany(m => m.RunId == id);
        Samples.DeleteMany(s => s.RunId == id);
        Events.DeleteMany(e => e.RunId == id);
        Runs.Delete(id);
        if (r is not null && Directory.Exists(r.RunDir)) Directory.Delete(r.RunDir, true);
    }

    private const string OwnerFile = "workbench.pid";

    /// <summary>
    /// The web workbench claims its data root while it runs (LiteDB's direct mode has one writer
    /// process): writing from a second process could corrupt the database, so the command line checks
    /// <see cref="RunningWorkbench"/> first and, given the claim's address, goes through the HTTP API.
    /// </summary>
    public void ClaimForWorkbench(string? url = null) =>
        File.WriteAllText(Path.Combine(DataRoot, OwnerFile), System.Text.Json.JsonSerializer.Serialize(new WorkbenchClaim(Environment.ProcessId, url)));

    public void ReleaseWorkbenchClaim()
    {
        if (ReadClaim(DataRoot) is { } c && c.Pid == Environment.ProcessId) File.Delete(Path.Combine(DataRoot, OwnerFile));
    }

    /// <summary>The live workbench serving <paramref name="dataRoot"/> (another process), or null.</summary>
    public static WorkbenchClaim? RunningWorkbench(string dataRoot)
    {
        if (ReadClaim(dataRoot) is not { } claim || claim.Pid == Environment.ProcessId) return null;
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(claim.Pid);
            return p.HasExited ? null : claim;
        }
        catch (ArgumentException) { return null; } // no such process: a stale claim
    }

    private static WorkbenchClaim? ReadClaim(string dataRoot)
    {
        var path = Path.Combine(dataRoot, OwnerFile);
        if (!File.Exists(path)) return null;
        var text = File.ReadAllText(path).Trim();
        if (int.TryParse(text, out int pid)) return new WorkbenchClaim(pid, null); // a bare process id: no address known
        try { return System.Text.Json.JsonSerializer.Deserialize<WorkbenchClaim>(text); }
        catch (System.Text.Json.JsonException) { return null; }
    }

    internal static string Kebab(string name) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(name);

    public void Dispose() => _db.Dispose();
}
