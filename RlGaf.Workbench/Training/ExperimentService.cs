using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using RlGaf.Engine.Experiments;
using RlGaf.Workbench.Services;

namespace RlGaf.Workbench.Training;

/// <summary>Where an experiment suite stands. Interrupted: the process that ran it stopped before it ended.</summary>
public enum ExperimentStatus { Running, Completed, Failed, Cancelled, Interrupted }

/// <summary>What the Experiments page and POST /api/experiments ask for; the service adds the folder, threads and overrides.</summary>
public sealed record ExperimentRequest
{
    /// <summary>synthetic-reviews, imdb or squad.</summary>
    public string Suite { get; init; } = "synthetic-reviews";
    public int Seeds { get; init; } = 3;
    /// <summary>Generator updates of every method (equal compute).</summary>
    public int StepsBudget { get; init; } = 120;
    public IReadOnlyList<string> Methods { get; init; } = SuiteOptions.DefaultMethods;
    /// <summary>imdb and squad only: the dataset, which must resolve under the data roots.</summary>
    public string? DataPath { get; init; }
}

/// <summary>An experiment as the page and the API show it: a live job of this process, or a folder found on disk.</summary>
public sealed record ExperimentInfo(string Id, string Folder, ExperimentStatus Status, string Suite, int Seeds, int StepsBudget,
    IReadOnlyList<string> Methods, string? DataPath, int RunsDone, int RunsTotal, DateTimeOffset? Started, DateTimeOffset? Ended, string? Error)
{
    public string ResultsPath => Path.Combine(Folder, ExperimentService.ResultsFile);
}

/// <summary>experiment.json: written when a suite starts and again when it ends (a missing end = interrupted).</summary>
public sealed record ExperimentManifest
{
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    [JsonPropertyName("suite")] public string Suite { get; init; } = "";
    [JsonPropertyName("seeds")] public int Seeds { get; init; }
    [JsonPropertyName("steps_budget")] public int StepsBudget { get; init; }
    [JsonPropertyName("methods")] public IReadOnlyList<string> Methods { get; init; } = [];
    [JsonPropertyName("data")] public string? DataPath { get; init; }
    [JsonPropertyName("threads")] public int Threads { get; init; }
    [JsonPropertyName("command")] public string Command { get; init; } = "";
    [JsonPropertyName("started_utc")] public DateTimeOffset Started { get; init; }
    /// <summary>running (also what an interrupted suite leaves), completed, failed or cancelled.</summary>
    [JsonPropertyName("status")] public string Status { get; init; } = "running";
    /// <summary>Runs finished so far (rewritten after each run, so a suite cut off by a crash still tells).</summary>
    [JsonPropertyName("runs_done")] public int RunsDone { get; init; }
    [JsonPropertyName("error")] public string? Error { get; init; }
    [JsonPropertyName("ended_utc")] public DateTimeOffset? Ended { get; init; }
}

/// <summary>One suite launched by this process: progress while it runs, then its end state.</summary>
public sealed class ExperimentJob
{
    private readonly ConcurrentQueue<string> _log = new();
    internal CancellationTokenSource Cancel { get; }
    internal IDisposable? Slot { get; set; }

    public string Id { get; }
    public string Folder { get; }
    public SuiteOptions Options { get; }
    public ExperimentStatus Status { get; internal set; } = ExperimentStatus.Running;
    /// <summary>Runs finished and runs in all (methods x seeds).</summary>
    public int RunsDone { get; internal set; }
    public int RunsTotal { get; }
    public string? Error { get; internal set; }
    public DateTimeOffset Started { get; }
    public DateTimeOffset? Ended { get; internal set; }
    /// <summary>The suite's log lines so far (the last 500; all of them are in the folder's log.txt).</summary>
    public IReadOnlyList<string> Log => [.. _log];

    internal ExperimentJob(string id, string folder, SuiteOptions options, CancellationToken shutdown, DateTimeOffset? started = null)
    {
        Started = started ?? DateTimeOffset.UtcNow;
        Id = id;
        Folder = folder;
        Options = options;
        RunsTotal = options.Seeds * options.Methods.Count;
        Cancel = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
    }

