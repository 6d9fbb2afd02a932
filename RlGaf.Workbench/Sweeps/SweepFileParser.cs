using System.Globalization;
using RlGaf.Engine.Runs;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RlGaf.Workbench.Sweeps;

/// <summary>
/// Reads a sweep file in W&B's sweep format, YAML or JSON (JSON is read as YAML's flow style, so both
/// give line numbers): <c>method</c>, <c>metric</c>, <c>parameters</c>, <c>run_cap</c>, <c>early_terminate</c>, plus this
/// workbench's <c>base</c>, <c>seeds</c>, <c>sampler_seed</c> and <c>max_parallel</c>. Every error is an ArgumentException
/// that names the line and the key. W&B's launcher keys (<c>program</c>, <c>command</c>, <c>project</c>, <c>entity</c>) are
/// accepted and ignored: a trial is always this workbench's own <c>train</c>.
/// </summary>
public static class SweepFileParser
{
    private static readonly HashSet<string> Ignored = ["program", "command", "project", "entity"];
    private static readonly HashSet<string> TopKeys = ["name", "description", "method", "metric", "parameters", "run_cap", "early_terminate", "base", "seeds", "sampler_seed", "max_parallel", .. Ignored];

    /// <param name="text">The file's text.</param>
    /// <param name="source">Its name, first in every message.</param>
    /// <param name="preset">Resolves a preset name (the web app and the command line apply RlGaf:PresetOverrides).</param>
    /// <param name="baseDir">Where a relative <c>base</c> settings file is looked for (the sweep file's folder).</param>
    public static SweepConfig Parse(string text, string source, Func<string, RunSettings> preset, string? baseDir = null)
    {
        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            if (stream.Documents.Count == 0) throw Error(source, 1, null, "the file is empty.");
            root = stream.Documents[0].RootNode as YamlMappingNode ?? throw Error(source, Line(stream.Documents[0].RootNode), null, "expected a mapping of keys (method, metric, parameters, ...).");
        }
        catch (YamlException e) { throw new ArgumentException($"{source}: line {e.Start.Line}: not valid YAML or JSON ({Short(e)})."); }

        var keys = Keys(root, source, TopKeys, null);
        var method = keys.TryGetValue("method", out var m) ? Scalar(m, source, "method").ToLowerInvariant() switch
        {
            "grid" => SweepMethod.Grid,
            "random" => SweepMethod.Random,
            "bayes" => throw Error(source, Line(m.Value), "method", "'bayes' is not supported here: use grid or random."),
            var other => throw Error(source, Line(m.Value), "method", $"'{other}' is not one of grid, random."),
        } : throw Error(source, 1, "method", "missing (grid or random).");

        if (!keys.TryGetValue("metric", out var metricNode)) throw Error(source, 1, "metric", "missing: give name (a metric key such as oracle/nll) and goal.");
        var metricKeys = Keys(Mapping(metricNode, source, "metric"), source, ["name", "goal", "target"], "metric");
        var metricName = metricKeys.TryGetValue("name", out var mn) ? Scalar(mn, source, "metric.name") : throw Error(source, Line(metricNode.Value), "metric.name", "missing.");
        var goal = metricKeys.TryGetValue("goal", out var g) ? Scalar(g, source, "metric.goal") switch
        {
            "minimize" => MetricGoal.Minimize,
            "maximize" => MetricGoal.Maximize,
            var other => throw Error(source, Line(g.Value), "metric.goal", $"'{other}' is not minimize or maximize."),
        } : MetricGoal.Minimize;
        if (metricKeys.TryGetValue("target", out var target)) throw Error(source, Line(target.Value), "metric.target", "is not supported (the sweep runs its planned trials).");

        var (baseName, settings) = keys.TryGetValue("base", out var b) ? Base(Scalar(b, source, "base"), source, Line(b.Value), preset, baseDir) : ("defaults", new RunSettings());
        int? runCap = keys.TryGetValue("run_cap", out var rc) ? Int(rc, source, "run_cap", 1, 100_000) : null;
        int samplerSeed = keys.TryGetValue("sampler_seed", out var ss) ? Int(ss, source, "sampler_seed", int.MinValue, int.MaxValue) : 0;
        int? maxParallel = keys.TryGetValue("max_parallel", out var mp) ? Int(mp, source, "max_parallel", 1, 1024) : null;
        var seeds = keys.TryGetValue("seeds", out var sd) ? Seeds(sd, source) : [settings.Seed];

