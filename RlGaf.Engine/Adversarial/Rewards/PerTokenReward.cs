using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// ScratchGAN's dense rewards (de Masson d'Autume et al. 2019): the causal discriminator scores every
/// completion prefix in one pass (<see cref="Discriminator.ScorePrefixes"/>); each prefix's relative
/// score z_t (docs/metrics.md) becomes r_t = 2 sigmoid(z_t) - 1 with reward = prob (ScratchGAN's 2D - 1),
/// else the reward kind of z_t; Q_t = sum_{s &gt;= t} gamma^(s-t) r_s. One discriminator pass instead of
/// SeqGAN's rollouts.
/// </summary>
public sealed class PerTokenReward(TrainerCore core, Discriminator disc, DiscriminatorLossKind kind) : IRewardEstimator
{
    public bool PerPosition => true;
    public IEnumerable<(string File, nn.Module Module)> Modules => [];

    /// <summary>The per-token rewards r [B, L] (zero on padding), no gradient.</summary>
    public Tensor TokenRewards(SequenceBatch batch, double reference)
    {
        using var _ = no_grad();
        bool was = disc.training;
        disc.eval();
        var z = AdversarialLosses.Relative(disc.ScorePrefixes(batch), reference, kind);
        disc.train(was);
        // Held scalars (Runtime/Scalars.cs): an implicit temporary may be finalized while the op reads it.
        using var two = 2.0.ToScalar();
        using var one = 1.0.ToScalar();
        var r = core.Settings.Reward == RewardKind.Prob ? z.sigmoid().mul(two).sub(one) : AdversarialLosses.Reward(z, core.Settings.Reward);
        return r * batch.CompletionMask;
    }

    public Tensor Returns(SequenceBatch batch, Tensor sequenceReward, Func<SequenceBatch, Tensor> rewardOf, double reference) =>
        DiscountedReturns(TokenRewards(batch, reference), batch.CompletionMask, core.Settings.Gamma);

    /// <summary>Q_t = r_t + gamma Q_(t+1) over masked positions, [B, L].</summary>
    public static Tensor DiscountedReturns(Tensor rewards, Tensor mask, double gamma)
    {
        long l = rewards.shape[1];
        using var g = gamma.ToScalar();
        var columns = new Tensor[l];
        var next = zeros_like(rewards.select(1, 0));
        for (long t = l - 1; t >= 0; t--)
        {
            next = rewards.select(1, t).Plus(next.mul(g)) * mask.select(1, t);
            columns[t] = next;
        }
        return stack(columns, 1);
    }

    public void AfterUpdate() { }
    public void Dispose() { }
}
