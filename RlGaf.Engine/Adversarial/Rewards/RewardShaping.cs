using RlGaf.Engine.Runtime;
using RlGaf.Engine.Runs;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// What REINFORCE and PPO do to the step's sequence rewards [B] before using them: clip to
/// [-reward_clip, reward_clip] (0 = off), then, with reward_norm, standardise to zero mean and unit
/// variance over the batch (biased variance, as TRL's whiten). No gradient.
/// </summary>
public static class RewardShaping
{
    public static Tensor Apply(Tensor rewards, RunSettings s)
    {
        if (s.RewardClip > 0)
        {
            using var lo = (-s.RewardClip).ToScalar();
            using var hi = s.RewardClip.ToScalar();
            rewards = rewards.clamp(lo, hi);
        }
        if (s.RewardNorm)
        {
            var mean = rewards.mean();
            rewards = (rewards - mean) * (rewards - mean).Squared().mean().Plus(1e-8).rsqrt();
        }
        return rewards;
    }
}
