using Microsoft.Extensions.Options;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Training;

/// <summary>
/// A control request that came while the workbench shuts down (or after): nothing was done. The API
/// maps it, as every InvalidOperationException, to 409 with this message.
/// </summary>
public sealed class HostStoppingException(string message) : InvalidOperationException(message);

/// <summary>
/// Runs the queued runs, at most RlGaf:MaxConcurrentRuns at a time, each on its own dedicated thread
/// (TorchSharp's grad mode and dispose scopes are thread-local: training code never awaits). Every
/// run is persisted through <see cref="RunStore"/> and published through <see cref="RunNotifier"/>.
/// The web side only enqueues requests: no page or API call ever waits on a training step, nor on a
/// run's start (opening checkpoints happens on the run's thread). A run holds its slot from the moment
/// it leaves the queue; queue, slots and the run's state change together under one lock, so two
/// resumes queue a run once and a delete during a start leaves no folder behind.
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
    private readonly CancellationToken _shutdownToken;
    private bool _started;
    /// <summary>Set by StopAsync/Dispose: commands are refused with <see cref="HostStoppingException"/>, nothing new starts.</summary>
    private bool _stopping;
    private bool _disposed;
    /// <summary>Slots held by other trainers (experiment suites) that compete for the same cores.</summary>
    private readonly List<string> _reserved = [];

    /// <summary>Test hook: runs on a run's thread before the run is opened (simulates a slow start).</summary>
    internal Action<string>? OnStarting { get; set; }

    /// <summary>A run that holds a slot: starting (Run null) or training.</summary>
    private sealed class Active(string id)
    {
        public string Id { get; } = id;
        /// <summary>Null while the run is being opened on its thread.</summary>
        public AdversarialRun? Run { get; set; }
        public Thread? Thread { get; set; }
        public bool DeleteWhenDone { get; set; }
        /// <summary>Control requests that came while the run was starting, applied once it is open.</summary>
        public List<Action<AdversarialRun>> Pending { get; } = [];
    }

    public TrainingHost(RunStore store, RunNotifier notifier, PathPolicy paths, IOptions<WorkbenchOptions> options, ILogger<TrainingHost> log)
    {
        _store = store;
        _notifier = notifier;
        _paths = paths;
        _log = log;
        _maxConcurrent = Math.Max(1, options.Value.MaxConcurrentRuns);
        _shutdownToken = _shutdown.Token;
    }

    public RunStore Store => _store;

    /// <summary>Marks runs the previous process left mid-training as Interrupted, then starts the queue.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var r in _store.List())
        {
            if (r.Status is RunStatus.Running or RunStatus.Pretraining)
            {
                _store.SetStatus(r.Id, RunStatus.Interrupted, "the process training this run (a workbench or a command-line train) stopped; resume continues from its last checkpoint");
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

    /// <summary>
    /// Asks every run's thread to checkpoint and stop (status Interrupted; a paused run stays Paused, it
    /// was checkpointed when it paused) and waits for each: every long phase observes the shutdown within
    /// a step. A thread still running is logged every few seconds; when the host's shutdown timeout ends
    /// the wait, <see cref="Dispose"/> (which runs before the store is disposed) waits for it once more.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        Thread[] threads;
        lock (_gate)
        {
            if (_disposed) return Task.CompletedTask; // Dispose already stopped and joined everything
            _started = false;
            _stopping = true;
            threads = Threads();
        }
        _shutdown.Cancel();
        Join(threads, cancellationToken, TimeSpan.FromMinutes(2));
        return Task.CompletedTask;
    }

    private Thread[] Threads() => _active.Values.Select(a => a.Thread).OfType<Thread>().ToArray();

    /// <summary>Waits for <paramref name="threads"/> until they end, the token fires or <paramref name="limit"/> passes; says which still run.</summary>
    private bool Join(Thread[] threads, CancellationToken cancellationToken, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        var nextReport = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var alive = threads.Where(t => t.IsAlive).ToArray();
            if (alive.Length == 0) return true;
            if (cancellationToken.IsCancellationRequested || DateTime.UtcNow > deadline)
            {
                _log.LogError("shutdown: {Threads} still running after the wait; their runs are marked interrupted at the next start", Names(alive));
                return false;
            }
            if (DateTime.UtcNow > nextReport)
            {
                _log.LogWarning("shutdown: waiting for {Threads} to checkpoint and stop", Names(alive));
                nextReport = DateTime.UtcNow.AddSeconds(10);
            }
            alive[0].Join(TimeSpan.FromMilliseconds(200));
        }
    }

    private static string Names(Thread[] threads) => string.Join(", ", threads.Select(t => $"'{t.Name}'"));

    /// <summary>Refuses a command once shutdown began: the store and the runs' threads are going away.</summary>
    private void ThrowIfStopping(string what)
    {
        if (Volatile.Read(ref _stopping))
            throw new HostStoppingException($"the workbench is shutting down: {what} was not done (try again once it has restarted).");
    }

    // ---- Commands (any thread) ------------------------------------------------------------------

    /// <summary>Validates (settings and paths), stores and queues a new run. ArgumentException with the reason when refused.</summary>
    public RunRecord Create(RunSettings settings, string? name = null)
    {
        ThrowIfStopping("creating a run");
        settings = _paths.Apply(settings.Validate()).Validate();
        if (settings.Generator != "pretrain" && !Directory.Exists(settings.Generator))
            throw new ArgumentException($"generator: model directory '{settings.Generator}' does not exist.");
        PathPolicy.RequireDatasetExists(settings.Dataset);
        RunRecord record;
        lock (_gate)
        {
            ThrowIfStopping("creating a run");
            record = _store.Create(settings, string.IsNullOrWhiteSpace(name) ? null : name.Trim());
            // Say why a run waits when an experiment suite holds the slot (set before it is queued, so it never overwrites a start).
            string? waits = _reserved.Count > 0 && _active.Count + _reserved.Count >= _maxConcurrent ? $"waits for a training slot: {string.Join(", ", _reserved)} holds it" : null;
            if (waits is not null) _store.SetStatus(record.Id, RunStatus.Queued, waits);
            _notifier.Publish(new StatusUpdate(record.Id, RunStatus.Queued, waits, 0));
            _queue.AddLast(record.Id);
        }
        Dispatch();
        return record;
    }

    /// <summary>A new run with the settings of <paramref name="id"/> (as they are now, live changes included).</summary>
    public RunRecord Clone(string id)
    {
        ThrowIfStopping("cloning a run");
        var r = Require(id);
        return Create(RunSettings.FromJson(r.SettingsJson, $"run {id}"), r.Name + " (copy)");
    }

    /// <summary>
    /// A new run forked from <paramref name="id"/>'s kept checkpoint at <paramref name="step"/> with <paramref name="changes"/>
    /// (checked as for a new run; settings fixed at set-up refused by name; a step without a kept checkpoint
    /// refused naming the kept ones). Its folder is written here (a copy of that checkpoint), then it queues.
    /// </summary>
    public RunRecord Fork(string id, int step, IReadOnlyList<(string Key, string Value)> changes, string? name = null)
    {
        ThrowIfStopping("forking a run");
        var parent = Require(id);
        var checkpoint = RunFork.RequireCheckpoint(parent.RunDir, id, step);
        var settings = RunFork.Settings(RunFork.ParentSettings(checkpoint.Path), step, changes);
        // No path is re-read: the path settings are fixed for a fork and its models are copied from the parent's folder.
        RunRecord record;
        lock (_gate)
        {
            ThrowIfStopping("forking a run");
            record = _store.Create(settings, string.IsNullOrWhiteSpace(name) ? $"{parent.Name} (fork @{step})" : name.Trim());
            try { RunFork.Prepare(parent.RunDir, id, step, record.RunDir, settings); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                _store.Delete(record.Id);
                throw new InvalidOperationException($"run {id}: its checkpoint at step {step} could not be copied for the fork ({e.Message}). Nothing was created.");
            }
            record.Parent = id;
            record.ForkStep = step;
            record.Step = step;
            _store.Update(record);
            _notifier.Publish(new StatusUpdate(record.Id, RunStatus.Queued, null, step));
            _queue.AddLast(record.Id);
        }
        Dispatch();
        return _store.Get(record.Id) ?? record;
    }

    public bool IsActive(string id) { lock (_gate) return _active.ContainsKey(id); }

    /// <summary>Runs that hold a slot now (starting or training): never more than RlGaf:MaxConcurrentRuns with the reserved slots.</summary>
    internal int ActiveCount { get { lock (_gate) return _active.Count; } }

    /// <summary>How many times <paramref name="id"/> waits in the queue (0 or 1).</summary>
    internal int QueuedCount(string id) { lock (_gate) return _queue.Count(q => q == id); }

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
            ThrowIfStopping($"starting {holder}");
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
        lock (_gate)
        {
            ThrowIfStopping($"pausing run {id}");
            var r = Require(id);
            if (_active.TryGetValue(id, out var a)) { Control(a, run => run.RequestPause()); return; }
            throw new InvalidOperationException($"run {id} is {Kebab(r.Status)}, not training: nothing to pause.");
        }
    }

    /// <summary>
    /// Resumes a paused run, or continues an interrupted/paused/stopped/failed one from its last checkpoint.
    /// Decided under the lock with the queue: a run already queued or starting is refused, so it never queues twice.
    /// </summary>
    public void Resume(string id)
    {
        lock (_gate)
        {
            ThrowIfStopping($"resuming run {id}");
            var r = Require(id);
            if (_active.TryGetValue(id, out var a))
            {
                if (a.Run is null) throw new InvalidOperationException($"run {id} is starting: nothing to resume.");
                a.Run.RequestResume();
                return;
            }
            if (r.Status is RunStatus.Completed or RunStatus.Queued || _queue.Contains(id))
                throw new InvalidOperationException($"run {id} is {Kebab(r.Status)}: nothing to resume.");
            _store.SetStatus(id, RunStatus.Queued, $"continues from its last checkpoint (was {Kebab(r.Status)})");
            _notifier.Publish(new StatusUpdate(id, RunStatus.Queued, null, r.Step));
            _queue.AddLast(id);
        }
        Dispatch();
    }

    public void Stop(string id)
    {
        lock (_gate)
        {
            ThrowIfStopping($"stopping run {id}");
            var r = Require(id);
            if (_active.TryGetValue(id, out var a)) { Control(a, run => run.RequestStop()); return; }
            if (_queue.Remove(id))
            {
                _store.SetStatus(id, RunStatus.Stopped, "stopped before it started");
                _notifier.Publish(new StatusUpdate(id, RunStatus.Stopped, "stopped before it started", r.Step));
                return;
            }
            if (r.Status is RunStatus.Paused or RunStatus.Interrupted)
            {
                _store.SetStatus(id, RunStatus.Stopped, null);
                _notifier.Publish(new StatusUpdate(id, RunStatus.Stopped, null, r.Step));
                return;
            }
            throw new InvalidOperationException($"run {id} is {Kebab(r.Status)}, not training: nothing to stop.");
        }
    }

    /// <summary>A live setting change, applied at the next step. ArgumentException (bad key/value) or InvalidOperationException (not training).</summary>
    public void Change(string id, string key, string value) => Change(id, [(key, value)]);

    /// <summary>
    /// Several live changes, all or none: every one is checked (together, on the settings in force)
    /// before any is sent, under the lock, so the run cannot end half-way through them.
    /// </summary>
    public void Change(string id, IReadOnlyList<(string Key, string Value)> changes)
    {
        lock (_gate)
        {
            ThrowIfStopping($"changing settings of run {id}");
            var r = Require(id);
            // Same validation whatever the state (training, starting, or not at all), so the reason is the same.
            var check = _active.GetValueOrDefault(id)?.Run?.Settings ?? RunSettings.FromJson(r.SettingsJson, $"run {id}");
            foreach (var (key, value) in changes)
            {
                if (!RunSettings.LiveKeys.Contains(key))
                    throw new ArgumentException($"{key}: cannot change while a run trains (live settings: {string.Join(", ", RunSettings.LiveKeys.Order())}).");
                check = check.With(key, value);
            }
            check.Validate();
            foreach (var (key, value) in changes) ChangeLocked(id, r, key, value);
        }
    }

    /// <summary>Sends a checked change to an open run, or keeps it for a starting one (call under the lock).</summary>
    private void ChangeLocked(string id, RunRecord r, string key, string value)
    {
        if (_active.TryGetValue(id, out var a)) { Control(a, run => run.RequestChange(key, value)); return; }
        throw new InvalidOperationException($"run {id} is {Kebab(r.Status)}, not training: live changes apply only to a training run (resume it first).");
    }

    /// <summary>Deletes a run with its data and checkpoints (a starting or training run is stopped first, then deleted).</summary>
    public void Delete(string id)
    {
        lock (_gate)
        {
            ThrowIfStopping($"deleting run {id}");
            Require(id);
            _queue.Remove(id);
            if (_active.TryGetValue(id, out var a))
            {
                a.DeleteWhenDone = true;
                a.Run?.RequestStop();
                return;
            }
            // Under the lock: nothing can queue or start the run while its folder goes.
            _store.Delete(id);
        }
        _notifier.Publish(new StatusUpdate(id, RunStatus.Stopped, "deleted", 0, Deleted: true));
    }

    /// <summary>
    /// Sets a run's tags (<paramref name="replace"/>: the whole list, or <paramref name="add"/> and
    /// <paramref name="remove"/>) and note (null: unchanged), whatever its state; all checked before any is applied.
    /// </summary>
    public RunRecord SetLabels(string id, IReadOnlyList<string>? replace, IReadOnlyList<string> add, IReadOnlyList<string> remove, string? note)
    {
        ThrowIfStopping($"labelling run {id}");
        var current = Require(id);
        if (note is not null) RunLabels.CheckNote(note, "note");
        foreach (var t in replace ?? add) RunLabels.CheckTag(t, replace is null ? "add_tags" : "tags");
        var r = _store.SetTags(id, replace ?? add, replace is null ? remove : current.Tags.Except(replace).ToList());
        if (note is not null) r = _store.SetNote(id, note);
        _notifier.Publish(new LabelsUpdate(id, r.Tags, r.Note));
        return r;
    }

    /// <summary>Sends a request to an open run, or keeps it until a starting run is open (call under the lock).</summary>
    private static void Control(Active a, Action<AdversarialRun> request)
    {
        if (a.Run is { } run) request(run);
        else a.Pending.Add(request);
    }

    // ---- Scheduling ------------------------------------------------------------------------------

    /// <summary>Moves queued runs into free slots: each holds its slot from here, while it starts on its own thread.</summary>
    private void Dispatch()
    {
        lock (_gate)
        {
            while (_started && !_stopping && _active.Count + _reserved.Count < _maxConcurrent && _queue.First is { } first)
            {
                var id = first.Value;
                _queue.RemoveFirst();
                var active = new Active(id);
                active.Thread = new Thread(() => RunThread(active)) { IsBackground = true, Name = $"run {id}" };
                _active[id] = active;
                active.Thread.Start();
            }
        }
    }

    /// <summary>The run's own thread: synchronous from start to end. Nothing may escape it (an unhandled exception ends the process).</summary>
    private void RunThread(Active a)
    {
        try
        {
            if (Open(a) is { } run) Train(a, run);
        }
        catch (Exception e) { _log.LogError(e, "run {Id}: error outside training", a.Id); }
        finally { Release(a); }
    }

    /// <summary>Opens (or creates) the run; null when it cannot start, was deleted meanwhile, or the host stops.</summary>
    private AdversarialRun? Open(Active a)
    {
        OnStarting?.Invoke(a.Id);
        var record = _store.Get(a.Id);
        if (record is null) return null;
        AdversarialRun run;
        try
        {
            bool reopen = File.Exists(Path.Combine(record.RunDir, AdversarialRun.SettingsFile));
            // Reopened without a good checkpoint, the run starts over: RunBinding drops what it logged before.
            if (reopen) run = AdversarialRun.Open(record.RunDir, _store.ModelsRoot);
            else run = AdversarialRun.Create(record.RunDir, RunSettings.FromJson(record.SettingsJson, $"run {a.Id}"), _store.ModelsRoot);
        }
        catch (Exception e)
        {
            _log.LogError(e, "run {Id} could not start", a.Id);
            bool deleting;
            lock (_gate) deleting = a.DeleteWhenDone;
            if (!deleting) MarkFailed(a.Id, $"could not start: {e.Message}");
            return null;
        }
        RunBinding.Attach(run, _store, a.Id);
        run.EventRaised += e => { if (e.Kind == RunEventKinds.Setting) _store.UpdateSettings(a.Id, run.Settings); };
        Publish(run, a.Id);
        run.Log += m => _log.LogInformation("run {Id}: {Message}", a.Id, m);
        lock (_gate)
        {
            // Deleted while it started (Release deletes its folder), or the host stops: it stays queued for the next start.
            if (a.DeleteWhenDone || _stopping) { run.Dispose(); return null; }
            a.Run = run;
            foreach (var request in a.Pending)
            {
                try { request(run); }
                catch (ArgumentException e) { _log.LogWarning("run {Id}: a request made while it started was refused: {Reason}", a.Id, e.Message); }
            }
            a.Pending.Clear();
        }
        return run;
    }

    private void Train(Active a, AdversarialRun run)
    {
        try
        {
            run.Execute(null, _shutdownToken);
        }
        catch (Exception e)
        {
            // Execute has already reported Failed through StatusChanged; this only makes sure of it.
            _log.LogError(e, "run {Id} failed", a.Id);
            try { if (_store.Get(a.Id) is { Status: not RunStatus.Failed }) MarkFailed(a.Id, e.Message); }
            catch (ObjectDisposedException) { /* the app is shutting down; next start marks it interrupted */ }
        }
    }

    /// <summary>Frees the slot; a run deleted meanwhile goes with its folder (under the lock: nothing restarts it in between).</summary>
    private void Release(Active a)
    {
        bool deleted = false;
        lock (_gate)
        {
            _active.Remove(a.Id);
            if (a.DeleteWhenDone)
            {
                try { _store.Delete(a.Id); deleted = true; }
                catch (Exception e) { _log.LogError(e, "deleting run {Id}", a.Id); }
            }
        }
        try { a.Run?.Dispose(); } catch (Exception e) { _log.LogWarning(e, "disposing run {Id}", a.Id); }
        if (deleted) _notifier.Publish(new StatusUpdate(a.Id, RunStatus.Stopped, "deleted", 0, Deleted: true));
        Dispatch();
    }
    private void Publish(AdversarialRun run, string id)
    {
        run.MetricsLogged += (step, m) => _notifier.Publish(new MetricsUpdate(id, step, new Dictionary<string, double>(m)));
        run.SamplesLogged += s => _notifier.Publish(new SamplesUpdate(id, s.Select(SampleView.From).ToList()));
        run.EventRaised += e => _notifier.Publish(new EventUpdate(id, EventView.From(e)));
        run.StatusChanged += (status, message) => _notifier.Publish(new StatusUpdate(id, status, message, run.Step));
        run.PhaseProgressed += p => _notifier.Publish(new PhaseUpdate(id, p));
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

    private RunRecord Require(string id) => _store.Get(id) ?? throw new KeyNotFoundException($"run '{id}' does not exist.");

    private static string Kebab(RunStatus s) => RunStore.Kebab(s.ToString());

    /// <summary>
    /// Runs before the store is disposed (the host depends on it): waits once more for a thread that
    /// outlived StopAsync's wait, so none writes to a disposed store unnoticed.
    /// </summary>
    public void Dispose()
    {
        Thread[] threads;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _started = false;
            _stopping = true;
            threads = Threads();
        }
        _shutdown.Cancel();
        Join(threads, CancellationToken.None, TimeSpan.FromSeconds(30));
        _shutdown.Dispose();
    }
}
