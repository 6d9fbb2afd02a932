using RlGaf.Engine.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Models;

// The pieces of one GPT-2 block. Field names are Hugging Face's state-dict keys, so
// named_parameters() of the model is the checkpoint layout minus the "transformer." prefix.

/// <summary>
/// Hugging Face's Conv1D: y = x @ W + b with W stored [in, out] (the transpose of a Linear).
/// Keeping HF's layout means checkpoints load and save without any transposition to get wrong.
/// </summary>
internal sealed class Conv1D : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;

    public Conv1D(long inFeatures, long outFeatures) : base("Conv1D")
    {
        weight = new Parameter(zeros(inFeatures, outFeatures));
        bias = new Parameter(zeros(outFeatures));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x.matmul(weight).Plus(bias);
}

/// <summary>
/// A lookup table [N, E] with the parameter as a plain field: TorchSharp's Embedding.weight
/// getter makes a new tensor handle on every call (measured: one leaked handle per access),
/// and the tied LM head reads this weight on every forward pass.
/// </summary>
internal sealed class EmbeddingTable : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;

    public EmbeddingTable(long count, long dim) : base("Embedding")
    {
        weight = new Parameter(zeros(count, dim));
        RegisterComponents();
    }

    public Parameter Weight => weight;

    public override Tensor forward(Tensor ids)
    {
        using var flat = ids.reshape(-1);
        using var rows = weight.index_select(0, flat);
        return rows.view([.. ids.shape, weight.shape[1]]);
    }
}

/// <summary>gelu_new: GPT-2's tanh approximation of GELU, 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))).</summary>
internal static class GeluNew
{
    // Held for the process's life: implicit temporaries could be finalized mid-op (see Scalars).
    private static readonly Scalar C = Math.Sqrt(2.0 / Math.PI).ToScalar();
    private static readonly Scalar A = 0.044715.ToScalar();

    public static Tensor Apply(Tensor x)
    {
        using var scope = NewDisposeScope();
        // Out-of-place ops: tanh's backward needs its own output, so it must not be overwritten.
        var inner = x.Plus(x.pow(Scalars.Three).mul(A)).mul(C);
        return x.mul(Scalars.Half).mul(inner.tanh().add(Scalars.One, Scalars.IntOne)).MoveToOuterDisposeScope();
    }
}

/// <summary>Causal multi-head self-attention with an optional KV cache.</summary>
internal sealed class Gpt2Attention : nn.Module
{
    private readonly Conv1D c_attn;
    private readonly Conv1D c_proj;
    private readonly Dropout resid_dropout;
    private readonly int nHead;
    private readonly long nEmbd;
    private readonly double attnPdrop;

    public Gpt2Attention(Gpt2Config c) : base("GPT2Attention")
    {
        nHead = c.NHead;
        nEmbd = c.NEmbd;
        attnPdrop = c.AttnPdrop;
        c_attn = new Conv1D(c.NEmbd, 3L * c.NEmbd);
        c_proj = new Conv1D(c.NEmbd, c.NEmbd);
        resid_dropout = nn.Dropout(c.ResidPdrop);
        RegisterComponents();
    }

    /// <summary>
    /// Set (on this thread) while a second derivative is taken, as the discriminator's R1 penalty does:
    /// SDPA's fused CPU kernel has no double backward, so attention is then written out (no dropout).
    /// </summary>
    [ThreadStatic] internal static bool ExplicitAttention;

    private static Tensor Explicit(Tensor q, Tensor k, Tensor v, Tensor? allowed)
    {
        using var scale = (1.0 / Math.Sqrt(q.shape[^1])).ToScalar();
        var scores = q.matmul(k.transpose(-2, -1)).mul(scale);
        // Every query may attend to itself, so no row is fully masked.
        var mask = allowed ?? ones(q.shape[^2], k.shape[^2], ScalarType.Bool, q.device).tril();
        return scores.masked_fill(mask.logical_not(), Runtime.Scalars.NegativeInfinity).softmax(-1).matmul(v);
    }

    // x: [B, T, E]. allowed: boolean [B or 1, 1, T, S] (true = may attend), or null for plain
    // causal attention without a cache.
    public Tensor Forward(Tensor x, Tensor? allowed, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = nEmbd / nHead;
        var qkv = c_attn.forward(x).split(nEmbd, dim: 2);
        Tensor Heads(Tensor z) => z.view(b, t, nHead, d).transpose(1, 2);
        Tensor q = Heads(qkv[0]), k = Heads(qkv[1]), v = Heads(qkv[2]);
        if (cache is not null) (k, v) = cache.Append(layer, k, v);
        // SDPA's default scale is 1/sqrt(head_dim), as in GPT-2. With a cache the query rows are
        // the last T of S keys, and is_casual would align the mask top-left: pass it explicitly.
        var y = ExplicitAttention ? Explicit(q, k, v, allowed) : nn.functional.scaled_dot_product_attention(q, k, v, allowed,
            p: training ? attnPdrop : 0.0, is_casual: allowed is null);
        y = y.transpose(1, 2).contiguous().view(b, t, nEmbd);
        return resid_dropout.forward(c_proj.forward(y)).MoveToOuterDisposeScope();
    }
}

/// <summary>The position-wise MLP: c_fc (E to 4E), gelu_new, c_proj (4E to E).</summary>
internal sealed class Gpt2Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Conv1D c_fc;
    private readonly Conv1D c_proj;
    private readonly Dropout dropout;

    public Gpt2Mlp(Gpt2Config c) : base("GPT2MLP")
    {
        c_fc = new Conv1D(c.NEmbd, 4L * c.NEmbd);
        c_proj = new Conv1D(4L * c.NEmbd, c.NEmbd);
        dropout = nn.Dropout(c.ResidPdrop);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var hidden = c_fc.forward(x);
        return dropout.forward(c_proj.forward(GeluNew.Apply(hidden))).MoveToOuterDisposeScope();
    }
}

/// <summary>Pre-LayerNorm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).</summary>
internal sealed class Gpt2Block : nn.Module
{
    private readonly LayerNorm ln_1;
    private readonly Gpt2Attention attn;
    private readonly LayerNorm ln_2;
    private readonly Gpt2Mlp mlp;

    public Gpt2Block(Gpt2Config c) : base("GPT2Block")
    {
        ln_1 = nn.LayerNorm(c.NEmbd, c.LayerNormEpsilon);
        attn = new Gpt2Attention(c);
        ln_2 = nn.LayerNorm(c.NEmbd, c.LayerNormEpsilon);
        mlp = new Gpt2Mlp(c);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor? allowed, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        var h = x.Plus(attn.Forward(ln_1.forward(x), allowed, cache, layer));
        return h.Plus(mlp.forward(ln_2.forward(h))).MoveToOuterDisposeScope();
    }
}
