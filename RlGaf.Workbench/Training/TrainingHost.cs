using Microsoft.Extensions.Options;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Training;

/// <summary>
/// Runs the queued runs, at most RlGaf:MaxConcurrentRuns at a time, each on its own dedicated thread
/// (TorchSharp's grad mode and dispose scopes are thread-local: training code never awaits). Every
/// run is persisted through <see cref="RunStore"/> and published through <see cref="RunNotifier"/>.
/// The web side only enqueues requests: no page or API call ever waits on a training step.
/// An experiment suite takes a slot too (<see cref="ReserveSlot"/>): it trains on the same cores.
/// A training exception marks its run Failed; it never takes the app down.
/// </summary>
public sealed class TrainingHost : IHostedService, IDisposable
{
    private readonly RunStore _store;
    private readonly RunNotifier _notifier;
    private readonly PathPolicy _paths;
    private readonly ILogger<TrainingHost> _log;
    private readonly int _maxConcurrent;
    private readonly Lock _gate = new();
    private readonly LinkedList<string> _queue = new();
    private readonly Dictionary<string, Active> _active = [];
    private readonly CancellationTokenSource _shutdown = new();
    private bool _started;
    /// <summary>Slots held by other trainers (experiment suites) that compete for the same cores.</summary>
    private readonly List<string> _reserved = [];

    private sealed class Active(string id, AdversarialRun run)
    {
        public string Id { get; } = id;
        public AdversarialRun Run { get; } = run;
        public Thread? Thread { get; set; }
        public bool DeleteWhenDone { get; set; }
    }

    public TrainingHost(RunStore store, RunNotifier notifier, PathPolicy paths, IOptions<WorkbenchOptions> options, ILogger<TrainingHost> log)
    {
        _store = store;
        _notifier = notifier;
        _paths = paths;
        _log = log;
        _maxConcurrent = Math.Max(1, options.Value.MaxConcurrentRuns);
    }

    public RunStore Store => _store;

