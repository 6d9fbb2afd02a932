using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Tests.Runs;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Adversarial;

/// <summary>The techniques of issue 11 section 3, each against an independent computation.</summary>
[Collection("runs")]
public class MethodsTests
{
    private static (LoadedModel Sft, SyntheticReviewsTask Task) Load()
    {
        var sft = ModelDirectory.Load(TinySft.Path_, CPU);
        return (sft, new SyntheticReviewsTask(sft.Vocabulary));
    }

    private static Discriminator RandomHeadDiscriminator(Engine.Models.Gpt2Model sft)
    {
        var d = Discriminator.FromGenerator(sft, 3);
        using var gen = new Generator(11);
        using (no_grad())
            foreach (var (name, p) in d.named_parameters())
                if (name.StartsWith("head.", StringComparison.Ordinal)) p.normal_(0, 1, gen);
        return d;
    }

    [Fact]
    public void Rloo_baseline_is_the_mean_return_of_the_other_completions_of_the_same_prompt()
    {
        using var _ = NewDisposeScope();
        // Two prompts x three completions; sequence rewards on every token, no KL, no whitening.
        float[] r = [1, 4, 7, 2, 2, 8];
        var mask = tensor(new float[] { 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1 }, [6, 2]);
        var q = tensor(r.SelectMany(x => new[] { x, x }).ToArray(), [6, 2]) * mask;
        var s = new RunSettings { Baseline = BaselineKind.Rloo, GroupSize = 3, BatchSize = 6, KlCoef = 0, WhitenRewards = false }.Validate();
        double ema = double.NaN;
        var a = ReinforceUpdate.Advantages(q, zeros_like(q), mask, s, perPosition: false, ref ema).data<float>().ToArray();
        for (int row = 0; row < 6; row++)
        {
            int g = row / 3 * 3;
            double others = (Enumerable.Range(g, 3).Sum(j => r[j]) - r[row]) / 2.0;
            for (int t = 0; t < 2; t++)
            {
                double m = mask[row, t].item<float>();
                Assert.Equal((r[row] - others) * m, a[row * 2 + t], 5);
            }
        }
    }

    [Fact]
    public void Rloo_needs_groups_and_group_size_must_divide_the_batch()
    {
        var e = Assert.Throws<ArgumentException>(() => new RunSettings { Baseline = BaselineKind.Rloo }.Validate());
        Assert.StartsWith("baseline:", e.Message);
        e = Assert.Throws<ArgumentException>(() => new RunSettings { GroupSize = 5, BatchSize = 32 }.Validate());
        Assert.StartsWith("group_size:", e.Message);
    }

