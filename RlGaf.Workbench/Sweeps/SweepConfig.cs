using RlGaf.Engine.Runs;

namespace RlGaf.Workbench.Sweeps;

public enum SweepMethod { Grid, Random }

public enum MetricGoal { Minimize, Maximize }

/// <summary>The metric a sweep optimizes: a key of the runs' metrics (e.g. oracle/nll) and its direction.</summary>
public sealed record SweepMetric(string Name, MetricGoal Goal)
{
    /// <summary>True when <paramref name="a"/> is better than <paramref name="b"/> for this goal.</summary>
    public bool Better(double a, double b) => Goal == MetricGoal.Minimize ? a < b : a > b;
}

/// <summary>ASHA (W&B's hyperband early_terminate): rungs at <see cref="MinIter"/> * eta^k training steps.</summary>
public sealed record EarlyTermination(int MinIter, int Eta)
{
    /// <summary>The rungs below <paramref name="totalSteps"/> (a rung at the last step stops nothing).</summary>
    public IReadOnlyList<int> Rungs(int totalSteps)
    {
        var rungs = new List<int>();
        for (long r = MinIter; r < totalSteps; r *= Eta) rungs.Add((int)r);
        return rungs;
    }
}

/// <summary>
/// A parsed sweep file: what to search (<see cref="Parameters"/> over <see cref="Base"/>), how
/// (<see cref="Method"/>, <see cref="RunCap"/>, <see cref="SamplerSeed"/>), what to optimize and when to stop
/// losers early. <see cref="Seeds"/> is the replicate axis: every configuration runs once per seed.
/// </summary>
public sealed record SweepConfig(
    string Name,
    string? Description,
    SweepMethod Method,
    SweepMetric Metric,
    IReadOnlyList<SweepParameter> Parameters,
    int? RunCap,
    EarlyTermination? EarlyTerminate,
    string BaseName,
    RunSettings Base,
    IReadOnlyList<int> Seeds,
    int SamplerSeed,
    int? MaxParallel);
