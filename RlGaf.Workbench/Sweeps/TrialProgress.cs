namespace RlGaf.Workbench.Sweeps;

/// <summary>What a trial is doing, as its executor sees it.</summary>
public enum TrialState
{
    /// <summary>Not yet given to an executor (runner only).</summary>
    Planned,
    /// <summary>Submitted, waiting for a slot or for the scheduler (Slurm PENDING: <see cref="TrialProgress.Reason"/> says why).</summary>
    Queued,
    Running,
    Completed,
    /// <summary>Ended with an error (Slurm FAILED, OUT_OF_MEMORY, TIMEOUT, ...: the reason in Slurm's words).</summary>
    Failed,
    /// <summary>Stopped on purpose: ASHA at a rung, the user, or the sweep's cancel.</summary>
    Stopped,
    /// <summary>The executor no longer knows it and found no result (the runner starts it again).</summary>
    Lost,
}

/// <summary>One logged value of the sweep's metric.</summary>
public readonly record struct MetricValue(int Step, double Value);

/// <summary>A trial's state as <see cref="ITrialExecutor.Poll"/> reports it.</summary>
/// <param name="State">Where it is.</param>
/// <param name="Step">Training steps done.</param>
/// <param name="TotalSteps">Steps it will train (its settings' <c>steps</c>).</param>
/// <param name="Reason">Why it waits, failed or stopped, in the executor's own words (null when nothing to say).</param>
/// <param name="Metric">Every value of the sweep's metric so far, ascending step.</param>
/// <param name="RunId">Its run in the store, once there is one (local: from the start; Slurm: once imported).</param>
public sealed record TrialProgress(
    TrialState State,
    int Step,
    int TotalSteps,
    string? Reason,
    IReadOnlyList<MetricValue> Metric,
    string? RunId)
{
    public bool Ended => State is TrialState.Completed or TrialState.Failed or TrialState.Stopped;
}
