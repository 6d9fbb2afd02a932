using RlGaf.Engine.Runtime;
using RlGaf.Engine.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>Per-token quantities of a policy on a <see cref="SequenceBatch"/>, and the RL helpers (whitening, GAE).</summary>
public static class PolicyMath
{
    /// <summary>
    /// Logits [B, L, V] that predict the completion tokens (columns P-1 .. P+L-2), scaled by
    /// 1/<paramref name="temperature"/> so the policy being trained is the one that sampled.
    /// </summary>
    public static Tensor CompletionLogits(Tensor fullLogits, SequenceBatch batch, double temperature = 1.0)
    {
        var l = fullLogits.narrow(1, batch.PromptWidth - 1, batch.CompletionWidth);
        if (temperature == 1.0) return l;
        using var t = temperature.ToScalar();
        return l.div(t);
    }

    /// <summary>Hidden states [B, L, E] at the positions that predict the completion tokens (columns P-1 .. P+L-2).</summary>
    public static Tensor CompletionHidden(Tensor fullHidden, SequenceBatch batch) =>
        fullHidden.narrow(1, batch.PromptWidth - 1, batch.CompletionWidth);

    /// <summary>
    /// log pi(y_t | y_&lt;t) of the completion tokens [B, L] at 1/<paramref name="temperature"/>, and on
    /// request the entropy and KL(pi || <paramref name="reference"/>) per position, through the chunked
    /// head (<see cref="ChunkedHead"/>): no [B, L, V] logits are kept for backward at large vocabularies.
    /// <paramref name="hidden"/> reuses the model's full hidden states [B, P+L, E] when the caller has them.
    /// </summary>
    public static HeadTerms CompletionTerms(Gpt2Model model, SequenceBatch batch, double temperature = 1.0, bool entropy = false,
        Gpt2Model? reference = null, Tensor? hidden = null)
    {
        var h = CompletionHidden(hidden ?? model.ForwardHidden(batch.Tokens, batch.AttentionMask), batch);
        Tensor? refHidden = null;
        if (reference is not null)
            using (no_grad()) refHidden = CompletionHidden(reference.ForwardHidden(batch.Tokens, batch.AttentionMask), batch);
        return ChunkedHead.Compute(h, model.TokenEmbedding, batch.CompletionTokens, temperature, entropy, refHidden, reference?.TokenEmbedding);
    }

    /// <summary>log pi(y_t | y_&lt;t) of the completion tokens, [B, L] (padding positions hold garbage; mask them).</summary>
    public static Tensor TokenLogProbs(Tensor completionLogits, SequenceBatch batch) =>
        completionLogits.log_softmax(-1).gather(-1, batch.CompletionTokens.unsqueeze(-1)).squeeze(-1);

    /// <summary>Entropy of the full next-token distribution at each completion position, [B, L].</summary>
    public static Tensor TokenEntropy(Tensor completionLogits)
    {
        var logp = completionLogits.log_softmax(-1);
        return -(logp.exp() * logp).sum(-1);
    }

    /// <summary>Mean of <paramref name="x"/> over positions where <paramref name="mask"/> is 1.</summary>
    public static Tensor MaskedMean(Tensor x, Tensor mask) => (x * mask).sum() / mask.sum().clamp_min(Scalars.IntOne);

    /// <summary>Masked variance (biased), as TRL's masked_var without Bessel correction.</summary>
    public static Tensor MaskedVar(Tensor x, Tensor mask)
    {
        var mean = MaskedMean(x, mask);
        return MaskedMean((x - mean).Squared(), mask);
    }

    /// <summary>(x - mean) / sqrt(var + 1e-8) over masked positions; optionally keeps the mean (TRL's shift_mean=false).</summary>
    public static Tensor Whiten(Tensor x, Tensor mask, bool shiftMean = true)
    {
        var mean = MaskedMean(x, mask);
        var w = (x - mean) * MaskedVar(x, mask).Plus(1e-8).rsqrt();
        return (shiftMean ? w : w.Plus(mean)) * mask;
    }

    /// <summary>
    /// Generalised advantage estimation over completion tokens [B, L]: delta_t = r_t + gamma V_{t+1} - V_t,
    /// A_t = delta_t + gamma lambda A_{t+1}, with V and A zero past each row's last token.
    /// Returns (advantages, returns = advantages + values).
    /// </summary>
    public static (Tensor Advantages, Tensor Returns) Gae(Tensor rewards, Tensor values, Tensor mask, double gamma, double lambda)
    {
        long l = rewards.shape[1];
        var v = values * mask;
        var r = rewards * mask;
        var columns = new Tensor[l];
        Tensor next = zeros_like(r.select(1, 0));
        Tensor nextValue = zeros_like(next);
        // Held scalars (Runtime/Scalars.cs): an implicit temporary may be finalized while the op reads it.
        using var g = gamma.ToScalar();
        using var gl = (gamma * lambda).ToScalar();
        for (long t = l - 1; t >= 0; t--)
        {
            var delta = r.select(1, t).Plus(nextValue.mul(g)) - v.select(1, t);
            next = delta.Plus(next.mul(gl)) * mask.select(1, t);
            nextValue = v.select(1, t);
            columns[t] = next;
        }
        var adv = stack(columns, 1);
        return (adv, adv.Plus(v) * mask);
    }

    /// <summary>Reward-to-go: out_t = sum_{s >= t} x_s over masked positions, [B, L].</summary>
    public static Tensor RewardToGo(Tensor x, Tensor mask) => (x * mask).flip(1).cumsum(1).flip(1) * mask;
}
