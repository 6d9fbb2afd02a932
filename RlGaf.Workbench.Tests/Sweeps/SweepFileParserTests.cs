using RlGaf.Engine.Runs;
using RlGaf.Workbench.Sweeps;

namespace RlGaf.Workbench.Tests.Sweeps;

/// <summary>The sweep file parser against W&B's documented examples (rewritten to this workbench's settings) and its errors.</summary>
public sealed class SweepFileParserTests
{
    private static SweepConfig Parse(string text, string source = "sweep.yaml") => SweepFileParser.Parse(text, source, Presets.Get);

    private static string Error(string text, string source = "sweep.yaml") => Assert.Throws<ArgumentException>(() => Parse(text, source)).Message;

    // W&B's "sweepdemo" YAML (program, name, method, metric, parameters), with this workbench's keys.
    private const string Demo = """
        program: train.py
        name: sweepdemo
        method: random
        metric:
          goal: minimize
          name: oracle/nll
        parameters:
          gen_lr:
            min: 0.0001
            max: 0.1
          batch_size:
            values: [16, 32, 64]
          steps:
            values: [5, 10, 15]
          disc_loss:
            values: ["bce", "rsgan"]
        run_cap: 12
        """;

    [Fact]
    public void The_documented_yaml_example_parses_with_inferred_distributions()
    {
        var c = Parse(Demo);
        Assert.Equal("sweepdemo", c.Name);
        Assert.Equal(SweepMethod.Random, c.Method);
        Assert.Equal(new SweepMetric("oracle/nll", MetricGoal.Minimize), c.Metric);
        Assert.Equal(12, c.RunCap);
        Assert.Equal(["gen_lr", "batch_size", "steps", "disc_loss"], c.Parameters.Select(p => p.Key));
        var lr = c.Parameters[0];
        Assert.Equal(ParameterDistribution.Uniform, lr.Distribution); // float min/max: uniform
        Assert.Equal((0.0001, 0.1), (lr.Min, lr.Max));
        Assert.Equal(ParameterDistribution.Categorical, c.Parameters[1].Distribution);
        Assert.Equal(["16", "32", "64"], c.Parameters[1].Values);
        Assert.Equal(11, c.Parameters[1].Line);
        Assert.Equal([1], c.Seeds); // no seeds: the base's seed
    }

    [Fact]
    public void The_documented_json_form_parses_the_same_and_json_errors_have_lines_too()
    {
        var json = """
            {
              "name": "sweepdemo",
              "method": "random",
              "metric": {"goal": "minimize", "name": "oracle/nll"},
              "parameters": {
                "gen_lr": {"min": 0.0001, "max": 0.1},
                "batch_size": {"values": [16, 32, 64]},
                "steps": {"values": [5, 10, 15]},
                "disc_loss": {"values": ["bce", "rsgan"]}
              },
              "run_cap": 12
            }
            """;
        var a = Parse(json, "sweep.json");
        var b = Parse(Demo);
        Assert.Equal(SweepPlanner.Configurations(b).Select(x => x.Parameters.ToArray()), SweepPlanner.Configurations(a).Select(x => x.Parameters.ToArray()));
        var bad = json.Replace("\"minimize\"", "\"lower\"");
        Assert.Equal("sweep.json: line 4: metric.goal: 'lower' is not minimize or maximize.", Error(bad, "sweep.json"));
    }

    [Fact]
    public void The_verbatim_wandb_keys_are_refused_naming_the_key_and_line()
    {
        var wandb = Demo.Replace("gen_lr", "learning_rate");
        Assert.StartsWith("sweep.yaml: line 8: parameters.learning_rate: not a setting", Error(wandb));
        Assert.Equal("sweep.yaml: line 3: method: 'bayes' is not supported here: use grid or random.", Error(Demo.Replace("method: random", "method: bayes")));
    }

    [Fact]
    public void Hyperband_in_both_documented_forms()
    {
        // W&B: max_iter 27 with s 2 brackets -> lowest rung 27 / 3^2 = 3, eta 3.
        var c = Parse(Demo + "\nearly_terminate:\n  type: hyperband\n  max_iter: 27\n  s: 2\n".Replace("steps:\n    values: [5, 10, 15]", "steps:\n    values: [50]"));
        Assert.Equal(new EarlyTermination(3, 3), c.EarlyTerminate);
        var d = Parse(Demo.Replace("values: [5, 10, 15]", "values: [50]") + "\nearly_terminate:\n  type: hyperband\n  min_iter: 2\n  eta: 2\n");
        Assert.Equal(new EarlyTermination(2, 2), d.EarlyTerminate);
        Assert.Equal([2, 4, 8, 16, 32], d.EarlyTerminate!.Rungs(50));
    }

