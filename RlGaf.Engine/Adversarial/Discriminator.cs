using RlGaf.Engine.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// A GPT-2 body with a scalar head: scores a (prompt, completion) pair by the hidden state of its
/// last real token (the only one that has seen the whole pair), as InstructGPT's reward model does.
/// Also reads soft token distributions (embedding = probabilities x embedding matrix) so Gumbel-Softmax
/// samples pass gradients through it. The RLHF-proxy reward model is the same module trained on labels.
/// </summary>
public sealed class Discriminator : nn.Module, Tasks.IRewardScorer
{
    private readonly Gpt2Model body;
    private readonly Linear head;

    public Gpt2Config Config => body.Config;
    public Gpt2Model Body => body;

    public Discriminator(Gpt2Config config, long seed) : base("Discriminator")
    {
        body = new Gpt2Model(config, seed);
        head = nn.Linear(config.NEmbd, 1);
        RegisterComponents();
        using (no_grad())
        {
            // A zero head starts every score at logit 0 (D = 0.5): no initial bias towards real or fake.
            head.weight!.zero_();
            head.bias!.zero_();
        }
    }

    /// <summary>A discriminator whose body starts as a copy of <paramref name="generator"/> (InstructGPT-style init).</summary>
    public static Discriminator FromGenerator(Gpt2Model generator, long seed)
    {
        var d = new Discriminator(generator.Config, seed);
        d.to(generator.Device);
        using (no_grad())
        {
            var src = generator.state_dict();
            foreach (var (name, p) in d.body.named_parameters())
                p.copy_(src[name]);
        }
        return d;
    }

    /// <summary>Score logits [B] of hard token batches.</summary>
    public Tensor Score(SequenceBatch batch)
    {
        using var scope = NewDisposeScope();
        var hidden = body.ForwardHidden(batch.Tokens, batch.AttentionMask);
        return head.forward(ReadLast(hidden, batch.LastIndex)).squeeze(-1).MoveToOuterDisposeScope();
    }

    /// <summary>Input token embeddings [B, T, E] of a hard batch (what R1 and instance noise act on).</summary>
    public Tensor Embed(SequenceBatch batch) => body.EmbedTokens(batch.Tokens);

    /// <summary>
    /// Score logits [B] and pooled features [B, E] (the last real token's hidden state, the head's input)
    /// from input embeddings [B, T, E]; <paramref name="featureMask"/> [B, E] (scaled dropout) multiplies the features.
    /// </summary>
    public (Tensor Score, Tensor Features) ScoreEmbeds(Tensor embeds, SequenceBatch batch, Tensor? featureMask = null)
    {
        using var scope = NewDisposeScope();
        var hidden = body.ForwardHiddenEmbeds(embeds, batch.AttentionMask);
        var features = ReadLast(hidden, batch.LastIndex);
        var input = featureMask is null ? features : features * featureMask;
        return (head.forward(input).squeeze(-1).MoveToOuterDisposeScope(), features.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Score logits [B] when the completion part is given as distributions [B, L, V] (rows sum to 1;
    /// Gumbel-Softmax samples). The prompt part and the mask come from <paramref name="batch"/>.
    /// </summary>
    public Tensor ScoreSoft(SequenceBatch batch, Tensor softCompletion) => ScoreSoftWithFeatures(batch, softCompletion).Score;

    /// <summary><see cref="ScoreSoft"/> with the pooled features [B, E] (feature matching).</summary>
    public (Tensor Score, Tensor Features) ScoreSoftWithFeatures(SequenceBatch batch, Tensor softCompletion)
    {
        using var scope = NewDisposeScope();
        var (score, features) = ScoreEmbeddedWithFeatures(batch, body.EmbedSoft(softCompletion));
        return (score.MoveToOuterDisposeScope(), features.MoveToOuterDisposeScope());
    }

    /// <summary>The token embedding [V, E] of the discriminator's body (soft samples are embedded through it).</summary>
    public Tensor TokenEmbedding => body.TokenEmbedding;

    /// <summary>
    /// Score logits [B] when the completion part is given as embeddings [B, L, E] (e.g.
    /// <see cref="GumbelSoftEmbedding"/>, which never builds the [B, L, V] soft samples).
    /// </summary>
    public Tensor ScoreEmbedded(SequenceBatch batch, Tensor completionEmbeds)
    {
        using var scope = NewDisposeScope();
        return ScoreEmbeddedWithFeatures(batch, completionEmbeds).Score.MoveToOuterDisposeScope();
    }

    /// <summary><see cref="ScoreEmbedded"/> with the pooled features [B, E] (Gumbel's feature matching).</summary>
    public (Tensor Score, Tensor Features) ScoreEmbeddedWithFeatures(SequenceBatch batch, Tensor completionEmbeds)
    {
        using var scope = NewDisposeScope();
        var promptEmb = body.EmbedTokens(batch.Tokens.narrow(1, 0, batch.PromptWidth));
        var (score, features) = ScoreEmbeds(cat([promptEmb, completionEmbeds], 1), batch);
        return (score.MoveToOuterDisposeScope(), features.MoveToOuterDisposeScope());
    }

    /// <summary>Pooled features [B, E] of a hard batch (feature matching's real side).</summary>
    public Tensor Features(SequenceBatch batch)
    {
        using var scope = NewDisposeScope();
        return ReadLast(body.ForwardHidden(batch.Tokens, batch.AttentionMask), batch.LastIndex).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Score logits [B, L] of every completion prefix in one pass (the body is causal, so the hidden
    /// state at completion column j has seen exactly the prompt and y_1..y_(j+1)): ScratchGAN's dense
    /// scores. Padding columns hold garbage; mask them with the batch's completion mask.
    /// </summary>
    public Tensor ScorePrefixes(SequenceBatch batch)
    {
        using var scope = NewDisposeScope();
        var hidden = body.ForwardHidden(batch.Tokens, batch.AttentionMask).narrow(1, batch.PromptWidth, batch.CompletionWidth);
        return head.forward(hidden).squeeze(-1).MoveToOuterDisposeScope();
    }

    private static Tensor ReadLast(Tensor hidden, Tensor lastIndex)
    {
        var idx = lastIndex.view(-1, 1, 1).expand(-1, 1, hidden.shape[2]);
        return hidden.gather(1, idx).squeeze(1);
    }
}
