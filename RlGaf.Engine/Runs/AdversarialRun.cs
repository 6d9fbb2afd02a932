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

    private readonly RunSettings _settings;
    private readonly string _modelsRoot;
    private readonly List<RunEvent> _events = [];
    private readonly ConcurrentQueue<(string Kind, string? Key, string? Value)> _requests = new();
    private readonly SemaphoreSlim _wake = new(0);
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
        File.WriteAllText(Path.Combine(runDir, SettingsFile), settings.ToJson());
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
        var run = new AdversarialRun(runDir, state?.Settings ?? settings, modelsRoot, state) { _resumePath = latest?.Path, _skipped = skipped };
        return run;
    }

    private string? _resumePath;
    private List<string> _skipped = [];

    /// <summary>Before <see cref="Execute"/>: sets the total steps of a run being continued (extends a completed run).</summary>
    public void ExtendTo(int steps)
    {
        if (steps < Step) throw new ArgumentException($"--steps: {steps} is below the run's current step {Step}.");
        var next = Settings with { Steps = steps };
        next.Validate();
        if (_state is not null) _state = _state with { Settings = next };
        _settingsOverride = next;
    }

    private RunSettings? _settingsOverride;

    /// <summary>Test hook: the generator update at this step reports a NaN loss (exercises the non-finite guard).</summary>
    internal int? FaultInjectionStep { get; set; }

    // ---- Control (any thread) -----------------------------------------------------------------

    public void RequestPause() { _requests.Enqueue(("pause", null, null)); _wake.Release(); }
    public void RequestResume() { _requests.Enqueue(("resume", null, null)); _wake.Release(); }
    public void RequestStop() { _requests.Enqueue(("stop", null, null)); _wake.Release(); }

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
        try
        {
            var device = TorchRuntime.ResolveDevice(TorchRuntime.ParsePreference(Settings.Device, "device"));
            if (Settings.Threads > 0) TorchRuntime.SetThreads(Settings.Threads);
            SetStatus(RunStatus.Pretraining, null);
            Prepare(device);
            SetStatus(RunStatus.Running, null);
            var t = _trainer!;
            while (t.Step < t.Settings.Steps)
            {
                if (cancellationToken.IsCancellationRequested) { Checkpoint(); SetStatus(RunStatus.Interrupted, "host shutting down"); return; }
                if (!ProcessRequests()) return;
                if (stopAtStep is { } stop && t.Step >= stop) { Checkpoint(); SetStatus(RunStatus.Paused, $"stopped at step {stop} as asked"); return; }
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
                if (t.Step % t.Settings.CheckpointEvery == 0) Checkpoint();
                if (pauseForCollapse)
                {
                    Checkpoint();
                    SetStatus(RunStatus.Paused, "mode collapse detected (collapse_action = pause)");
                    if (!WaitWhilePaused()) return;
                }
            }
            Checkpoint();
            SetStatus(RunStatus.Completed, null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SetStatus(RunStatus.Failed, e.Message);
            throw;
        }
    }

    private void Prepare(Device device)
    {
        var s = _settingsOverride ?? Settings;
        var sft = RunSetup.EnsureSft(RunDir, s, _modelsRoot, device, m => Log?.Invoke(m));
        var task = RunSetup.CreateTask(s.Dataset, sft.Vocabulary, new Tasks.TaskContext(_modelsRoot, s.MaxNewTokens, sft.Config.NPositions, m => Log?.Invoke(m)));
        Discriminator? disc = null;
        Tasks.IRewardScorer? rm = null;
        if (s.Method == TrainingMethod.RlhfProxy)
        {
            (rm, double acc) = RunSetup.EnsureRewardModel(RunDir, s, task, sft.Model, device, m => Log?.Invoke(m));
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
            Raise(new RunEvent(_state.Step, RunEventKinds.Resume, $"continued from checkpoint at step {_state.Step}"));
            RebuildDetector();
            return;
        }
        if (s.DiscPretrainSteps > 0 && disc is not null)
        {
            Log?.Invoke($"pretraining the discriminator ({s.DiscPretrainSteps} updates)");
            var m = _trainer.PretrainDiscriminator(s.DiscPretrainSteps);
            Log?.Invoke($"discriminator after pretraining: acc {m.GetValueOrDefault("disc/acc"):0.00}, real {m.GetValueOrDefault("disc/real_score"):0.00}, fake {m.GetValueOrDefault("disc/fake_score"):0.00}");
        }
        Evaluate();
        Checkpoint();
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
        var (metrics, samples) = t.Evaluate(t.Settings.SamplesPerEval);
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
                    Checkpoint();
                    SetStatus(RunStatus.Stopped, null);
                    return false;
                case "pause":
                    Raise(new RunEvent(Step, RunEventKinds.Pause, "paused by the user"));
                    Checkpoint();
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
        while (true)
        {
            _wake.Wait();
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
    }
}
