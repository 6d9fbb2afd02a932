using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// REINFORCE's Q_t: the return credited to each completion token. The plain estimator credits every
/// token with the sequence's reward; SeqGAN's rollout estimator gives each prefix its own Monte-Carlo value; ScratchGAN's per-token
/// estimator scores every prefix in one discriminator pass.
/// </summary>
public interface IRewardEstimator : IDisposable
{
    /// <summary>True when Q differs by position (then a batch baseline is taken per position).</summary>
    bool PerPosition { get; }

    /// <summary>Modules the estimator owns that a checkpoint stores.</summary>
    IEnumerable<(string File, nn.Module Module)> Modules { get; }

    /// <summary>
    /// Q [B, L] (zero on padding) given the sequence rewards [B] of <paramref name="batch"/>, the reward of
    /// any batch, and the real-score reference relative scores are taken against (RSGAN). No gradient.
    /// </summary>
    Tensor Returns(SequenceBatch batch, Tensor sequenceReward, Func<SequenceBatch, Tensor> rewardOf, double reference);

    /// <summary>After a generator update was applied (SeqGAN's lagged rollout policy follows the policy).</summary>
    void AfterUpdate();
}

/// <summary>One reward per sequence, credited to every completion token.</summary>
public sealed class SequenceReward : IRewardEstimator
{
    public bool PerPosition => false;
    public IEnumerable<(string File, nn.Module Module)> Modules => [];

    public Tensor Returns(SequenceBatch batch, Tensor sequenceReward, Func<SequenceBatch, Tensor> rewardOf, double reference) =>
        sequenceReward.unsqueeze(1).expand(-1, batch.CompletionWidth) * batch.CompletionMask;

    public void AfterUpdate() { }
    public void Dispose() { }
}
