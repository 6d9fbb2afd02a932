using System.Text.Json;
using System.Text.Json.Serialization;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Cluster;

/// <summary>
/// Follows a trial that trains in another process, usually on another machine, through its live folder
/// (<see cref="TrialFolder"/>): each <see cref="Poll"/> reads the lines appended since the last one (a
/// partial last line waits for the next poll), stores them under a run of this store and publishes them
/// on the <see cref="RunNotifier"/>, so the trial's Run page draws the same live charts as a local run.
/// The run is created when the trial's folder first shows it training; <see cref="Complete"/> sets its
/// final status and copies the trial's run folder (settings, checkpoints) in, so export, compare and
/// resume work on it as on any run. Not thread-safe: one poller at a time.
/// </summary>
public sealed class TrialFolderFollower
{
    private readonly RunStore _store;
    private readonly RunNotifier? _notifier;
    private readonly RunSettings _settings;
    private readonly string _name;
    private readonly JsonLinesTail _metrics, _samples, _events;
    private readonly List<(int Step, IReadOnlyDictionary<string, double> Values)> _curve = [];
    private bool _announced;

    public TrialFolderFollower(string trialDir, RunSettings settings, string name, RunStore store, RunNotifier? notifier, string? runId = null)
    {
        TrialDir = Path.GetFullPath(trialDir);
        _settings = settings;
        _name = name;
        _store = store;
        _notifier = notifier;
        _metrics = new JsonLinesTail(Path.Combine(TrialDir, TrialFolder.MetricsFile));
        _samples = new JsonLinesTail(Path.Combine(TrialDir, TrialFolder.SamplesFile));
        _events = new JsonLinesTail(Path.Combine(TrialDir, TrialFolder.EventsFile));
        // Re-attached after a restart: the run exists; what it holds is read again from the top.
        if (runId is not null && store.Get(runId) is not null)
        {
            RunId = runId;
            store.TruncateAfter(runId, -1);
        }
    }

    public string TrialDir { get; }
    /// <summary>The store's run for this trial, once the trial started training (or was re-attached).</summary>
    public string? RunId { get; private set; }
    /// <summary>The trial process's own status file, as last read.</summary>
    public TrialStatus? Status { get; private set; }
    public int Step { get; private set; }
    public bool Completed { get; private set; }

    /// <summary>Every value of <paramref name="key"/> read so far, ascending step.</summary>
    public IReadOnlyList<(int Step, double Value)> Values(string key) =>
        _curve.Where(p => p.Values.ContainsKey(key)).Select(p => (p.Step, p.Values[key])).OrderBy(p => p.Step).ToList();

    /// <summary>Reads what the trial appended; true when anything new came.</summary>
    public bool Poll()
    {
        Status = TrialFolder.ReadStatus(TrialDir) ?? Status;
        var metricLines = _metrics.ReadNew();
        if (RunId is null && Status is null && metricLines.Count == 0) return false; // not started yet
        if (RunId is null) Start();
        var id = RunId!;
        if (_metrics.Restarted) StartOver(id);
        bool any = false;
        foreach (var line in metricLines)
        {
            if (Parse<MetricsLine>(line) is not { } m) continue;
            _curve.Add((m.Step, m.Metrics));
            Step = Math.Max(Step, m.Step);
            _store.AddMetrics(id, m.Step, m.Metrics);
            _notifier?.Publish(new MetricsUpdate(id, m.Step, m.Metrics));
            any = true;
        }
        var samples = _samples.ReadNew().Select(Parse<SampleLine>).OfType<SampleLine>()
            .Select(s => new SampleRecord(s.Step, s.PromptIndex, s.Prompt, s.Completion, s.DiscScore, s.Reward, s.Verdict)).ToList();
        foreach (var group in samples.GroupBy(s => s.Step))
        {
            var list = group.ToList();
            _store.AddSamples(id, list);
            _notifier?.Publish(new SamplesUpdate(id, list.Select(SampleView.From).ToList()));
            any = true;
        }
        foreach (var e in _events.ReadNew().Select(Parse<EventLine>).OfType<EventLine>())
        {
            var ev = new RunEvent(e.Step, e.Kind, e.Message, e.Setting, e.OldValue, e.NewValue) { Time = e.Time };
            _store.AddEvent(id, ev);
            _notifier?.Publish(new EventUpdate(id, EventView.From(ev)));
            any = true;
        }
        if (Status is { Ended: false } s && !_announced && !Completed)
        {
            // Where it trains, once: the Runs page shows it as the run's message.
            var where = $"training on {s.Host}{(s.SlurmJobId is null ? "" : $" as Slurm job {s.SlurmJobId}")}";
            _store.SetStatus(id, RunStatus.Running, where, Step);
            _notifier?.Publish(new StatusUpdate(id, RunStatus.Running, where, Step));
            _announced = true;
        }
        return any;
    }

