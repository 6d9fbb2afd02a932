using System.Globalization;

namespace RlGaf.Workbench.Sweeps;

/// <summary>A configuration's result: the mean over its completed seeds of each one's last metric value.</summary>
public sealed record ConfigurationScore(int ConfigIndex, IReadOnlyDictionary<string, string> Parameters, double Score, int Seeds, string SettingsJson);

/// <summary>One parameter's importance for the sweep's metric.</summary>
/// <param name="Correlation">Spearman's rho between the parameter (numbers, or categories in order of appearance) and the metric.</param>
/// <param name="Importance">Share of the forest's squared-error reduction made by splits on it (sums to 1 over parameters).</param>
public sealed record ParameterImportance(string Key, double Correlation, double Importance);

/// <summary>What a sweep's trials add up to: the best configuration and each parameter's importance.</summary>
public static class SweepResults
{
    /// <summary>Completed trials grouped by configuration; best by the sweep's goal. Null while none completed with a value.</summary>
    public static ConfigurationScore? Best(SweepRecord sweep, IEnumerable<TrialRecord> trials)
    {
        var scores = Scores(trials);
        if (scores.Count == 0) return null;
        return scores.Aggregate((a, b) => sweep.Metric.Better(b.Score, a.Score) ? b : a);
    }

    public static IReadOnlyList<ConfigurationScore> Scores(IEnumerable<TrialRecord> trials) =>
        trials.Where(t => t.State == TrialState.Completed && t.Last is { } v && double.IsFinite(v))
            .GroupBy(t => t.ConfigIndex)
            .Select(g => new ConfigurationScore(g.Key, g.First().Parameters, g.Average(t => t.Last!.Value), g.Count(), g.First().SettingsJson))
            .OrderBy(s => s.ConfigIndex).ToList();

    /// <summary>
    /// Importance over the trials that logged the metric (their last value; stopped trials count with the
    /// value they stopped at, as W&B does): needs at least 3 such trials, otherwise empty.
    /// </summary>
    public static IReadOnlyList<ParameterImportance> Importance(IReadOnlyList<string> keys, IEnumerable<TrialRecord> trials)
    {
        var rows = trials.Where(t => t.Last is { } v && double.IsFinite(v)).ToList();
        if (rows.Count < 3 || keys.Count == 0) return [];
        var y = rows.Select(t => t.Last!.Value).ToList();
        var columns = keys.Select(k => Encode(rows.Select(t => t.Parameters.GetValueOrDefault(k, "")).ToList())).ToList();
        var x = Enumerable.Range(0, rows.Count).Select(i => columns.Select(c => c[i]).ToArray()).ToList();
        var forest = SweepStatistics.ForestImportance(x, y, trees: 50, depth: 3, seed: 0);
        return keys.Select((k, j) => new ParameterImportance(k, SweepStatistics.Spearman(columns[j], y), forest[j])).ToList();
    }

    /// <summary>Numbers as numbers; otherwise each distinct text gets its order of appearance.</summary>
    public static double[] Encode(IReadOnlyList<string> values)
    {
        var numbers = values.Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : (double?)null).ToList();
        if (numbers.All(n => n is not null)) return numbers.Select(n => n!.Value).ToArray();
        var codes = new Dictionary<string, int>();
        foreach (var v in values) codes.TryAdd(v, codes.Count);
        return values.Select(v => (double)codes[v]).ToArray();
    }
}
