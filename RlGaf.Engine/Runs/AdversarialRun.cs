using System.Collections.Concurrent;
using System.Text.Json;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Metrics;
using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Runs;

/// <summary>
/// One run from start to end on the calling thread (the run's own thread): set-up (pretraining, the
/// reward model, discriminator pretraining), an evaluation at step 0, then generator steps with
/// evaluations, checkpoints, live control and the collapse detector. It raises events for metrics,
/// samples, run events and status; it never waits on a listener. Other threads talk to it only
/// through the Request* methods, applied at the next step boundary.
/// </summary>
public sealed class AdversarialRun : IDisposable
{
    public const string SettingsFile = "settings.json";

    public string RunDir { get; }
    public RunStatus Status { get; private set; } = RunStatus.Queued;
    public int Step => _trainer?.Step ?? _state?.Step ?? 0;
    /// <summary>Settings in force (live changes included).</summary>
    public RunSettings Settings => _trainer?.Settings ?? _settings;
    public IReadOnlyList<RunEvent> Events => _events;

    public event Action<int, IReadOnlyDictionary<string, double>>? MetricsLogged;
    public event Action<IReadOnlyList<SampleRecord>>? SamplesLogged;
    public event Action<RunEvent>? EventRaised;
    public event Action<RunStatus, string?>? StatusChanged;
    /// <summary>Raised when a run continues from a checkpoint: anything logged after that step is void.</summary>
    public event Action<int>? ResumedFromCheckpoint;
    public event Action<string>? Log;
    /// <summary>
    /// A long phase's progress (SFT pretraining, reward-model training, discriminator pretraining,
    /// evaluation): a few reports a second on the run's thread, the last with Done set.
    /// </summary>
    public event Action<PhaseProgress>? PhaseProgressed;

    private readonly RunSettings _settings;
    private readonly string _modelsRoot;
    private readonly List<RunEvent> _events = [];
    private readonly ConcurrentQueue<(string Kind, string? Key, string? Value)> _requests = new();
    private readonly SemaphoreSlim _wake = new(0);
    /// <summary>Cancelled by a stop request: long phases (pretraining, reward model, evaluation) observe it every step.</summary>
    private readonly CancellationTokenSource _stopRequested = new();
    private CancellationToken _cancel;
    /// <summary>Set-up is done (step-0 evaluation and checkpoint, or a checkpoint restored): the trainer's state is a step's.</summary>
    private bool _prepared;
    private RunState? _state;
    private AdversarialTrainer? _trainer;
    private CollapseDetector? _detector;
    private SortedDictionary<int, Dictionary<string, double>> _evaluations = [];
    private IReadOnlyDictionary<string, double> _lastTrain = new Dictionary<string, double>();

    private AdversarialRun(string runDir, RunSettings settings, string modelsRoot, RunState? state)
    {
        RunDir = runDir;
        _settings = settings;
        _modelsRoot = modelsRoot;
        _state = state;
    }

    /// <summary>A new run in <paramref name="runDir"/>; settings are validated here, before anything starts.</summary>
    public static AdversarialRun Create(string runDir, RunSettings settings, string modelsRoot)
    {
        settings.Validate();
        Directory.CreateDirectory(runDir);
        // Atomic: a crash while writing leaves no half settings.json (a folder with one is taken for a run to reopen).
        DurableFiles.WriteAllTextAtomic(Path.Combine(runDir, SettingsFile), settings.ToJson());
        return new AdversarialRun(runDir, settings, modelsRoot, null);
    }

    /// <summary>
    /// Opens an existing run to continue it from its newest good checkpoint (a corrupt or partial
    /// newer one is skipped and reported); with none, the run starts over from its settings.
    /// </summary>
    public static AdversarialRun Open(string runDir, string modelsRoot)
    {
        var settingsPath = Path.Combine(runDir, SettingsFile);
        if (!File.Exists(settingsPath)) throw new FileNotFoundException($"{settingsPath}: not a run directory (no {SettingsFile}).");
        var settings = RunSettings.FromJson(File.ReadAllText(settingsPath), settingsPath).Validate();
        var skipped = new List<string>();
        var latest = RunCheckpoint.LatestGood(runDir, skipped);
        var state = latest is { } c ? RunCheckpoint.ReadState(c.Path) : null;
        // A fork's first checkpoint carries the fork's settings: the trainer is built with them and its parts
        // restore from the parent's state, as after a live change at that step.
        var run = new AdversarialRun(runDir, state?.Fork?.Settings ?? state?.Settings ?? settings, modelsRoot, state)
            { _resumePath = latest?.Path, _skipped = skipped, StartsOver = latest is null };
        return run;
    }

