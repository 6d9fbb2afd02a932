namespace RlGaf.Engine.Metrics;

/// <summary>Spearman's rank correlation: Pearson's correlation of the ranks, ties given their average rank.</summary>
public static class RankCorrelation
{
    /// <summary>
    /// Spearman's rho of the pairs whose two values are both finite; NaN when fewer than 2 such pairs
    /// remain or either side is constant (no ordering to correlate).
    /// </summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count) throw new ArgumentException($"Spearman: {x.Count} and {y.Count} values; the two lists must pair up.");
        var keep = Enumerable.Range(0, x.Count).Where(i => double.IsFinite(x[i]) && double.IsFinite(y[i])).ToArray();
        if (keep.Length < 2) return double.NaN;
        var rx = Ranks(keep.Select(i => x[i]).ToArray());
        var ry = Ranks(keep.Select(i => y[i]).ToArray());
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < rx.Length; i++)
        {
            double dx = rx[i] - mx, dy = ry[i] - my;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>1-based ranks; a run of equal values shares the mean of the ranks it spans.</summary>
    public static double[] Ranks(double[] values)
    {
        var order = Enumerable.Range(0, values.Length).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Length];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]]) end++;
            double mean = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++) ranks[order[k]] = mean;
            start = end + 1;
        }
        return ranks;
    }
}