    internal void Append(string line)
    {
        _log.Enqueue(line);
        while (_log.Count > 500) _log.TryDequeue(out _);
        // The file keeps the log across a restart (an interrupted or failed suite shows what it did).
        try { File.AppendAllText(Path.Combine(Folder, ExperimentService.LogFile), line + "\n"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    internal ExperimentInfo Snapshot() => new(Id, Folder, Status, Options.Suite, Options.Seeds, Options.StepsBudget, Options.Methods,
        Options.DataPath, RunsDone, RunsTotal, Started, Ended, Error);
}

/// <summary>
/// Launches experiment suites (the eval verb's engine) into DATA/experiments/ID, one at a time, each on
/// a dedicated thread (TorchSharp's grad mode and dispose scopes are thread-local), and lists every
/// suite found there: live ones of this process, finished ones, and ones a restart cut off (their
/// folder has experiment.json but neither results.md nor an end status). A suite takes a training slot
/// of the <see cref="TrainingHost"/>: it trains on the same cores as runs. <see cref="Changed"/> is
/// raised on the suite's thread: a page must marshal it (InvokeAsync) and never block it.
/// </summary>
public sealed class ExperimentService : IDisposable
{
    public const string ManifestFile = "experiment.json", ResultsFile = "results.md", LogFile = "log.txt";
    /// <summary>What the file endpoint serves from an experiment folder: the table, the plots, the log.</summary>
    private static readonly string[] ServedExtensions = [".png", ".md", ".txt"];
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private readonly ConcurrentDictionary<string, ExperimentJob> _jobs = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _startGate = new();
    private readonly PathPolicy _paths;
    private readonly TrainingHost? _slots;
    private readonly IReadOnlyDictionary<string, string> _overrides;
    private readonly int _threads;

    /// <summary>The experiments folder (DATA/experiments).</summary>
    public string Root { get; }

    /// <param name="root">Folder of the experiments (created when needed).</param>
    /// <param name="paths">The rule for the data path of imdb and squad suites.</param>
    /// <param name="slots">The training host whose slots a suite shares; null: no runs to share with.</param>
    /// <param name="overrides">RlGaf:PresetOverrides, applied to every run of a suite as to every preset (method, seed and steps stay the suite's).</param>
    /// <param name="threads">libtorch threads per run (RlGaf:Threads; 0 = libtorch's default).</param>
    public ExperimentService(string root, PathPolicy paths, TrainingHost? slots = null, IReadOnlyDictionary<string, string>? overrides = null, int threads = 0)
    {
        Root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        _paths = paths;
        _slots = slots;
        _overrides = overrides ?? new Dictionary<string, string>();
        _threads = threads;
    }

    /// <summary>Raised after progress, a log line, or the end of a job (on the suite's thread).</summary>
    public event Action<ExperimentJob>? Changed;

    /// <summary>
    /// The suite a request describes, checked: SuiteOptions.Validate (messages name the option, e.g.
    /// "--seeds: ..."), then the data path ("--data: ..." when outside the data roots or missing).
    /// </summary>
    public SuiteOptions SuiteOptionsFor(ExperimentRequest request)
    {
        var suite = request.Suite?.Trim() ?? "";
        var o = new SuiteOptions
        {
            Suite = suite, Seeds = request.Seeds, StepsBudget = request.StepsBudget, Threads = _threads,
            Methods = (request.Methods ?? []).Select(m => m.Trim()).Where(m => m.Length > 0).Distinct().ToList(),
            // The synthetic suite has its corpus built in: a stale path from the form is not carried along.
            DataPath = suite == "synthetic-reviews" || string.IsNullOrWhiteSpace(request.DataPath) ? null : request.DataPath.Trim(),
            // Saved in the suite's suite.json, so a resume applies the same overrides even if the configuration changed since.
            Sets = _overrides.Where(kv => kv.Key is not ("method" or "seed" or "steps")).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList(),
        };
        o.Validate();
        if (o.DataPath is not null)
        {
            var full = _paths.Resolve("--data", o.DataPath);
            if (!File.Exists(full) && !Directory.Exists(full)) throw new ArgumentException($"--data: '{o.DataPath}' does not exist (resolved to {full}).");
            o = o with { DataPath = full };
        }
        return o;
    }

    /// <summary>Why a suite cannot start now (another suite runs, or every training slot is held), or null.</summary>
    public string? WhyCannotStart()
    {
        if (_jobs.Values.FirstOrDefault(j => j.Status == ExperimentStatus.Running) is { } running)
            return $"experiment {running.Id} is running: one suite at a time (each uses every core); cancel it or wait for it to end.";
        return _slots?.WhyNoSlot("an experiment suite");
    }

    /// <summary>
    /// Checks the request (ArgumentException naming the option), takes a training slot
    /// (InvalidOperationException with the reason when none is free or a suite runs), writes
    /// experiment.json and starts the suite.
    /// </summary>
    public ExperimentJob Start(ExperimentRequest request)
    {
        var options = SuiteOptionsFor(request);
        ExperimentJob job;
        lock (_startGate)
        {
            if (_jobs.Values.FirstOrDefault(j => j.Status == ExperimentStatus.Running) is { } running)
                throw new InvalidOperationException(WhyCannotStart() ?? $"experiment {running.Id} is running.");
            var id = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];
            var slot = _slots?.ReserveSlot($"experiment {id}");
            try
            {
                var folder = Path.Combine(Root, id);
                Directory.CreateDirectory(folder);
                job = new ExperimentJob(id, folder, options with { OutDir = folder }, _shutdown.Token) { Slot = slot };
                WriteManifest(job, ExperimentStatus.Running);
                _jobs[id] = job;
            }
            catch
            {
                slot?.Dispose();
                throw;
            }
        }
        var thread = new Thread(() => Execute(job)) { IsBackground = true, Name = $"experiment {job.Id}" };
        thread.Start();
        return job;
    }

    /// <summary>Whether a suite can be resumed: it was interrupted, cancelled or failed, and its folder has the suite.json a resume reads.</summary>
    public static bool CanResume(ExperimentInfo info) =>
        info.Status is ExperimentStatus.Interrupted or ExperimentStatus.Cancelled or ExperimentStatus.Failed
        && File.Exists(Path.Combine(info.Folder, EvalSuite.SuiteFile));

    /// <summary>
    /// Continues a suite that did not finish, in its own folder and under its own id: finished runs are
    /// kept, the run that was cut off continues from its last checkpoint, the rest start (see
    /// <see cref="SuiteOptions.Resume"/>). Takes a training slot like <see cref="Start"/>.
    /// </summary>
    public ExperimentJob Resume(string id)
    {
        var info = Get(id) ?? throw new KeyNotFoundException($"experiment '{id}' does not exist.");
        if (info.Status is not (ExperimentStatus.Interrupted or ExperimentStatus.Cancelled or ExperimentStatus.Failed))
            throw new InvalidOperationException($"experiment {id} is {Kebab(info.Status)}: only an interrupted, cancelled or failed suite can be resumed.");
        SuiteOptions saved;
        try { (saved, _) = EvalSuite.LoadSaved(info.Folder); }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException) { throw new InvalidOperationException($"experiment {id} cannot be resumed: {e.Message}"); }
        var options = saved with { Threads = _threads };
        ExperimentJob job;
        lock (_startGate)
        {
            if (_jobs.Values.FirstOrDefault(j => j.Status == ExperimentStatus.Running) is { } running)
                throw new InvalidOperationException(WhyCannotStart() ?? $"experiment {running.Id} is running.");
            var slot = _slots?.ReserveSlot($"experiment {id}");
            try
            {
                job = new ExperimentJob(id, info.Folder, options, _shutdown.Token, info.Started) { Slot = slot, RunsDone = info.RunsDone };
                job.Append($"resuming: {info.RunsDone} of {info.RunsTotal} runs had finished");
                WriteManifest(job, ExperimentStatus.Running);
                _jobs[id] = job;
            }
            catch
            {
                slot?.Dispose();
                throw;
            }
        }
        var thread = new Thread(() => Execute(job)) { IsBackground = true, Name = $"experiment {job.Id}" };
        thread.Start();
        Notify(job);
        return job;
    }

    /// <summary>Asks a running suite to stop: the current run stops at its next training step (its set-up, such as SFT pretraining, finishes first).</summary>
    public void Cancel(string id)
    {
        if (!_jobs.TryGetValue(id, out var job))
            throw Get(id) is { } info
                ? new InvalidOperationException($"experiment {id} is {Kebab(info.Status)}: nothing to cancel.")
                : new KeyNotFoundException($"experiment '{id}' does not exist.");
        if (job.Status != ExperimentStatus.Running) throw new InvalidOperationException($"experiment {id} is {Kebab(job.Status)}: nothing to cancel.");
        job.Append("cancel requested: stopping at the current run's next training step");
        job.Cancel.Cancel();
        Notify(job);
    }

    /// <summary>Deletes an experiment's folder (runs, models, table, plots). A running suite must be cancelled first.</summary>
    public void Delete(string id)
    {
        var info = Get(id) ?? throw new KeyNotFoundException($"experiment '{id}' does not exist.");
        if (info.Status == ExperimentStatus.Running) throw new InvalidOperationException($"experiment {id} is running: cancel it first.");
        Directory.Delete(info.Folder, true);
        _jobs.TryRemove(id, out _);
    }

    /// <summary>Every experiment under <see cref="Root"/>, newest first.</summary>
    public IReadOnlyList<ExperimentInfo> List()
    {
        if (!Directory.Exists(Root)) return [];
        return Directory.EnumerateDirectories(Root)
            .Select(d => Get(Path.GetFileName(d)))
            .OfType<ExperimentInfo>()
            .OrderByDescending(i => i.Started ?? i.Ended ?? DateTimeOffset.MinValue)
            .ThenByDescending(i => i.Id, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>One experiment: this process's job when it launched it, else what its folder says; null when there is none.</summary>
    public ExperimentInfo? Get(string id)
    {
        if (FolderOf(id) is not { } dir) return null;
        // This process's own jobs are authoritative (a suite cut off by shutdown has no end status on disk either).
        return _jobs.TryGetValue(id, out var job) ? job.Snapshot() : ReadFolder(id, dir);
    }

    /// <summary>The last <paramref name="max"/> log lines of an experiment (live, or from its log.txt).</summary>
    public IReadOnlyList<string> Log(string id, int max = 200)
    {
        if (_jobs.TryGetValue(id, out var job)) return job.Log.TakeLast(max).ToList();
        if (FolderOf(id) is not { } dir) return [];
        var file = Path.Combine(dir, LogFile);
        return File.Exists(file) ? File.ReadLines(file).TakeLast(max).ToList() : [];
    }

    /// <summary>
    /// The full path of file <paramref name="name"/> directly inside experiment <paramref name="id"/>'s
    /// folder when it may be served (a plot, results.md, log.txt), else null. Both parts must be single
    /// path segments (no separators, no "..", no leading dot) and neither may be a symbolic link, so no
    /// request reaches outside the experiments folder.
    /// </summary>
    public string? FilePath(string id, string name)
    {
        if (FolderOf(id) is not { } dir || !IsPlainName(name)) return null;
        if (!ServedExtensions.Contains(Path.GetExtension(name), StringComparer.OrdinalIgnoreCase)) return null;
        var file = new FileInfo(Path.Combine(dir, name));
        if (!file.Exists || file.LinkTarget is not null || Path.GetDirectoryName(file.FullName) != dir) return null;
        return file.FullName;
    }

    /// <summary>The folder of experiment <paramref name="id"/>: a real directory directly under <see cref="Root"/>, or null.</summary>
    public string? FolderOf(string id)
    {
        if (!IsPlainName(id)) return null;
        var dir = new DirectoryInfo(Path.Combine(Root, id));
        if (!dir.Exists || dir.LinkTarget is not null) return null;
        var full = Path.TrimEndingDirectorySeparator(dir.FullName);
        return Path.GetDirectoryName(full) == Root ? full : null;
    }

    /// <summary>A single, visible path segment: no separators, no "." or "..", no leading dot or blank.</summary>
    public static bool IsPlainName(string? name) =>
        !string.IsNullOrWhiteSpace(name) && name.Length <= 200 && name == name.Trim() && !name.StartsWith('.')
        && name.IndexOfAny(['/', '\\', '\0', ':']) < 0 && !Path.IsPathRooted(name);

    /// <summary>The equivalent eval command line (results.md records it, so a suite can be rerun headless).</summary>
    public string CommandLine(SuiteOptions o)
    {
        var parts = new List<string> { "RlGaf.Workbench eval", "--suite", o.Suite, "--seeds", $"{o.Seeds}", "--steps-budget", $"{o.StepsBudget}",
                                       "--methods", string.Join(',', o.Methods), "--out", Quote(o.OutDir) };
        if (o.DataPath is not null) parts.AddRange(["--data", Quote(o.DataPath)]);
        if (o.Threads > 0) parts.AddRange(["--threads", $"{o.Threads}"]);
        foreach (var (k, v) in o.Sets) parts.AddRange(["--set", Quote($"{k}={v}")]);
        return string.Join(' ', parts);
    }

    private static string Quote(string s) => s.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"') ? $"'{s.Replace("'", "'\\''")}'" : s;

    private void Execute(ExperimentJob job)
    {
        // Nothing may escape this method: an unhandled exception on a thread ends the process.
        try { ExecuteCore(job); }
        catch (Exception e)
        {
            job.Error ??= e.Message;
            if (job.Status == ExperimentStatus.Running) job.Status = ExperimentStatus.Failed;
        }
    }

    private void ExecuteCore(ExperimentJob job)
    {
        ExperimentStatus end;
        try
        {
            EvalSuite.Run(job.Options, CommandLine(job.Options),
                line => { job.Append(line); Notify(job); },
                (done, _) =>
                {
                    job.RunsDone = done;
                    TryWriteManifest(job, ExperimentStatus.Running);
                    Notify(job);
                },
                job.Cancel.Token);
            end = ExperimentStatus.Completed;
        }
        // Not the user's cancel: the workbench is stopping. No end status is written, so the next
        // start lists the suite as interrupted, as it does after a crash.
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested) { end = ExperimentStatus.Interrupted; }
        catch (OperationCanceledException) { end = ExperimentStatus.Cancelled; }
        catch (Exception e)
        {
            // Never let a failed suite take the host down (an unhandled exception on a thread ends the process).
            job.Error = e.Message;
            job.Append($"failed: {e.Message}");
            end = ExperimentStatus.Failed;
        }
        finally
        {
            job.Slot?.Dispose();
        }
        job.Ended = DateTimeOffset.UtcNow;
        // The disk first, then the job: whoever sees the job ended finds the same on disk.
        if (end != ExperimentStatus.Interrupted) TryWriteManifest(job, end);
        job.Status = end;
        Notify(job);
    }

    private void TryWriteManifest(ExperimentJob job, ExperimentStatus status)
    {
        try { WriteManifest(job, status); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { job.Append($"could not write {ManifestFile}: {e.Message}"); }
    }

    private void WriteManifest(ExperimentJob job, ExperimentStatus status)
    {
        var m = new ExperimentManifest
        {
            Id = job.Id, Suite = job.Options.Suite, Seeds = job.Options.Seeds, StepsBudget = job.Options.StepsBudget,
            Methods = job.Options.Methods, DataPath = job.Options.DataPath, Threads = job.Options.Threads, Command = CommandLine(job.Options),
            Started = job.Started, Status = Kebab(status), RunsDone = job.RunsDone, Error = job.Error,
            Ended = status == ExperimentStatus.Running ? null : job.Ended,
        };
        // Temporary name, then rename: a crash never leaves half a manifest.
        var path = Path.Combine(job.Folder, ManifestFile);
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(m, Json));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>An experiment folder from disk: completed when results.md exists (the suite writes it last).</summary>
    private static ExperimentInfo? ReadFolder(string id, string dir)
    {
        bool results = File.Exists(Path.Combine(dir, ResultsFile));
        ExperimentManifest? m = null;
        string? unreadable = null;
        var manifestPath = Path.Combine(dir, ManifestFile);
        if (File.Exists(manifestPath))
        {
            try { m = JsonSerializer.Deserialize<ExperimentManifest>(File.ReadAllText(manifestPath)); }
            catch (Exception e) when (e is JsonException or IOException) { unreadable = $"{ManifestFile} could not be read: {e.Message}"; }
        }
        else if (!results) return null; // not an experiment folder
        var status = results ? ExperimentStatus.Completed : m?.Status switch
        {
            "failed" => ExperimentStatus.Failed,
            "cancelled" => ExperimentStatus.Cancelled,
            _ => ExperimentStatus.Interrupted, // "running" with no process behind it
        };
        // A suite folder made by the eval verb has no manifest; its results.json tells the same.
        m ??= results ? ManifestOfResults(dir) : null;
        int total = m is null ? 0 : m.Seeds * m.Methods.Count;
        // A suite folder made by the eval verb (eval --out DATA/experiments/NAME) has no manifest: its title names the suite.
        var suite = m?.Suite ?? (results ? SuiteOfResults(Path.Combine(dir, ResultsFile)) : "");
        DateTimeOffset? ended = m?.Ended ?? (results ? File.GetLastWriteTimeUtc(Path.Combine(dir, ResultsFile)) : null);
        return new ExperimentInfo(id, dir, status, suite, m?.Seeds ?? 0, m?.StepsBudget ?? 0, m?.Methods ?? [], m?.DataPath,
            results ? total : m?.RunsDone ?? 0, total, m?.Started, ended, m?.Error ?? unreadable);
    }

    private static ExperimentManifest? ManifestOfResults(string dir)
    {
        var path = Path.Combine(dir, "results.json");
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var r = doc.RootElement;
            return new ExperimentManifest
            {
                Id = Path.GetFileName(dir), Suite = r.GetProperty("suite").GetString() ?? "", Seeds = r.GetProperty("seeds").GetInt32(),
                StepsBudget = r.GetProperty("steps_budget").GetInt32(), Methods = r.GetProperty("methods").EnumerateObject().Select(p => p.Name).ToList(),
                Command = r.TryGetProperty("command", out var c) ? c.GetString() ?? "" : "", Status = "completed",
                Ended = File.GetLastWriteTimeUtc(Path.Combine(dir, ResultsFile)),
            };
        }
        catch (Exception e) when (e is JsonException or IOException or KeyNotFoundException or InvalidOperationException) { return null; }
    }

    private static string SuiteOfResults(string path)
    {
        var first = File.ReadLines(path).FirstOrDefault() ?? "";
        const string prefix = "# Results: ";
        return first.StartsWith(prefix, StringComparison.Ordinal) ? first[prefix.Length..].Trim() : "";
    }

    public static string Kebab(ExperimentStatus s) => s.ToString().ToLowerInvariant();

    private void Notify(ExperimentJob job)
    {
        if (Changed is not { } handlers) return;
        // One failing listener (a page whose circuit went away) must not keep the others from hearing.
        foreach (var h in handlers.GetInvocationList().Cast<Action<ExperimentJob>>())
        {
            try { h(job); }
            catch (Exception e) { job.Append($"listener failed: {e.Message}"); }
        }
    }

    /// <summary>Stops running suites as the workbench stops: they are left without an end status (interrupted).</summary>
    public void Dispose() => _shutdown.Cancel();
}