    /// <summary>
    /// An opened run with no good checkpoint (killed before its first one was complete): it starts over
    /// from its settings, so whatever its earlier attempt logged is void.
    /// </summary>
    public bool StartsOver { get; private init; }

    private string? _resumePath;
    private List<string> _skipped = [];

    /// <summary>Before <see cref="Execute"/>: sets the total steps of a run being continued (extends a completed run).</summary>
    public void ExtendTo(int steps)
    {
        if (steps < Step) throw new ArgumentException($"--steps: {steps} is below the run's current step {Step}.");
        var next = (_settingsOverride ?? Settings) with { Steps = steps };
        next.Validate();
        // A fork's parts restore from the parent's settings (its savedWith): only the settings in force change.
        if (_state is { Fork: null }) _state = _state with { Settings = next };
        _settingsOverride = next;
    }

    private RunSettings? _settingsOverride;

    /// <summary>
    /// For headless runs, which nobody can resume while they run: a pause the run takes by itself (a
    /// non-finite step, a collapse, a checkpoint the disk refused) ends <see cref="Execute"/> with status
    /// Paused instead of waiting; the run continues later from its last good checkpoint.
    /// </summary>
    public bool EndWhenPaused { get; set; }

    /// <summary>Test hook: the generator update at this step reports a NaN loss (exercises the non-finite guard).</summary>
    internal int? FaultInjectionStep { get; set; }

    // ---- Control (any thread) -----------------------------------------------------------------

    public void RequestPause() { _requests.Enqueue(("pause", null, null)); _wake.Release(); }
    public void RequestResume() { _requests.Enqueue(("resume", null, null)); _wake.Release(); }
    public void RequestStop()
    {
        _requests.Enqueue(("stop", null, null));
        _wake.Release();
        // Also cuts a long phase short (pretraining, discriminator or reward-model training, evaluation):
        // a stop or delete takes effect within a step there too.
        try { _stopRequested.Cancel(); } catch (ObjectDisposedException) { /* the run has ended */ }
    }

    /// <summary>Queues a live setting change; a bad key or value is refused here with the reason.</summary>
    public void RequestChange(string key, string value)
    {
        if (!RunSettings.LiveKeys.Contains(key))
            throw new ArgumentException($"{key}: cannot change while a run trains (live settings: {string.Join(", ", RunSettings.LiveKeys.Order())}).");
        Settings.With(key, value).Validate();
        _requests.Enqueue(("set", key, value));
        _wake.Release();
    }

    // ---- Execution (the run's thread) ---------------------------------------------------------

