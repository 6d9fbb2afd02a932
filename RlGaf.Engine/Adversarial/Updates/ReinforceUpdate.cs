using RlGaf.Engine.Runtime;
using System.Diagnostics;
using RlGaf.Engine.Runs;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// REINFORCE (SeqGAN's policy gradient): loss = -mean_t (A_t log pi(y_t)) - entropy bonus. The return
/// G_t = Q_t - kl_coef * sum_{s>=t} (log pi - log pi_ref)(y_s) carries the KL penalty in raw reward
/// units, as PPO's per-token reward does; A_t = G_t - baseline, then, with whiten_rewards, rescaled to
/// unit variance around its mean (TRL's whiten with shift_mean = false), so the baseline keeps its
/// effect. Q_t comes from the reward estimator: the sequence reward (<see cref="SequenceReward"/>) or
/// SeqGAN's rollouts (<see cref="RolloutReward"/>).
/// With baseline = rloo, each row's baseline is the mean return of the other completions of its prompt
/// (group_size per prompt). State: the moving-average baseline (baseline = ema).
/// </summary>
public sealed class ReinforceUpdate(TrainerCore core, RewardFunction reward, IRewardEstimator estimator, string name) : IGeneratorUpdate
{
    private const string BaselineKey = "baseline_ema";

    public string Name => name;
    /// <summary>REINFORCE's moving-average baseline (NaN until the first batch).</summary>
    public double BaselineEma { get; private set; } = double.NaN;
    public IRewardEstimator Estimator => estimator;
    public IEnumerable<Parameter> ExtraParameters => [];
    public IEnumerable<(string File, nn.Module Module)> Modules => estimator.Modules;

    public void Step(Dictionary<string, double> metrics)
    {
        var s = core.Settings;
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        var (batch, reals) = core.SampleTrainingBatch(metrics);
        sw.Restart();

        Tensor q, seqReward, refLogp;
        using (no_grad())
        {
            double reference = reward.Reference(reals);
            seqReward = RewardShaping.Apply(reward.Rewards(batch, reference), s);
            q = estimator.Returns(batch, seqReward, b => reward.Rewards(b, reference), reference);
            refLogp = core.ReferenceLogProbs(batch);
        }
        metrics["time/score"] = sw.Elapsed.TotalMilliseconds;
        if (estimator is RolloutReward rollouts) metrics["time/rollouts"] = rollouts.LastRolloutMs; // part of time/score
        sw.Restart();

        var mask = batch.CompletionMask;
        var terms = PolicyMath.CompletionTerms(core.Policy, batch, s.SampleTemperature, entropy: true);
        var logp = terms.LogProbs;
        var entropy = terms.Entropy!;
        Tensor advantage;
        double klCoef = s.KlCoef;
        using (no_grad())
        {
            var kl = (logp.detach() - refLogp) * mask;
            metrics["objective/kl"] = kl.sum(1).mean().item<float>();
            double ema = BaselineEma;
            advantage = Advantages(q, kl, mask, s, estimator.PerPosition, ref ema);
            BaselineEma = ema;
        }
        using var entropyCoef = s.EntropyCoef.ToScalar();
        var loss = -PolicyMath.MaskedMean(advantage * logp, mask) - PolicyMath.MaskedMean(entropy, mask).mul(entropyCoef);
        metrics["gen/grad_norm"] = core.ApplyGenerator(loss, Name);
        metrics["time/gen_update"] = sw.Elapsed.TotalMilliseconds;
        metrics["gen/loss"] = loss.item<float>();
        metrics["reward/mean"] = seqReward.mean().item<float>();
        metrics["reward/std"] = seqReward.std().item<float>();
        metrics["objective/entropy"] = PolicyMath.MaskedMean(entropy.detach(), mask).item<float>();
        metrics["objective/kl_coef"] = klCoef;
        metrics["tokens/completion_len"] = mask.sum(1).mean().item<float>();
        estimator.AfterUpdate();
    }

    /// <summary>
    /// REINFORCE's advantages [B, L] from the returns Q and the per-token KL: G = Q - kl_coef x
    /// reward-to-go(KL) (raw reward units, as PPO's per-token penalty), minus the baseline (batch mean,
    /// per position when Q is; the moving average <paramref name="ema"/>, which it updates; or none),
    /// then, with whiten_rewards, rescaled to unit variance keeping the mean. No gradient.
    /// </summary>
    internal static Tensor Advantages(Tensor q, Tensor kl, Tensor mask, RunSettings s, bool perPosition, ref double ema)
    {
        if (s.KlCoef > 0)
        {
            using var beta = s.KlCoef.ToScalar();
            q = q - PolicyMath.RewardToGo(kl, mask).mul(beta);
        }
        double mean = PolicyMath.MaskedMean(q, mask).item<float>();
        if (s.Baseline == BaselineKind.Rloo) return Finish(LeaveOneOut(q, s.GroupSize) * mask, mask, s);
        double baseline = s.Baseline switch
        {
            BaselineKind.Batch => mean,
            BaselineKind.Ema => double.IsNaN(ema) ? mean : ema,
            _ => 0.0,
        };
        using var held = baseline.ToScalar(); // held (Runtime/Scalars.cs)
        // Per-position batch baseline for rollout rewards (each position has its own scale).
        var advantage = s.Baseline == BaselineKind.Batch && perPosition
            ? (q - (q * mask).sum(0, keepdim: true) / mask.sum(0, keepdim: true).clamp_min(Scalars.IntOne)) * mask
            : (q - held) * mask;
        if (s.Baseline == BaselineKind.Ema)
            ema = double.IsNaN(ema) ? mean : s.BaselineDecay * ema + (1 - s.BaselineDecay) * mean;
        return Finish(advantage, mask, s);
    }

    private static Tensor Finish(Tensor advantage, Tensor mask, RunSettings s) =>
        s.WhitenRewards ? PolicyMath.Whiten(advantage, mask, shiftMean: false) : advantage;

    /// <summary>
    /// RLOO (Kool et al. 2019; Ahmadian et al. 2024): rows come in consecutive groups of
    /// <paramref name="k"/> completions of one prompt; each row's baseline is the mean whole-sequence
    /// return G_0 (its first position: reward minus the KL of the whole sequence) of the other k - 1 rows of its group.
    /// </summary>
    internal static Tensor LeaveOneOut(Tensor q, int k)
    {
        var g0 = q.select(1, 0);
        var groupSum = g0.view(-1, k).sum(1, keepdim: true).expand(-1, k).reshape(-1);
        using var others = (1.0 / (k - 1)).ToScalar();
        return q - (groupSum - g0).mul(others).unsqueeze(1);
    }

    public IEnumerable<KeyValuePair<string, double>> StateMetrics() => [];

    public IReadOnlyDictionary<string, double> SaveState() => new Dictionary<string, double> { [BaselineKey] = BaselineEma };

    public void RestoreState(IReadOnlyDictionary<string, double> state, RunSettings savedWith) =>
        BaselineEma = state.GetValueOrDefault(BaselineKey, double.NaN);

    public void SettingChanged(string key, RunSettings before) { }

    public void Dispose() => estimator.Dispose();
}
