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
    /// <summary>A fork's parent run (null: not a fork).</summary>
    public string? Parent { get; set; }
    /// <summary>The parent's step a fork started from (its kept checkpoint there).</summary>
    public int? ForkStep { get; set; }
    /// <summary>Labels the user gave the run (see <see cref="RunLabels"/> for what a tag may be).</summary>
    public List<string> Tags { get; set; } = [];
    /// <summary>The user's free-text note ("" for none).</summary>
    public string Note { get; set; } = "";
    /// <summary>Last, min and max of every metric, kept as metrics are appended so the run table never scans the metric points.</summary>
    public Dictionary<string, MetricSummary> Summaries { get; set; } = [];
    /// <summary>The long phase in progress (pretraining, reward model, evaluation...), or null between phases.</summary>
    public PhaseState? Phase { get; set; }
    /// <summary>The loss curve of each long phase that has one (phase name → points, thinned to at most <see cref="PhaseState.MaxCurvePoints"/>).</summary>
    public Dictionary<string, List<PhasePoint>> PhaseCurves { get; set; } = [];
}

/// <summary>One metric's figures over a run: the last value (and its step), the smallest and the largest finite value.</summary>
public sealed class MetricSummary
{
    public double Last { get; set; } = double.NaN;
    public int LastStep { get; set; }
    public double Min { get; set; } = double.NaN;
    public double Max { get; set; } = double.NaN;
    public int Count { get; set; }

    public void Add(int step, double v)
    {
        Count++;
        if (step >= LastStep || Count == 1) { Last = v; LastStep = step; }
        if (!double.IsFinite(v)) return;
        if (double.IsNaN(Min) || v < Min) Min = v;
        if (double.IsNaN(Max) || v > Max) Max = v;
    }
}

/// <summary>Where a run's current long phase stands, as the store keeps it (from <see cref="PhaseProgress"/>).</summary>
public sealed class PhaseState
{
    public const int MaxCurvePoints = 400;
    public string Name { get; set; } = "";
    public int Step { get; set; }
    public int Total { get; set; }
    public double? Loss { get; set; }
    public double ElapsedSeconds { get; set; }
    public double? EtaSeconds { get; set; }
    public DateTime UpdatedUtc { get; set; }

    public static PhaseState From(PhaseProgress p) => new()
    {
        Name = p.Phase, Step = p.Step, Total = p.Total, Loss = p.Loss, ElapsedSeconds = p.ElapsedSeconds, EtaSeconds = p.EtaSeconds, UpdatedUtc = DateTime.UtcNow,
    };
}

/// <summary>One point of a phase's loss curve.</summary>
public sealed class PhasePoint
{
    public int Step { get; set; }
    public double Loss { get; set; }
}

