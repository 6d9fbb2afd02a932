using System.Globalization;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Sweeps;

namespace RlGaf.Workbench.Tests.Sweeps;

/// <summary>Random search: reproducible from the sweep's sampler seed, within bounds, with the documented distributions.</summary>
public sealed class SweepSamplerTests
{
    private static SweepConfig Random(int seed, int cap) => SweepFileParser.Parse($$"""
        method: random
        run_cap: {{cap}}
        sampler_seed: {{seed}}
        metric: {name: oracle/nll, goal: minimize}
        parameters:
          gen_lr: {distribution: log_uniform_values, min: 1e-5, max: 1e-2}
          kl_coef: {min: 0.0, max: 0.5}
          d_steps: {min: 1, max: 4}
          clip_range: {distribution: q_uniform, min: 0.1, max: 0.3, q: 0.05}
          disc_loss: {values: [bce, rsgan], probabilities: [0.8, 0.2]}
        """, "r.yaml", Presets.Get);

    private static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    [Fact]
    public void The_same_seed_samples_the_same_configurations_and_another_seed_others()
    {
        var a = SweepPlanner.Configurations(Random(7, 20)).Select(c => string.Join(";", c.Parameters)).ToList();
        var b = SweepPlanner.Configurations(Random(7, 20)).Select(c => string.Join(";", c.Parameters)).ToList();
        var c = SweepPlanner.Configurations(Random(8, 20)).Select(c => string.Join(";", c.Parameters)).ToList();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        // Configuration i depends on i only: a larger cap keeps the first ones (a resumed or extended sweep re-derives them).
        Assert.Equal(a, SweepPlanner.Configurations(Random(7, 40)).Take(20).Select(x => string.Join(";", x.Parameters)).ToList());
    }

    [Fact]
    public void Draws_follow_their_distributions()
    {
        var configs = SweepPlanner.Configurations(Random(1, 4000));
        var lr = configs.Select(c => D(c.Parameters["gen_lr"])).ToList();
        Assert.All(lr, v => Assert.InRange(v, 1e-5, 1e-2));
        // log-uniform: the geometric midpoint 10^-3.5 splits the draws in half (binomial sd ~0.8% at n = 4000).
        Assert.InRange(lr.Count(v => v < Math.Pow(10, -3.5)) / 4000.0, 0.47, 0.53);
        var kl = configs.Select(c => D(c.Parameters["kl_coef"])).ToList();
        Assert.InRange(kl.Average(), 0.24, 0.26);
        var d = configs.Select(c => int.Parse(c.Parameters["d_steps"], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal([1, 2, 3, 4], d.Distinct().Order());
        Assert.All(d.GroupBy(x => x), g => Assert.InRange(g.Count(), 900, 1100));
        var clip = configs.Select(c => D(c.Parameters["clip_range"])).ToList();
        Assert.All(clip, v => Assert.Equal(0, Math.Abs(v / 0.05 - Math.Round(v / 0.05)), 6));
        Assert.InRange(configs.Count(c => c.Parameters["disc_loss"] == "bce") / 4000.0, 0.77, 0.83);
    }

    [Fact]
    public void Run_cap_counts_runs_over_the_seeds()
    {
        var c = SweepFileParser.Parse("method: random\nrun_cap: 7\nseeds: [1, 2, 3]\nmetric: {name: x}\nparameters:\n  kl_coef: {min: 0.0, max: 1.0}\n", "r.yaml", Presets.Get);
        var trials = SweepPlanner.Trials(c, "id", "/tmp/x");
        Assert.Equal(6, trials.Count); // 7 runs / 3 seeds = 2 configurations x 3 seeds
        Assert.Equal([0, 0, 0, 1, 1, 1], trials.Select(t => t.ConfigIndex));
        Assert.Equal([1, 2, 3, 1, 2, 3], trials.Select(t => t.Settings.Seed));
        Assert.Equal("/tmp/x/trials/0004", trials[4].OutDir);
    }

    [Fact]
    public void SplitMix64_matches_its_reference_sequence()
    {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c; also Java's SplittableRandom).
        var r = new SweepRandom(0);
        Assert.Equal(0xE220A8397B1DCDAFUL, r.NextUInt64());
        Assert.Equal(0x6E789E6AA1B965F4UL, r.NextUInt64());
        Assert.Equal(0x06C45D188009454FUL, r.NextUInt64());
    }
}
