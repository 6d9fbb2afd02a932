using System.Diagnostics;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Runtime;
using RlGaf.Engine.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// PPO as in InstructGPT / TRL: per-token reward -kl_coef (log pi_old - log pi_ref), plus the
/// score on the last token; values from a head on the policy; GAE; whitened advantages; for
/// ppo_epochs x ppo_minibatches: clipped ratio loss and clipped value loss (vf_coef); a minibatch
/// whose mean ratio exceeds 10 is skipped (TRL's ratio_threshold). Then the KL controller.
/// State: the value head (weights in the checkpoint) and the KL coefficient.
/// </summary>
public sealed class PpoUpdate : IGeneratorUpdate
{
    /// <summary>Checkpoint file of the value head.</summary>
    public const string ValueHeadFile = "value_head.safetensors";

    private readonly TrainerCore _core;
    private readonly RewardFunction _reward;

    /// <summary>The value head on the policy's hidden states.</summary>
    public Linear ValueHead { get; }
    public KlController Kl { get; }

    public PpoUpdate(TrainerCore core, RewardFunction reward, Gpt2Config config)
    {
        _core = core;
        _reward = reward;
        Kl = new KlController(core.Settings.KlCoef);
        ValueHead = nn.Linear(config.NEmbd, 1);
        ValueHead.to(core.Device);
        using (no_grad())
        {
            using var gen = core.GeneratorFor(0, Purpose.Init);
            ValueHead.weight!.normal_(0, 1.0 / Math.Sqrt(config.NEmbd + 1), gen);
            ValueHead.bias!.zero_();
        }
    }

    public string Name => _core.Settings.Method.ToString();
    public IEnumerable<Parameter> ExtraParameters => ValueHead.parameters();
    public IEnumerable<(string File, nn.Module Module)> Modules => [(ValueHeadFile, ValueHead)];

