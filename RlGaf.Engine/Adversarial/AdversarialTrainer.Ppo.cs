using System.Diagnostics;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Tasks;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

public sealed partial class AdversarialTrainer
{
    /// <summary>
    /// PPO as in InstructGPT / TRL: per-token reward -kl_coef (log pi_old - log pi_ref), plus the
    /// score on the last token; values from a head on the policy; GAE; whitened advantages; for
    /// ppo_epochs x ppo_minibatches: clipped ratio loss and clipped value loss (vf_coef); a minibatch
    /// whose mean ratio exceeds 10 is skipped (TRL's ratio_threshold). Then the adaptive KL controller.
    /// </summary>
    private void PpoStep(Dictionary<string, double> metrics, IRewardScorer scorer)
    {
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        var batch = SampleTrainingBatch(metrics);
        sw.Restart();

        var mask = batch.CompletionMask;
        Tensor oldLogp, oldValues, refLogp, score, advantages, returns, kl;
        using (no_grad())
        {
            score = AdversarialLosses.Reward(ScoreNoGrad(scorer, batch), Settings.Reward);
            Policy.eval();
            var hidden = Policy.ForwardHidden(batch.Tokens, batch.AttentionMask);
            oldLogp = PolicyMath.TokenLogProbs(PolicyMath.CompletionLogits(Policy.Logits(hidden), batch, Settings.SampleTemperature), batch);
            oldValues = CompletionValues(hidden, batch);
            refLogp = PolicyMath.TokenLogProbs(PolicyMath.CompletionLogits(Reference.Forward(batch.Tokens, batch.AttentionMask), batch, Settings.SampleTemperature), batch);
            Policy.train();
            kl = (oldLogp - refLogp) * mask;
            var rewards = -KlCoef * kl;
            var lastCol = (mask.sum(1) - 1).clamp_min(0).to_type(ScalarType.Int64).unsqueeze(1);
            rewards = rewards.scatter_add(1, lastCol, score.unsqueeze(1));
            (advantages, returns) = PolicyMath.Gae(rewards, oldValues, mask, Settings.Gamma, Settings.Lambda);
            advantages = PolicyMath.Whiten(advantages, mask);
        }
        metrics["time/score"] = sw.Elapsed.TotalMilliseconds;
        sw.Restart();

        int b = batch.Count, mbs = Settings.PpoMinibatches, size = (b + mbs - 1) / mbs;
        var rng = new SplitMix64(SeedFor(Step, Purpose.PpoShuffle));
        double sumPg = 0, sumVf = 0, sumClip = 0, sumApprox = 0, sumEntropy = 0, sumNorm = 0;
        int updates = 0, skipped = 0;
        for (int epoch = 0; epoch < Settings.PpoEpochs; epoch++)
        {
            var order = Enumerable.Range(0, b).ToArray();
            for (int i = b - 1; i > 0; i--) { int j = (int)(rng.NextUInt64() % (ulong)(i + 1)); (order[i], order[j]) = (order[j], order[i]); }
            for (int start = 0; start < b; start += size)
            {
                using var mbScope = NewDisposeScope();
                var idx = tensor(order.Skip(start).Take(size).Select(i => (long)i).ToArray(), device: _device);
                var tokens = batch.Tokens.index_select(0, idx);
                var attn = batch.AttentionMask.index_select(0, idx);
                var m = mask.index_select(0, idx);
                var hidden = Policy.ForwardHidden(tokens, attn);
                var logits = PolicyMath.CompletionLogits(Policy.Logits(hidden), batch, Settings.SampleTemperature);
                var logp = logits.log_softmax(-1).gather(-1, tokens.narrow(1, batch.PromptWidth, batch.CompletionWidth).unsqueeze(-1)).squeeze(-1);
                var values = ValueHead!.forward(hidden.narrow(1, batch.PromptWidth - 1, batch.CompletionWidth)).squeeze(-1);
                var adv = advantages.index_select(0, idx);
                var ret = returns.index_select(0, idx);
                var oldV = oldValues.index_select(0, idx);
                var logRatio = (logp - oldLogp.index_select(0, idx)) * m;
                var ratio = logRatio.exp();
                double meanRatio = PolicyMath.MaskedMean(ratio, m).item<float>();
                if (meanRatio > 10) { skipped++; continue; }
                var pg = PolicyMath.MaskedMean(maximum(-adv * ratio, -adv * ratio.clamp(1 - Settings.ClipRange, 1 + Settings.ClipRange)), m);
                var vClipped = oldV + (values - oldV).clamp(-Settings.ValueClipRange, Settings.ValueClipRange);
                var vf = 0.5 * PolicyMath.MaskedMean(maximum((values - ret).square(), (vClipped - ret).square()), m);
                var loss = pg + Settings.VfCoef * vf;
                sumNorm += ApplyGenerator(loss, Settings.Method.ToString());
                sumPg += pg.item<float>();
                sumVf += vf.item<float>();
                sumClip += PolicyMath.MaskedMean((ratio - 1).abs().gt(Settings.ClipRange).to_type(ScalarType.Float32), m).item<float>();
                sumApprox += 0.5 * PolicyMath.MaskedMean(logRatio.square(), m).item<float>();
                sumEntropy += PolicyMath.MaskedMean(PolicyMath.TokenEntropy(logits.detach()), m).item<float>();
                updates++;
            }
        }
        metrics["time/gen_update"] = sw.Elapsed.TotalMilliseconds;

        double klMean = kl.sum(1).mean().item<float>();
        if (Settings.AdaptiveKl)
        {
            // Ziegler et al.: e = clip(KL / target - 1, -0.2, 0.2); beta <- beta (1 + e n / horizon).
            double e = Math.Clamp(klMean / Settings.KlTarget - 1, -0.2, 0.2);
            KlCoef *= 1 + e * b / Settings.KlHorizon;
        }
        int u = Math.Max(1, updates);
        metrics["gen/loss"] = (sumPg + Settings.VfCoef * sumVf) / u;
        metrics["gen/grad_norm"] = sumNorm / u;
        metrics["ppo/policy_loss"] = sumPg / u;
        metrics["ppo/value_loss"] = sumVf / u;
        metrics["ppo/clipfrac"] = sumClip / u;
        metrics["ppo/approx_kl"] = sumApprox / u;
        metrics["ppo/kl_coef"] = KlCoef;
        metrics["ppo/skipped_minibatches"] = skipped;
        metrics["objective/kl"] = klMean;
        metrics["objective/kl_coef"] = KlCoef;
        metrics["objective/entropy"] = sumEntropy / u;
        metrics["reward/mean"] = score.mean().item<float>();
        metrics["reward/std"] = score.std().item<float>();
        metrics["tokens/completion_len"] = mask.sum(1).mean().item<float>();
    }

    /// <summary>Value estimates [B, L] for the states before each completion token.</summary>
    private Tensor CompletionValues(Tensor hidden, SequenceBatch batch) =>
        ValueHead!.forward(hidden.narrow(1, batch.PromptWidth - 1, batch.CompletionWidth)).squeeze(-1);
}
