using System.Diagnostics;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

public sealed partial class AdversarialTrainer
{
    /// <summary>Supervised fine-tuning on real completions: the paper's SFT baseline.</summary>
    private void SftStep(Dictionary<string, double> metrics)
    {
        using var scope = NewDisposeScope();
        var batch = RealBatch(RealExamples(Step, Purpose.Prompts));
        var logits = PolicyMath.CompletionLogits(Policy.Forward(batch.Tokens, batch.AttentionMask), batch);
        var loss = -PolicyMath.MaskedMean(PolicyMath.TokenLogProbs(logits, batch), batch.CompletionMask);
        metrics["gen/grad_norm"] = ApplyGenerator(loss, "sft");
        metrics["gen/loss"] = loss.item<float>();
    }

    /// <summary>
    /// REINFORCE (SeqGAN's policy gradient): loss = -mean_t (A_t log pi(y_t)) - entropy bonus, where
    /// A_t = Q_t - baseline, optionally whitened, minus the KL penalty's reward-to-go
    /// kl_coef * sum_{s>=t} (log pi - log pi_ref)(y_s). Q_t is the sequence reward, or with rollouts
    /// the Monte-Carlo estimate of the reward of completing from y_1..t.
    /// </summary>
    private void ReinforceStep(Dictionary<string, double> metrics, IRewardScorer scorer)
    {
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        var batch = SampleTrainingBatch(metrics);
        sw.Restart();

        Tensor q, seqReward, refLogp;
        using (no_grad())
        {
            seqReward = AdversarialLosses.Reward(ScoreNoGrad(scorer, batch), Settings.Reward);
            q = RolloutPolicy is not null
                ? RolloutRewards(batch, scorer)
                : seqReward.unsqueeze(1).expand(-1, batch.CompletionWidth) * batch.CompletionMask;
            refLogp = PolicyMath.TokenLogProbs(PolicyMath.CompletionLogits(Reference.Forward(batch.Tokens, batch.AttentionMask), batch, Settings.SampleTemperature), batch);
        }
        metrics["time/score"] = sw.Elapsed.TotalMilliseconds;
        sw.Restart();

        var mask = batch.CompletionMask;
        var logits = PolicyMath.CompletionLogits(Policy.Forward(batch.Tokens, batch.AttentionMask), batch, Settings.SampleTemperature);
        var logp = PolicyMath.TokenLogProbs(logits, batch);
        var entropy = PolicyMath.TokenEntropy(logits);
        Tensor advantage;
        using (no_grad())
        {
            double mean = PolicyMath.MaskedMean(q, mask).item<float>();
            double baseline = Settings.Baseline switch
            {
                BaselineKind.Batch => mean,
                BaselineKind.Ema => double.IsNaN(BaselineEma) ? mean : BaselineEma,
                _ => 0.0,
            };
            // Per-position batch baseline for rollout rewards (each position has its own scale).
            advantage = Settings.Baseline == BaselineKind.Batch && RolloutPolicy is not null
                ? (q - (q * mask).sum(0, keepdim: true) / mask.sum(0, keepdim: true).clamp_min(1)) * mask
                : (q - baseline) * mask;
            if (Settings.Baseline == BaselineKind.Ema)
                BaselineEma = double.IsNaN(BaselineEma) ? mean : Settings.BaselineDecay * BaselineEma + (1 - Settings.BaselineDecay) * mean;
            if (Settings.WhitenRewards) advantage = PolicyMath.Whiten(advantage, mask);
            var kl = (logp.detach() - refLogp) * mask;
            if (KlCoef > 0) advantage = advantage - KlCoef * PolicyMath.RewardToGo(kl, mask);
            metrics["objective/kl"] = kl.sum(1).mean().item<float>();
        }
        var loss = -PolicyMath.MaskedMean(advantage * logp, mask) - Settings.EntropyCoef * PolicyMath.MaskedMean(entropy, mask);
        metrics["gen/grad_norm"] = ApplyGenerator(loss, Settings.Method == TrainingMethod.SeqganRollout ? "seqgan-rollout" : "reinforce");
        metrics["time/gen_update"] = sw.Elapsed.TotalMilliseconds;
        metrics["gen/loss"] = loss.item<float>();
        metrics["reward/mean"] = seqReward.mean().item<float>();
        metrics["reward/std"] = seqReward.std().item<float>();
        metrics["objective/entropy"] = PolicyMath.MaskedMean(entropy.detach(), mask).item<float>();
        metrics["objective/kl_coef"] = KlCoef;
        metrics["tokens/completion_len"] = mask.sum(1).mean().item<float>();
    }

