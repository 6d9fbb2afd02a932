using RlGaf.Engine.Runs;

namespace RlGaf.Workbench.Services;

/// <summary>One run setting as the New run form shows it.</summary>
public sealed record SettingInfo(string Key, string Section, string Help, string Default, Type Type, IReadOnlyList<string> Options, bool Live);

/// <summary>A chart on the Run page: its title and the metrics it draws.</summary>
/// <param name="RightAxis">Metrics on their own right-hand axis: on another scale than the rest (n-gram entropy is ~6 nats, the ratios below 1).</param>
public sealed record MetricGroup(string Id, string Title, IReadOnlyList<string> Metrics, IReadOnlyList<string> Prefixes, IReadOnlyList<string>? RightAxis = null)
{
    public bool OnRightAxis(string metric) => RightAxis?.Contains(metric) == true;

    public bool Contains(string metric) => Metrics.Contains(metric) || Prefixes.Any(p => metric.StartsWith(p, StringComparison.Ordinal));
}

/// <summary>
/// What the pages show, computed here so components stay thin: the settings catalogue (sections, help
/// and liveness from RunSettings' [Setting] attributes), which settings a method uses,
/// the chart groups, TensorBoard-style smoothing, repeated completions and settings diffs.
/// </summary>
public sealed class RunViews
{
    public static readonly IReadOnlyList<MetricGroup> Groups =
    [
        new("disc", "Discriminator", ["disc/real_score", "disc/fake_score", "disc/loss", "disc/acc"], []),
        new("reward", "Reward and policy", ["reward/mean", "objective/kl", "objective/entropy"], ["ppo/"]),
        new("div", "Diversity", [], ["div/"], RightAxis: ["div/ngram-entropy"]),
        new("quality", "Quality and alignment", ["oracle/nll", "oracle/valid-rate", "align/positive-rate", "oracle/coverage"], ["squad/"]),
        new("gumbel", "Gumbel temperature", ["gumbel/tau"], []),
    ];

    public IReadOnlyList<SettingInfo> Settings { get; }

    /// <summary>The preset the New run page starts with one click.</summary>
    public const string Quickstart = "reinforce";

    private readonly IReadOnlyDictionary<string, string> _overrides;

    public RunViews(Microsoft.Extensions.Options.IOptions<WorkbenchOptions> options) : this(options.Value.PresetOverrides) { }

    public RunViews(IReadOnlyDictionary<string, string>? presetOverrides = null)
    {
        _overrides = presetOverrides ?? new Dictionary<string, string>();
        var defaults = new RunSettings();
        // Sections, help and liveness come from the [Setting] attribute of each RunSettings property.
        Settings = RunSettings.Metadata.Select(m =>
        {
            var options = m.Type.IsEnum ? Enum.GetNames(m.Type).Select(n => RunSettingsText.Kebab(n)).ToList() : (IReadOnlyList<string>)[];
            return new SettingInfo(m.Key, m.Section, m.Help, defaults.Get(m.Key), m.Type, options, m.Live);
        }).ToList();
    }

    /// <summary>A preset's settings with RlGaf:PresetOverrides applied.</summary>
    public RunSettings Preset(string name)
    {
        var s = Presets.Get(name);
        foreach (var (k, v) in _overrides) s = s.With(k, v);
        return s;
    }

    public SettingInfo Setting(string key) => Settings.First(s => s.Key == key);

    /// <summary>
    /// Whether a setting matters for a method (the form hides the others): some part the method uses
    /// reads it (<see cref="RunSettings.PartsInUse(TrainingMethod, string, RlhfAlgorithm)"/>).
    /// </summary>
    public static bool AppliesTo(string key, TrainingMethod m, string generator = "pretrain", RlhfAlgorithm rlhf = RlhfAlgorithm.Ppo,
        RewardEstimatorKind estimator = RewardEstimatorKind.Sequence) =>
        (RunSettings.MetadataOf(key).ReadBy & RunSettings.PartsInUse(m, generator, rlhf, estimator)) != 0;