    public void Step(Dictionary<string, double> metrics)
    {
        var s = _core.Settings;
        var policy = _core.Policy;
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        var (batch, reals) = _core.SampleTrainingBatch(metrics);
        sw.Restart();

        var mask = batch.CompletionMask;
        double klCoef = Kl.Value;
        // Held scalars (Runtime/Scalars.cs): an implicit temporary may be finalized while the op reads it.
        using var negKl = (-klCoef).ToScalar();
        using var clipLo = (1 - s.ClipRange).ToScalar();
        using var clipHi = (1 + s.ClipRange).ToScalar();
        using var clip = s.ClipRange.ToScalar();
        using var vClipLo = (-s.ValueClipRange).ToScalar();
        using var vClipHi = s.ValueClipRange.ToScalar();
        using var vfCoef = s.VfCoef.ToScalar();
        Tensor oldLogp, oldValues, score, advantages, returns, kl;
        using (no_grad())
        {
            score = RewardShaping.Apply(_reward.Rewards(batch, _reward.Reference(reals)), s);
            var hidden = policy.ForwardHidden(batch.Tokens, batch.AttentionMask);
            oldLogp = PolicyMath.CompletionTerms(policy, batch, s.SampleTemperature, hidden: hidden).LogProbs;
            oldValues = CompletionValues(hidden, batch);
            var refLogp = _core.ReferenceLogProbs(batch);
            kl = (oldLogp - refLogp) * mask;
            var rewards = kl.mul(negKl);
            var lastCol = mask.sum(1).sub(Scalars.IntOne).clamp_min(Scalars.IntZero).to_type(ScalarType.Int64).unsqueeze(1);
            rewards = rewards.scatter_add(1, lastCol, score.unsqueeze(1));
            (advantages, returns) = PolicyMath.Gae(rewards, oldValues, mask, s.Gamma, s.Lambda);
            advantages = PolicyMath.Whiten(advantages, mask);
        }
        metrics["time/score"] = sw.Elapsed.TotalMilliseconds;
        sw.Restart();

        int b = batch.Count, mbs = s.PpoMinibatches, size = (b + mbs - 1) / mbs;
        var rng = new SplitMix64(_core.SeedFor(_core.Step, Purpose.PpoShuffle));
        double sumPg = 0, sumVf = 0, sumClip = 0, sumApprox = 0, sumEntropy = 0, sumNorm = 0;
        int updates = 0, skipped = 0;
        for (int epoch = 0; epoch < s.PpoEpochs; epoch++)
        {
            var order = Enumerable.Range(0, b).ToArray();
            for (int i = b - 1; i > 0; i--) { int j = (int)(rng.NextUInt64() % (ulong)(i + 1)); (order[i], order[j]) = (order[j], order[i]); }
            for (int start = 0; start < b; start += size)
            {
                using var mbScope = NewDisposeScope();
                var idx = tensor(order.Skip(start).Take(size).Select(i => (long)i).ToArray(), device: _core.Device);
                var tokens = batch.Tokens.index_select(0, idx);
                var attn = batch.AttentionMask.index_select(0, idx);
                var m = mask.index_select(0, idx);
                var hidden = policy.ForwardHidden(tokens, attn);
                // Entropy rides along for the metric; its gradient is skipped (nothing in the loss reads it).
                var terms = ChunkedHead.Compute(PolicyMath.CompletionHidden(hidden, batch), policy.TokenEmbedding,
                    tokens.narrow(1, batch.PromptWidth, batch.CompletionWidth), s.SampleTemperature, entropy: true);
                var logp = terms.LogProbs;
                var values = CompletionValues(hidden, batch);
                var adv = advantages.index_select(0, idx);
                var ret = returns.index_select(0, idx);
                var oldV = oldValues.index_select(0, idx);
                var logRatio = (logp - oldLogp.index_select(0, idx)) * m;
                var ratio = logRatio.exp();
                double meanRatio = PolicyMath.MaskedMean(ratio, m).item<float>();
                if (meanRatio > 10) { skipped++; continue; }
                var pg = PolicyMath.MaskedMean(maximum(-adv * ratio, -adv * ratio.clamp(clipLo, clipHi)), m);
                var vClipped = oldV.Plus((values - oldV).clamp(vClipLo, vClipHi));
                var vf = PolicyMath.MaskedMean(maximum((values - ret).Squared(), (vClipped - ret).Squared()), m).mul(Scalars.Half);
                var loss = pg.Plus(vf.mul(vfCoef));
                sumNorm += _core.ApplyGenerator(loss, Name);
                sumPg += pg.item<float>();
                sumVf += vf.item<float>();
                sumClip += PolicyMath.MaskedMean((ratio - Scalars.One).abs().gt(clip).to_type(ScalarType.Float32), m).item<float>();
                sumApprox += 0.5 * PolicyMath.MaskedMean(logRatio.Squared(), m).item<float>();
                sumEntropy += PolicyMath.MaskedMean(terms.Entropy!.detach(), m).item<float>();
                updates++;
            }
        }
        metrics["time/gen_update"] = sw.Elapsed.TotalMilliseconds;

        double klMean = kl.sum(1).mean().item<float>();
        Kl.Observe(klMean, b, s);
        int u = Math.Max(1, updates);
        metrics["gen/loss"] = (sumPg + s.VfCoef * sumVf) / u;
        metrics["gen/grad_norm"] = sumNorm / u;
        metrics["ppo/policy_loss"] = sumPg / u;
        metrics["ppo/value_loss"] = sumVf / u;
        metrics["ppo/clipfrac"] = sumClip / u;
        metrics["ppo/approx_kl"] = sumApprox / u;
        metrics["ppo/kl_coef"] = Kl.Value;
        metrics["ppo/skipped_minibatches"] = skipped;
        metrics["objective/kl"] = klMean;
        metrics["objective/kl_coef"] = Kl.Value;
        metrics["objective/entropy"] = sumEntropy / u;
        metrics["reward/mean"] = score.mean().item<float>();
        metrics["reward/std"] = score.std().item<float>();
        metrics["tokens/completion_len"] = mask.sum(1).mean().item<float>();
    }

    /// <summary>Value estimates [B, L] for the states before each completion token.</summary>
    private Tensor CompletionValues(Tensor hidden, SequenceBatch batch) =>
        ValueHead.forward(hidden.narrow(1, batch.PromptWidth - 1, batch.CompletionWidth)).squeeze(-1);

    public IEnumerable<KeyValuePair<string, double>> StateMetrics() => [];

    public IReadOnlyDictionary<string, double> SaveState() => new Dictionary<string, double> { [KlController.Key] = Kl.Value };

    public void RestoreState(IReadOnlyDictionary<string, double> state, RunSettings savedWith) =>
        Kl.Restore(state.GetValueOrDefault(KlController.Key, savedWith.KlCoef), savedWith, _core.Settings);

    public void SettingChanged(string key, RunSettings before)
    {
        if (key == "kl_coef") Kl.Reset(_core.Settings.KlCoef);
    }

    public void Dispose() => ValueHead.Dispose();
}