    [Fact]
    public void Group_sampling_repeats_each_prompt_group_size_times()
    {
        var (sft, task) = Load();
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { BatchSize = 6, GroupSize = 3, Baseline = BaselineKind.Rloo };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, RandomHeadDiscriminator(sft.Model));
        var (batch, reals) = trainer.Core.SampleTrainingBatch([]);
        Assert.Equal(6, batch.Count);
        for (int row = 0; row < 6; row++) Assert.Equal(batch.Prompts[row / 3 * 3], batch.Prompts[row]);
        Assert.NotEqual(batch.Prompts[0], batch.Prompts[3]);
        Assert.Same(reals[0], reals[2]);
    }

    [Fact]
    public void Reward_shaping_clips_then_normalises()
    {
        using var _ = NewDisposeScope();
        var r = tensor(new float[] { -3, 0.5f, 1, 9 });
        var clipped = RewardShaping.Apply(r, new RunSettings { RewardClip = 2 }).data<float>().ToArray();
        Assert.Equal([-2f, 0.5f, 1f, 2f], clipped);
        var norm = RewardShaping.Apply(r, new RunSettings { RewardClip = 2, RewardNorm = true }).data<float>().ToArray();
        double mean = clipped.Average(), sd = Math.Sqrt(clipped.Select(x => (x - mean) * (x - mean)).Average());
        for (int i = 0; i < 4; i++) Assert.Equal((clipped[i] - mean) / sd, norm[i], 4);
    }

    [Fact]
    public void Per_token_scores_of_one_pass_equal_scoring_each_prefix_separately()
    {
        var (sft, task) = Load();
        using var disc = RandomHeadDiscriminator(sft.Model);
        disc.eval();
        using var _ = NewDisposeScope();
        int eot = task.Vocabulary.EndOfTextId;
        var examples = task.SampleReal(4, 5);
        var batch = new SequenceBatch(examples.Select(e => e.Prompt).ToList(), examples.Select(e => e.Completion).ToList(), eot, CPU);
        Tensor dense;
        using (no_grad()) dense = disc.ScorePrefixes(batch);
        for (int row = 0; row < 4; row++)
            for (int t = 0; t < examples[row].Completion.Length; t++)
            {
                // The prefix alone, in a batch of its own: no padding, no other rows.
                var prefix = new SequenceBatch([examples[row].Prompt], [examples[row].Completion[..(t + 1)]], eot, CPU);
                float direct;
                using (no_grad()) direct = disc.Score(prefix).item<float>();
                Assert.Equal(direct, dense[row, t].item<float>(), 1e-4);
            }
    }

    [Fact]
    public void Per_token_returns_are_discounted_sums_of_two_d_minus_one()
    {
        var (sft, task) = Load();
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { RewardEstimator = RewardEstimatorKind.PerToken, Gamma = 0.8, Reward = RewardKind.Prob };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, RandomHeadDiscriminator(sft.Model));
        var estimator = Assert.IsType<PerTokenReward>(Assert.IsType<ReinforceUpdate>(trainer.Update).Estimator);
        using var _ = NewDisposeScope();
        var examples = task.SampleReal(3, 9);
        var batch = new SequenceBatch(examples.Select(e => e.Prompt).ToList(), examples.Select(e => e.Completion).ToList(), task.Vocabulary.EndOfTextId, CPU);
        var q = estimator.Returns(batch, zeros(3), b => zeros(b.Count), reference: 0);
        Tensor logits;
        using (no_grad()) logits = trainer.Disc!.ScorePrefixes(batch);
        for (int row = 0; row < 3; row++)
        {
            int len = examples[row].Completion.Length;
            var r = Enumerable.Range(0, len).Select(t => 2 / (1 + Math.Exp(-logits[row, t].item<float>())) - 1).ToArray();
            for (int t = 0; t < batch.CompletionWidth; t++)
            {
                double expected = t < len ? Enumerable.Range(t, len - t).Sum(j => Math.Pow(0.8, j - t) * r[j]) : 0;
                Assert.Equal(expected, q[row, t].item<float>(), 1e-4);
            }
        }
    }

    [Fact]
    public void Replay_buffer_keeps_the_newest_pairs_and_round_trips_them()
    {
        using var buffer = new ReplayBuffer(3, 8);
        buffer.Add([[50, 1], [50, 2]], [[7, 50], [8, 9, 50]]);
        buffer.Add([[50, 3], [50, 4]], [[10, 50], [11, 12, 13, 14, 15, 50]]); // the last is cut to the width 8
        Assert.Equal(3, buffer.Count);
        var (prompts, completions) = buffer.Sample(60, 1);
        var seen = prompts.Zip(completions, (p, c) => string.Join(",", p) + "|" + string.Join(",", c)).ToHashSet();
        Assert.Equal(["50,2|8,9,50", "50,3|10,50", "50,4|11,12,13,14,15,50"], seen.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(prompts, buffer.Sample(60, 1).Prompts); // seeded
    }

    [Fact]
    public void Real_negatives_of_synthetic_reviews_are_the_oracles_non_positive_reviews()
    {
        var (_, task) = Load();
        IAlignmentTask t = task;
        var negatives = t.SampleNegatives(20, 4)!;
        Assert.Equal(20, negatives.Count);
        Assert.All(negatives, n => Assert.Equal(0f, n.Label));
        var judged = negatives.Select(n => new JudgedSample(task.Vocabulary.Decode(n.Prompt[1..]), task.Vocabulary.Decode(n.Completion[..^1]), n.Completion.Length, true)).ToList();
        Assert.Equal(0.0, task.Judge(judged)["align/positive-rate"]);
        Assert.Equal(negatives.Select(n => n.Completion), t.SampleNegatives(20, 4)!.Select(n => n.Completion));
    }

    [Theory]
    [InlineData("0.6,0.8", true)]
    [InlineData("", true)]
    [InlineData("0.8,0.6", false)]
    [InlineData("0.5", false)]
    [InlineData("a,b", false)]
    public void Accuracy_band_parses_lo_hi(string text, bool ok)
    {
        Assert.Equal(ok, AccuracyBand.TryParse(text, out _));
        if (!ok) Assert.StartsWith("disc_acc_band:", Assert.Throws<ArgumentException>(() => new RunSettings { DiscAccBand = text }.Validate()).Message);
    }

    [Fact]
    public void Accuracy_band_skips_updates_above_it_and_adds_one_below()
    {
        var (sft, task) = Load();
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { DSteps = 2 };
        // A band no accuracy is above: every update skipped, the discriminator unchanged.
        using (var trainer = new AdversarialTrainer(task, sft.Model, settings with { DiscAccBand = "0,0.000001" }, CPU, RandomHeadDiscriminator(sft.Model)))
        {
            var before = trainer.Disc!.parameters().Select(p => p.detach().clone()).ToList();
            var m = trainer.TrainStep();
            Assert.Equal(2, m["disc/skipped"]);
            Assert.All(trainer.Disc.parameters().Zip(before), x => Assert.True(x.First.detach().allclose(x.Second, 0, 0)));
        }
        using (var trainer = new AdversarialTrainer(task, sft.Model, settings with { DiscAccBand = "0.999999,1" }, CPU, RandomHeadDiscriminator(sft.Model)))
            Assert.Equal(0, trainer.TrainStep()["disc/skipped"]);
    }

    [Fact]
    public void R1_is_the_squared_gradient_of_the_real_score_wrt_its_embeddings()
    {
        var (sft, task) = Load();
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { DiscR1 = 1, DSteps = 1, BatchSize = 2 };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, RandomHeadDiscriminator(sft.Model));
        // An identical discriminator for the reference (the trainer's must keep its parameters for its optimizer).
        using var disc = RandomHeadDiscriminator(sft.Model);
        using var _ = NewDisposeScope();
        // The update's real batch, each row alone: a first-order gradient wrt its embeddings (checked
        // against a central difference along a random direction), squared, averaged over rows.
        var real = trainer.Core.RealBatch(trainer.Core.RealExamples(0, Purpose.DiscReal, 0));
        double expected = 0;
        using var gen = new Generator(5);
        for (int row = 0; row < real.Count; row++)
        {
            var single = new SequenceBatch([real.Prompts[row]], [real.Completions[row]], task.Vocabulary.EndOfTextId, CPU);
            var e = disc.Embed(single).detach().requires_grad_(true);
            var grad = autograd.grad([disc.ScoreEmbeds(e, single).Score.sum()], [e])[0];
            expected += grad.square().sum().item<float>() / real.Count;
            using (no_grad())
            {
                var dir = randn(e.shape, generator: gen);
                double analytic = (grad * dir).sum().item<float>();
                // Central difference in float64 (float32 -> float64 -> float32 restores the weights exactly).
                disc.to(ScalarType.Float64);
                var e64 = e.detach().to_type(ScalarType.Float64);
                var d64 = dir.to_type(ScalarType.Float64) * 1e-4;
                double fd = (disc.ScoreEmbeds(e64 + d64, single).Score.item<double>() - disc.ScoreEmbeds(e64 - d64, single).Score.item<double>()) / 2e-4;
                disc.to(ScalarType.Float32);
                Assert.True(Math.Abs(fd - analytic) <= 0.02 * Math.Abs(analytic) + 1e-3, $"row {row}: directional derivative {analytic} vs finite difference {fd}");
            }
        }
        double r1 = trainer.TrainStep()["disc/r1"];
        Assert.True(expected > 0 && Math.Abs(r1 - expected) <= 1e-3 * expected, $"R1 {r1} vs per-row gradients {expected}");
    }

    [Fact]
    public void Discriminator_trains_on_the_steps_own_samples_without_generating()
    {
        var (sft, task) = Load();
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { DSteps = 2, DiscReplay = 16 };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, RandomHeadDiscriminator(sft.Model));
        trainer.TrainStep();
        var own = trainer.Core.StepFakes!.Value;
        // The buffer holds exactly the step's own samples: nothing else was generated for the discriminator to keep.
        Assert.Equal(settings.BatchSize, trainer.DiscTrainer!.Replay!.Count);
        var (prompts, completions) = trainer.DiscTrainer.Replay.Sample(200, 3);
        var ownPairs = own.Prompts.Zip(own.Completions, (p, c) => string.Join(",", p.Concat([-1]).Concat(c))).ToHashSet();
        Assert.All(prompts.Zip(completions, (p, c) => string.Join(",", p.Concat([-1]).Concat(c))), pair => Assert.Contains(pair, ownPairs));
    }
}
