using System.Diagnostics;

namespace RlGaf.Engine.Runs;

/// <summary>The long phases a run goes through before (and between) its generator steps.</summary>
public static class RunPhases
{
    public const string Pretraining = "sft-pretraining";
    public const string DiscriminatorPretraining = "discriminator-pretraining";
    public const string RewardModel = "reward-model";
    public const string Evaluation = "evaluation";
    public const string SuiteSetup = "suite-setup";

    /// <summary>What a person reads for a phase name.</summary>
    public static string Title(string phase) => phase switch
    {
        Pretraining => "SFT pretraining",
        DiscriminatorPretraining => "Discriminator pretraining",
        RewardModel => "Reward-model training",
        Evaluation => "Evaluation",
        SuiteSetup => "Suite set-up",
        _ => phase,
    };
}

/// <summary>
/// Where a long phase stands: step of steps, its loss where it has one, time spent and an estimate
/// of the time left (linear in the steps done). <see cref="Done"/> marks the phase's last report.
/// </summary>
public sealed record PhaseProgress(string Phase, int Step, int Total, double? Loss, double ElapsedSeconds, bool Done = false)
{
    /// <summary>Seconds left at the pace so far; null before the first step (no pace yet) and once done.</summary>
    public double? EtaSeconds => Done || Step <= 0 || Total <= 0 ? null : Math.Max(0, ElapsedSeconds * (Total - Step) / Step);

    public double Fraction => Total <= 0 ? 0 : Math.Clamp((double)Step / Total, 0, 1);
}

/// <summary>
/// Reports one phase's progress to a listener, at most every <see cref="MinInterval"/> (the first and
/// the last report always go out), so a 1,500-step pretraining sends a few reports a second, not 1,500.
/// </summary>
public sealed class PhaseReporter(string phase, int total, Action<PhaseProgress>? listener)
{
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(250);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _last;

    public string Phase => phase;

    /// <summary>Step <paramref name="step"/> of the phase is done (loss: its figure, if it has one).</summary>
    public void Report(int step, double? loss = null)
    {
        if (listener is null) return;
        var now = _clock.Elapsed;
        if (step != 0 && step < total && _last is { } last && now - last < MinInterval) return;
        _last = now;
        listener(new PhaseProgress(phase, step, total, loss is { } l && double.IsFinite(l) ? l : null, now.TotalSeconds));
    }

    /// <summary>The phase ended (finished, or cut short: the step says where).</summary>
    public void Finish(int step, double? loss = null) =>
        listener?.Invoke(new PhaseProgress(phase, step, total, loss is { } l && double.IsFinite(l) ? l : null, _clock.Elapsed.TotalSeconds, Done: true));
}