        if (!keys.TryGetValue("parameters", out var pn)) throw Error(source, 1, "parameters", "missing: the RunSettings keys to search.");
        var parameters = new List<SweepParameter>();
        foreach (var (keyNode, spec) in Mapping(pn, source, "parameters").Children)
        {
            var key = Scalar(new(keyNode, spec), source, "parameters", keyOnly: true);
            if (key == "seed") throw Error(source, Line(keyNode), "parameters.seed", "seeds are the replicate axis, not searched: use the top-level 'seeds' list.");
            if (!RunSettings.Keys.Contains(key)) throw Error(source, Line(keyNode), $"parameters.{key}", $"not a setting (RunSettings keys: {string.Join(", ", RunSettings.Keys.Order())}).");
            var p = Parameter(key, spec, source);
            CheckValues(p, settings, source);
            parameters.Add(p);
        }
        if (parameters.Count == 0) throw Error(source, Line(pn.Value), "parameters", "is empty.");
        if (method == SweepMethod.Grid)
            foreach (var p in parameters.Where(p => !p.Enumerable))
                throw Error(source, p.Line, $"parameters.{p.Key}", $"distribution {SweepParameter.Name(p.Distribution)} is continuous: method grid needs values, int_uniform or q_uniform.");
        if (method == SweepMethod.Random && runCap is null)
            throw Error(source, 1, "run_cap", "method random needs run_cap (how many runs to sample; with seeds, runs = configurations x seeds).");
        if (runCap is { } cap && cap < seeds.Count)
            throw Error(source, Line(rc.Value), "run_cap", $"{cap} is fewer than the {seeds.Count} seeds: run_cap counts runs, every configuration runs once per seed.");

        EarlyTermination? early = keys.TryGetValue("early_terminate", out var et) ? Early(et, source) : null;
        if (early is not null && early.MinIter >= settings.Steps)
            throw Error(source, Line(et.Value), "early_terminate.min_iter", $"{early.MinIter} is not below the runs' {settings.Steps} steps: no rung would stop anything.");

