using System.Diagnostics;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// REINFORCE (SeqGAN's policy gradient): loss = -mean_t (A_t log pi(y_t)) - entropy bonus, where
/// A_t = Q_t - baseline, optionally whitened, minus the KL penalty's reward-to-go
/// kl_coef * sum_{s>=t} (log pi - log pi_ref)(y_s). Q_t comes from the reward estimator: the sequence
/// reward (<see cref="SequenceReward"/>) or SeqGAN's rollouts (<see cref="RolloutReward"/>).
/// State: the moving-average baseline (baseline = ema).
/// </summary>
public sealed class ReinforceUpdate(TrainerCore core, IRewardScorer scorer, IRewardEstimator estimator, string name) : IGeneratorUpdate
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
        var batch = core.SampleTrainingBatch(metrics);
        sw.Restart();

        Tensor q, seqReward, refLogp;
        using (no_grad())
        {
            seqReward = AdversarialLosses.Reward(TrainerCore.ScoreNoGrad(scorer, batch), s.Reward);
            q = estimator.Returns(batch, seqReward, scorer);
            refLogp = core.ReferenceLogProbs(batch);
        }
        metrics["time/score"] = sw.Elapsed.TotalMilliseconds;
        sw.Restart();

        var mask = batch.CompletionMask;
        var logits = PolicyMath.CompletionLogits(core.Policy.Forward(batch.Tokens, batch.AttentionMask), batch, s.SampleTemperature);
        var logp = PolicyMath.TokenLogProbs(logits, batch);
        var entropy = PolicyMath.TokenEntropy(logits);
        Tensor advantage;
        double klCoef = s.KlCoef;
        using (no_grad())
        {
            double mean = PolicyMath.MaskedMean(q, mask).item<float>();
            double baseline = s.Baseline switch
            {
                BaselineKind.Batch => mean,
                BaselineKind.Ema => double.IsNaN(BaselineEma) ? mean : BaselineEma,
                _ => 0.0,
            };
            // Per-position batch baseline for rollout rewards (each position has its own scale).
            advantage = s.Baseline == BaselineKind.Batch && estimator.PerPosition
                ? (q - (q * mask).sum(0, keepdim: true) / mask.sum(0, keepdim: true).clamp_min(1)) * mask
                : (q - baseline) * mask;
            if (s.Baseline == BaselineKind.Ema)
                BaselineEma = double.IsNaN(BaselineEma) ? mean : s.BaselineDecay * BaselineEma + (1 - s.BaselineDecay) * mean;
            if (s.WhitenRewards) advantage = PolicyMath.Whiten(advantage, mask);
            var kl = (logp.detach() - refLogp) * mask;
            if (klCoef > 0) advantage = advantage - klCoef * PolicyMath.RewardToGo(kl, mask);
            metrics["objective/kl"] = kl.sum(1).mean().item<float>();
        }
        var loss = -PolicyMath.MaskedMean(advantage * logp, mask) - s.EntropyCoef * PolicyMath.MaskedMean(entropy, mask);
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

    public IEnumerable<KeyValuePair<string, double>> StateMetrics() => [];

    public IReadOnlyDictionary<string, double> SaveState() => new Dictionary<string, double> { [BaselineKey] = BaselineEma };

    public void RestoreState(IReadOnlyDictionary<string, double> state, RunSettings savedWith) =>
        BaselineEma = state.GetValueOrDefault(BaselineKey, double.NaN);

    public void SettingChanged(string key, RunSettings before) { }

    public void Dispose() => estimator.Dispose();
}
