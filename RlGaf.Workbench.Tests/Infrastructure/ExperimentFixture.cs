using System.Text.Json;
using RlGaf.Engine.Experiments;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Infrastructure;

/// <summary>
/// Experiment folders as the service leaves them, without training: a finished one (results.md and
/// plots written by the engine's own SuiteReport and SuitePlots from invented figures) and one a
/// restart cut off (experiment.json still says running, one run finished, no results.md).
/// </summary>
public static class ExperimentFixture
{
    public static readonly string[] Methods = ["sft", "reinforce"];
    public const int Seeds = 2;

    /// <summary>Writes a completed suite into ROOT/ID and returns its folder.</summary>
    public static string Completed(string root, string id)
    {
        var dir = Path.Combine(root, id);
        Directory.CreateDirectory(dir);
        var o = new SuiteOptions { Suite = "synthetic-reviews", Seeds = Seeds, StepsBudget = 4, OutDir = dir, Methods = Methods };
        var runs = new List<SuiteRun>();
        foreach (var method in Methods)
            for (int seed = 1; seed <= Seeds; seed++)
            {
                double lift = method == "reinforce" ? 0.2 : 0;
                var final = new Dictionary<string, double>
                {
                    ["align/positive-rate"] = 0.6 + lift + 0.01 * seed, ["oracle/nll"] = 1.3 - lift / 4, ["oracle/valid-rate"] = 0.95,
                    ["div/distinct-2"] = 0.2, ["div/self-bleu-4"] = 0.75 - 0.01 * seed, ["disc/real_score"] = 0.5, ["disc/fake_score"] = 0.45, ["disc/acc"] = 0.55,
                };
                var curve = new[] { 0, 2, 4 }.Select(step => (step, final.ToDictionary(kv => kv.Key, kv => kv.Value * (0.9 + 0.025 * step)))).ToList();
                runs.Add(new SuiteRun(method, seed, Path.Combine(dir, "runs", $"{method}-seed{seed}"), "completed", 10 + seed, false, final, curve));
            }
        var sweep = new[] { 0.7, 1.0 }.SelectMany(t => Enumerable.Range(1, Seeds).Select(seed => new TemperaturePoint(seed, t,
            new Dictionary<string, double> { ["oracle/nll"] = 1.2 + t / 10, ["div/self-bleu-4"] = 0.9 - t / 5, ["div/distinct-2"] = 0.2, ["align/positive-rate"] = 0.5 }))).ToList();
        var plots = SuitePlots.Write(o, runs, sweep, "oracle/nll", "div/self-bleu-4");
        var result = new SuiteResult(o, runs, sweep, EvalSuite.Keys(o.Suite), "oracle/nll", "div/self-bleu-4", Path.Combine(dir, ExperimentService.ResultsFile), plots, "fixture");
        File.WriteAllText(result.ResultsMarkdown, SuiteReport.Markdown(result));
        WriteManifest(dir, id, "completed", runsDone: 4);
        return dir;
    }

    /// <summary>Writes a suite a restart cut off after one of its four runs: no results.md, no end status.</summary>
    public static string Interrupted(string root, string id)
    {
        var dir = Path.Combine(root, id);
        var run = Path.Combine(dir, "runs", "sft-seed1");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, "final-samples.txt"), "a fine film.\n");
        Directory.CreateDirectory(Path.Combine(dir, "runs", "reinforce-seed1")); // started, never finished
        File.WriteAllText(Path.Combine(dir, ExperimentService.LogFile), "[1/4] sft seed 1\n[2/4] reinforce seed 1\n");
        WriteManifest(dir, id, "running", runsDone: 1);
        return dir;
    }

    /// <summary>
    /// A suite cut off after its last run finished but before its table was written (during the
    /// temperature sweep, say): every run has its record, so a resume trains nothing and writes the table.
    /// </summary>
    public static string ResumableWithoutTraining(string root, string id)
    {
        var dir = Interrupted(root, id);
        File.WriteAllText(Path.Combine(dir, EvalSuite.SuiteFile), JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["suite"] = "synthetic-reviews", ["seeds"] = Seeds, ["steps_budget"] = 4, ["methods"] = Methods, ["data"] = null,
            ["temperatures"] = new[] { 1.0 }, ["threads"] = 0, ["sets"] = new Dictionary<string, string>(), ["command"] = "fixture",
        }));
        foreach (var method in Methods)
            for (int seed = 1; seed <= Seeds; seed++)
            {
                var final = new Dictionary<string, double>
                {
                    ["align/positive-rate"] = method == "sft" ? 0.61 : 0.83, ["oracle/nll"] = 1.3, ["oracle/valid-rate"] = 0.95, ["div/distinct-2"] = 0.2,
                    ["div/self-bleu-4"] = 0.7, ["disc/real_score"] = 0.5, ["disc/fake_score"] = 0.45, ["disc/acc"] = 0.55,
                };
                var run = Path.Combine(dir, "runs", $"{method}-seed{seed}");
                Directory.CreateDirectory(run);
                File.WriteAllText(Path.Combine(run, EvalSuite.RunRecordFile), JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["method"] = method, ["seed"] = seed, ["status"] = "completed", ["wall_clock_s"] = 10.0 + seed, ["collapse"] = false, ["final"] = final,
                    ["curve"] = new[] { 0, 2, 4 }.Select(step => new Dictionary<string, object> { ["step"] = step, ["metrics"] = final }).ToList(),
                }));
            }
        WriteManifest(dir, id, "running", runsDone: Seeds * Methods.Length);
        return dir;
    }

    private static void WriteManifest(string dir, string id, string status, int runsDone) =>
        File.WriteAllText(Path.Combine(dir, ExperimentService.ManifestFile), JsonSerializer.Serialize(new ExperimentManifest
        {
            Id = id, Suite = "synthetic-reviews", Seeds = Seeds, StepsBudget = 4, Methods = Methods, Command = "fixture", RunsDone = runsDone,
            Started = DateTimeOffset.UtcNow.AddMinutes(-5), Status = status, Ended = status == "running" ? null : DateTimeOffset.UtcNow,
        }));

    /// <summary>The plot files a completed fixture has.</summary>
    public static IReadOnlyList<string> PlotFiles(string dir) => Directory.GetFiles(dir, "*.png").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
}