    /// <summary>
    /// SeqGAN's Monte-Carlo rewards: Q[i, t-1] = mean over N rollouts (by the lagged rollout policy)
    /// of the reward of completing y_1..t, for t below the row's length; at the last token, the reward
    /// of the whole sequence. All prefixes of all rows are rolled out together in large left-padded
    /// batches (a rollout from y_1..t may add at most max_new_tokens - t tokens; longer ones are cut).
    /// </summary>
    private Tensor RolloutRewards(SequenceBatch batch, IRewardScorer scorer)
    {
        int b = batch.Count, l = batch.CompletionWidth, n = Settings.Rollouts;
        var q = new float[b * l];
        var full = AdversarialLosses.Reward(ScoreNoGrad(scorer, batch), Settings.Reward).cpu().data<float>().ToArray();
        var jobs = new List<(int Row, int T)>();
        for (int r = 0; r < b; r++)
        {
            int len = batch.Completions[r].Length;
            if (len > 0) q[r * l + len - 1] = full[r];
            for (int t = 1; t < len; t++) jobs.Add((r, t));
        }
        const int chunk = 256; // prefixes per generation call (x N rollouts)
        for (int start = 0; start < jobs.Count; start += chunk)
        {
            using var scope = NewDisposeScope();
            var part = jobs.Skip(start).Take(chunk).ToList();
            var prefixes = part.SelectMany(j => Enumerable.Repeat<int[]>([.. batch.Prompts[j.Row], .. batch.Completions[j.Row][..j.T]], n)).ToList();
            var (rolled, _) = Generate(RolloutPolicy!, prefixes, Settings.SampleTemperature, SeedFor(Step, Purpose.Rollout, start), Settings.MaxNewTokens - 1);
            // Cut each rollout to its own budget so every prefix completes to at most max_new_tokens.
            var completions = rolled.Completions.Select((c, k) => c[..Math.Min(c.Length, Settings.MaxNewTokens - part[k / n].T)]).ToList();
            var cut = new SequenceBatch(prefixes, completions, _eot, _device);
            var scores = AdversarialLosses.Reward(ScoreNoGrad(scorer, cut), Settings.Reward).cpu().data<float>().ToArray();
            for (int k = 0; k < part.Count; k++)
            {
                float sum = 0;
                for (int m = 0; m < n; m++) sum += scores[k * n + m];
                q[part[k].Row * l + part[k].T - 1] = sum / n;
            }
        }
        return tensor(q, [b, l], device: _device);
    }

    /// <summary>SeqGAN's lagged rollout policy: beta &lt;- rate beta + (1 - rate) theta, embeddings copied outright.</summary>
    private void UpdateRolloutPolicy()
    {
        using var _ = no_grad();
        var theta = Policy.state_dict();
        double rate = Settings.RolloutUpdateRate;
        foreach (var (name, p) in RolloutPolicy!.named_parameters())
        {
            if (name.StartsWith("wte", StringComparison.Ordinal) || name.StartsWith("wpe", StringComparison.Ordinal)) p.copy_(theta[name]);
            else p.mul_(rate).add_(theta[name], alpha: 1 - rate);
        }
    }
}