        string name = keys.TryGetValue("name", out var n) ? Scalar(n, source, "name") : Path.GetFileNameWithoutExtension(source);
        string? description = keys.TryGetValue("description", out var d) ? Scalar(d, source, "description") : null;
        return new SweepConfig(name, description, method, new SweepMetric(metricName, goal), parameters, runCap, early, baseName, settings, seeds, samplerSeed, maxParallel);
    }

    private static (string, RunSettings) Base(string value, string source, int line, Func<string, RunSettings> preset, string? baseDir)
    {
        if (Presets.All.ContainsKey(value))
        {
            try { return (value, preset(value)); }
            catch (ArgumentException e) { throw Error(source, line, "base", e.Message); }
        }
        var path = Path.IsPathRooted(value) || baseDir is null ? value : Path.Combine(baseDir, value);
        if (!File.Exists(path))
            throw Error(source, line, "base", $"'{value}' is neither a preset ({string.Join(", ", Presets.All.Keys)}) nor a settings file.");
        try { return (value, RunSettings.FromJson(File.ReadAllText(path), value).Validate()); }
        catch (ArgumentException e) { throw Error(source, line, "base", e.Message); }
    }

    private static SweepParameter Parameter(string key, YamlNode spec, string source)
    {
        string at = $"parameters.{key}";
        var p = Keys(Mapping(new(new YamlScalarNode(key), spec), source, at), source,
            ["value", "values", "probabilities", "distribution", "min", "max", "q", "mu", "sigma"], at);
        int line = Line(spec);
        if (p.ContainsKey("mu") || p.ContainsKey("sigma"))
            throw Error(source, line, at, "normal distributions (mu, sigma) are not supported: use uniform, log_uniform_values, q_uniform or int_uniform.");
        ParameterDistribution? named = p.TryGetValue("distribution", out var dn) ? Scalar(dn, source, $"{at}.distribution") switch
        {
            "constant" => ParameterDistribution.Constant,
            "categorical" => ParameterDistribution.Categorical,
            "int_uniform" => ParameterDistribution.IntUniform,
            "uniform" => ParameterDistribution.Uniform,
            "q_uniform" => ParameterDistribution.QUniform,
            "log_uniform_values" => ParameterDistribution.LogUniformValues,
            "q_log_uniform_values" => ParameterDistribution.QLogUniformValues,
            "log_uniform" => ParameterDistribution.LogUniform,
            var other => throw Error(source, Line(dn.Value), $"{at}.distribution",
                $"'{other}' is not supported (constant, categorical, int_uniform, uniform, q_uniform, log_uniform_values, q_log_uniform_values, log_uniform)."),
        } : null;

        if (p.TryGetValue("value", out var v))
        {
            if (named is not (null or ParameterDistribution.Constant)) throw Error(source, line, at, "'value' goes with distribution constant.");
            return new(key, ParameterDistribution.Constant, [Scalar(v, source, $"{at}.value")], null, 0, 0, null, line);
        }
        if (p.TryGetValue("values", out var vs))
        {
            if (named is not (null or ParameterDistribution.Categorical)) throw Error(source, line, at, "'values' goes with distribution categorical.");
            if (vs.Value is not YamlSequenceNode seq || seq.Children.Count == 0) throw Error(source, Line(vs.Value), $"{at}.values", "expected a non-empty list.");
            var values = seq.Children.Select(c => Scalar(new(vs.Key, c), source, $"{at}.values")).ToList();
            IReadOnlyList<double>? probs = null;
            if (p.TryGetValue("probabilities", out var pr))
            {
                if (pr.Value is not YamlSequenceNode ps || ps.Children.Count != values.Count)
                    throw Error(source, Line(pr.Value), $"{at}.probabilities", $"expected a list of {values.Count} numbers, one per value.");
                probs = ps.Children.Select(c => Number(new(pr.Key, c), source, $"{at}.probabilities")).ToList();
                if (probs.Any(x => x < 0) || Math.Abs(probs.Sum() - 1) > 1e-6) throw Error(source, Line(pr.Value), $"{at}.probabilities", "must be non-negative and sum to 1.");
            }
            return new(key, ParameterDistribution.Categorical, values, probs, 0, 0, null, line);
        }
        if (!p.TryGetValue("min", out var mn) || !p.TryGetValue("max", out var mx))
            throw Error(source, line, at, "give value, values, or min and max (with an optional distribution and q).");
        double min = Number(mn, source, $"{at}.min"), max = Number(mx, source, $"{at}.max");
        double? q = p.TryGetValue("q", out var qn) ? Number(qn, source, $"{at}.q") : null;
        if (q is <= 0) throw Error(source, Line(qn.Value), $"{at}.q", "must be > 0.");
        bool ints = IsInteger(mn) && IsInteger(mx);
        var dist = named ?? (q is not null ? ParameterDistribution.QUniform : ints ? ParameterDistribution.IntUniform : ParameterDistribution.Uniform);
        if (dist is ParameterDistribution.Constant or ParameterDistribution.Categorical) throw Error(source, line, at, $"distribution {SweepParameter.Name(dist)} needs value(s), not min/max.");
        if (min > max) throw Error(source, Line(mn.Value), $"{at}.min", $"{min} is above max {max}.");
        if (dist is ParameterDistribution.LogUniformValues or ParameterDistribution.QLogUniformValues && min <= 0)
            throw Error(source, Line(mn.Value), $"{at}.min", $"log_uniform_values needs min > 0 (got {min}).");
        if (dist == ParameterDistribution.IntUniform && !ints) throw Error(source, line, at, "int_uniform needs integer min and max.");
        if (dist is ParameterDistribution.QUniform or ParameterDistribution.QLogUniformValues && q is null) throw Error(source, line, at, $"{SweepParameter.Name(dist)} needs q.");
        return new(key, dist, [], null, min, max, q, line);
    }

    /// <summary>Every value a parameter can take must be a valid value of its setting (type and bounds), named with its line.</summary>
    private static void CheckValues(SweepParameter p, RunSettings settings, string source)
    {
        IEnumerable<string> probes = p.Distribution switch
        {
            ParameterDistribution.Constant or ParameterDistribution.Categorical => p.Values,
            ParameterDistribution.IntUniform => [SweepParameter.Format(p.Min), SweepParameter.Format(p.Max)],
            _ => [SweepParameter.Format(p.Min), SweepParameter.Format(p.Max)],
        };
        foreach (var value in probes)
        {
            try { settings.With(p.Key, value).Validate(); }
            catch (ArgumentException e) { throw Error(source, p.Line, $"parameters.{p.Key}", $"value '{value}': {e.Message}"); }
        }
    }

    private static List<int> Seeds(KeyValuePair<YamlNode, YamlNode> node, string source)
    {
        if (node.Value is not YamlSequenceNode seq || seq.Children.Count == 0) throw Error(source, Line(node.Value), "seeds", "expected a non-empty list of integers, e.g. [1, 2, 3].");
        var seeds = seq.Children.Select(c => Int(new(node.Key, c), source, "seeds", int.MinValue, int.MaxValue)).ToList();
        if (seeds.Distinct().Count() != seeds.Count) throw Error(source, Line(node.Value), "seeds", "lists a seed twice.");
        return seeds;
    }

    private static EarlyTermination Early(KeyValuePair<YamlNode, YamlNode> node, string source)
    {
        var e = Keys(Mapping(node, source, "early_terminate"), source, ["type", "min_iter", "max_iter", "eta", "s", "strict"], "early_terminate");
        var type = e.TryGetValue("type", out var t) ? Scalar(t, source, "early_terminate.type") : throw Error(source, Line(node.Value), "early_terminate.type", "missing (hyperband).");
        if (type != "hyperband") throw Error(source, Line(t.Value), "early_terminate.type", $"'{type}' is not supported (hyperband).");
        int eta = e.TryGetValue("eta", out var en) ? Int(en, source, "early_terminate.eta", 2, 100) : 3;
        if (e.TryGetValue("min_iter", out var mi)) return new(Int(mi, source, "early_terminate.min_iter", 1, RunSettings.MaxSteps), eta);
        // W&B's other form: max_iter and s brackets, the lowest rung at max_iter / eta^s.
        if (e.TryGetValue("max_iter", out var ma) && e.TryGetValue("s", out var sn))
        {
            int maxIter = Int(ma, source, "early_terminate.max_iter", 1, RunSettings.MaxSteps), s = Int(sn, source, "early_terminate.s", 0, 30);
            int min = (int)(maxIter / Math.Pow(eta, s));
            if (min < 1) throw Error(source, Line(ma.Value), "early_terminate.max_iter", $"max_iter {maxIter} / eta^s is below 1 step.");
            return new(min, eta);
        }
        throw Error(source, Line(node.Value), "early_terminate.min_iter", "missing (or give max_iter and s).");
    }

    // ---- nodes -----------------------------------------------------------------------------------

    private static Dictionary<string, KeyValuePair<YamlNode, YamlNode>> Keys(YamlMappingNode map, string source, IEnumerable<string> allowed, string? parent)
    {
        var allow = allowed.ToHashSet();
        var result = new Dictionary<string, KeyValuePair<YamlNode, YamlNode>>();
        foreach (var kv in map.Children)
        {
            var key = kv.Key is YamlScalarNode s ? s.Value ?? "" : throw Error(source, Line(kv.Key), parent, "keys must be plain names.");
            string full = parent is null ? key : $"{parent}.{key}";
            if (!allow.Contains(key)) throw Error(source, Line(kv.Key), full, $"unknown key (expected one of {string.Join(", ", allow.Where(k => !Ignored.Contains(k)))}).");
            if (!result.TryAdd(key, kv)) throw Error(source, Line(kv.Key), full, "given twice.");
        }
        return result;
    }

    private static YamlMappingNode Mapping(KeyValuePair<YamlNode, YamlNode> node, string source, string key) =>
        node.Value as YamlMappingNode ?? throw Error(source, Line(node.Value), key, "expected a mapping of keys.");

    private static string Scalar(KeyValuePair<YamlNode, YamlNode> node, string source, string key, bool keyOnly = false)
    {
        var n = keyOnly ? node.Key : node.Value;
        if (n is YamlScalarNode { Value: { } v }) return v;
        throw Error(source, Line(n), key, "expected a single value.");
    }

    private static double Number(KeyValuePair<YamlNode, YamlNode> node, string source, string key)
    {
        var text = Scalar(node, source, key);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v
            : throw Error(source, Line(node.Value), key, $"'{text}' is not a number.");
    }

    private static int Int(KeyValuePair<YamlNode, YamlNode> node, string source, string key, int min, int max)
    {
        var text = Scalar(node, source, key);
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)) throw Error(source, Line(node.Value), key, $"'{text}' is not an integer.");
        if (v < min || v > max) throw Error(source, Line(node.Value), key, $"{v} must be in [{min}, {max}].");
        return v;
    }

    private static bool IsInteger(KeyValuePair<YamlNode, YamlNode> node) =>
        node.Value is YamlScalarNode { Value: { } v } && long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out _);

    private static int Line(YamlNode node) => (int)node.Start.Line;

    private static string Short(YamlException e) => e.InnerException?.Message ?? e.Message;

    private static ArgumentException Error(string source, int line, string? key, string message) =>
        new($"{source}: line {line}: {(key is null ? "" : key + ": ")}{message}");
}
