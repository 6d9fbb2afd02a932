using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Tests.Runs;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Adversarial;

/// <summary>SeqGAN's rollouts start from one shared forward pass per sample instead of recomputing every prefix.</summary>
[Collection("runs")]
public class RolloutCacheTests
{
    [Theory]
    [InlineData(2, 12)]
    [InlineData(3, 20)] // more prefixes x rollouts than one 256-row generation call: several chunks
    public void Rollouts_from_the_shared_prefix_cache_give_the_same_rewards_as_recomputed_prefixes(int rollouts, int maxNew)
    {
        var sft = ModelDirectory.Load(TinySft.Path_, CPU);
        var task = new SyntheticReviewsTask(sft.Vocabulary);
        var settings = TinySft.Settings(TrainingMethod.SeqganRollout) with { Rollouts = rollouts, MaxNewTokens = maxNew, BatchSize = 8 };
        using var core = new TrainerCore(task, sft.Model, settings.Validate(), CPU);
        using var rollout = new RolloutReward(core, sft.Model);
        using var judge = Discriminator.FromGenerator(sft.Model, 3);
        using (no_grad())
        using (var gen = new TorchSharp.torch.Generator(5))
            foreach (var (name, p) in judge.named_parameters())
                if (name.StartsWith("head.", StringComparison.Ordinal)) p.normal_(0, 1, gen); // a zero head scores everything 0.5: a vacuous judge
        using var scope = NewDisposeScope();
        var (batch, _) = core.SampleTrainingBatch([]);
        Assert.True(batch.Completions.Sum(c => Math.Max(0, c.Length - 1)) > 10, "the sample must have prefixes to roll out");
        var full = TrainerCore.ScoreNoGrad(judge, batch);
        int calls = 0;
        var seen = new List<SequenceBatch>();
        Tensor RewardOf(SequenceBatch b) { calls++; seen.Add(b); return TrainerCore.ScoreNoGrad(judge, b); }

        rollout.ReusePrefixCache = false;
        var recomputed = rollout.Returns(batch, full, RewardOf, reference: 0);
        var recomputedBatches = seen.ToList();
        seen.Clear();
        rollout.ReusePrefixCache = true;
        var cached = rollout.Returns(batch, full, RewardOf, reference: 0);

        // The same tokens were rolled out (so the same scores), not merely similar rewards.
        Assert.Equal(recomputedBatches.Count, seen.Count);
        for (int i = 0; i < seen.Count; i++)
            Assert.Equal(recomputedBatches[i].Completions.Select(c => string.Join(',', c)), seen[i].Completions.Select(c => string.Join(',', c)));
        Assert.True(cached.allclose(recomputed, 0, 0), $"max difference {(cached - recomputed).abs().max().item<float>()}");
        // Not a vacuous comparison: rewards vary across positions and rows.
        Assert.True(cached.std().item<float>() > 0);
        Assert.True(rollout.LastRolloutMs > 0);
    }
}
