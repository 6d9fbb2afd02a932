using RlGaf.Engine.Runs;

namespace RlGaf.Workbench.Sweeps;

/// <summary>One searched configuration: its parameter values, in the file's order.</summary>
public sealed record SweepConfiguration(int Index, IReadOnlyDictionary<string, string> Parameters);

/// <summary>
/// Turns a sweep file into its trials: the configurations (grid: every combination, in the file's
/// order with the last parameter varying fastest; random: <c>run_cap / seeds</c> draws, configuration i from
/// its own seeded stream) times the seeds. Deterministic: the same file gives the same trials.
/// </summary>
public static class SweepPlanner
{
    /// <summary>Upper bound on a sweep's trials: a typo in a grid should not queue a million runs.</summary>
    public const int MaxTrials = 10_000;

    public static IReadOnlyList<SweepConfiguration> Configurations(SweepConfig config)
    {
        int? cap = config.RunCap is { } rc ? rc / config.Seeds.Count : null;
        var list = new List<SweepConfiguration>();
        if (config.Method == SweepMethod.Random)
        {
            for (int i = 0; i < cap!.Value; i++)
            {
                var random = SweepRandom.For(config.SamplerSeed, i);
                list.Add(new(i, config.Parameters.ToDictionary(p => p.Key, p => p.Sample(random))));
            }
            return list;
        }
        var axes = config.Parameters.Select(p => p.GridValues()).ToList();
        long total = axes.Aggregate(1L, (n, a) => n * a.Count);
        if (total * config.Seeds.Count > MaxTrials && cap is null)
            throw new ArgumentException($"parameters: the grid has {total} configurations x {config.Seeds.Count} seeds, above {MaxTrials} trials: narrow it or set run_cap.");
        var index = new int[axes.Count];
        for (long n = 0; n < total && (cap is null || n < cap); n++)
        {
            list.Add(new((int)n, config.Parameters.Select((p, k) => (p.Key, axes[k][index[k]])).ToDictionary(x => x.Key, x => x.Item2)));
            for (int k = axes.Count - 1; k >= 0; k--)
            {
                if (++index[k] < axes[k].Count) break;
                index[k] = 0;
            }
        }
        return list;
    }

    /// <summary>Every trial: configuration-major, one per seed; settings validated (an error names the trial and its values).</summary>
    public static IReadOnlyList<TrialSpec> Trials(SweepConfig config, string sweepId, string sweepDir)
    {
        var trials = new List<TrialSpec>();
        foreach (var c in Configurations(config))
        {
            var settings = config.Base;
            try
            {
                foreach (var (k, v) in c.Parameters) settings = settings.With(k, v);
            }
            catch (ArgumentException e) { throw new ArgumentException($"configuration {c.Index} ({Describe(c.Parameters)}): {e.Message}"); }
            foreach (var seed in config.Seeds)
            {
                var s = settings with { Seed = seed };
                try { s.Validate(); }
                catch (ArgumentException e) { throw new ArgumentException($"configuration {c.Index} ({Describe(c.Parameters)}): {e.Message}"); }
                int index = trials.Count;
                trials.Add(new TrialSpec(sweepId, index, c.Index, seed, c.Parameters, s, Path.Combine(sweepDir, "trials", index.ToString("D4"))));
            }
        }
        if (trials.Count > MaxTrials) throw new ArgumentException($"run_cap: {trials.Count} trials is above {MaxTrials}.");
        return trials;
    }

    public static string Describe(IReadOnlyDictionary<string, string> parameters) => string.Join(", ", parameters.Select(p => $"{p.Key}={p.Value}"));
}