    /// <summary>
    /// Runs until the configured steps are done, a stop request, or <paramref name="stopAtStep"/>
    /// (then it checkpoints and returns with status Paused, to be continued later).
    /// </summary>
    public void Execute(int? stopAtStep = null, CancellationToken cancellationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopRequested.Token);
        _cancel = linked.Token;
        // libtorch's thread count is process-wide: the lease gives the count back when the run ends,
        // so it never leaks into later runs (see TorchRuntime.UseThreads).
        IDisposable? threads = null;
        // A new event file per process start (tensorboard = true), with the settings this start uses.
        using var tensorboard = Tensorboard.RunTensorboardLog.Attach(this, _settingsOverride ?? Settings);
        try
        {
            var device = TorchRuntime.ResolveDevice(TorchRuntime.ParsePreference(Settings.Device, "device"));
            threads = TorchRuntime.UseThreads(Settings.Threads);
            // threads = 0: share the machine's cores with its other trainings (Runtime/CoreShare.cs).
            using var cores = CoreShare.Join();
            cores?.BeforeStep();
            SetStatus(RunStatus.Pretraining, null);
            bool fresh = Prepare(device);
            if (fresh && !CheckpointOrPause()) return;
            SetStatus(RunStatus.Running, null);
            var t = _trainer!;
            while (t.Step < t.Settings.Steps)
            {
                cores?.BeforeStep();
                if (cancellationToken.IsCancellationRequested)
                {
                    var why = TryCheckpoint();
                    SetStatus(RunStatus.Interrupted, why is null ? "host shutting down" : $"host shutting down; {why}");
                    return;
                }
                if (!ProcessRequests()) return;
                if (stopAtStep is { } stop && t.Step >= stop)
                {
                    if (!CheckpointOrPause()) return;
                    SetStatus(RunStatus.Paused, $"stopped at step {stop} as asked");
                    return;
                }
                Dictionary<string, double> metrics;
                try
                {
                    if (FaultInjectionStep == t.Step) { FaultInjectionStep = null; throw new NonFiniteException($"injected fault: non-finite loss at step {t.Step}; the update was not applied."); }
                    metrics = t.TrainStep();
                }
                catch (NonFiniteException e)
                {
                    Raise(new RunEvent(t.Step, RunEventKinds.NonFinite, e.Message));
                    SetStatus(RunStatus.Paused, e.Message);
                    if (!WaitWhilePaused()) return;
                    // Part of the step may have been applied (a PPO epoch, say): continue from the last good checkpoint.
                    RollBackToLastGoodCheckpoint();
                    continue;
                }
                MetricsLogged?.Invoke(t.Step, metrics);
                _lastTrain = metrics;
                bool pauseForCollapse = false;
                if (t.Step % t.Settings.EvalEvery == 0 || t.Step == t.Settings.Steps) pauseForCollapse = Evaluate();
                if (t.Step % t.Settings.CheckpointEvery == 0 && !CheckpointOrPause()) return;
                if (pauseForCollapse)
                {
                    if (!CheckpointOrPause()) return;
                    SetStatus(RunStatus.Paused, "mode collapse detected (collapse_action = pause)");
                    if (!WaitWhilePaused()) return;
                }
            }
            if (!CheckpointOrPause()) return;
            SetStatus(RunStatus.Completed, null);
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested)
        {
            // A long phase was cut short. What it left half-done is discarded (a pretraining cache is only
            // published when complete); the last checkpoint, if any, is where a resume continues.
            // Past set-up the weights are those of a finished step: keep them, as a stop between steps does.
            if (_prepared) Checkpoint();
            if (cancellationToken.IsCancellationRequested) SetStatus(RunStatus.Interrupted, "host shutting down");
            else
            {
                Raise(new RunEvent(Step, RunEventKinds.Stop, "stopped by the user"));
                SetStatus(RunStatus.Stopped, null);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SetStatus(RunStatus.Failed, e.Message);
            throw;
        }
        finally
        {
            threads?.Dispose();
        }
    }

    /// <summary>Builds the trainer; true for a fresh start (evaluated at step 0, not yet checkpointed), false when continued from a checkpoint.</summary>
    private bool Prepare(Device device)
    {
        var s = _settingsOverride ?? Settings;
        var sft = RunSetup.EnsureSft(RunDir, s, _modelsRoot, device, m => Log?.Invoke(m), _cancel, ReportPhase);
        var task = RunSetup.CreateTask(s.Dataset, sft.Vocabulary, new Tasks.TaskContext(_modelsRoot, s.MaxNewTokens, sft.Config.NPositions, m => Log?.Invoke(m)));
        Discriminator? disc = null;
        Tasks.IRewardScorer? rm = null;
        if (s.Method == TrainingMethod.RlhfProxy)
        {
            (rm, double acc) = RunSetup.EnsureRewardModel(RunDir, s, task, sft.Model, device, m => Log?.Invoke(m), _cancel, ReportPhase);
            Log?.Invoke($"reward model accuracy on held-out labelled pairs: {acc:P1}");
        }
        else if (s.Method != TrainingMethod.Sft) disc = RunSetup.CreateDiscriminator(s, sft.Model, device);
        _trainer = new AdversarialTrainer(task, sft.Model, s, device, disc, rm);
        sft.Model.Dispose();

        foreach (var why in _skipped)
            Raise(new RunEvent(_state?.Step ?? 0, RunEventKinds.Restart, $"skipped checkpoint {why}"));
        if (_resumePath is not null && _state is not null)
        {
            RunCheckpoint.Restore(_resumePath, _trainer, _state);
            _events.AddRange(_state.Events);
            _evaluations = _state.Evaluations;
            if (_state.Threads != get_num_threads())
                Log?.Invoke($"warning: checkpoint was written with {_state.Threads} threads, now {get_num_threads()}; resume is bit-identical only with the same count.");
            ResumedFromCheckpoint?.Invoke(_state.Step);
            if (_state.Fork is { } fork)
            {
                Raise(new RunEvent(_state.Step, RunEventKinds.Fork, $"forked from run {fork.Parent} at step {fork.Step}"));
                // What the fork changed, as setting events at the fork step (drawn on the charts like live changes).
                foreach (var key in RunSettings.Keys.Where(k => _state.Settings.Get(k) != s.Get(k)).Order(StringComparer.Ordinal))
                    Raise(new RunEvent(_state.Step, RunEventKinds.Setting, $"{key}: {_state.Settings.Get(key)} -> {s.Get(key)} (fork)", key, _state.Settings.Get(key), s.Get(key)));
            }
            else Raise(new RunEvent(_state.Step, RunEventKinds.Resume, $"continued from checkpoint at step {_state.Step}"));
            RebuildDetector();
            _prepared = true;
            return false;
        }
        if (s.DiscPretrainSteps > 0 && disc is not null)
        {
            Log?.Invoke($"pretraining the discriminator ({s.DiscPretrainSteps} updates)");
            var reporter = new PhaseReporter(RunPhases.DiscriminatorPretraining, s.DiscPretrainSteps, ReportPhase);
            reporter.Report(0);
            int done = 0;
            Dictionary<string, double> m;
            try { m = _trainer.PretrainDiscriminator(s.DiscPretrainSteps, _cancel, (k, dm) => { done = k; reporter.Report(k, dm.GetValueOrDefault("disc/loss", double.NaN)); }); }
            finally { reporter.Finish(done); }
            Log?.Invoke($"discriminator after pretraining: acc {m.GetValueOrDefault("disc/acc"):0.00}, real {m.GetValueOrDefault("disc/real_score"):0.00}, fake {m.GetValueOrDefault("disc/fake_score"):0.00}");
        }
        Evaluate();
        _prepared = true;
        return true;
    }

