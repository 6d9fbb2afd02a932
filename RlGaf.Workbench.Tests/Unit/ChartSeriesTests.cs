using RlGaf.Workbench.Services;

namespace RlGaf.Workbench.Tests.Unit;

public class ChartSeriesTests
{
    private static readonly MetricGroup Disc = RunViews.Groups.Single(g => g.Id == "disc");
    private static readonly MetricGroup Reward = RunViews.Groups.Single(g => g.Id == "reward");

    [Fact]
    public void Append_returns_only_the_new_points_of_this_chart()
    {
        var c = new ChartSeries(Disc, 0.5);
        var first = c.Append(1, new Dictionary<string, double> { ["disc/loss"] = 0.7, ["reward/mean"] = 3 });
        Assert.Equal(2, first.NewTraces.Count); // raw + smoothed of disc/loss; reward/mean is another chart's
        Assert.Equal([0, 1], first.Indices);
        var second = c.Append(2, new Dictionary<string, double> { ["disc/loss"] = 0.5 });
        Assert.Empty(second.NewTraces);
        Assert.Equal([2], second.X[0]);
        Assert.Equal(0.5, second.Y[0].Single());
        Assert.Equal(2, c.PointCount);
    }

    [Fact]
    public void A_rollback_drops_the_voided_points_and_later_steps_append_again()
    {
        var c = new ChartSeries(Reward, 0.0);
        for (int step = 1; step <= 5; step++)
            c.Append(step, new Dictionary<string, double> { ["reward/mean"] = step, ["reward/std"] = 0.1, ["objective/kl"] = -step });
        Assert.True(c.TruncateAfter(2)); // the run continued from its checkpoint at step 2
        Assert.False(c.TruncateAfter(2)); // nothing left to drop
        Assert.Equal(4, c.PointCount);
        var traces = c.BuildTraces().Cast<Plotly.Blazor.Traces.Scatter>().ToList();
        Assert.All(traces, t => Assert.True(t.X.Cast<int>().All(x => x <= 2), $"{t.Name} keeps a voided step"));
        // The redone step 3 is drawn once, with its new value.
        var ext = c.Append(3, new Dictionary<string, double> { ["reward/mean"] = 30, ["reward/std"] = 0.1, ["objective/kl"] = -30 });
        Assert.All(ext.X, xs => Assert.Equal([3], xs));
        Assert.Equal(6, c.PointCount);
        var band = c.BuildTraces().Cast<Plotly.Blazor.Traces.Scatter>().First();
        Assert.Equal([1, 2, 3], band.X.Cast<int>());
    }

    [Fact]
    public void Non_finite_values_become_gaps()
    {
        var c = new ChartSeries(Disc, 0.0);
        var ext = c.Append(1, new Dictionary<string, double> { ["disc/loss"] = double.NaN });
        Assert.All(ext.Y, ys => Assert.Null(ys.Single()));
        // And a full rebuild serialises too.
        var json = System.Text.Json.JsonSerializer.Serialize(c.BuildTraces().Cast<object>().ToList());
        Assert.Contains("null", json);
    }

    [Fact]
    public void N_gram_entropy_is_drawn_on_the_right_axis_so_the_ratios_keep_their_scale()
    {
        var div = RunViews.Groups.Single(g => g.Id == "div");
        var c = new ChartSeries(div, 0.0);
        var ext = c.Append(1, new Dictionary<string, double> { ["div/distinct-2"] = 0.2, ["div/ngram-entropy"] = 6.1 });
        Assert.Equal(["y", "y", "y2", "y2"], ext.NewTraces.Select(t => t.YAxis).ToList());
        Assert.Equal("div/ngram-entropy (right)", ext.NewTraces[3].Name);
    }

    [Fact]
    public void Reward_chart_has_a_std_band_before_its_metric_traces()
    {
        var c = new ChartSeries(Reward, 0.0);
        var ext = c.Append(1, new Dictionary<string, double> { ["reward/mean"] = 1, ["reward/std"] = 0.5 });
        Assert.Contains(0, ext.Indices);
        Assert.Contains(1, ext.Indices);
        Assert.Equal(0.5, ext.Y[ext.Indices.IndexOf(0)].Single());
        Assert.Equal(1.5, ext.Y[ext.Indices.IndexOf(1)].Single());
        Assert.Equal(4, c.BuildTraces().Count);
    }

    [Fact]
    public void Changing_the_smoothing_rebuilds_the_smoothed_traces_from_the_raw_points()
    {
        var c = new ChartSeries(Disc, 0.0);
        c.Append(1, new Dictionary<string, double> { ["disc/acc"] = 0 });
        c.Append(2, new Dictionary<string, double> { ["disc/acc"] = 1 });
        c.SetSmoothing(0.5);
        var smoothed = (Plotly.Blazor.Traces.Scatter)c.BuildTraces()[1];
        Assert.Equal(1.0 * 0.5 / 0.75, (double)smoothed.Y[1], 12);
    }
}
