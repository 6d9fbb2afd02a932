using RlGaf.Workbench.Sweeps;

namespace RlGaf.Workbench.Tests.Sweeps;

/// <summary>Seed bands, rank correlation and forest importance against direct computations.</summary>
public sealed class SweepStatisticsTests
{
    [Fact]
    public void A_seed_band_is_the_mean_and_sample_std_over_the_seeds_at_each_step()
    {
        MetricValue[] a = [new(0, 1), new(2, 3), new(4, 5)], b = [new(0, 2), new(2, 5)], c = [new(0, 6), new(2, double.NaN), new(4, 9)];
        var band = SweepStatistics.Band([a, b, c]);
        Assert.Equal([0, 2, 4], band.Select(p => p.Step));
        // Step 0: 1, 2, 6 -> mean 3, sample variance ((4 + 1 + 9) / 2) = 7.
        Assert.Equal(3, band[0].Mean, 12);
        Assert.Equal(Math.Sqrt(7), band[0].Std, 12);
        Assert.Equal(3, band[0].Count);
        // Step 2: NaN skipped -> 3, 5.
        Assert.Equal((4.0, 2), (band[1].Mean, band[1].Count));
        Assert.Equal(Math.Sqrt(2), band[1].Std, 12);
        Assert.Equal((7.0, 2), (band[2].Mean, band[2].Count));
        Assert.Equal(Math.Sqrt(8), band[2].Std, 12);
        Assert.Equal(0, SweepStatistics.Band([b])[0].Std); // one seed: no spread
    }

    [Fact]
    public void Seed_groups_are_drawn_as_a_filled_band_around_their_mean()
    {
        var one = new Engine.Runs.RunSettings { Seed = 1, GenLr = 0.001 }.ToJson();
        var two = new Engine.Runs.RunSettings { Seed = 2, GenLr = 0.001 }.ToJson();
        var other = new Engine.Runs.RunSettings { Seed = 1, GenLr = 0.002 }.ToJson();
        Assert.Equal(Services.SeedGroupTraces.KeyOf(one), Services.SeedGroupTraces.KeyOf(two));
        Assert.NotEqual(Services.SeedGroupTraces.KeyOf(one), Services.SeedGroupTraces.KeyOf(other));

        var traces = Services.SeedGroupTraces.Build([
            new("lr 0.001", [[new(0, 1), new(1, 2)], [new(0, 3), new(1, 6)]]),
            new("lr 0.002", [[new(0, 5)]]),
        ]).Cast<Plotly.Blazor.Traces.Scatter>().ToList();
        Assert.Equal(4, traces.Count); // lower, upper, mean; a single run: its line only
        Assert.Equal(Plotly.Blazor.Traces.ScatterLib.FillEnum.ToNextY, traces[1].Fill);
        Assert.Equal(Plotly.Blazor.Traces.ScatterLib.FillEnum.None, traces[0].Fill);
        Assert.Equal([2.0, 4.0], traces[2].Y.Cast<double>());                                   // means
        Assert.Equal([2 - Math.Sqrt(2), 4 - Math.Sqrt(8)], traces[0].Y.Cast<double>());         // mean - sample std
        Assert.Equal([2 + Math.Sqrt(2), 4 + Math.Sqrt(8)], traces[1].Y.Cast<double>());
        Assert.Equal([5.0], traces[3].Y.Cast<double>());
    }

    [Fact]
    public void Spearman_matches_the_textbook_example_with_ties()
    {
        // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.8207826816681233 (= 8 / sqrt(95) by hand).
        Assert.Equal(0.8207826816681233, SweepStatistics.Spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 12);
        Assert.Equal(-1, SweepStatistics.Spearman([1, 2, 3], [30, 20, 10]), 12);
        Assert.Equal(1, SweepStatistics.Spearman([0.001, 0.01, 0.1], [1, 2, 1000]), 12); // ranks, not values
        Assert.True(double.IsNaN(SweepStatistics.Spearman([1, 1, 1], [1, 2, 3])));
        Assert.Equal([1.5, 1.5, 3], RlGaf.Engine.Metrics.RankCorrelation.Ranks([4, 4, 9]));
    }

    [Fact]
    public void Forest_importance_finds_the_parameter_that_drives_the_metric()
    {
        // y depends on column 1 only; column 0 is noise (a fixed pseudo-random sequence).
        var noise = new SweepRandom(3);
        var x = Enumerable.Range(0, 40).Select(i => new[] { noise.NextDouble(), i % 8 }).ToList();
        var y = x.Select(r => r[1] * r[1]).ToList();
        var imp = SweepStatistics.ForestImportance(x, y);
        Assert.Equal(1, imp.Sum(), 9);
        Assert.True(imp[1] > 0.9, $"importance of the driving column: {imp[1]}");
        Assert.Equal(new double[2], SweepStatistics.ForestImportance(x, x.Select(_ => 1.0).ToList())); // nothing to explain
    }

    [Fact]
    public void Results_group_seeds_and_pick_the_best_configuration_by_goal()
    {
        TrialRecord T(int i, int config, double last, TrialState state = TrialState.Completed) => new()
        {
            Index = i, ConfigIndex = config, Seed = i, State = state, Parameters = new() { ["gen_lr"] = (config * 0.1).ToString(System.Globalization.CultureInfo.InvariantCulture), ["disc_loss"] = config % 2 == 0 ? "bce" : "rsgan" },
            Metric = [new(1, 99), new(2, last)], SettingsJson = "{}",
        };
        var trials = new[] { T(0, 0, 3), T(1, 0, 5), T(2, 1, 2), T(3, 1, 7), T(4, 2, 1, TrialState.Stopped), T(5, 3, 0.5, TrialState.Failed) };
        var sweep = new SweepRecord { MetricName = "m", Goal = MetricGoal.Minimize };
        var best = SweepResults.Best(sweep, trials)!;
        Assert.Equal((0, 4.0, 2), (best.ConfigIndex, best.Score, best.Seeds)); // (3+5)/2 = 4 beats (2+7)/2; stopped and failed trials do not count
        sweep.Goal = MetricGoal.Maximize;
        Assert.Equal(1, SweepResults.Best(sweep, trials)!.ConfigIndex);
        var imp = SweepResults.Importance(["gen_lr", "disc_loss"], trials);
        Assert.Equal(["gen_lr", "disc_loss"], imp.Select(i => i.Key));
        Assert.Equal(SweepStatistics.Spearman([0, 0, 0.1, 0.1, 0.2, 0.3], [3, 5, 2, 7, 1, 0.5]), imp[0].Correlation, 12);
        Assert.Equal([0.0, 0, 1, 1, 0, 1], SweepResults.Encode(["bce", "bce", "rsgan", "rsgan", "bce", "rsgan"]));
    }
}
