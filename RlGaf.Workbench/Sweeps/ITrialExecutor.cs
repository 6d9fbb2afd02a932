namespace RlGaf.Workbench.Sweeps;

/// <summary>
/// Where a sweep's trials run: the <c>SweepRunner</c> decides what to run and when to stop it
/// (sampling, ASHA, cancel), an executor only runs trials and reports on them. Local: the training
/// host's slots. Slurm: one <c>train --config TRIAL.json --out DIR</c> process per array task. A new
/// executor (Kubernetes Indexed Jobs, ...) implements these five calls and nothing else.
///
/// Threading: the runner calls an executor from its own loop thread, one call at a time per sweep;
/// calls may block briefly (a process such as <c>squeue</c>), never for a trial's duration.
/// Handles are persisted by the runner (trials.json); an executor must be able to continue from them
/// in a new process (<see cref="Reattach"/>), so it keeps nothing it needs only in memory.
/// </summary>
public interface ITrialExecutor
{
    /// <summary>Short name, stored with every handle: "local", "slurm".</summary>
    string Name { get; }

    /// <summary>
    /// Starts <paramref name="trials"/> (all of one sweep, in index order), at most
    /// <paramref name="maxParallel"/> at a time (Slurm: <c>--array=0-N%K</c>; local: the host's slots, never
    /// more than K of this sweep). Returns one handle per trial, same order. Returns once they are queued,
    /// not when they end. ArgumentException / InvalidOperationException with the reason when refused
    /// (nothing is left started then).
    /// </summary>
    IReadOnlyList<TrialHandle> Submit(IReadOnlyList<TrialSpec> trials, int maxParallel);

    /// <summary>
    /// The state of each trial (same order as <paramref name="handles"/>) with every value of
    /// <paramref name="metric"/> it has logged so far (all of them, ascending step: ASHA reads the value
    /// at each rung). A trial the executor cannot find reports <see cref="TrialState.Lost"/>. When a trial
    /// ends, the executor makes it a run of the store (local: it already is; Slurm: imports the trial
    /// folder) and reports its id in <see cref="TrialProgress.RunId"/>.
    /// </summary>
    IReadOnlyList<TrialProgress> Poll(IReadOnlyList<TrialHandle> handles, string metric);

    /// <summary>
    /// Stops one trial (ASHA lost it at a rung, or the user stopped it): it ends as
    /// <see cref="TrialState.Stopped"/> with <paramref name="reason"/>, keeping what it logged. A trial
    /// already ended is left as it is (no error).
    /// </summary>
    void Stop(TrialHandle handle, string reason);

    /// <summary>Cancels every trial of the sweep still queued or running (Slurm: the whole array in one <c>scancel</c>).</summary>
    void CancelAll(IReadOnlyList<TrialHandle> handles, string reason);

    /// <summary>
    /// After a restart: picks up persisted trials that had not ended. Returns one handle per trial
    /// (same order): the same handle when the trial is still queued or running (never submitted again),
    /// or a new one when it had to be started again (local: the run continues from its last checkpoint).
    /// <paramref name="maxParallel"/> bounds what is started again, as in <see cref="Submit"/>.
    /// </summary>
    IReadOnlyList<TrialHandle> Reattach(IReadOnlyList<(TrialSpec Spec, TrialHandle Handle)> trials, int maxParallel);
}
