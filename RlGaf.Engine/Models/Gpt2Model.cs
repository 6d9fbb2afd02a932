using RlGaf.Engine.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Models;

/// <summary>
/// GPT-2 language model whose logits match Hugging Face's <c>GPT2LMHeadModel</c> for the same
/// weights: token + learned position embeddings, pre-LN blocks, final ln_f, LM head tied to wte.
/// Parameter names equal HF's checkpoint keys without the "transformer." prefix.
/// </summary>
public sealed class Gpt2Model : nn.Module
{
    private readonly EmbeddingTable wte;
    private readonly EmbeddingTable wpe;
    private readonly Dropout drop;
    private readonly ModuleList<Gpt2Block> h;
    private readonly LayerNorm ln_f;

    /// <summary>The shape this model was built with.</summary>
    public Gpt2Config Config { get; }

    /// <summary>Builds a model with GPT-2's initialisation drawn from a generator seeded with <paramref name="seed"/>.</summary>
    public Gpt2Model(Gpt2Config config, long seed = 0) : base("GPT2LMHeadModel")
    {
        Config = config.Validate();
        wte = new EmbeddingTable(config.VocabSize, config.NEmbd);
        wpe = new EmbeddingTable(config.NPositions, config.NEmbd);
        drop = nn.Dropout(config.EmbdPdrop);
        h = nn.ModuleList(Enumerable.Range(0, config.NLayer).Select(_ => new Gpt2Block(config)).ToArray());
        ln_f = nn.LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        RegisterComponents();
        InitWeights(seed);
    }

    /// <summary>The device of the parameters; inputs are expected there.</summary>
    public Device Device => wte.Weight.device;

    /// <summary>The token embedding [V, E], also the (tied) output projection.</summary>
    public Tensor TokenEmbedding => wte.Weight;

