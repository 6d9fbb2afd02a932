using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Sweeps;

/// <summary>What an executor may need to be made: the host (local trials), the sweep's folder, the app's services (options).</summary>
public sealed record TrialExecutorContext(TrainingHost Host, string SweepDir, IServiceProvider? Services);

/// <summary>
/// The executors by name (<c>--executor NAME</c>, the page's choice): one new instance per sweep. A new executor
/// (Slurm, Kubernetes Indexed Jobs) adds one line to <see cref="Factories"/>.
/// </summary>
public static class TrialExecutors
{
    public static readonly Dictionary<string, Func<TrialExecutorContext, ITrialExecutor>> Factories = new()
    {
        [LocalTrialExecutor.ExecutorName] = c => new LocalTrialExecutor(c.Host),
        [Cluster.SlurmExecutor.ExecutorName] = Cluster.SlurmExecutor.For,
    };

    public static IReadOnlyCollection<string> Names => Factories.Keys;

    public static ITrialExecutor Create(string name, TrialExecutorContext context) =>
        Factories.TryGetValue(name, out var make) ? make(context)
            : throw new ArgumentException($"executor: '{name}' is not available in this build (executors: {string.Join(", ", Factories.Keys)}).");
}
