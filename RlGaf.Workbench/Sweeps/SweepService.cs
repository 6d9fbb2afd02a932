using RlGaf.Engine.Runs;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Sweeps;

/// <summary>What a new sweep needs: the file's text and where it came from, and the executor's choices (null: the file's or the default).</summary>
public sealed record SweepRequest(string Text, string Source = "sweep", string? Executor = null, int? MaxParallel = null, string? BaseDir = null);

/// <summary>
/// The workbench's sweeps: starts them (parse, plan, persist, run), lists them from their folders, cancels
/// them, and at start resumes those a restart cut off (started after the training host, which has marked
/// their runs interrupted by then, so the local executor continues each from its checkpoint).
/// </summary>
public sealed class SweepService : IHostedService, IDisposable
{
    private readonly SweepStore _store;
    private readonly TrainingHost _host;
    private readonly Func<string, RunSettings> _preset;
    private readonly IServiceProvider? _services;
    private readonly ILogger<SweepService>? _log;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SweepRunner> _runners = [];
    private bool _stopped;

    public SweepService(SweepStore store, TrainingHost host, Func<string, RunSettings> preset, IServiceProvider? services = null, ILogger<SweepService>? log = null)
    {
        (_store, _host, _preset, _services, _log) = (store, host, preset, services, log);
    }

    public SweepStore Store => _store;

    /// <summary>Poll interval of new runners (tests shorten it).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Raised with a sweep's id whenever it changed (on its runner's thread).</summary>
    public event Action<string>? Changed;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        foreach (var (sweep, trials) in _store.List(problems).Where(s => !s.Sweep.Ended))
        {
            try
            {
                Run(sweep, trials);
                _log?.LogInformation("sweep {Id} was running when the workbench stopped: resumed", sweep.Id);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                sweep.Status = SweepStatus.Failed;
                sweep.Message = $"could not resume: {e.Message}";
                _store.Save(sweep, trials);
            }
        }
        foreach (var p in problems) _log?.LogWarning("sweeps: skipped a damaged sweep folder: {Problem}", p);
        return Task.CompletedTask;
    }

    /// <summary>Parses, plans and starts a sweep; ArgumentException naming the line and key (or the trial) when refused.</summary>
    public SweepRecord Create(SweepRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Text)) throw new ArgumentException("sweep file: empty: give the sweep's YAML or JSON.");
        var config = SweepFileParser.Parse(request.Text, request.Source, _preset, request.BaseDir);
        string executor = request.Executor ?? LocalTrialExecutor.ExecutorName;
        if (!TrialExecutors.Names.Contains(executor)) throw new ArgumentException($"executor: '{executor}' is not available in this build (executors: {string.Join(", ", TrialExecutors.Names)}).");
        int maxParallel = request.MaxParallel ?? config.MaxParallel ?? 1;
        if (maxParallel is < 1 or > 1024) throw new ArgumentException($"max_parallel: {maxParallel} must be in [1, 1024].");
        var id = _store.NewId();
        var trials = SweepPlanner.Trials(config, id, _store.Dir(id)).Select(TrialRecord.From).ToList();
        foreach (var t in trials) PathPolicyCheck(t);
        var sweep = new SweepRecord
        {
            Id = id, Name = config.Name, Description = config.Description, CreatedUtc = DateTime.UtcNow, Status = SweepStatus.Running,
            Executor = executor, MaxParallel = maxParallel, Method = config.Method, MetricName = config.Metric.Name, Goal = config.Metric.Goal,
            AshaMinIter = config.EarlyTerminate?.MinIter, AshaEta = config.EarlyTerminate?.Eta, Base = config.BaseName, Seeds = [.. config.Seeds],
            ParameterKeys = config.Parameters.Select(p => p.Key).ToList(), Source = request.Text,
        };
        _store.Save(sweep, trials);
        Run(sweep, trials);
        return sweep;
    }

    /// <summary>The generator directory must exist (the host refuses otherwise, trial by trial: better once, now).</summary>
    private static void PathPolicyCheck(TrialRecord t)
    {
        var s = RunSettings.FromJson(t.SettingsJson, $"trial {t.Index}");
        if (s.Generator != "pretrain" && !Directory.Exists(s.Generator))
            throw new ArgumentException($"generator: model directory '{s.Generator}' does not exist.");
    }

    private void Run(SweepRecord sweep, List<TrialRecord> trials)
    {
        var executor = TrialExecutors.Create(sweep.Executor, new TrialExecutorContext(_host, _store.Dir(sweep.Id), _services));
        var runner = new SweepRunner(_store, sweep, trials, executor, _log) { PollInterval = PollInterval };
        runner.Changed += () => Changed?.Invoke(sweep.Id);
        lock (_gate)
        {
            if (_stopped) throw new HostStoppingException("the workbench is shutting down: the sweep was saved and starts at the next start.");
            _runners[sweep.Id] = runner;
        }
        runner.Start();
    }

    public IReadOnlyList<SweepRecord> List()
    {
        var list = _store.List().Select(s => s.Sweep).ToList();
        return list.Select(s => Get(s.Id)?.Sweep ?? s).ToList();
    }

    /// <summary>The live state of a running sweep, or what its folder says.</summary>
    public (SweepRecord Sweep, IReadOnlyList<TrialRecord> Trials)? Get(string id)
    {
        SweepRunner? runner;
        lock (_gate) _runners.TryGetValue(id, out runner);
        if (runner is not null) return runner.Snapshot();
        if (id.Contains('/') || id.Contains('\\') || id.Contains("..")) return null;
        return _store.Load(id) is { } s ? (s.Sweep, s.Trials) : null;
    }

    public void Cancel(string id, string reason = "cancelled by the user")
    {
        SweepRunner? runner;
        lock (_gate) _runners.TryGetValue(id, out runner);
        if (runner is null)
        {
            if (Get(id) is null) throw new KeyNotFoundException($"sweep '{id}' does not exist.");
            throw new InvalidOperationException($"sweep {id} has ended: nothing to cancel.");
        }
        runner.Cancel(reason);
    }

    public void StopTrial(string id, int index)
    {
        SweepRunner? runner;
        lock (_gate) _runners.TryGetValue(id, out runner);
        if (runner is null) throw Get(id) is null ? new KeyNotFoundException($"sweep '{id}' does not exist.") : new InvalidOperationException($"sweep {id} has ended.");
        runner.StopTrial(index);
    }

    /// <summary>Waits until sweep <paramref name="id"/> has ended (the command line).</summary>
    public bool Wait(string id, TimeSpan timeout)
    {
        SweepRunner? runner;
        lock (_gate) _runners.TryGetValue(id, out runner);
        return runner?.Wait(timeout) ?? true;
    }

    /// <summary>Detaches every runner, cancelling nothing: their trials are re-attached at the next start.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        SweepRunner[] runners;
        lock (_gate)
        {
            _stopped = true;
            runners = [.. _runners.Values];
            _runners.Clear();
        }
        foreach (var r in runners) r.Dispose();
    }
}
