using Plotly.Blazor.Traces;
using RlGaf.Workbench.Services;

namespace RlGaf.Workbench.Tests.Unit;

/// <summary>A fork's chart: the parent's curves up to the fork step, dashed and grey, before the run's own traces.</summary>
public class ForkChartTests
{
    private static readonly MetricGroup Disc = RunViews.Groups.Single(g => g.Id == "disc");

    [Fact]
    public void The_parents_curves_come_first_and_the_runs_own_traces_keep_their_indices()
    {
        var parent = Enumerable.Range(0, 5).Select(step => (step, (IReadOnlyDictionary<string, double>)new Dictionary<string, double>
            { ["disc/loss"] = 1.0 / (step + 1), ["disc/acc"] = 0.5, ["reward/mean"] = step })).ToList();
        var c = new ChartSeries(Disc, 0.0, parent);
        Assert.Equal(2, c.ParentTraceCount); // disc/acc and disc/loss; reward/mean belongs to another chart

        // The run's first metric: its raw and smoothed traces come after the parent's two.
        var ext = c.Append(5, new Dictionary<string, double> { ["disc/loss"] = 0.1 });
        Assert.Equal([2, 3], ext.Indices);
        var traces = c.BuildTraces().Cast<Scatter>().ToList();
        Assert.Equal(4, traces.Count);
        var loss = traces.Single(t => t.Name == "disc/loss (parent)");
        Assert.Equal("dash", loss.Line.Dash);
        Assert.Equal([0, 1, 2, 3, 4], loss.X.Cast<int>());
        Assert.Equal(0.25, (double)loss.Y[3]!, 12); // smoothing 0: the parent's value at step 3
        Assert.Equal("disc/loss", traces[3].Name);
        Assert.Equal([5], traces[3].X.Cast<int>());
    }

    [Fact]
    public void A_run_without_a_parent_has_no_parent_traces()
    {
        var c = new ChartSeries(Disc, 0.5);
        Assert.Equal(0, c.ParentTraceCount);
        Assert.Equal([0, 1], c.Append(1, new Dictionary<string, double> { ["disc/loss"] = 0.7 }).Indices);
    }
}
