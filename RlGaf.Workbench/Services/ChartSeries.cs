using Plotly.Blazor;
using Plotly.Blazor.Traces;
using Plotly.Blazor.Traces.ScatterLib;

namespace RlGaf.Workbench.Services;

/// <summary>
/// The data behind one chart of the Run page: per metric a faint raw trace and a smoothed one (plus a
/// ±std band for reward/mean). Appending returns only the new points per trace, so the chart can
/// ExtendTraces instead of redrawing. Not thread-safe (used from the component's render context).
/// </summary>
/// A fork's chart also draws its parent's curves up to the fork step (<paramref name="parent"/>): dashed, grey, fixed.
public sealed class ChartSeries(MetricGroup group, double smoothing, IReadOnlyList<(int Step, IReadOnlyDictionary<string, double> Values)>? parent = null)
{
    /// <summary>The parent's points of each of this chart's metrics (empty unless the run is a fork).</summary>
    private readonly List<(string Key, List<int> Steps, List<double> Values)> _parent = (parent ?? [])
        .SelectMany(p => p.Values.Where(kv => group.Contains(kv.Key)).Select(kv => (p.Step, kv.Key, kv.Value)))
        .GroupBy(x => x.Key).OrderBy(g => g.Key, StringComparer.Ordinal)
        .Select(g => (g.Key, g.Select(x => x.Step).ToList(), g.Select(x => x.Value).ToList())).ToList();

    private static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
    private readonly List<string> _metrics = [];
    private readonly Dictionary<string, Series> _series = [];
    private readonly List<(int Step, double Lo, double Hi)> _band = [];

    private sealed class Series(double smoothing)
    {
        public List<int> Steps { get; } = [];
        public List<double> Raw { get; } = [];
        public RunViews.Smoother Smoother { get; set; } = new(smoothing);
    }

    public MetricGroup Group => group;
    public double Smoothing => smoothing;
    public IReadOnlyList<string> Metrics => _metrics;
    public bool HasBand => group.Metrics.Contains("reward/mean");
    /// <summary>Index of the first metric trace (after the band's two traces and the parent's traces).</summary>
    private int Offset => (HasBand ? 2 : 0) + _parent.Count;
    /// <summary>How many traces draw the parent's curves.</summary>
    public int ParentTraceCount => _parent.Count;
    public int PointCount => _series.Values.Sum(s => s.Steps.Count);

    /// <summary>New points for the chart: traces to add first (new metrics), then per-trace x/y to extend.</summary>
    public sealed record Extension(IReadOnlyList<Scatter> NewTraces, List<IEnumerable<object>> X, List<IEnumerable<object>> Y, List<int> Indices)
    {
        public bool IsEmpty => NewTraces.Count == 0 && Indices.Count == 0;
    }