    // ---- Charts -----------------------------------------------------------------------------------

    /// <summary>
    /// TensorBoard's smoothing: an exponential moving average debiased by 1 - w^n (so the first points
    /// are not pulled towards zero). Non-finite values pass through as gaps and do not poison the average.
    /// </summary>
    public static double[] Smooth(IReadOnlyList<double> values, double weight)
    {
        var s = new Smoother(weight);
        var result = new double[values.Count];
        for (int i = 0; i < values.Count; i++) result[i] = s.Next(values[i]);
        return result;
    }

    /// <summary>The same smoothing one point at a time (for points that arrive live).</summary>
    public sealed class Smoother(double weight)
    {
        private double _last;
        private int _n;
        public double Next(double v)
        {
            if (!double.IsFinite(v)) return v;
            if (weight <= 0) return v;
            _last = _last * weight + (1 - weight) * v;
            _n++;
            return _last / (1 - Math.Pow(weight, _n));
        }
    }

    /// <summary>A value as Plotly takes it: non-finite values become null (a gap), never a serialisation error.</summary>
    public static object? PlotValue(double v) => double.IsFinite(v) ? v : null;

    // ---- Samples and comparison -----------------------------------------------------------------------

    /// <summary>Completions that occur more than once among <paramref name="completions"/> (a sign of mode collapse).</summary>
    public static IReadOnlySet<string> Repeated(IEnumerable<string> completions) =>
        completions.GroupBy(c => c.Trim()).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet();

    /// <summary>
    /// CSS classes of each cell of a checkpoint comparison ([row][source]): "repeated" when the completion
    /// occurs more than once in its source's column (mode collapse), "identical" when another source
    /// completed the same prompt the same way.
    /// </summary>
    public static string[][] CellClasses(Engine.Evaluation.ComparisonResult r)
    {
        int n = r.Sources.Count;
        var repeated = Enumerable.Range(0, n).Select(s => Repeated(r.Rows.Select(row => row.BySource[s].Completion))).ToList();
        return r.Rows.Select(row => Enumerable.Range(0, n).Select(s =>
        {
            var text = row.BySource[s].Completion.Trim();
            var classes = new List<string>();
            if (repeated[s].Contains(text)) classes.Add("repeated");
            if (Enumerable.Range(0, n).Any(o => o != s && row.BySource[o].Completion.Trim() == text)) classes.Add("identical");
            return string.Join(' ', classes);
        }).ToArray()).ToArray();
    }

    private static readonly string[] SummaryOrder =
    [
        "align/positive-rate", "oracle/valid-rate", "eval/score_mean", "imdb/classifier_score", "oracle/nll", "oracle/coverage",
        "div/distinct-2", "div/unique-ratio", "div/self-bleu-4", Engine.Evaluation.CheckpointComparison.CompletionLengthMetric,
        Engine.Evaluation.CheckpointComparison.EndedRateMetric,
    ];

    /// <summary>The metrics of a comparison's summary: the alignment and quality figures first, then the rest by name.</summary>
    public static IReadOnlyList<string> SummaryMetrics(Engine.Evaluation.ComparisonResult r)
    {
        var names = r.Sources.SelectMany(s => s.Metrics.Keys).Distinct().ToHashSet();
        return SummaryOrder.Where(names.Contains).Concat(names.Except(SummaryOrder).Order(StringComparer.Ordinal)).ToList();
    }

    /// <summary>The settings whose values differ among the runs (key → value per run, in order).</summary>
    public static IReadOnlyList<(string Key, IReadOnlyList<string> Values)> Diff(IReadOnlyList<RunSettings> settings)
    {
        var rows = new List<(string, IReadOnlyList<string>)>();
        foreach (var key in RunSettings.Keys)
        {
            var values = settings.Select(s => s.Get(key)).ToList();
            if (values.Distinct().Count() > 1) rows.Add((key, values));
        }
        return rows;
    }
}

internal static class RunSettingsText
{
    public static string Kebab(string name) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(name);
}
