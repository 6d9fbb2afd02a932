using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Tests.Runs;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Adversarial;

/// <summary>Each update must move its own objective on a tiny problem, not merely run.</summary>
[Collection("runs")]
public class TrainerTests
{
    private static (LoadedModel Sft, SyntheticReviewsTask Task) Load()
    {
        var sft = ModelDirectory.Load(TinySft.Path_, CPU);
        return (sft, new SyntheticReviewsTask(sft.Vocabulary));
    }

    private static double[] ParameterSnapshot(nn.Module m) =>
        m.parameters().SelectMany(p => p.detach().cpu().flatten().data<float>().ToArray()).Select(x => (double)x).ToArray();

    [Theory]
    [InlineData(RlhfAlgorithm.Reinforce)]
    [InlineData(RlhfAlgorithm.Ppo)]
    public void Policy_gradient_raises_the_reward_of_a_frozen_reward_model(RlhfAlgorithm algorithm)
    {
        var (sft, task) = Load();
        var settings = TinySft.Settings(TrainingMethod.RlhfProxy) with
        {
            RlhfAlgorithm = algorithm, BatchSize = 16, GenLr = 3e-3, KlCoef = 0, EntropyCoef = 0, RewardModelSteps = 60, DiscLr = 2e-3,
            Reward = RewardKind.Logit, PpoEpochs = 2, PpoMinibatches = 2, Steps = 30,
        };
        var dir = Directory.CreateTempSubdirectory("rlgaf-pg-").FullName;
        try
        {
            var (rm, accuracy) = RunSetup.EnsureRewardModel(dir, settings, task, sft.Model, CPU);
            Assert.True(accuracy > 0.6, $"reward model accuracy {accuracy}");
            using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, rewardModel: rm);
            var before = ParameterSnapshot(trainer.Policy);
            var rewards = Enumerable.Range(0, 30).Select(_ => trainer.TrainStep()["reward/mean"]).ToArray();
            Assert.NotEqual(before, ParameterSnapshot(trainer.Policy));
            double first = rewards.Take(6).Average(), last = rewards.TakeLast(6).Average();
            Assert.True(last > first + 0.3, $"{algorithm}: reward {first:0.000} -> {last:0.000}");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Soft_gumbel_gradient_descends_the_adversarial_loss_on_a_fixed_batch()
    {
        var (sft, task) = Load();
        var settings = TinySft.Settings(TrainingMethod.Gumbel) with
        {
            BatchSize = 16, GenLr = 1e-3, DiscLr = 1e-3, DSteps = 0, KlCoef = 0, GumbelTau = 0.5, GumbelHard = false, DiscLoss = DiscriminatorLossKind.Bce,
        };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, discriminator: Discriminator.FromGenerator(sft.Model, 3));
        trainer.PretrainDiscriminator(10); // an opinion to descend on; it stays frozen below
        var disc = ParameterSnapshot(trainer.Disc!);
        var gumbel = Assert.IsType<GumbelUpdate>(trainer.Update);
        var (batch, noise, examples) = gumbel.DrawBatch();
        // Same sequences, same noise: each gradient step must lower the loss the discriminator gives them.
        var losses = new List<double>();
        for (int i = 0; i < 8; i++)
        {
            var (loss, _, _, _, _) = gumbel.Objective(batch, noise, examples);
            losses.Add(loss.item<float>());
            trainer.Core.ApplyGenerator(loss, "test");
        }
        Assert.Equal(disc, ParameterSnapshot(trainer.Disc!));
        for (int i = 1; i < losses.Count; i++) Assert.True(losses[i] < losses[i - 1], $"loss rose at update {i}: {string.Join(", ", losses)}");
        Assert.True(losses[^1] < losses[0] - 0.015, $"losses {string.Join(", ", losses)}");
    }

    [Fact]
    public void Straight_through_gumbel_passes_the_discriminators_gradient_to_the_generator()
    {
        var (sft, task) = Load();
        var settings = TinySft.Settings(TrainingMethod.Gumbel) with { BatchSize = 8, GenLr = 1e-3, DSteps = 0, GumbelTau = 0.5, GumbelHard = true };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, discriminator: Discriminator.FromGenerator(sft.Model, 3));
        trainer.PretrainDiscriminator(5);
        var before = ParameterSnapshot(trainer.Policy);
        var gumbel = Assert.IsType<GumbelUpdate>(trainer.Update);
        var (batch, noise, examples) = gumbel.DrawBatch();
        var (loss, _, _, _, _) = gumbel.Objective(batch, noise, examples);
        // Forward: the hard tokens (the loss does not depend on the parameters); backward: the soft sample's gradient.
        double norm = trainer.Core.ApplyGenerator(loss, "test");
        Assert.True(norm > 1e-6, $"gradient norm {norm}");
        Assert.NotEqual(before, ParameterSnapshot(trainer.Policy));
    }

    [Theory]
    [InlineData(DiscriminatorLossKind.Bce)]
    [InlineData(DiscriminatorLossKind.Rsgan)]
    public void Discriminator_learns_to_separate_real_from_generated(DiscriminatorLossKind loss)
    {
        var (sft, task) = Load();
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { BatchSize = 16, DiscLr = 1e-3, DiscLoss = loss };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, discriminator: Discriminator.FromGenerator(sft.Model, 5));
        var history = Enumerable.Range(0, 40).Select(_ => trainer.PretrainDiscriminator(1)).ToArray();
        double firstLoss = history.Take(5).Average(m => m["disc/loss"]), lastLoss = history.TakeLast(5).Average(m => m["disc/loss"]);
        double lastAcc = history.TakeLast(5).Average(m => m["disc/acc"]);
        Assert.True(lastLoss < firstLoss - 0.05, $"{loss}: loss {firstLoss:0.000} -> {lastLoss:0.000}");
        Assert.True(lastAcc > 0.65, $"{loss}: accuracy {lastAcc:0.000}");
        if (loss == DiscriminatorLossKind.Bce)
            Assert.True(history.TakeLast(5).Average(m => m["disc/real_score"] - m["disc/fake_score"]) > 0.1);
    }

    [Fact]
    public void Sft_step_lowers_the_loss_on_real_completions()
    {
        var (sft, task) = Load();
        var settings = TinySft.Settings(TrainingMethod.Sft) with { BatchSize = 16, GenLr = 3e-3 };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU);
        var losses = Enumerable.Range(0, 20).Select(_ => trainer.TrainStep()["gen/loss"]).ToArray();
        Assert.True(losses.TakeLast(5).Average() < losses.Take(5).Average());
    }
}