    /// <summary>Adds the metrics of one logged step that belong to this chart.</summary>
    public Extension Append(int step, IReadOnlyDictionary<string, double> values)
    {
        var newTraces = new List<Scatter>();
        var x = new Dictionary<int, List<object>>();
        var y = new Dictionary<int, List<object>>();
        void Add(int trace, object? xv, object? yv)
        {
            if (!x.TryGetValue(trace, out var xs)) { x[trace] = xs = []; y[trace] = []; }
            xs.Add(xv!);
            y[trace].Add(yv!);
        }
        foreach (var (key, v) in values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!group.Contains(key)) continue;
            if (!_series.TryGetValue(key, out var s))
            {
                s = new Series(smoothing);
                _series[key] = s;
                _metrics.Add(key);
                newTraces.AddRange(TracesOf(key, _metrics.Count - 1, [], []));
                // The new traces start empty: their first point goes through the extension like any other.
            }
            // A step the chart already has (the page's first load and its live feed overlap at the boundary): never twice.
            if (s.Steps.Count > 0 && step <= s.Steps[^1]) continue;
            s.Steps.Add(step);
            s.Raw.Add(v);
            int i = _metrics.IndexOf(key);
            Add(Offset + 2 * i, step, RunViews.PlotValue(v));
            Add(Offset + 2 * i + 1, step, RunViews.PlotValue(s.Smoother.Next(v)));
        }
        if (HasBand && values.TryGetValue("reward/mean", out var mean) && values.TryGetValue("reward/std", out var std) && (_band.Count == 0 || step > _band[^1].Step))
        {
            _band.Add((step, mean - std, mean + std));
            Add(0, step, RunViews.PlotValue(mean - std));
            Add(1, step, RunViews.PlotValue(mean + std));
        }
        var idx = x.Keys.Order().ToList();
        return new Extension(newTraces, idx.Select(i => (IEnumerable<object>)x[i]).ToList(), idx.Select(i => (IEnumerable<object>)y[i]).ToList(), idx);
    }

    /// <summary>
    /// Drops every point after <paramref name="step"/> (the run rolled back to its checkpoint there, so they
    /// are void); true when any was dropped (then rebuild with <see cref="BuildTraces"/>).
    /// </summary>
    public bool TruncateAfter(int step)
    {
        bool dropped = _band.RemoveAll(b => b.Step > step) > 0;
        foreach (var s in _series.Values)
        {
            int keep = s.Steps.FindIndex(x => x > step);
            if (keep < 0) continue;
            s.Steps.RemoveRange(keep, s.Steps.Count - keep);
            s.Raw.RemoveRange(keep, s.Raw.Count - keep);
            dropped = true;
        }
        return dropped;
    }

    /// <summary>Every trace with all its points (first render, or after the smoothing changed).</summary>
    public IList<ITrace> BuildTraces()
    {
        var traces = new List<ITrace>();
        if (HasBand)
        {
            traces.Add(BandTrace("reward ± std (lower)", _band.Select(b => b.Step), _band.Select(b => b.Lo), false));
            traces.Add(BandTrace("reward ± std", _band.Select(b => b.Step), _band.Select(b => b.Hi), true));
        }
        foreach (var (key, steps, values) in _parent)
        {
            var smoother = new RunViews.Smoother(smoothing);
            traces.Add(new Scatter
            {
                Name = key + " (parent)", LegendGroup = "parent", Mode = ModeFlag.Lines, YAxis = group.OnRightAxis(key) ? "y2" : "y", Opacity = 0.6m,
                Line = new Line { Color = "#9e9e9e", Width = 1.5m, Dash = "dash" },
                X = steps.Select(x => (object)x).ToList(), Y = values.Select(v => RunViews.PlotValue(smoother.Next(v))!).ToList(),
            });
        }
        for (int i = 0; i < _metrics.Count; i++)
        {
            var s = _series[_metrics[i]];
            s.Smoother = new RunViews.Smoother(smoothing);
            var smooth = s.Raw.Select(v => s.Smoother.Next(v)).ToList();
            traces.AddRange(TracesOf(_metrics[i], i, s.Steps, s.Raw, smooth));
        }
        return traces;
    }

    /// <summary>A new smoothing weight: rebuild with <see cref="BuildTraces"/>.</summary>
    public void SetSmoothing(double weight) => smoothing = weight;

    private IEnumerable<Scatter> TracesOf(string key, int i, IReadOnlyList<int> steps, IReadOnlyList<double> raw, IReadOnlyList<double>? smooth = null)
    {
        string color = Palette[i % Palette.Length];
        string axis = group.OnRightAxis(key) ? "y2" : "y";
        string name = axis == "y2" ? key + " (right)" : key;
        yield return new Scatter
        {
            Name = name + " (raw)", LegendGroup = key, ShowLegend = false, Mode = ModeFlag.Lines, Opacity = 0.25m, YAxis = axis,
            Line = new Line { Color = color, Width = 1 },
            X = steps.Select(s => (object)s).ToList(), Y = raw.Select(v => RunViews.PlotValue(v)!).ToList(),
            HoverInfo = Plotly.Blazor.Traces.ScatterLib.HoverInfoFlag.Skip,
        };
        yield return new Scatter
        {
            Name = name, LegendGroup = key, Mode = ModeFlag.Lines, Line = new Line { Color = color, Width = 2 }, YAxis = axis,
            X = steps.Select(s => (object)s).ToList(), Y = (smooth ?? []).Select(v => RunViews.PlotValue(v)!).ToList(),
        };
    }

    private static Scatter BandTrace(string name, IEnumerable<int> steps, IEnumerable<double> ys, bool fill) => new()
    {
        Name = name, ShowLegend = fill, LegendGroup = "band", Mode = ModeFlag.Lines, Line = new Line { Width = 0, Color = "rgba(31,119,180,0)" },
        Fill = fill ? FillEnum.ToNextY : FillEnum.None, FillColor = "rgba(31,119,180,0.12)",
        X = steps.Select(s => (object)s).ToList(), Y = ys.Select(v => RunViews.PlotValue(v)!).ToList(),
        HoverInfo = Plotly.Blazor.Traces.ScatterLib.HoverInfoFlag.Skip,
    };
}