    /// <summary>
    /// The trial ended (its executor knows how: Slurm's state, the status file): reads what is left, sets
    /// the final status and copies the trial's run folder into the store's. Returns the run's id; a trial
    /// that never started gets a run too, so its failure is listed with the reason.
    /// </summary>
    public string Complete(RunStatus status, string? message)
    {
        Poll();
        if (RunId is null) Start();
        var id = RunId!;
        var record = _store.Get(id)!;
        CopyRunFolder(record.RunDir);
        int step = Math.Max(Step, Status?.Step ?? 0);
        _store.SetStatus(id, status, message, step);
        _notifier?.Publish(new StatusUpdate(id, status, message, step));
        Completed = true;
        return id;
    }

    private void Start()
    {
        var record = _store.Create(_settings, _name);
        RunId = record.Id;
        _store.SetStatus(record.Id, RunStatus.Running, $"training outside this process, followed from {TrialDir}", 0);
        _notifier?.Publish(new StatusUpdate(record.Id, RunStatus.Running, null, 0));
    }

    /// <summary>The trial ran again from the start (a requeue): what it logged before is void.</summary>
    private void StartOver(string id)
    {
        _curve.Clear();
        Step = 0;
        _store.TruncateAfter(id, -1);
        _notifier?.Publish(new RolledBackUpdate(id, -1));
    }

    /// <summary>The trial's data root holds one run: its settings and checkpoints become the store run's folder.</summary>
    private void CopyRunFolder(string target)
    {
        var runs = RunStore.RunsRootOf(TrialFolder.DataRootOf(TrialDir));
        if (!Directory.Exists(runs)) return;
        var source = Directory.GetDirectories(runs).OrderBy(Directory.GetLastWriteTimeUtc).LastOrDefault();
        if (source is null) return;
        Copy(source, target);
    }

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)), overwrite: true);
        foreach (var d in Directory.GetDirectories(from)) Copy(d, Path.Combine(to, Path.GetFileName(d)));
    }

    private static T? Parse<T>(string line) where T : class
    {
        try { return JsonSerializer.Deserialize<T>(line, TrialFolder.Json); }
        catch (JsonException) { return null; } // a damaged line is skipped, not fatal to following the rest
    }

    private sealed record MetricsLine([property: JsonPropertyName("step")] int Step, [property: JsonPropertyName("metrics")] Dictionary<string, double> Metrics);

    private sealed record SampleLine(
        [property: JsonPropertyName("step")] int Step, [property: JsonPropertyName("prompt_index")] int PromptIndex,
        [property: JsonPropertyName("prompt")] string Prompt, [property: JsonPropertyName("completion")] string Completion,
        [property: JsonPropertyName("disc_score")] double DiscScore, [property: JsonPropertyName("reward")] double Reward,
        [property: JsonPropertyName("verdict")] string? Verdict);

    private sealed record EventLine(
        [property: JsonPropertyName("step")] int Step, [property: JsonPropertyName("kind")] string Kind,
        [property: JsonPropertyName("message")] string Message, [property: JsonPropertyName("setting")] string? Setting,
        [property: JsonPropertyName("old_value")] string? OldValue, [property: JsonPropertyName("new_value")] string? NewValue,
        [property: JsonPropertyName("time")] DateTime Time);
}