    [Fact]
    public void Distributions_int_q_and_log_and_grid_enumeration()
    {
        var c = Parse("""
            method: grid
            metric: {name: oracle/nll}
            parameters:
              d_steps: {min: 1, max: 3}
              kl_coef: {distribution: q_uniform, min: 0.1, max: 0.3, q: 0.1}
              gumbel_hard: {value: false}
            seeds: [1, 2]
            """);
        Assert.Equal(ParameterDistribution.IntUniform, c.Parameters[0].Distribution);
        Assert.Equal(["1", "2", "3"], c.Parameters[0].GridValues());
        Assert.Equal(["0.1", "0.2", "0.30000000000000004"], c.Parameters[1].GridValues());
        var configs = SweepPlanner.Configurations(c);
        Assert.Equal(9, configs.Count);
        Assert.Equal(new Dictionary<string, string> { ["d_steps"] = "1", ["kl_coef"] = "0.2", ["gumbel_hard"] = "false" }, configs[1].Parameters);
        var trials = SweepPlanner.Trials(c, "s", "/tmp/s");
        Assert.Equal(18, trials.Count);
        Assert.Equal((0, 1), (trials[0].ConfigIndex, trials[0].Seed));
        Assert.Equal((0, 2), (trials[1].ConfigIndex, trials[1].Seed));
        Assert.Equal(2, trials[1].Settings.Seed);
        Assert.Equal(3, trials[17].Settings.DSteps);

        var log = Parse("method: random\nrun_cap: 3\nmetric: {name: x}\nparameters:\n  gen_lr: {distribution: log_uniform_values, min: 1e-5, max: 1e-3}\n");
        Assert.Equal(ParameterDistribution.LogUniformValues, log.Parameters[0].Distribution);
    }

    [Theory]
    [InlineData("method: grid\nmetric: {name: x}\nparameters:\n  gen_lr: {min: 0.001, max: 0.01}\n", "line 4: parameters.gen_lr: distribution uniform is continuous")]
    [InlineData("method: grid\nmetric: {name: x}\nparameters:\n  d_steps: {values: [1, -2]}\n", "line 4: parameters.d_steps: value '-2':")]
    [InlineData("method: grid\nmetric: {name: x}\nparameters:\n  d_steps: {values: [1, two]}\n", "line 4: parameters.d_steps: value 'two':")]
    [InlineData("method: grid\nmetric: {name: x}\nfoo: 1\nparameters:\n  d_steps: {values: [1]}\n", "line 3: foo: unknown key")]
    [InlineData("method: random\nmetric: {name: x}\nparameters:\n  d_steps: {values: [1]}\n", "line 1: run_cap: method random needs run_cap")]
    [InlineData("method: grid\nmetric: {name: x}\nparameters:\n  seed: {values: [1, 2]}\n", "line 4: parameters.seed: seeds are the replicate axis")]
    [InlineData("method: grid\nmetric: {name: x}\nseeds: [1, 1]\nparameters:\n  d_steps: {values: [1]}\n", "line 3: seeds: lists a seed twice.")]
    [InlineData("method: grid\nmetric: {name: x}\nbase: nowhere.json\nparameters:\n  d_steps: {values: [1]}\n", "line 3: base: 'nowhere.json' is neither a preset")]
    [InlineData("method: grid\nmetric: {name: x}\nparameters:\n  gen_lr: {distribution: log_uniform_values, min: 0, max: 1}\n", "line 4: parameters.gen_lr.min: log_uniform_values needs min > 0")]
    [InlineData("method: grid\nmetric: {name: x}\nparameters:\n  gen_lr: {distribution: normal, mu: 0, sigma: 1}\n", "line 4: parameters.gen_lr: normal distributions")]
    [InlineData("method: grid\nmetric: {name: x}\nearly_terminate: {type: hyperband, min_iter: 400}\nparameters:\n  d_steps: {values: [1]}\n", "line 3: early_terminate.min_iter: 400 is not below the runs' 300 steps")]
    [InlineData("method: grid\nmetric: {name: x\nparameters: {}\n", "not valid YAML or JSON")]
    public void Errors_name_the_line_and_the_key(string text, string expected)
    {
        var message = Error(text);
        Assert.StartsWith("sweep.yaml: ", message);
        Assert.Contains(expected, message);
    }

    [Fact]
    public void A_base_preset_or_settings_file_is_the_starting_point()
    {
        var c = Parse("method: grid\nmetric: {name: x}\nbase: gumbel\nparameters:\n  gumbel_tau: {values: [0.5, 1]}\n");
        Assert.Equal(TrainingMethod.Gumbel, c.Base.Method);
        var dir = Directory.CreateTempSubdirectory("rlgaf-sweep-base-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "base.json"), (new RunSettings { Steps = 7, Method = TrainingMethod.Sft }).ToJson());
            var f = SweepFileParser.Parse("method: grid\nmetric: {name: x}\nbase: base.json\nparameters:\n  gen_lr: {values: [0.001]}\n", "s.yaml", Presets.Get, dir);
            Assert.Equal(7, f.Base.Steps);
            File.WriteAllText(Path.Combine(dir, "bad.json"), "{\"stepz\": 3}");
            var e = Assert.Throws<ArgumentException>(() => SweepFileParser.Parse("method: grid\nmetric: {name: x}\nbase: bad.json\nparameters:\n  gen_lr: {values: [0.001]}\n", "s.yaml", Presets.Get, dir));
            Assert.Equal("s.yaml: line 3: base: bad.json: unknown setting 'stepz'.", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