    /// <summary>Replays the evaluation history so the collapse detector is where it was at the checkpoint.</summary>
    private void RebuildDetector()
    {
        _detector = null;
        if (_evaluations.Count == 0) return;
        _detector = new CollapseDetector(_evaluations.First().Value);
        foreach (var (step, m) in _evaluations.Skip(1)) _detector.Observe(step, m);
    }

    private void RollBackToLastGoodCheckpoint()
    {
        var t = _trainer!;
        var good = RunCheckpoint.LatestGood(RunDir, []) ?? throw new InvalidOperationException("no good checkpoint to continue from.");
        var state = RunCheckpoint.ReadState(good.Path);
        // The trainer keeps the settings in force: live changes made while paused (a lower learning rate) stay.
        RunCheckpoint.Restore(good.Path, t, state);
        _evaluations = state.Evaluations;
        RebuildDetector();
        ResumedFromCheckpoint?.Invoke(state.Step);
        Raise(new RunEvent(state.Step, RunEventKinds.Restart, $"rolled back to the checkpoint at step {state.Step} after a non-finite step"));
    }

    /// <summary>Evaluates, logs metrics and samples, runs the collapse detector; true when it asks to pause.</summary>
    private bool Evaluate()
    {
        var t = _trainer!;
        var reporter = new PhaseReporter(RunPhases.Evaluation, 1, ReportPhase);
        reporter.Report(0);
        Dictionary<string, double> metrics;
        List<SampleRecord> samples;
        try { (metrics, samples) = t.Evaluate(t.Settings.SamplesPerEval, _cancel); }
        finally { reporter.Finish(1); }
        MetricsLogged?.Invoke(t.Step, metrics);
        if (samples.Count > 0) SamplesLogged?.Invoke(samples);
        // The detector reads the evaluation and the latest training figures (disc/fake_score, reward/std).
        var observed = new Dictionary<string, double>(_lastTrain);
        foreach (var (k, v) in metrics) observed[k] = v;
        _evaluations[t.Step] = observed;
        if (_detector is null)
        {
            _detector = new CollapseDetector(observed);
            return false;
        }
        bool pause = false;
        foreach (var alert in _detector.Observe(t.Step, observed))
        {
            Raise(new RunEvent(t.Step, RunEventKinds.Collapse, alert.Reason, alert.Rule));
            pause |= t.Settings.CollapseAction == CollapseAction.Pause;
        }
        return pause;
    }

