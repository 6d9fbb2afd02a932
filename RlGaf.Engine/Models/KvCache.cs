using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Models;

/// <summary>
/// Keys and values of every layer for the tokens seen so far, so generation feeds one new
/// token per step instead of the whole sequence. The cache owns its tensors: they are detached
/// from dispose scopes (a per-step scope must not free them) and freed on growth or Dispose.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] keys;
    private readonly Tensor?[] values;

    /// <summary>An empty cache for a model with <paramref name="nLayer"/> blocks.</summary>
    public KvCache(int nLayer)
    {
        if (nLayer <= 0) throw new ArgumentException($"nLayer ({nLayer}) must be positive.");
        keys = new Tensor?[nLayer];
        values = new Tensor?[nLayer];
    }

    /// <summary>Number of cached positions. Read before a forward pass: layers append in order, the last one last.</summary>
    public long Length => keys[^1]?.shape[2] ?? 0;

    /// <summary>Number of layers the cache was made for.</summary>
    public int LayerCount => keys.Length;

    /// <summary>
    /// Appends [B, H, T, D] keys/values for <paramref name="layer"/> and returns the whole
    /// [B, H, S, D] history. The returned tensors belong to the cache: don't dispose them.
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        if ((uint)layer >= (uint)keys.Length)
            throw new ArgumentOutOfRangeException(nameof(layer), $"layer {layer} is outside this {keys.Length}-layer cache.");
        keys[layer] = Grow(keys[layer], k);
        values[layer] = Grow(values[layer], v);
        return (keys[layer]!, values[layer]!);
    }

    /// <summary>
    /// Installs [B, H, S, D] keys/values computed elsewhere (a shared prefix's) for <paramref name="layer"/>;
    /// the cache takes them over (detached from dispose scopes, freed on growth or Dispose).
    /// </summary>
    internal void Preload(int layer, Tensor k, Tensor v)
    {
        if (keys[layer] is not null) throw new InvalidOperationException($"layer {layer} of the cache is not empty.");
        k.DetachFromDisposeScope();
        v.DetachFromDisposeScope();
        keys[layer] = k;
        values[layer] = v;
    }

    /// <summary>The [B, H, S, D] keys and values of <paramref name="layer"/> (owned by the cache).</summary>
    internal (Tensor Keys, Tensor Values) Layer(int layer) =>
        (keys[layer] ?? throw new InvalidOperationException($"layer {layer} of the cache is empty."), values[layer]!);

    /// <summary>Drops everything cached, keeping the cache usable for a new sequence.</summary>
    public void Clear()
    {
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i]?.Dispose();
            values[i]?.Dispose();
            keys[i] = values[i] = null;
        }
    }

    public void Dispose() => Clear();

    private static Tensor Grow(Tensor? old, Tensor add)
    {
        if (old is not null && old.shape[0] != add.shape[0])
            throw new ArgumentException($"KV cache holds batch {old.shape[0]} but got batch {add.shape[0]}.");
        var grown = old is null ? add.clone() : cat([old, add], dim: 2);
        grown.DetachFromDisposeScope();
        old?.Dispose();
        return grown;
    }
}
