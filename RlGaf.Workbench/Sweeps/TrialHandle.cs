namespace RlGaf.Workbench.Sweeps;

/// <summary>
/// How an executor finds a trial again, persisted by the runner (JSON) and handed back after a restart.
/// <see cref="Id"/> is opaque to the runner: local = the trial's folder (it holds the run id once made); Slurm = "JOBID_TASK".
/// </summary>
/// <param name="Executor">The <see cref="ITrialExecutor.Name"/> that made it.</param>
/// <param name="Id">The executor's own reference to the trial.</param>
public sealed record TrialHandle(string Executor, string Id);
