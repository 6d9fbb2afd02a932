using ScottPlot;

namespace RlGaf.Engine.Experiments;

/// <summary>
/// PNG plots of a suite (ScottPlot, headless): one learning-curve figure per metric (mean over seeds
/// with a +-1 std band, one colour per method) and the quality-diversity plane (one point per run,
/// the MLE temperature sweep as a curve).
/// </summary>
public static class SuitePlots
{
    public const string PlaneFile = "quality-diversity.png";

    /// <summary>File name of a metric's learning-curve plot.</summary>
    public static string CurveFile(string metric) => "curve-" + metric.Replace('/', '-') + ".png";

    public static IReadOnlyList<string> Write(SuiteOptions o, IReadOnlyList<SuiteRun> runs, IReadOnlyList<TemperaturePoint> sweep, string qualityKey, string diversityKey)
    {
        var files = new List<string>();
        var curveMetrics = new List<string> { o.Suite == "squad" ? "squad/f1" : "align/positive-rate" };
        if (o.Suite == "synthetic-reviews") curveMetrics.Add("oracle/nll");
        curveMetrics.Add("div/distinct-2");
        curveMetrics.Add("div/self-bleu-4");
        foreach (var metric in curveMetrics) files.Add(Curves(o, runs, metric));
        files.Add(Plane(o, runs, sweep, qualityKey, diversityKey));
        return files;
    }

    private static Color ColorOf(int i) => new ScottPlot.Palettes.Category10().GetColor(i);

    private static string Curves(SuiteOptions o, IReadOnlyList<SuiteRun> runs, string metric)
    {
        var plt = new Plot();
        int i = 0;
        foreach (var method in o.Methods)
        {
            var mine = runs.Where(r => r.Method == method).ToList();
            var steps = mine.SelectMany(r => r.Curve.Select(c => c.Step)).Distinct().Order().ToArray();
            var xs = new List<double>(); var mean = new List<double>(); var lo = new List<double>(); var hi = new List<double>();
            foreach (var step in steps)
            {
                var st = Stat.Of(mine.Select(r => r.Curve.Where(c => c.Step == step).Select(c => c.Metrics.GetValueOrDefault(metric, double.NaN)).DefaultIfEmpty(double.NaN).First()));
                if (st.N == 0) continue;
                xs.Add(step); mean.Add(st.Mean); lo.Add(st.Mean - st.Std); hi.Add(st.Mean + st.Std);
            }
            var color = ColorOf(i++);
            if (xs.Count == 0) continue;
            if (xs.Count > 1)
            {
                var band = plt.Add.FillY(xs.ToArray(), lo.ToArray(), hi.ToArray());
                band.FillColor = color.WithAlpha(0.2);
                band.LineWidth = 0;
            }
            var line = plt.Add.Scatter(xs.ToArray(), mean.ToArray(), color);
            line.LegendText = method;
        }
        plt.Title($"{metric} ({o.Suite}): mean over {o.Seeds} seeds, band = ±1 std");
        plt.XLabel("generator update");
        plt.YLabel(metric);
        // Outside the data area: inside, it hid the right end of the curves (seen on the 7-method IMDB sample).
        plt.ShowLegend(Edge.Right);
        var path = Path.Combine(o.OutDir, CurveFile(metric));
        plt.SavePng(path, 1100, 560);
        return path;
    }

    private static string Plane(SuiteOptions o, IReadOnlyList<SuiteRun> runs, IReadOnlyList<TemperaturePoint> sweep, string qualityKey, string diversityKey)
    {
        var plt = new Plot();
        int i = 0;
        bool plotted = false;
        foreach (var method in o.Methods)
        {
            var pts = runs.Where(r => r.Method == method)
                .Select(r => (X: r.Final.GetValueOrDefault(qualityKey, double.NaN), Y: 1 - r.Final.GetValueOrDefault(diversityKey, double.NaN)))
                .Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
            var color = ColorOf(i++);
            if (pts.Count == 0) continue;
            var sc = plt.Add.ScatterPoints(pts.Select(p => p.X).ToArray(), pts.Select(p => p.Y).ToArray(), color);
            sc.MarkerSize = 9;
            sc.LegendText = method;
            plotted = true;
        }
        // MLE + temperature: mean over seeds per temperature, joined in temperature order.
        var curve = sweep.GroupBy(p => p.Temperature).OrderBy(g => g.Key)
            .Select(g => (T: g.Key, X: Stat.Of(g.Select(p => p.Metrics.GetValueOrDefault(qualityKey, double.NaN))).Mean,
                          Y: 1 - Stat.Of(g.Select(p => p.Metrics.GetValueOrDefault(diversityKey, double.NaN))).Mean))
            .Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        if (curve.Count > 0)
        {
            var line = plt.Add.Scatter(curve.Select(p => p.X).ToArray(), curve.Select(p => p.Y).ToArray(), Colors.Black);
            line.LinePattern = LinePattern.Dashed;
            line.LegendText = "MLE (pretrained) + temperature";
            foreach (var p in curve) plt.Add.Text($"T={p.T:0.##}", p.X, p.Y).LabelFontSize = 11;
        }
        if (!plotted && curve.Count == 0)
            plt.Add.Text($"no run has a finite {qualityKey} and {diversityKey} (e.g. no valid samples)", 0, 0).LabelFontSize = 14;
        plt.Title($"quality-diversity plane ({o.Suite}): one point per run");
        plt.XLabel(qualityKey + (qualityKey is "oracle/nll" or "quality/ref-perplexity" ? " (lower = likelier text)" : ""));
        plt.YLabel("1 - " + diversityKey + " (higher = more diverse)");
        plt.ShowLegend(Edge.Right);
        var path = Path.Combine(o.OutDir, PlaneFile);
        plt.SavePng(path, 1100, 640);
        return path;
    }
}
