using System.Globalization;
using System.Text;

namespace RlGaf.Engine.Experiments;

/// <summary>results.md and the JSON object of a suite.</summary>
public static class SuiteReport
{
    public static string Markdown(SuiteResult r)
    {
        var o = r.Options;
        var sb = new StringBuilder();
        sb.AppendLine($"# Results: {o.Suite}");
        sb.AppendLine();
        sb.AppendLine($"Made by: `{r.CommandLine}`");
        sb.AppendLine();
        sb.AppendLine($"Protocol: {o.Methods.Count} methods x {o.Seeds} seeds. **Equal compute = the same number of generator updates** " +
                      $"({o.StepsBudget}) for every method, each from the same pretrained SFT generator of its seed (cached in `models/`); " +
                      "wall-clock therefore differs and is reported (training phase only: after SFT pretraining, reward-model training and " +
                      "discriminator pretraining). Every figure is the last evaluation (fixed held-out prompts, fixed seed, temperature 1), " +
                      "mean ± sample std over seeds; `disc/*` are the last training step's except `disc/judge_corr` (the last evaluation's). Collapse = the collapse detector raised at " +
                      "least one alert during the run.");
        if (o.Suite == "imdb")
            sb.AppendLine().AppendLine("`align/positive-rate` is the held-out judge's (character n-grams, trained on half of the test split, which no method " +
                                       "sees); `align/judge-ceiling` is the same judge's positive rate on real positive held-out continuations (the most a " +
                                       "method can expect); `imdb/proxy_score` is the RLHF proxy's reward model's mean P(positive) (word n-grams, train half). " +
                                       "`disc/judge_corr`: Spearman correlation of the discriminator's (or reward model's) score with the judge's over the evaluation samples.");
        if (o.Suite == "imdb")
            sb.AppendLine().AppendLine("`quality/ref-perplexity`: perplexity of each run's final samples under the pretrained generator of the next seed " +
                                       "(seed s is judged by seed s mod n + 1; with one seed, by its own), a held-out reference model.");
        sb.AppendLine();
        sb.AppendLine("## Per method");
        sb.AppendLine();
        var cols = r.MetricKeys.Concat(["wall_clock_s"]).ToList();
        sb.AppendLine("| method | " + string.Join(" | ", cols) + " | collapse |");
        sb.AppendLine("| --- | " + string.Join(" | ", cols.Select(_ => "---")) + " | --- |");
        foreach (var m in o.Methods)
        {
            var st = r.Summary(m);
            var mine = r.Runs.Where(x => x.Method == m).ToList();
            sb.AppendLine($"| {m} | " + string.Join(" | ", cols.Select(c => Fmt(st[c]))) + $" | {mine.Count(x => x.CollapseFired)}/{mine.Count} |");
        }
        sb.AppendLine();
        sb.AppendLine("## Runs");
        sb.AppendLine();
        // Per seed: the quality and diversity axes, the task's alignment figure(s), and how the scorer agrees with the judge.
        var perRun = new List<string> { r.QualityKey, r.DiversityKey };
        perRun.AddRange(new[] { "align/positive-rate", "align/judge-ceiling", "squad/f1", "div/distinct-2", "disc/judge_corr" }
            .Where(k => r.MetricKeys.Contains(k) && !perRun.Contains(k)));
        sb.AppendLine($"| method | seed | status | {string.Join(" | ", perRun)} | wall-clock s | collapse | directory |");
        sb.AppendLine("| --- | --- | --- | " + string.Join(" | ", perRun.Select(_ => "---")) + " | --- | --- | --- |");
        foreach (var x in r.Runs)
            sb.AppendLine($"| {x.Method} | {x.Seed} | {x.Status} | {string.Join(" | ", perRun.Select(k => Num(x.Final.GetValueOrDefault(k, double.NaN))))} | " +
                          $"{Num(x.WallClockSeconds)} | {(x.CollapseFired ? "yes" : "no")} | `{Path.GetRelativePath(o.OutDir, x.RunDir)}` |");
        if (r.Sweep.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## MLE + temperature (the pretrained generator, as in \"Language GANs Falling Short\")");
            sb.AppendLine();
            sb.AppendLine($"| temperature | {r.QualityKey} | {r.DiversityKey} | div/distinct-2 | {(o.Suite == "squad" ? "squad/exact" : "align/positive-rate")} |");
            sb.AppendLine("| --- | --- | --- | --- | --- |");
            foreach (var g in r.Sweep.GroupBy(p => p.Temperature).OrderBy(g => g.Key))
            {
                Stat S(string k) => Stat.Of(g.Select(p => p.Metrics.GetValueOrDefault(k, double.NaN)));
                sb.AppendLine($"| {g.Key.ToString("0.##", CultureInfo.InvariantCulture)} | {Fmt(S(r.QualityKey))} | {Fmt(S(r.DiversityKey))} | {Fmt(S("div/distinct-2"))} | " +
                              $"{Fmt(S(o.Suite == "squad" ? "squad/exact" : "align/positive-rate"))} |");
            }
        }
        sb.AppendLine();
        sb.AppendLine("## Plots");
        sb.AppendLine();
        foreach (var p in r.Plots) sb.AppendLine($"![{Path.GetFileNameWithoutExtension(p)}]({Path.GetFileName(p)})");
        return sb.ToString();
    }

    /// <summary>How results.json is written: indented, NaN and infinities as named literals.</summary>
    public static readonly System.Text.Json.JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The whole result as one JSON-serialisable object (NaN allowed by the caller's serializer options).</summary>
    public static object ToJsonObject(SuiteResult r) => new
    {
        suite = r.Options.Suite,
        seeds = r.Options.Seeds,
        steps_budget = r.Options.StepsBudget,
        equal_compute = "same number of generator updates for every method; wall-clock reported",
        command = r.CommandLine,
        // Paths relative to the suite's folder: the folder can be moved or committed (docs/results/SUITE) and still read.
        results_md = Path.GetFileName(r.ResultsMarkdown),
        plots = r.Plots.Select(Path.GetFileName),
        quality_key = r.QualityKey,
        diversity_key = r.DiversityKey,
        methods = r.Options.Methods.ToDictionary(m => m, m => new
        {
            metrics = r.Summary(m).ToDictionary(kv => kv.Key, kv => new { mean = kv.Value.Mean, std = kv.Value.Std, n = kv.Value.N }),
            collapse_runs = r.Runs.Count(x => x.Method == m && x.CollapseFired),
            runs = r.Runs.Count(x => x.Method == m),
        }),
        runs = r.Runs.Select(x => new
        {
            method = x.Method, seed = x.Seed, status = x.Status, run_dir = Path.GetRelativePath(r.Options.OutDir, x.RunDir), wall_clock_s = x.WallClockSeconds,
            collapse = x.CollapseFired, final = x.Final,
        }),
        temperature_sweep = r.Sweep.Select(p => new { seed = p.Seed, temperature = p.Temperature, metrics = p.Metrics }),
    };

    private static string Fmt(Stat s) => s.N == 0 ? "-" : $"{Num(s.Mean)} ± {Num(s.Std)}";

    private static string Num(double v) =>
        !double.IsFinite(v) ? "-" : Math.Abs(v) >= 100 ? v.ToString("0", CultureInfo.InvariantCulture) : v.ToString("0.000", CultureInfo.InvariantCulture);
}
