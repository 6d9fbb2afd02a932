using RlGaf.Engine.Tasks;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// How an update (and the evaluator) turns its scorer's logits into rewards, per discriminator loss
/// (docs/metrics.md, "Scores and rewards per discriminator loss"). A BCE discriminator or a reward
/// model scores absolutely: z = s. A relativistic (RSGAN) discriminator only learns s_real - s_fake,
/// so z = s - the mean score of real completions of the same prompts; the reward is then
/// <see cref="RewardKind"/> of z.
/// </summary>
public sealed class RewardFunction(TrainerCore core, IRewardScorer scorer, DiscriminatorLossKind kind)
{
    public IRewardScorer Scorer => scorer;
    /// <summary>How the scores are read: Bce (absolute) or Rsgan (relative to real texts).</summary>
    public DiscriminatorLossKind Kind => kind;

    /// <summary>The reference a relative score is taken against: the mean score of <paramref name="reals"/> (RSGAN), else 0.</summary>
    public double Reference(IReadOnlyList<TaskExample> reals)
    {
        if (kind == DiscriminatorLossKind.Bce) return 0;
        using var scope = NewDisposeScope();
        return TrainerCore.ScoreNoGrad(scorer, core.RealBatch(reals)).mean().item<float>();
    }

    /// <summary>The relative scores z [B] of a batch, without gradient.</summary>
    public Tensor Relative(SequenceBatch batch, double reference) =>
        AdversarialLosses.Relative(TrainerCore.ScoreNoGrad(scorer, batch), reference, kind);

    /// <summary>The rewards [B] of a batch: the reward kind in force applied to the relative scores.</summary>
    public Tensor Rewards(SequenceBatch batch, double reference) =>
        AdversarialLosses.Reward(Relative(batch, reference), core.Settings.Reward);
}
