using RlGaf.Engine.Metrics;

namespace RlGaf.Engine.Tests.Metrics;

public class RankCorrelationTests
{
    /// <summary>
    /// An independent Spearman: each value's rank counted directly (1 + number below + half the other
    /// equal ones), then the textbook Pearson formula on those ranks.
    /// </summary>
    internal static double Reference(double[] x, double[] y)
    {
        static double[] R(double[] v) => v.Select(a => 1 + v.Count(b => b < a) + (v.Count(b => b == a) - 1) / 2.0).ToArray();
        var (rx, ry) = (R(x), R(y));
        int n = x.Length;
        double sx = rx.Sum(), sy = ry.Sum(), sxy = rx.Zip(ry, (a, b) => a * b).Sum(), sxx = rx.Sum(a => a * a), syy = ry.Sum(b => b * b);
        return (n * sxy - sx * sy) / Math.Sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
    }

    [Fact]
    public void Matches_the_no_ties_formula_and_an_independent_computation_with_ties()
    {
        // No ties: rho = 1 - 6 sum d^2 / (n (n^2 - 1)).
        double[] x = [3.1, 0.2, 5.5, 1.0, 4.2, 2.7], y = [10, 30, 60, 20, 40, 50];
        int[] rxa = [4, 1, 6, 2, 5, 3], rya = [1, 3, 6, 2, 4, 5];
        double d2 = rxa.Zip(rya, (a, b) => (double)(a - b) * (a - b)).Sum();
        Assert.Equal(1 - 6 * d2 / (6 * 35), RankCorrelation.Spearman(x, y), 12);

        var rng = new Random(5);
        for (int trial = 0; trial < 50; trial++)
        {
            int n = rng.Next(3, 40);
            // Scores in a few levels (like a judge's 0/1 verdicts): many ties.
            var a = Enumerable.Range(0, n).Select(_ => (double)rng.Next(0, 4)).ToArray();
            var b = a.Select(v => v * 0.5 + rng.NextDouble()).ToArray();
            if (a.Distinct().Count() < 2) continue;
            Assert.Equal(Reference(a, b), RankCorrelation.Spearman(a, b), 10);
        }
        Assert.Equal(1.0, RankCorrelation.Spearman([1, 2, 3], [10, 20, 30]), 12);
        Assert.Equal(-1.0, RankCorrelation.Spearman([1, 2, 3], [3, 2, 1]), 12);
    }

    [Fact]
    public void Non_finite_pairs_are_left_out_and_constant_sides_give_NaN()
    {
        Assert.Equal(1.0, RankCorrelation.Spearman([1, double.NaN, 2, 3], [5, 0, 6, 7]), 12);
        Assert.True(double.IsNaN(RankCorrelation.Spearman([1, 1, 1], [1, 2, 3])));
        Assert.True(double.IsNaN(RankCorrelation.Spearman([1], [2])));
        Assert.Throws<ArgumentException>(() => RankCorrelation.Spearman([1, 2], [1]));
    }
}
