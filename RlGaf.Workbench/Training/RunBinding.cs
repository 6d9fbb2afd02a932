using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Training;

/// <summary>Connects a run's events to the store: everything a run logs is persisted as it happens.</summary>
public static class RunBinding
{
    public static void Attach(AdversarialRun run, RunStore store, string runId)
    {
        // No checkpoint to continue from: the run starts over, so what the last attempt logged is void.
        if (run.StartsOver) store.TruncateAfter(runId, -1);
        run.MetricsLogged += (step, m) => store.AddMetrics(runId, step, m);
        run.SamplesLogged += s => store.AddSamples(runId, s);
        run.EventRaised += e => store.AddEvent(runId, e);
        run.StatusChanged += (status, message) => store.SetStatus(runId, status, message, run.Step, run.Settings);
        // A run that continues from a checkpoint voids whatever was logged after it.
        run.ResumedFromCheckpoint += step => store.TruncateAfter(runId, step);
        // The runs list and a reopened run page read the phase from the store; the reports come a few a second.
        run.PhaseProgressed += p => store.SetPhase(runId, p);
    }
}
