namespace RlGaf.Workbench.Sweeps;

/// <summary>
/// How an executor finds a trial again, persisted by the runner (JSON) and handed back after a restart.
/// <see cref="Id"/> is opaque to the runner: local = the run's id in the store; Slurm = "JOBID_TASK".
/// </summary>
/// <param name="Executor">The <see cref="ITrialExecutor.Name"/> that made it.</param>
/// <param name="Id">The executor's own reference to the trial.</param>
public sealed record TrialHandle(string Executor, string Id);
