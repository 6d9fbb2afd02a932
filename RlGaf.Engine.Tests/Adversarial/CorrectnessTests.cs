using System.Text.Json.Nodes;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Metrics;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Tests.Runs;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Adversarial;

/// <summary>Defects of issue 11 section 2, each pinned by a test that fails on the old behaviour.</summary>
[Collection("runs")]
public class CorrectnessTests
{
    /// <summary>The tiny SFT model with a Hugging Face-style 0.1 dropout on every layer (as GPT-2 configs ship).</summary>
    internal static readonly Lazy<string> DropoutModel = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), $"rlgaf-tiny-sft-dropout-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(TinySft.Path_)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)), true);
        var path = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        foreach (var key in new[] { "attn_pdrop", "embd_pdrop", "resid_pdrop" }) config[key] = 0.1;
        File.WriteAllText(path, config.ToJsonString());
        return dir;
    });

    private static (LoadedModel Sft, SyntheticReviewsTask Task) LoadDropout()
    {
        var sft = ModelDirectory.Load(DropoutModel.Value, CPU);
        Assert.Equal(0.1, sft.Config.ResidPdrop); // the fixture really carries dropout
        return (sft, new SyntheticReviewsTask(sft.Vocabulary));
    }

    [Fact]
    public void Ppo_ratio_is_exactly_one_on_the_first_minibatch_of_a_dropout_checkpoint()
    {
        var (sft, task) = LoadDropout();
        // One epoch, one minibatch: the only update sees pi == pi_old, so approx_kl and clipfrac must be exactly 0.
        var settings = TinySft.Settings(TrainingMethod.Ppo) with { Generator = DropoutModel.Value, PpoEpochs = 1, PpoMinibatches = 1 };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, Discriminator.FromGenerator(sft.Model, 3));
        var m = trainer.TrainStep();
        Assert.Equal(0.0, m["ppo/approx_kl"]);
        Assert.Equal(0.0, m["ppo/clipfrac"]);
    }

    [Fact]
    public void Reinforce_kl_to_the_reference_is_zero_at_the_first_step_of_a_dropout_checkpoint()
    {
        var (sft, task) = LoadDropout();
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { Generator = DropoutModel.Value };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, Discriminator.FromGenerator(sft.Model, 3));
        // The policy is still the reference: an unbiased estimate is exactly 0 (dropout made it -28 nats on a real checkpoint).
        Assert.Equal(0.0, trainer.TrainStep()["objective/kl"]);
    }

    [Fact]
    public void Rsgan_scores_and_rewards_do_not_move_when_every_logit_shifts()
    {
        using var _ = NewDisposeScope();
        var real = tensor(new float[] { 14f, 13.5f, 15f, 14.2f });
        var fake = tensor(new float[] { 10f, 10.4f, 9.6f, 11f });
        // The discriminator separates clearly (s_real - s_fake ~ 4), but every logit carries +10: an RSGAN
        // discriminator's loss cannot see that constant. Read as probabilities, D(fake) ~ 1 ("the generator wins").
        var (r0, f0) = AdversarialLosses.Scores(real, fake, DiscriminatorLossKind.Rsgan);
        Assert.True(f0 < 0.05, $"fake score {f0}");
        Assert.Equal(1.0, r0 + f0, 6);
        var (r1, f1) = AdversarialLosses.Scores(real - 10, fake - 10, DiscriminatorLossKind.Rsgan);
        Assert.Equal(f0, f1, 6);
        Assert.Equal(r0, r1, 6);
        var z0 = AdversarialLosses.Relative(fake, real.mean().item<float>(), DiscriminatorLossKind.Rsgan);
        var z1 = AdversarialLosses.Relative(fake - 10, (real - 10).mean().item<float>(), DiscriminatorLossKind.Rsgan);
        foreach (var kind in Enum.GetValues<RewardKind>())
            Assert.True(AdversarialLosses.Reward(z0, kind).allclose(AdversarialLosses.Reward(z1, kind), 1e-5, 1e-6), $"{kind} moved with the shift");
        Assert.True(AdversarialLosses.Reward(z0, RewardKind.Prob).mean().item<float>() < 0.05);
        // BCE logits are absolute: the same shift does move them.
        Assert.NotEqual(AdversarialLosses.Scores(real, fake, DiscriminatorLossKind.Bce).Fake, AdversarialLosses.Scores(real - 10, fake - 10, DiscriminatorLossKind.Bce).Fake, 3);

        // The collapse detector's "discriminator wins" rule reads that per-loss fake score.
        var detector = new CollapseDetector(new Dictionary<string, double>());
        var alerts = Enumerable.Range(1, 3).SelectMany(i => detector.Observe(i, new Dictionary<string, double> { ["disc/fake_score"] = f0 })).ToList();
        Assert.Contains(alerts, a => a.Rule == CollapseDetector.DiscriminatorWins);
    }

    [Fact]
    public void Extending_a_gumbel_run_keeps_the_temperature_schedule()
    {
        var sft = ModelDirectory.Load(TinySft.Path_, CPU);
        var task = new SyntheticReviewsTask(sft.Vocabulary);
        var settings = TinySft.Settings(TrainingMethod.Gumbel) with { Steps = 10, GumbelTau = 0, GumbelScheduleSteps = 0 };
        using var started = new AdversarialTrainer(task, sft.Model, settings, CPU, Discriminator.FromGenerator(sft.Model, 3));
        started.RestoreState(5, started.SaveState(), settings);
        double beta = Assert.IsType<GumbelUpdate>(started.Update).Beta();
        // resume --steps 40: the trainer is rebuilt with the longer run and restored from the checkpoint.
        var extended = settings with { Steps = 40 };
        using var resumed = new AdversarialTrainer(task, sft.Model, extended, CPU, Discriminator.FromGenerator(sft.Model, 3));
        resumed.RestoreState(5, started.SaveState(), extended);
        Assert.Equal(beta, Assert.IsType<GumbelUpdate>(resumed.Update).Beta());
        // A run that starts with 40 steps anneals over 40: the schedule does depend on the horizon (the test can fail).
        using var fresh = new AdversarialTrainer(task, sft.Model, extended, CPU, Discriminator.FromGenerator(sft.Model, 3));
        fresh.RestoreState(5, fresh.SaveState(), extended);
        Assert.NotEqual(beta, Assert.IsType<GumbelUpdate>(fresh.Update).Beta());
    }

    [Fact]
    public void Kl_coef_is_in_raw_reward_units_so_scaling_rewards_and_kl_coef_together_changes_nothing()
    {
        using var _ = NewDisposeScope();
        var mask = tensor(new float[] { 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0 }, [3, 4]);
        var q = tensor(new float[] { .2f, .2f, .2f, 0, .9f, .9f, .9f, .9f, .5f, .5f, 0, 0 }, [3, 4]);
        var kl = tensor(new float[] { .3f, -.1f, .2f, 0, .05f, .4f, -.2f, .1f, .6f, .2f, 0, 0 }, [3, 4]) * mask;
        var s = new RunSettings { KlCoef = 0.5, Baseline = BaselineKind.Batch, WhitenRewards = true };
        double ema = double.NaN;
        var a = ReinforceUpdate.Advantages(q, kl, mask, s, perPosition: false, ref ema);
        // Rewards x 4 (another reward kind's scale) with kl_coef x 4: the same trade-off, so the same whitened advantages.
        var b = ReinforceUpdate.Advantages(q * 4, kl, mask, s with { KlCoef = 2.0 }, perPosition: false, ref ema);
        Assert.True(a.allclose(b, 1e-4, 1e-5), "the KL penalty was not added in reward units before whitening");
        // With whitening on, the baseline still matters (the mean is kept): none differs from batch.
        var none = ReinforceUpdate.Advantages(q, kl, mask, s with { Baseline = BaselineKind.None }, perPosition: false, ref ema);
        Assert.False(a.allclose(none, 1e-4, 1e-5), "whitening erased the baseline");
    }
}
