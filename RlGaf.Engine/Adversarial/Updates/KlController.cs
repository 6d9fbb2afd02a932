using RlGaf.Engine.Runs;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// PPO's KL coefficient: kl_coef, fixed, or moved by Ziegler et al.'s adaptive controller
/// (adaptive_kl): e = clip(KL / kl_target - 1, -0.2, 0.2); beta &lt;- beta (1 + e n / kl_horizon).
/// A live change of kl_coef restarts it from the new value.
/// </summary>
public sealed class KlController(double initial)
{
    internal const string Key = "kl_coef";

    /// <summary>The coefficient in force.</summary>
    public double Value { get; private set; } = initial;

    /// <summary>After a batch of <paramref name="batchSize"/> sequences with mean KL <paramref name="klMean"/> (nats per sequence).</summary>
    public void Observe(double klMean, int batchSize, RunSettings s)
    {
        if (!s.AdaptiveKl) return;
        double e = Math.Clamp(klMean / s.KlTarget - 1, -0.2, 0.2);
        Value *= 1 + e * batchSize / s.KlHorizon;
    }

    public void Reset(double value) => Value = value;

    /// <summary>The saved value, unless kl_coef in force differs from the one it was saved under (a live change wins).</summary>
    public void Restore(double saved, RunSettings savedWith, RunSettings now) =>
        Value = now.KlCoef == savedWith.KlCoef ? saved : now.KlCoef;
}