    /// <summary>Marks runs the previous process left mid-training as Interrupted, then starts the queue.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var r in _store.List())
        {
            if (r.Status is RunStatus.Running or RunStatus.Pretraining)
            {
                _store.SetStatus(r.Id, RunStatus.Interrupted, "the workbench stopped while this run trained; resume continues from its last checkpoint");
                _log.LogInformation("run {Id} was training when the workbench stopped: marked interrupted", r.Id);
            }
        }
        lock (_gate)
        {
            foreach (var r in _store.List().Where(r => r.Status == RunStatus.Queued).OrderBy(r => r.CreatedUtc))
                _queue.AddLast(r.Id);
            _started = true;
        }
        Dispatch();
        return Task.CompletedTask;
    }

    /// <summary>Asks every training thread to checkpoint and stop (status Interrupted); waits a little, never forever.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _shutdown.Cancel();
        Thread?[] threads;
        // A paused run waits for resume, not for cancellation, and was checkpointed when it paused:
        // it stays Paused (resumable after the restart) and its background thread ends with the process.
        lock (_gate) { _started = false; threads = _active.Values.Where(a => a.Run.Status != RunStatus.Paused).Select(a => a.Thread).ToArray(); }
        var deadline = DateTime.UtcNow.AddSeconds(20);
        foreach (var t in threads)
        {
            var left = deadline - DateTime.UtcNow;
            if (t is not null && left > TimeSpan.Zero) t.Join(left);
        }
        return Task.CompletedTask;
    }

    // ---- Commands (any thread) ------------------------------------------------------------------

    /// <summary>Validates (settings and paths), stores and queues a new run. ArgumentException with the reason when refused.</summary>
    public RunRecord Create(RunSettings settings, string? name = null)
    {
        settings = _paths.Apply(settings.Validate()).Validate();
        if (settings.Generator != "pretrain" && !Directory.Exists(settings.Generator))
            throw new ArgumentException($"generator: model directory '{settings.Generator}' does not exist.");
        PathPolicy.RequireDatasetExists(settings.Dataset);
        var record = _store.Create(settings, string.IsNullOrWhiteSpace(name) ? null : name.Trim());
        // Say why a run waits when an experiment suite holds the slot (set before it is queued, so it never overwrites a start).
        string? waits;
        lock (_gate) waits = _reserved.Count > 0 && _active.Count + _reserved.Count >= _maxConcurrent ? $"waits for a training slot: {string.Join(", ", _reserved)} holds it" : null;
        if (waits is not null) _store.SetStatus(record.Id, RunStatus.Queued, waits);
        _notifier.Publish(new StatusUpdate(record.Id, RunStatus.Queued, waits, 0));
        lock (_gate) _queue.AddLast(record.Id);
        Dispatch();
        return record;
    }

    /// <summary>A new run with the settings of <paramref name="id"/> (as they are now, live changes included).</summary>
    public RunRecord Clone(string id)
    {
        var r = Require(id);
        return Create(RunSettings.FromJson(r.SettingsJson, $"run {id}"), r.Name + " (copy)");
    }

    public bool IsActive(string id) { lock (_gate) return _active.ContainsKey(id); }

    /// <summary>
    /// Why <paramref name="holder"/> could not take a training slot now (every one of RlGaf:MaxConcurrentRuns
    /// is held by a run, paused ones included, or by another holder), or null when one is free.
    /// </summary>
    public string? WhyNoSlot(string holder)
    {
        string[] runs, others;
        lock (_gate)
        {
            if (_active.Count + _reserved.Count < _maxConcurrent) return null;
            (runs, others) = ([.. _active.Keys], [.. _reserved]);
        }
        var holders = runs.Select(id => $"run '{_store.Get(id)?.Name ?? id}'").Concat(others).ToList();
        return $"{holder} needs one of the {_maxConcurrent} training slot(s) (RlGaf:MaxConcurrentRuns) and {string.Join(", ", holders)} " +
               $"{(holders.Count == 1 ? "holds" : "hold")} them: stop the run (it can resume later) or wait for it to end.";
    }

    /// <summary>
    /// Takes a training slot for work that trains outside this host (an experiment suite): queued runs
    /// wait until it is released, as they wait for another run. InvalidOperationException with
    /// <see cref="WhyNoSlot"/> when none is free.
    /// </summary>
    public IDisposable ReserveSlot(string holder)
    {
        lock (_gate)
        {
            if (_active.Count + _reserved.Count < _maxConcurrent)
            {
                _reserved.Add(holder);
                return new Slot(this, holder);
            }
        }
        throw new InvalidOperationException(WhyNoSlot(holder) ?? $"{holder}: no training slot free.");
    }

    private sealed class Slot(TrainingHost host, string holder) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 1) return;
            lock (host._gate) host._reserved.Remove(holder);
            host.Dispatch();
        }
    }

    public void Pause(string id)
    {
        var r = Require(id);
        if (TryActive(id) is { } a) { a.Run.RequestPause(); return; }
        throw new InvalidOperationException($"run {id} is {Kebab(r.Status)}, not training: nothing to pause.");
    }

    /// <summary>Resumes a paused run, or continues an interrupted/paused/stopped/failed one from its last checkpoint.</summary>
    public void Resume(string id)
    {
        var r = Require(id);
        if (TryActive(id) is { } a) { a.Run.RequestResume(); return; }
        if (r.Status is RunStatus.Completed or RunStatus.Queued)
            throw new InvalidOperationException($"run {id} is {Kebab(r.Status)}: nothing to resume.");
        _store.SetStatus(id, RunStatus.Queued, $"continues from its last checkpoint (was {Kebab(r.Status)})");
        _notifier.Publish(new StatusUpdate(id, RunStatus.Queued, null, r.Step));
        lock (_gate) if (!_queue.Contains(id)) _queue.AddLast(id);
        Dispatch();
    }

    public void Stop(string id)
    {
        var r = Require(id);
        if (TryActive(id) is { } a) { a.Run.RequestStop(); return; }
        lock (_gate)
        {
            if (_queue.Remove(id))
            {
                _store.SetStatus(id, RunStatus.Stopped, "stopped before it started");
                _notifier.Publish(new StatusUpdate(id, RunStatus.Stopped, "stopped before it started", r.Step));
                return;
            }
        }
        if (r.Status is RunStatus.Paused or RunStatus.Interrupted)
        {
            _store.SetStatus(id, RunStatus.Stopped, null);
            _notifier.Publish(new StatusUpdate(id, RunStatus.Stopped, null, r.Step));
            return;
        }
        throw new InvalidOperationException($"run {id} is {Kebab(r.Status)}, not training: nothing to stop.");
    }

    /// <summary>A live setting change, applied at the next step. ArgumentException (bad key/value) or InvalidOperationException (not training).</summary>
    public void Change(string id, string key, string value)
    {
        var r = Require(id);
        if (TryActive(id) is not { } a)
        {
            // Same validation as a live change, so the reason is the same whatever the state.
            if (!RunSettings.LiveKeys.Contains(key))
                throw new ArgumentException($"{key}: cannot change while a run trains (live settings: {string.Join(", ", RunSettings.LiveKeys.Order())}).");
            RunSettings.FromJson(r.SettingsJson).With(key, value).Validate();
            throw new InvalidOperationException($"run {id} is {Kebab(r.Status)}, not training: live changes apply only to a training run (resume it first).");
        }
        a.Run.RequestChange(key, value);
    }

    /// <summary>Deletes a run with its data and checkpoints (a training run is stopped first, then deleted).</summary>
    public void Delete(string id)
    {
        Require(id);
        lock (_gate)
        {
            _queue.Remove(id);
            if (_active.TryGetValue(id, out var a))
            {
                a.DeleteWhenDone = true;
                a.Run.RequestStop();
                return;
            }
        }
        _store.Delete(id);
        _notifier.Publish(new StatusUpdate(id, RunStatus.Stopped, "deleted", 0, Deleted: true));
    }

    // ---- Scheduling ------------------------------------------------------------------------------

    private void Dispatch()
    {
        while (true)
        {
            string id;
            lock (_gate)
            {
                if (!_started || _shutdown.IsCancellationRequested || _active.Count + _reserved.Count >= _maxConcurrent || _queue.First is null) return;
                id = _queue.First.Value;
                _queue.RemoveFirst();
            }
            StartRun(id);
        }
    }

    private void StartRun(string id)
    {
        var record = _store.Get(id);
        if (record is null) return;
        AdversarialRun run;
        try
        {
            bool reopen = File.Exists(Path.Combine(record.RunDir, AdversarialRun.SettingsFile));
            if (reopen)
            {
                run = AdversarialRun.Open(record.RunDir, _store.ModelsRoot);
                // No checkpoint yet: the run starts over, so what the last attempt logged is void.
                if (RunCheckpoint.LatestGood(record.RunDir, []) is null) _store.TruncateAfter(id, -1);
            }
            else run = AdversarialRun.Create(record.RunDir, RunSettings.FromJson(record.SettingsJson, $"run {id}"), _store.ModelsRoot);
        }
        catch (Exception e)
        {
            _log.LogError(e, "run {Id} could not start", id);
            MarkFailed(id, $"could not start: {e.Message}");
            Dispatch();
            return;
        }
        var active = new Active(id, run);
        RunBinding.Attach(run, _store, id);
        run.EventRaised += e => { if (e.Kind == RunEventKinds.Setting) _store.UpdateSettings(id, run.Settings); };
        Publish(run, id);
        run.Log += m => _log.LogInformation("run {Id}: {Message}", id, m);
        var thread = new Thread(() => TrainThread(active)) { IsBackground = true, Name = $"run {id}" };
        active.Thread = thread;
        lock (_gate) _active[id] = active;
        thread.Start();
    }

    /// <summary>The run's own thread: synchronous from start to end.</summary>
    private void TrainThread(Active a)
    {
        // Nothing may escape this method: an unhandled exception on a thread ends the process.
        try { TrainThreadCore(a); }
        catch (Exception e) { _log.LogError(e, "run {Id}: error after training ended", a.Id); }
    }

    private void TrainThreadCore(Active a)
    {
        try
        {
            a.Run.Execute(null, _shutdown.Token);
        }
        catch (Exception e)
        {
            // Execute has already reported Failed through StatusChanged; this only makes sure of it.
            _log.LogError(e, "run {Id} failed", a.Id);
            try { if (_store.Get(a.Id) is { Status: not RunStatus.Failed }) MarkFailed(a.Id, e.Message); }
            catch (ObjectDisposedException) { /* the app is shutting down; next start marks it interrupted */ }
        }
        finally
        {
            try { a.Run.Dispose(); } catch (Exception e) { _log.LogWarning(e, "disposing run {Id}", a.Id); }
            lock (_gate) _active.Remove(a.Id);
            if (a.DeleteWhenDone)
            {
                try
                {
                    _store.Delete(a.Id);
                    _notifier.Publish(new StatusUpdate(a.Id, RunStatus.Stopped, "deleted", 0, Deleted: true));
                }
                catch (Exception e) { _log.LogError(e, "deleting run {Id}", a.Id); }
            }
            Dispatch();
        }
    }

    private void Publish(AdversarialRun run, string id)
    {
        run.MetricsLogged += (step, m) => _notifier.Publish(new MetricsUpdate(id, step, new Dictionary<string, double>(m)));
        run.SamplesLogged += s => _notifier.Publish(new SamplesUpdate(id, s.Select(SampleView.From).ToList()));
        run.EventRaised += e => _notifier.Publish(new EventUpdate(id, EventView.From(e)));
        run.StatusChanged += (status, message) => _notifier.Publish(new StatusUpdate(id, status, message, run.Step));
        run.ResumedFromCheckpoint += step =>
        {
            _notifier.Publish(new RolledBackUpdate(id, step));
            _notifier.Publish(new StatusUpdate(id, RunStatus.Running, $"continued from the checkpoint at step {step}", step));
        };
    }

    private void MarkFailed(string id, string message)
    {
        try
        {
            _store.SetStatus(id, RunStatus.Failed, message);
            _notifier.Publish(new StatusUpdate(id, RunStatus.Failed, message, _store.Get(id)?.Step ?? 0));
        }
        catch (Exception e) { _log.LogError(e, "marking run {Id} failed", id); }
    }

    private Active? TryActive(string id) { lock (_gate) return _active.GetValueOrDefault(id); }

    private RunRecord Require(string id) => _store.Get(id) ?? throw new KeyNotFoundException($"run '{id}' does not exist.");

    private static string Kebab(RunStatus s) => RunStore.Kebab(s.ToString());

    public void Dispose() => _shutdown.Dispose();
}
