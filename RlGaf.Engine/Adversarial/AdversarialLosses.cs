using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace RlGaf.Engine.Adversarial;

/// <summary>Discriminator loss: standard GAN (binary cross-entropy) or relativistic standard (RSGAN, as in RelGAN).</summary>
public enum DiscriminatorLossKind { Bce, Rsgan }

/// <summary>How the discriminator's logit s on a generated pair becomes the generator's reward.</summary>
public enum RewardKind
{
    /// <summary>r = s (unbounded; SeqGAN-style with a logit reward).</summary>
    Logit,
    /// <summary>r = D = sigmoid(s), in (0, 1): SeqGAN's reward.</summary>
    Prob,
    /// <summary>r = -log(1 - D) = softplus(s): grows without bound as D approaches 1, does not vanish as D approaches 0 as fast as log D.</summary>
    NegLogOneMinusD,
}

/// <summary>The losses of the adversarial game, written once so every generator update agrees with the discriminator.</summary>
public static class AdversarialLosses
{
    /// <summary>
    /// Discriminator loss on paired real and fake logits [B]. BCE: -log D(real) - log(1 - D(fake)), with
    /// one-sided label smoothing (real target 1 - <paramref name="labelSmoothing"/>). RSGAN:
    /// -log sigmoid(s_real - s_fake) (RelGAN), smoothing applied to the same target.
    /// </summary>
    public static Tensor Discriminator(Tensor realLogits, Tensor fakeLogits, DiscriminatorLossKind kind, double labelSmoothing)
    {
        using var target = (1.0 - labelSmoothing).ToScalar();
        return kind switch
        {
            DiscriminatorLossKind.Bce =>
                F.binary_cross_entropy_with_logits(realLogits, full_like(realLogits, target)).Plus(
                F.binary_cross_entropy_with_logits(fakeLogits, zeros_like(fakeLogits))),
            DiscriminatorLossKind.Rsgan =>
                F.binary_cross_entropy_with_logits(realLogits - fakeLogits, full_like(realLogits, target)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    /// <summary>
    /// Generator's adversarial loss for the differentiable (Gumbel) path. BCE: the non-saturating
    /// -log D(fake). RSGAN: -log sigmoid(s_fake - s_real), the real logits treated as constants.
    /// </summary>
    public static Tensor Generator(Tensor fakeLogits, Tensor realLogits, DiscriminatorLossKind kind) => kind switch
    {
        DiscriminatorLossKind.Bce => F.binary_cross_entropy_with_logits(fakeLogits, ones_like(fakeLogits)),
        DiscriminatorLossKind.Rsgan => F.binary_cross_entropy_with_logits(fakeLogits - realLogits.detach(), ones_like(fakeLogits)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Share of pairs the discriminator gets right: BCE by the sign of each logit; RSGAN by real above fake.</summary>
    public static double Accuracy(Tensor realLogits, Tensor fakeLogits, DiscriminatorLossKind kind)
    {
        using var _ = NewDisposeScope();
        return kind == DiscriminatorLossKind.Bce
            ? realLogits.gt(Scalars.IntZero).to_type(ScalarType.Float32).mean().Plus(fakeLogits.lt(Scalars.IntZero).to_type(ScalarType.Float32).mean()).item<float>() / 2
            : realLogits.gt(fakeLogits).to_type(ScalarType.Float32).mean().item<float>();
    }

    /// <summary>
    /// The mean scores of paired real and generated logits [B] as disc/real_score and disc/fake_score
    /// report them: BCE, mean sigmoid(s) of each; RSGAN, whose logits mean something only relative to
    /// each other, mean sigmoid(s_real - s_fake) and mean sigmoid(s_fake - s_real) (they add up to 1).
    /// </summary>
    public static (double Real, double Fake) Scores(Tensor realLogits, Tensor fakeLogits, DiscriminatorLossKind kind)
    {
        using var _ = NewDisposeScope();
        return kind == DiscriminatorLossKind.Bce
            ? (realLogits.sigmoid().mean().item<float>(), fakeLogits.sigmoid().mean().item<float>())
            : ((realLogits - fakeLogits).sigmoid().mean().item<float>(), (fakeLogits - realLogits).sigmoid().mean().item<float>());
    }

    /// <summary>
    /// The relative score z of generated texts' logits [B] (docs/metrics.md): BCE, the logit itself;
    /// RSGAN, the logit minus the mean logit of real texts for the same prompts.
    /// </summary>
    public static Tensor Relative(Tensor fakeLogits, double realMean, DiscriminatorLossKind kind)
    {
        if (kind == DiscriminatorLossKind.Bce) return fakeLogits;
        using var mean = realMean.ToScalar();
        return fakeLogits.sub(mean);
    }

    /// <summary>Turns (relative) discriminator logits into rewards.</summary>
    public static Tensor Reward(Tensor logits, RewardKind kind) => kind switch
    {
        RewardKind.Logit => logits,
        RewardKind.Prob => logits.sigmoid(),
        RewardKind.NegLogOneMinusD => ScalarSafe.Softplus(logits),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