    /// <summary>Applies queued requests; false when the run must end (stop).</summary>
    private bool ProcessRequests()
    {
        while (_requests.TryDequeue(out var r))
        {
            switch (r.Kind)
            {
                case "set": ApplyChange(r.Key!, r.Value!); break;
                case "stop":
                    Raise(new RunEvent(Step, RunEventKinds.Stop, "stopped by the user"));
                    SetStatus(RunStatus.Stopped, TryCheckpoint());
                    return false;
                case "pause":
                    Raise(new RunEvent(Step, RunEventKinds.Pause, "paused by the user"));
                    if (!CheckpointOrPause()) return false;
                    SetStatus(RunStatus.Paused, null);
                    if (!WaitWhilePaused()) return false;
                    break;
            }
        }
        return true;
    }

    /// <summary>Blocks the run's thread until resume (true) or stop (false); live changes still apply.</summary>
    private bool WaitWhilePaused()
    {
        if (EndWhenPaused) return false;
        while (true)
        {
            // Host shutdown ends the wait too (the run was checkpointed when it paused and stays Paused),
            // so no thread outlives the host.
            try { _wake.Wait(_cancel); }
            catch (OperationCanceledException) when (!_stopRequested.IsCancellationRequested) { return false; }
            catch (OperationCanceledException) { /* a stop: its request is queued, handled below */ }
            while (_requests.TryDequeue(out var r))
            {
                if (r.Kind == "set") ApplyChange(r.Key!, r.Value!);
                else if (r.Kind == "stop")
                {
                    Raise(new RunEvent(Step, RunEventKinds.Stop, "stopped by the user"));
                    SetStatus(RunStatus.Stopped, null);
                    return false;
                }
                else if (r.Kind == "resume")
                {
                    Raise(new RunEvent(Step, RunEventKinds.Resume, "resumed by the user"));
                    SetStatus(RunStatus.Running, null);
                    return true;
                }
            }
        }
    }

    private void ApplyChange(string key, string value)
    {
        var t = _trainer!;
        string old = t.Settings.Get(key);
        try { t.ChangeSetting(key, value); }
        catch (ArgumentException e) { Log?.Invoke($"refused {key} = {value}: {e.Message}"); return; }
        string now = t.Settings.Get(key);
        Raise(new RunEvent(t.Step, RunEventKinds.Setting, $"{key}: {old} -> {now}", key, old, now));
    }

    /// <summary>
    /// Writes a checkpoint; when the disk refuses it (full, read-only, gone), pauses the run with the
    /// reason and waits: resume retries the write (the run's state is still in memory), stop ends the
    /// run. The last good checkpoint is untouched either way. False when the run must end.
    /// </summary>
    private bool CheckpointOrPause()
    {
        while (true)
        {
            var why = TryCheckpoint();
            if (why is null) return true;
            Raise(new RunEvent(Step, RunEventKinds.CheckpointFailed, why));
            SetStatus(RunStatus.Paused, why + "; free space and resume to retry it");
            if (!WaitWhilePaused()) return false;
        }
    }

    /// <summary>Writes a checkpoint: null when written, else why not (naming the last good checkpoint, which stays intact).</summary>
    private string? TryCheckpoint()
    {
        try
        {
            Checkpoint();
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var good = RunCheckpoint.LatestGood(RunDir, []);
            string kept = good is { } g ? $"the last good checkpoint (step {g.Step}) is intact" : "there is no good checkpoint yet";
            Log?.Invoke($"checkpoint at step {Step} failed: {e.Message}");
            return $"the checkpoint at step {Step} could not be written ({e.Message}); {kept}";
        }
    }

    private void Checkpoint()
    {
        var t = _trainer;
        if (t is null) return;
        var state = new RunState
        {
            Step = t.Step, Settings = t.Settings, UpdateState = t.SaveState(),
            Threads = get_num_threads(), Events = [.. _events], Evaluations = _evaluations,
        };
        var path = RunCheckpoint.Save(RunDir, t, state, t.Settings.KeepCheckpoints);
        Log?.Invoke($"checkpoint {Path.GetFileName(path)}");
    }

    /// <summary>A message for the run's log from a part attached to it (the TensorBoard writer).</summary>
    internal void ReportLog(string message) => Log?.Invoke(message);

    private void ReportPhase(PhaseProgress p) => PhaseProgressed?.Invoke(p);

    private void Raise(RunEvent e)
    {
        _events.Add(e);
        EventRaised?.Invoke(e);
    }

    private void SetStatus(RunStatus status, string? message)
    {
        Status = status;
        StatusChanged?.Invoke(status, message);
    }

    public void Dispose()
    {
        _trainer?.Dispose();
        _wake.Dispose();
        _stopRequested.Dispose();
    }
}