/// <summary>The metrics logged at one step of one run.</summary>
/// <summary>
/// Who serves a data root: the workbench's process id, once it listens an address the command line can
/// reach, and the access token it requires (null: none), so the command line hands off without asking.
/// The file is readable by its owner only (0600) and lives outside the web root.
/// </summary>
public sealed record WorkbenchClaim(int Pid, string? Url, string? Token = null)
{
    /// <summary>Without the token: a claim may end up in a message or a log.</summary>
    public override string ToString() => $"WorkbenchClaim {{ Pid = {Pid}, Url = {Url}, Token = {(Token is null ? "none" : "(set)")} }}";
}

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
/// rlgaf.db cannot be opened (not a LiteDB file, or damaged): the message names the file and the way
/// out (RlGaf:RebuildStore moves it aside and rebuilds the run list from the run folders).
/// </summary>
public sealed class StoreCorruptException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Runs, metrics, samples and events in one LiteDB file (direct mode: one shared instance, one
/// writer and many readers in this process). Run directories with checkpoints live beside it under
/// {DataRoot}/runs. The store holds its data root's <see cref="StoreLock"/> while it is open, so one
/// process at a time opens the database. Thread-safe.
/// </summary>
public sealed class RunStore : IDisposable
{
    private readonly LiteDatabase _db;
    /// <summary>Serialises read-modify-write of run records: the run's thread (metrics, status) and a request (tags, note) never undo each other.</summary>
    private readonly Lock _records = new();
    public string DataRoot { get; }
    public string RunsRoot => RunsRootOf(DataRoot);

    /// <summary>Where runs of a data root keep their files (checkpoints), also for processes that cannot open the database.</summary>
    public static string RunsRootOf(string dataRoot) => Path.Combine(dataRoot, "runs");
    public string ModelsRoot => Path.Combine(DataRoot, "models");

    private ILiteCollection<RunRecord> Runs => _db.GetCollection<RunRecord>("runs");
    private ILiteCollection<MetricPoint> Metrics => _db.GetCollection<MetricPoint>("metrics");
    private ILiteCollection<SampleDoc> Samples => _db.GetCollection<SampleDoc>("samples");
    private ILiteCollection<EventDoc> Events => _db.GetCollection<EventDoc>("events");

    /// <summary>The data root's one-writer lock, held until <see cref="Dispose"/>.</summary>
    public StoreLock Lock { get; }

    public const string DatabaseFile = "rlgaf.db";
    /// <summary>The configuration key (and, as RlGaf__RebuildStore, the environment variable) of the way out of a corrupt database.</summary>
    public const string RebuildKey = "RlGaf:RebuildStore";

    /// <summary>Where a corrupt database was moved when this store rebuilt the run list, or null.</summary>
    public string? MovedAside { get; }
    /// <summary>What a rebuild restored and skipped, one line per run folder (empty without a rebuild).</summary>
    public IReadOnlyList<string> RebuildReport { get; } = [];

    /// <summary>
    /// Opens the store under <paramref name="storeLock"/> (taken for <paramref name="dataRoot"/>; the store
    /// releases it when disposed), or under a lock it takes itself. Throws <see cref="StoreLockException"/>
    /// when another process holds the data root.
    /// </summary>
    /// <param name="dataRoot">The data root (created if missing).</param>
    /// <param name="storeLock">The data root's lock, already taken by the caller (who named itself in it), or null.</param>
    /// <param name="rebuildIfCorrupt">When rlgaf.db cannot be opened: move it aside as rlgaf.db.corrupt-TIMESTAMP and
    /// rebuild the run list from the run folders, instead of throwing <see cref="StoreCorruptException"/>.</param>
    public RunStore(string dataRoot, StoreLock? storeLock = null, bool rebuildIfCorrupt = false)
    {
        DataRoot = Path.GetFullPath(dataRoot);
        if (storeLock is not null && storeLock.DataRoot != DataRoot)
        {
            storeLock.Dispose(); // it was handed over: released, not leaked
            throw new ArgumentException($"the lock is for {storeLock.DataRoot}, not {DataRoot}.", nameof(storeLock));
        }
        // The lock comes first: nothing under the data root is touched before this process owns it.
        Lock = storeLock ?? StoreLock.Acquire(DataRoot, "store");
        try
        {
            Directory.CreateDirectory(RunsRoot);
            var path = Path.Combine(DataRoot, DatabaseFile);
            try { _db = Open(path); }
            catch (Exception e) when (IsCorrupt(e))
            {
                if (!rebuildIfCorrupt)
                    throw new StoreCorruptException(
                        $"{path} cannot be opened: it is damaged or not a LiteDB database ({e.GetType().Name}: {e.Message}). " +
                        $"The run folders under {RunsRoot} hold every run's settings, checkpoints, events and evaluation metrics: start again with " +
                        $"--{RebuildKey}=true (or the environment variable RlGaf__RebuildStore=true) to move the file aside as {DatabaseFile}.corrupt-TIMESTAMP " +
                        "and rebuild the run list from them (per-step training metrics and samples lived only in the database and are not recovered).", e);
                MovedAside = $"{path}.corrupt-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
                File.Move(path, MovedAside);
                // LiteDB 5 keeps uncommitted pages in a -log file beside it: it belongs to the damaged file.
                var log = Path.Combine(DataRoot, "rlgaf-log.db");
                if (File.Exists(log)) File.Move(log, MovedAside + "-log");
                _db = Open(path);
                RebuildReport = RebuildFromFolders();
            }
            BackfillSummaries();
        }
        catch
        {
            _db?.Dispose();
            Lock.Dispose();
            throw;
        }
    }

    private LiteDatabase Open(string path)
    {
        // LiteDB turns "" into null by default; an empty prompt is a real value here.
        var mapper = new BsonMapper { EmptyStringToNull = false, TrimWhitespace = false };
        var db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }, mapper);
        try
        {
            // Reading the collections touches the pages: a damaged file fails here, not at the first request.
            db.GetCollection<MetricPoint>("metrics").EnsureIndex(m => m.RunId);
            db.GetCollection<SampleDoc>("samples").EnsureIndex(s => s.RunId);
            db.GetCollection<EventDoc>("events").EnsureIndex(e => e.RunId);
            _ = db.GetCollection<RunRecord>("runs").Count();
            return db;
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>What LiteDB throws on a file that is not (or no longer) a database; a locked or unreadable file is not corruption.</summary>
    private static bool IsCorrupt(Exception e) =>
        e is LiteException or InvalidCastException or IndexOutOfRangeException or ArgumentOutOfRangeException or OverflowException or InvalidDataException
          or FormatException or System.Text.DecoderFallbackException;

    /// <summary>
    /// One run per folder under runs/ that holds settings.json: its settings in force, step, events and
    /// evaluation metrics come from the newest good checkpoint. A run short of its steps is Interrupted
    /// (resume continues from that checkpoint); one at its last step is Completed.
    /// </summary>
    private List<string> RebuildFromFolders()
    {
        var report = new List<string>();
        foreach (var dir in Directory.GetDirectories(RunsRoot).Order(StringComparer.Ordinal))
        {
            var id = Path.GetFileName(dir);
            var settingsPath = Path.Combine(dir, AdversarialRun.SettingsFile);
            if (!File.Exists(settingsPath)) { report.Add($"{id}: skipped (no {AdversarialRun.SettingsFile})"); continue; }
            try
            {
                var settings = RunSettings.FromJson(File.ReadAllText(settingsPath), settingsPath);
                var latest = RunCheckpoint.LatestGood(dir, []);
                var state = latest is { } c ? RunCheckpoint.ReadState(c.Path) : null;
                var inForce = state?.Fork?.Settings ?? state?.Settings ?? settings;
                int step = state?.Step ?? 0;
                bool done = step >= inForce.Steps;
                var created = DateTime.TryParseExact(id.Length >= 15 ? id[..15] : id, "yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var t) ? t : Directory.GetCreationTimeUtc(dir);
                var record = new RunRecord
                {
                    Id = id, Name = $"{Kebab(inForce.Method.ToString())} {inForce.Dataset} s{inForce.Seed}", CreatedUtc = created, UpdatedUtc = DateTime.UtcNow,
                    Status = done ? RunStatus.Completed : RunStatus.Interrupted,
                    Message = done ? "rebuilt from its folder" : $"rebuilt from its folder; resume continues from the checkpoint at step {step}",
                    Method = Kebab(inForce.Method.ToString()), Dataset = inForce.Dataset, Step = step, TotalSteps = inForce.Steps,
                    SettingsJson = inForce.ToJson(), RunDir = dir, Parent = state?.Fork?.Parent, ForkStep = state?.Fork?.Step,
                };
                Runs.Insert(record);
                foreach (var (evalStep, metrics) in state?.Evaluations ?? []) AddMetrics(id, evalStep, metrics);
                foreach (var e in state?.Events ?? []) AddEvent(id, e);
                report.Add($"{id}: restored at step {step} ({Kebab(record.Status.ToString())})");
            }
            catch (Exception e) when (e is ArgumentException or IOException or System.Text.Json.JsonException or InvalidDataException)
            {
                report.Add($"{id}: skipped ({e.Message})");
            }
        }
        return report;
    }

    /// <summary>Registers a new run and returns it (id, run directory).</summary>
    public RunRecord Create(RunSettings settings, string? name = null)
    {
        var id = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss") + "-" + Guid.NewGuid().ToString("N")[..4];
        // Four hex digits collide within a second once runs come by the hundred (a sweep, a script): draw again.
        while (Runs.FindById(id) is not null) id = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss") + "-" + Guid.NewGuid().ToString("N")[..4];
        var now = DateTime.UtcNow;
        var r = new RunRecord
        {
            Id = id, Name = name ?? $"{Kebab(settings.Method.ToString())} {settings.Dataset} s{settings.Seed}",
            CreatedUtc = now, UpdatedUtc = now, Status = RunStatus.Queued,
            Method = Kebab(settings.Method.ToString()), Dataset = settings.Dataset, TotalSteps = settings.Steps,
            SettingsJson = settings.ToJson(), RunDir = Path.Combine(RunsRoot, id),
        };
        lock (_records)
        {
            Runs.Insert(r);
            _listCache?.TryAdd(r.Id, r);
        }
        return r;
    }

    public RunRecord? Get(string id) => Runs.FindById(id);
    public int Count() => Runs.Count();

    /// <summary>
    /// Every run, newest first. Served from a copy of the runs collection kept in memory (this process is
    /// the database's one writer, and every write of a run goes through Create, Update and Delete here), so
    /// a run table over thousands of runs does not deserialise them all on each request. A listed record
    /// is never changed afterwards: a change writes a fresh copy (read from the database) that replaces it.
    /// </summary>
    public IReadOnlyList<RunRecord> List() => ListCache().Values.OrderByDescending(r => r.CreatedUtc).ToList();

    private System.Collections.Concurrent.ConcurrentDictionary<string, RunRecord>? _listCache;

    private System.Collections.Concurrent.ConcurrentDictionary<string, RunRecord> ListCache()
    {
        if (_listCache is { } c) return c;
        lock (_records)
        {
            return _listCache ??= new(Runs.FindAll().Select(r => KeyValuePair.Create(r.Id, r)), StringComparer.Ordinal);
        }
    }

    public void Update(RunRecord record)
    {
        record.UpdatedUtc = DateTime.UtcNow;
        lock (_records)
        {
            // A run deleted meanwhile is not brought back into the list.
            if (Runs.Update(record) && _listCache is { } c) c[record.Id] = record;
        }
    }

    public void SetStatus(string id, RunStatus status, string? message, int? step = null, RunSettings? settings = null)
    {
        bool found = Mutate(id, r =>
        {
            r.Status = status;
            r.Message = message;
            if (step is { } s) r.Step = s;
            if (settings is not null) { r.SettingsJson = settings.ToJson(); r.TotalSteps = settings.Steps; }
            // A status change ends whatever phase was in progress (a stop, a failure, the first step).
            r.Phase = null;
        });
        if (!found) throw new KeyNotFoundException($"run '{id}' does not exist.");
    }

    /// <summary>Records the settings in force after a live change (so the pages, clone and the API show them).</summary>
    public void UpdateSettings(string id, RunSettings settings) => Mutate(id, r =>
    {
        r.SettingsJson = settings.ToJson();
        r.TotalSteps = settings.Steps;
    });

    public void AddMetrics(string id, int step, IReadOnlyDictionary<string, double> values)
    {
        Metrics.Insert(new MetricPoint { RunId = id, Step = step, Values = new(values) });
        Mutate(id, r =>
        {
            foreach (var (k, v) in values)
            {
                r.Latest[k] = v;
                if (!r.Summaries.TryGetValue(k, out var sum)) r.Summaries[k] = sum = new MetricSummary();
                sum.Add(step, v);
            }
            r.Step = Math.Max(r.Step, step);
        });
    }

    /// <summary>Applies <paramref name="change"/> to the stored run under the records' lock; false when the run does not exist.</summary>
    private bool Mutate(string id, Action<RunRecord> change)
    {
        lock (_records)
        {
            var r = Get(id);
            if (r is null) return false;
            change(r);
            Update(r);
            return true;
        }
    }

    /// <summary>Adds and removes tags (each checked by <see cref="RunLabels.CheckTag"/>; at most <see cref="RunLabels.MaxTags"/> per run); returns the run.</summary>
    public RunRecord SetTags(string id, IEnumerable<string> add, IEnumerable<string> remove)
    {
        var adding = add.Select(t => RunLabels.CheckTag(t, "tags")).ToList();
        var removing = remove.Select(t => t.Trim()).ToHashSet(StringComparer.Ordinal);
        RunRecord? result = null;
        bool found = Mutate(id, r =>
        {
            var tags = r.Tags.Where(t => !removing.Contains(t)).ToList();
            foreach (var t in adding) if (!tags.Contains(t)) tags.Add(t);
            if (tags.Count > RunLabels.MaxTags)
                throw new ArgumentException($"tags: run '{id}' would carry {tags.Count} tags; at most {RunLabels.MaxTags} are allowed.");
            r.Tags = tags;
            result = r;
        });
        return found ? result! : throw new KeyNotFoundException($"run '{id}' does not exist.");
    }

    /// <summary>Replaces the run's note (checked by <see cref="RunLabels.CheckNote"/>; "" clears it); returns the run.</summary>
    public RunRecord SetNote(string id, string note)
    {
        var checkedNote = RunLabels.CheckNote(note, "note");
        RunRecord? result = null;
        bool found = Mutate(id, r => { r.Note = checkedNote; result = r; });
        return found ? result! : throw new KeyNotFoundException($"run '{id}' does not exist.");
    }

    /// <summary>Records a long phase's progress (cleared when it is done) and extends the phase's loss curve.</summary>
    public void SetPhase(string id, PhaseProgress p) => Mutate(id, r =>
    {
        r.Phase = p.Done ? null : PhaseState.From(p);
        if (p.Loss is not { } loss) return;
        if (!r.PhaseCurves.TryGetValue(p.Phase, out var curve)) r.PhaseCurves[p.Phase] = curve = [];
        if (curve.Count > 0 && curve[^1].Step >= p.Step) curve.RemoveAll(c => c.Step >= p.Step); // a phase started over
        curve.Add(new PhasePoint { Step = p.Step, Loss = loss });
        // Thinned by halves (the last point kept): the record stays small however long the phase.
        if (curve.Count > PhaseState.MaxCurvePoints)
            r.PhaseCurves[p.Phase] = curve.Where((_, i) => i % 2 == 0 || i == curve.Count - 1).ToList();
    });

    /// <summary>Runs stored before summaries existed get them from their metric points once, when the store opens.</summary>
    private void BackfillSummaries()
    {
        foreach (var r in Runs.FindAll().Where(r => r.Summaries.Count == 0 && r.Latest.Count > 0).ToList())
        {
            r.Summaries = SummariesOf(GetMetrics(r.Id));
            Runs.Update(r);
        }
    }

    private static Dictionary<string, MetricSummary> SummariesOf(IEnumerable<MetricPoint> points)
    {
        var result = new Dictionary<string, MetricSummary>();
        foreach (var p in points)
            foreach (var (k, v) in p.Values)
            {
                if (!result.TryGetValue(k, out var sum)) result[k] = sum = new MetricSummary();
                sum.Add(p.Step, v);
            }
        return result;
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
        Mutate(id, r =>
        {
            r.Step = Math.Max(step, 0);
            r.Latest = [];
            var points = GetMetrics(id);
            foreach (var p in points) foreach (var (k, v) in p.Values) r.Latest[k] = v;
            r.Summaries = SummariesOf(points);
        });
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
        lock (_records)
        {
            Runs.Delete(id);
            _listCache?.TryRemove(id, out _);
        }
        if (r is not null && Directory.Exists(r.RunDir)) Directory.Delete(r.RunDir, true);
    }

    private const string OwnerFile = "workbench.pid";

    /// <summary>
    /// The web workbench claims its data root while it runs (LiteDB's direct mode has one writer
    /// process): writing from a second process could corrupt the database, so the command line checks
    /// <see cref="RunningWorkbench"/> first and, given the claim's address, goes through the HTTP API.
    /// </summary>
    public void ClaimForWorkbench(string? url = null, string? token = null) =>
        WriteClaim(Path.Combine(DataRoot, OwnerFile), new WorkbenchClaim(Environment.ProcessId, url, token));

    /// <summary>
    /// Atomically (a temp file renamed over the old one: a reader sees the old claim or the new one, never
    /// half) and, on Unix, created with mode 0600 before anything is written, since it holds the token.
    /// </summary>
    internal static void WriteClaim(string path, WorkbenchClaim claim)
    {
        var temp = $"{path}.{Environment.ProcessId}.tmp";
        File.Delete(temp); // CreateNew below: never write through a file (or link) someone left there
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                System.Text.Json.JsonSerializer.Serialize(stream, claim);
                stream.Flush(flushToDisk: true);
            }
            // The umask can only take bits away; set the mode outright so the owner can always read it.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.Move(temp, path, overwrite: true);
        }
        finally { File.Delete(temp); }
    }

    public void ReleaseWorkbenchClaim()
    {
        if (ReadClaim(DataRoot) is { } c && c.Pid == Environment.ProcessId) File.Delete(Path.Combine(DataRoot, OwnerFile));
    }

    /// <summary>
    /// The live workbench serving <paramref name="dataRoot"/> (another process), or null: the claim counts
    /// only while its process holds the data root's <see cref="StoreLock"/> as the workbench, so a claim
    /// left by a killed workbench (its process id perhaps reused since) is ignored.
    /// </summary>
    public static WorkbenchClaim? RunningWorkbench(string dataRoot)
    {
        if (ReadClaim(dataRoot) is not { } claim || claim.Pid == Environment.ProcessId) return null;
        return StoreLock.HolderOf(dataRoot) is { IsWorkbench: true } holder && holder.Pid == claim.Pid ? claim : null;
    }

    internal static WorkbenchClaim? ReadClaim(string dataRoot)
    {
        var path = Path.Combine(dataRoot, OwnerFile);
        if (!File.Exists(path)) return null;
        var text = File.ReadAllText(path).Trim();
        if (int.TryParse(text, out int pid)) return new WorkbenchClaim(pid, null); // a bare process id: no address known
        try { return System.Text.Json.JsonSerializer.Deserialize<WorkbenchClaim>(text); }
        catch (System.Text.Json.JsonException) { return null; }
    }

    internal static string Kebab(string name) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(name);

    public void Dispose()
    {
        _db.Dispose();
        Lock.Dispose(); // after the database is closed: the next writer finds it whole
    }
}