    /// <summary>
    /// Logits [B, T, V] for token ids [B, T]. <paramref name="attentionMask"/> is [B, S] with
    /// S = cached + T, 1 for real tokens and 0 for (left) padding. Without
    /// <paramref name="positionIds"/>, positions are cumsum(mask) - 1 clamped at 0, as in HF.
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, KvCache? cache = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        using var hidden = ForwardHidden(inputIds, attentionMask, cache, positionIds);
        return Logits(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>Final hidden states after ln_f, [B, T, E] (for value and discriminator heads).</summary>
    public Tensor ForwardHidden(Tensor inputIds, Tensor? attentionMask = null, KvCache? cache = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        return ForwardHiddenEmbeds(EmbedTokens(inputIds), attentionMask, cache, positionIds).MoveToOuterDisposeScope();
    }

    /// <summary>Logits [B, T, V] from input embeddings [B, T, E] (e.g. <see cref="EmbedSoft"/> of Gumbel-Softmax samples).</summary>
    public Tensor ForwardEmbeds(Tensor inputsEmbeds, Tensor? attentionMask = null, KvCache? cache = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        using var hidden = ForwardHiddenEmbeds(inputsEmbeds, attentionMask, cache, positionIds);
        return Logits(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>Final hidden states [B, T, E] from input embeddings [B, T, E]; position embeddings are added here.</summary>
    public Tensor ForwardHiddenEmbeds(Tensor inputsEmbeds, Tensor? attentionMask = null, KvCache? cache = null, Tensor? positionIds = null)
    {
        if (inputsEmbeds.dim() != 3 || inputsEmbeds.shape[2] != Config.NEmbd)
            throw new ArgumentException($"inputsEmbeds must be [B, T, {Config.NEmbd}], got [{string.Join(", ", inputsEmbeds.shape)}].");
        if (cache is not null && cache.LayerCount != Config.NLayer)
            throw new ArgumentException($"KV cache has {cache.LayerCount} layers, the model {Config.NLayer}.");
        using var scope = NewDisposeScope();
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1];
        long past = cache?.Length ?? 0, total = past + t;
        if (total > Config.NPositions)
            throw new ArgumentException($"Sequence length {total} exceeds n_positions ({Config.NPositions}).");
        if (attentionMask is not null && (attentionMask.dim() != 2 || attentionMask.shape[0] != b || attentionMask.shape[1] != total))
            throw new ArgumentException($"attentionMask must be [{b}, {total}] (cached + new tokens), got [{string.Join(", ", attentionMask.shape)}].");

        var device = inputsEmbeds.device;
        var positions = positionIds ?? DefaultPositions(attentionMask, past, total, device);
        var x = drop.forward(inputsEmbeds.Plus(wpe.forward(positions)));
        var allowed = AttentionAllowed(attentionMask, cache is not null, past, total, device);
        for (int i = 0; i < h.Count; i++) x = h[i].Forward(x, allowed, cache, i);
        return ln_f.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>Tied LM head: logits = hidden @ wte^T, no separate parameter.</summary>
    public Tensor Logits(Tensor hidden) => hidden.matmul(wte.Weight.t());

    /// <summary>Token embeddings [B, T, E] for ids [B, T].</summary>
    public Tensor EmbedTokens(Tensor ids) => wte.forward(ids);

    /// <summary>Expected embeddings of soft tokens: probs [B, T, V] @ wte [V, E], differentiable in probs.</summary>
    public Tensor EmbedSoft(Tensor probs)
    {
        if (probs.shape[^1] != Config.VocabSize)
            throw new ArgumentException($"Soft tokens must end in vocab_size ({Config.VocabSize}), got [{string.Join(", ", probs.shape)}].");
        return probs.matmul(wte.Weight);
    }

    private static Tensor DefaultPositions(Tensor? mask, long past, long total, Device device)
    {
        if (mask is null) return ScalarSafe.Range(past, total, ScalarType.Int64, device).unsqueeze(0);
        // Left padding: each row counts positions from its first real token, as HF does.
        var pos = mask.to_type(ScalarType.Int64).cumsum(1).sub(Scalars.IntOne).clamp_min(Scalars.IntZero);
        return pos.narrow(1, past, total - past);
    }

    /// <summary>
    /// Boolean [B|1, 1, T, S] mask (true = may attend) or null when plain causal SDPA suffices.
    /// A query may always see itself, so a padding row never has every key masked (no NaN).
    /// </summary>
    private static Tensor? AttentionAllowed(Tensor? mask, bool cached, long past, long total, Device device)
    {
        if (mask is null && !cached) return null;
        var qpos = ScalarSafe.Range(past, total, ScalarType.Int64, device).unsqueeze(1);
        var kpos = ScalarSafe.Range(0, total, ScalarType.Int64, device).unsqueeze(0);
        var causal = kpos.le(qpos);
        if (mask is null) return causal.unsqueeze(0).unsqueeze(0);
        var keyOk = mask.ne(Scalars.IntZero).unsqueeze(1).unsqueeze(1);          // [B, 1, 1, S]
        var self = kpos.eq(qpos).unsqueeze(0).unsqueeze(0);        // [1, 1, T, S]
        return causal.unsqueeze(0).unsqueeze(0).logical_and(keyOk.logical_or(self));
    }

    private void InitWeights(long seed)
    {
        // GPT-2 init: N(0, 0.02) everywhere, residual projections scaled by 1/sqrt(2 n_layer),
        // biases 0, LayerNorm 1/0. A private generator keeps the global RNG untouched.
        using var gen = new Generator((ulong)seed);
        using var noGrad = no_grad();
        double residStd = 0.02 / Math.Sqrt(2.0 * Config.NLayer);
        foreach (var (name, p) in named_parameters())
        {
            if (name.StartsWith("ln_") || name.Contains(".ln_"))
            {
                if (name.EndsWith(".weight")) p.fill_(Scalars.One); else p.zero_();
            }
            else if (name.EndsWith(".bias")) p.zero_();
            else p.normal_(0.0, name.EndsWith("c_proj.weight") ? residStd : 0.02, gen);
        }
    }
}
