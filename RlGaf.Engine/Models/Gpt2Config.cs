namespace RlGaf.Engine.Models;

/// <summary>
/// The shape of a GPT-2 model, with the same meaning as Hugging Face's <c>GPT2Config</c>.
/// Only what this engine implements is here: gelu_new, tied LM head, n_inner = 4 * n_embd.
/// </summary>
/// <param name="VocabSize">Number of token ids (<c>vocab_size</c>); 50257 for the real GPT-2 vocabulary.</param>
/// <param name="NPositions">Longest sequence the position table covers (<c>n_positions</c>); prompt + completion must fit.</param>
/// <param name="NEmbd">Width of the residual stream (<c>n_embd</c>); must be divisible by <paramref name="NHead"/>.</param>
/// <param name="NLayer">Number of transformer blocks (<c>n_layer</c>).</param>
/// <param name="NHead">Attention heads per block (<c>n_head</c>).</param>
/// <param name="LayerNormEpsilon">Epsilon of every LayerNorm (<c>layer_norm_epsilon</c>, default 1e-5).</param>
/// <param name="ResidPdrop">Dropout after attention and MLP projections while training (<c>resid_pdrop</c>); 0 by default here.</param>
/// <param name="EmbdPdrop">Dropout on the summed embeddings while training (<c>embd_pdrop</c>).</param>
/// <param name="AttnPdrop">Dropout on attention weights while training (<c>attn_pdrop</c>).</param>
public sealed record Gpt2Config(
    int VocabSize,
    int NPositions,
    int NEmbd,
    int NLayer,
    int NHead,
    double LayerNormEpsilon = 1e-5,
    double ResidPdrop = 0.0,
    double EmbdPdrop = 0.0,
    double AttnPdrop = 0.0)
{
    /// <summary>GPT-2's end-of-text id, also its BOS; present only in the full 50257-token vocabulary.</summary>
    public const int Gpt2EndOfText = 50256;

    /// <summary>Largest vocab_size accepted (GPT-2 has 50257; the largest public vocabularies are ~256k).</summary>
    public const int MaxVocabSize = 1 << 20;
    /// <summary>Largest n_positions accepted (GPT-2 has 1024).</summary>
    public const int MaxPositions = 1 << 16;
    /// <summary>Largest n_embd accepted (GPT-2 XL has 1600).</summary>
    public const int MaxEmbd = 1 << 14;
    /// <summary>Largest n_layer accepted (GPT-2 XL has 48).</summary>
    public const int MaxLayers = 256;
    /// <summary>Largest parameter count accepted: 2^31, 8 GiB of float32 (GPT-2 XL has 1.56 billion).</summary>
    public const long MaxParameters = 1L << 31;

    /// <summary>Width of one attention head.</summary>
    public int HeadDim => NEmbd / NHead;

    /// <summary>
    /// A small model for runs trained here: ~0.6M parameters besides the embeddings, so a
    /// 2-core CPU trains it on a small corpus in minutes. 128 positions leave room for a prompt
    /// plus a few dozen generated tokens.
    /// </summary>
    public static Gpt2Config Tiny(int vocabSize) =>
        new(VocabSize: vocabSize, NPositions: 128, NEmbd: 128, NLayer: 3, NHead: 4);

    /// <summary>The original 124M-parameter GPT-2 ("gpt2" on the Hugging Face hub).</summary>
    public static Gpt2Config Gpt2Small() =>
        new(VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12);

    /// <summary>
    /// Number of parameters of a model of this shape: embeddings V*E + P*E, per block
    /// 12 E^2 + 13 E (two LayerNorms, attention and MLP with biases), and ln_f's 2 E.
    /// </summary>
    public long ParameterCount =>
        checked((long)VocabSize * NEmbd + (long)NPositions * NEmbd + NLayer * (12L * NEmbd * NEmbd + 13L * NEmbd) + 2L * NEmbd);

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the first field that makes no sense or exceeds its
    /// bound, so a hostile config.json is refused before a model is allocated.
    /// </summary>
    public Gpt2Config Validate()
    {
        InRange(VocabSize, "vocab_size", MaxVocabSize);
        InRange(NPositions, "n_positions", MaxPositions);
        InRange(NEmbd, "n_embd", MaxEmbd);
        InRange(NLayer, "n_layer", MaxLayers);
        Positive(NHead, "n_head");
        if (NEmbd % NHead != 0)
            throw new ArgumentException($"n_embd ({NEmbd}) must be divisible by n_head ({NHead}).");
        if (ParameterCount > MaxParameters)
            throw new ArgumentException($"the shape has {ParameterCount} parameters, more than the limit of {MaxParameters} "
                + $"(vocab_size {VocabSize}, n_positions {NPositions}, n_embd {NEmbd}, n_layer {NLayer}).");
        if (!(LayerNormEpsilon > 0) || !double.IsFinite(LayerNormEpsilon))
            throw new ArgumentException($"layer_norm_epsilon ({LayerNormEpsilon}) must be a positive finite number.");
        Probability(ResidPdrop, "resid_pdrop");
        Probability(EmbdPdrop, "embd_pdrop");
        Probability(AttnPdrop, "attn_pdrop");
        return this;
    }

    private static void InRange(int value, string name, int max)
    {
        Positive(value, name);
        if (value > max) throw new ArgumentException($"{name} ({value}) exceeds the limit of {max}.");
    }

    private static void Positive(int value, string name)
    {
        if (value <= 0) throw new ArgumentException($"{name} ({value}) must be positive.");
    }

    private static void Probability(double value, string name)
    {
        if (!(value >= 0 && value < 1)) throw new ArgumentException($"{name} ({value}) must be in [0, 1).");
    }
}
