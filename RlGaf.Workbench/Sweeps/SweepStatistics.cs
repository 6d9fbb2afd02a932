namespace RlGaf.Workbench.Sweeps;

/// <summary>One step of a seed group's curve: mean and sample standard deviation over the seeds that logged it.</summary>
public readonly record struct BandPoint(int Step, double Mean, double Std, int Count);

/// <summary>
/// The numbers behind the sweep's plots: seed-group bands (mean ± std of runs that differ only by
/// seed), Spearman rank correlation of each parameter with the metric, and a model-based importance
/// (variance reduction of a small regression-tree forest, W&B's "importance" column).
/// </summary>
public static class SweepStatistics
{
    /// <summary>
    /// Mean and sample std (n - 1; 0 for one run) at every step any of <paramref name="curves"/> logged,
    /// over the curves that logged that step (NaN and infinite values skipped).
    /// </summary>
    public static IReadOnlyList<BandPoint> Band(IEnumerable<IReadOnlyList<MetricValue>> curves)
    {
        var byStep = new SortedDictionary<int, List<double>>();
        foreach (var curve in curves)
            foreach (var p in curve)
                if (double.IsFinite(p.Value))
                {
                    if (!byStep.TryGetValue(p.Step, out var l)) byStep[p.Step] = l = [];
                    l.Add(p.Value);
                }
        return byStep.Select(kv =>
        {
            var st = Engine.Experiments.Stat.Of(kv.Value); // the suite's mean and sample std over seeds
            return new BandPoint(kv.Key, st.Mean, st.Std, st.N);
        }).ToList();
    }

    /// <summary>Spearman's rho with average ranks for ties (the engine's, as disc/judge_corr uses); NaN when either side is constant or fewer than 2 points.</summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y) => Engine.Metrics.RankCorrelation.Spearman(x, y);

    /// <summary>
    /// Model-based importance: a forest of <paramref name="trees"/> regression trees (depth
    /// <paramref name="depth"/>, bootstrap rows, drawn from <paramref name="seed"/>) fitted to predict
    /// <paramref name="y"/> from the columns of <paramref name="x"/>; a column's importance is the squared-error
    /// reduction of the splits on it, summed and normalized to sum 1 (all 0 when nothing could be split).
    /// </summary>
    public static double[] ForestImportance(IReadOnlyList<double[]> x, IReadOnlyList<double> y, int trees = 50, int depth = 3, int seed = 0)
    {
        int n = x.Count, cols = n == 0 ? 0 : x[0].Length;
        var total = new double[cols];
        if (n < 2 || cols == 0) return total;
        for (int t = 0; t < trees; t++)
        {
            var random = SweepRandom.For(seed, t);
            var rows = Enumerable.Range(0, n).Select(_ => random.NextInt(n)).ToArray();
            Split(x, y, rows, depth, total);
        }
        double sum = total.Sum();
        return sum > 0 ? total.Select(v => v / sum).ToArray() : total;
    }

    /// <summary>Grows one node: the best split over every column and threshold (by squared-error reduction), then its children.</summary>
    private static void Split(IReadOnlyList<double[]> x, IReadOnlyList<double> y, int[] rows, int depth, double[] gain)
    {
        if (depth == 0 || rows.Length < 2) return;
        double parent = Sse(rows.Select(r => y[r]));
        double best = 1e-12; int bestCol = -1; double bestThreshold = 0;
        for (int c = 0; c < gain.Length; c++)
        {
            var values = rows.Select(r => x[r][c]).Distinct().Order().ToArray();
            for (int k = 0; k + 1 < values.Length; k++)
            {
                double threshold = (values[k] + values[k + 1]) / 2;
                double sse = Sse(rows.Where(r => x[r][c] <= threshold).Select(r => y[r])) + Sse(rows.Where(r => x[r][c] > threshold).Select(r => y[r]));
                if (parent - sse > best) (best, bestCol, bestThreshold) = (parent - sse, c, threshold);
            }
        }
        if (bestCol < 0) return;
        gain[bestCol] += best;
        Split(x, y, rows.Where(r => x[r][bestCol] <= bestThreshold).ToArray(), depth - 1, gain);
        Split(x, y, rows.Where(r => x[r][bestCol] > bestThreshold).ToArray(), depth - 1, gain);
    }

    private static double Sse(IEnumerable<double> values)
    {
        var v = values.ToArray();
        if (v.Length == 0) return 0;
        double m = v.Average();
        return v.Sum(a => (a - m) * (a - m));
    }
}
