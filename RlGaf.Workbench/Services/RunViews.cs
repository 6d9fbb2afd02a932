using System.Reflection;
using System.Text.Json.Serialization;
using System.Xml.Linq;
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
/// What the pages show, computed here so components stay thin: the settings catalogue with help
/// texts (the engine's XML docs, a dictionary where those are missing), which settings a method uses,
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

    private static readonly Dictionary<string, string> ExtraHelp = new()
    {
        ["disc_lr"] = "Discriminator learning rate (Adam, live).",
        ["disc_checkpoint"] = "Model directory the discriminator starts from when disc_init = checkpoint (under a data root).",
        ["baseline_decay"] = "Decay of the EMA reward baseline (baseline = ema).",
        ["whiten_rewards"] = "Normalise rewards to zero mean and unit variance within each batch.",
        ["ppo_epochs"] = "PPO optimisation epochs over each batch of rollouts.",
        ["ppo_minibatches"] = "Minibatches each PPO epoch is split into.",
        ["clip_range"] = "PPO policy ratio clip (epsilon).",
        ["value_clip_range"] = "Clip of the value-head update around the old values.",
        ["vf_coef"] = "Weight of the value loss in the PPO objective.",
        ["gamma"] = "Discount of the per-token rewards (GAE).",
        ["lam"] = "GAE lambda: bias/variance trade-off of the advantages.",
        ["kl_horizon"] = "Horizon of the adaptive KL controller (steps).",
        ["checkpoint_every"] = "Write a checkpoint every this many steps.",
        ["keep_checkpoints"] = "Checkpoints kept on disk (older ones are deleted).",
    };

    private static readonly string[] DiscKeys = ["disc_lr", "disc_loss", "label_smoothing", "disc_init", "disc_checkpoint", "disc_pretrain_steps", "d_steps", "d_every", "d_epochs"];
    private static readonly string[] PgKeys = ["reward", "baseline", "baseline_decay", "whiten_rewards"];
    private static readonly string[] PpoKeys = ["ppo_epochs", "ppo_minibatches", "clip_range", "value_clip_range", "vf_coef", "gamma", "lam", "adaptive_kl", "kl_target", "kl_horizon"];

    public IReadOnlyList<SettingInfo> Settings { get; }

    /// <summary>The preset the New run page starts with one click.</summary>
    public const string Quickstart = "reinforce";

    private readonly IReadOnlyDictionary<string, string> _overrides;

    public RunViews(Microsoft.Extensions.Options.IOptions<WorkbenchOptions> options) : this(options.Value.PresetOverrides) { }

    public RunViews(IReadOnlyDictionary<string, string>? presetOverrides = null)
    {
        _overrides = presetOverrides ?? new Dictionary<string, string>();
        var docs = LoadDocs();
        var defaults = new RunSettings();
        Settings = typeof(RunSettings).GetProperties()
            .Where(p => p.GetCustomAttribute<JsonPropertyNameAttribute>() is not null)
            .Select(p =>
            {
                var key = p.GetCustomAttribute<JsonPropertyNameAttribute>()!.Name;
                var type = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
                var help = docs.GetValueOrDefault(p.Name) ?? ExtraHelp.GetValueOrDefault(key) ?? "";
                var options = type.IsEnum ? Enum.GetNames(type).Select(n => RunSettingsText.Kebab(n)).ToList() : (IReadOnlyList<string>)[];
                return new SettingInfo(key, SectionOf(key), help, defaults.Get(key), type, options, RunSettings.LiveKeys.Contains(key));
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

    private static string SectionOf(string key) => key switch
    {
        _ when DiscKeys.Contains(key) => "Discriminator",
        _ when PgKeys.Contains(key) || key is "kl_coef" or "entropy_coef" => "Reward and policy gradient",
        "rollouts" or "rollout_update_rate" => "SeqGAN rollouts",
        _ when PpoKeys.Contains(key) => "PPO",
        "rlhf_algorithm" or "reward_model_steps" => "RLHF proxy",
        _ when key.StartsWith("gumbel_", StringComparison.Ordinal) || key == "mle_coef" => "Gumbel-Softmax",
        "eval_every" or "eval_prompts" or "samples_per_eval" or "checkpoint_every" or "keep_checkpoints" or "collapse_action" or "device" or "threads" => "Evaluation, checkpoints, device",
        _ => "Run",
    };

    /// <summary>Whether a setting matters for a method (the form hides the others).</summary>
    public static bool AppliesTo(string key, TrainingMethod m, string generator = "pretrain")
    {
        if (key == "pretrain_steps") return generator == "pretrain";
        if (DiscKeys.Contains(key)) return m is not (TrainingMethod.Sft or TrainingMethod.RlhfProxy);
        if (PgKeys.Contains(key)) return m is TrainingMethod.Reinforce or TrainingMethod.SeqganRollout or TrainingMethod.Ppo or TrainingMethod.RlhfProxy;
        if (key is "kl_coef" or "entropy_coef") return m is not (TrainingMethod.Sft or TrainingMethod.Gumbel);
        if (key is "rollouts" or "rollout_update_rate") return m == TrainingMethod.SeqganRollout;
        if (PpoKeys.Contains(key)) return m is TrainingMethod.Ppo or TrainingMethod.RlhfProxy;
        if (key is "rlhf_algorithm" or "reward_model_steps") return m == TrainingMethod.RlhfProxy;
        if (key.StartsWith("gumbel_", StringComparison.Ordinal) || key == "mle_coef") return m == TrainingMethod.Gumbel;
        return true;
    }

    /// <summary>Summaries of RunSettings' properties from the engine's XML documentation file, when it was shipped.</summary>
    private static Dictionary<string, string> LoadDocs()
    {
        var result = new Dictionary<string, string>();
        var path = Path.ChangeExtension(typeof(RunSettings).Assembly.Location, ".xml");
        if (!File.Exists(path)) return result;
        try
        {
            const string prefix = "P:RlGaf.Engine.Runs.RunSettings.";
            foreach (var m in XDocument.Load(path).Descendants("member"))
            {
                var name = (string?)m.Attribute("name");
                if (name is null || !name.StartsWith(prefix, StringComparison.Ordinal)) continue;
                var text = string.Join(" ", (m.Element("summary")?.Value ?? "").Split((char[])[' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries));
                if (text.Length > 0) result[name[prefix.Length..]] = text;
            }
        }
        catch (System.Xml.XmlException) { }
        return result;
    }

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
