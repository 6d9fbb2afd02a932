using Plotly.Blazor;
using Plotly.Blazor.Traces;
using Plotly.Blazor.Traces.ScatterLib;
using RlGaf.Workbench.Sweeps;

namespace RlGaf.Workbench.Services;

/// <summary>One group of runs that differ only by seed, with each run's curve of one metric.</summary>
public sealed record SeedGroup(string Name, IReadOnlyList<IReadOnlyList<MetricValue>> Curves);

/// <summary>
/// Plotly traces for seed groups: per group a lower edge (mean - std, no fill), an upper edge filled down
/// to it ('tonexty'), and the mean line, in the group's colour. A group of one run is drawn as its line.
/// </summary>
public static class SeedGroupTraces
{
    private static readonly string[] Palette = ["31,119,180", "214,39,40", "44,160,44", "148,103,189", "255,127,14", "23,190,207", "140,86,75", "227,119,194"];

    /// <summary>What makes runs one seed group: their settings with the seed left out.</summary>
    public static string KeyOf(string settingsJson) =>
        (Engine.Runs.RunSettings.FromJson(settingsJson) with { Seed = 0 }).ToJson();

    public static IList<ITrace> Build(IReadOnlyList<SeedGroup> groups)
    {
        var traces = new List<ITrace>();
        for (int g = 0; g < groups.Count; g++)
        {
            var band = SweepStatistics.Band(groups[g].Curves);
            if (band.Count == 0) continue;
            var rgb = Palette[g % Palette.Length];
            var x = band.Select(b => (object)b.Step).ToList();
            string name = $"{groups[g].Name} (n={groups[g].Curves.Count})";
            if (groups[g].Curves.Count > 1)
            {
                traces.Add(Edge(name, name + " mean - std", x, band.Select(b => b.Mean - b.Std), rgb, fill: false));
                traces.Add(Edge(name, name + " ± std", x, band.Select(b => b.Mean + b.Std), rgb, fill: true));
            }
            traces.Add(new Scatter
            {
                Name = name, LegendGroup = name, Mode = ModeFlag.Lines, Line = new Line { Color = $"rgb({rgb})", Width = 2 },
                X = x, Y = band.Select(b => (object)b.Mean).ToList(),
            });
        }
        return traces;
    }

    private static Scatter Edge(string group, string name, List<object> x, IEnumerable<double> y, string rgb, bool fill) => new()
    {
        Name = name, ShowLegend = false, LegendGroup = group, Mode = ModeFlag.Lines, Line = new Line { Width = 0, Color = $"rgba({rgb},0)" },
        Fill = fill ? FillEnum.ToNextY : FillEnum.None, FillColor = $"rgba({rgb},0.15)", X = x, Y = y.Select(v => (object)v).ToList(),
        HoverInfo = HoverInfoFlag.Skip,
    };
}
