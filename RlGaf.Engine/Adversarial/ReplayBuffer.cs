using RlGaf.Engine.Runtime;
using RlGaf.Engine.Corpora.SyntheticReviews;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// The discriminator's replay buffer of past generated (prompt, completion) pairs (disc_replay): a ring
/// of the newest <see cref="Capacity"/> pairs. Held as module buffers (token ids, lengths, count and
/// cursor) so the checkpoint writes and reads it like any module and resume draws the same replays.
/// </summary>
public sealed class ReplayBuffer : nn.Module
{
    /// <summary>Checkpoint file of the buffer.</summary>
    public const string File = "disc_replay.safetensors";

    private readonly Tensor _tokens, _promptLength, _length, _meta;
    private readonly int _width;

    public int Capacity { get; }

    /// <summary>Pairs held (at most <see cref="Capacity"/>).</summary>
    public int Count
    {
        get
        {
            using var scope = NewDisposeScope();
            return (int)_meta[0].item<long>();
        }
    }

    /// <param name="width">Longest pair kept (the model's window): longer ones keep their first tokens.</param>
    public ReplayBuffer(int capacity, int width) : base("ReplayBuffer")
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "disc_replay: a replay buffer needs a capacity of at least 1.");
        Capacity = capacity;
        _width = width;
        _tokens = zeros([capacity, width], ScalarType.Int64);
        _promptLength = zeros([capacity], ScalarType.Int64);
        _length = zeros([capacity], ScalarType.Int64);
        _meta = zeros([2], ScalarType.Int64); // count, cursor
        register_buffer("tokens", _tokens);
        register_buffer("prompt_length", _promptLength);
        register_buffer("length", _length);
        register_buffer("meta", _meta);
    }

    /// <summary>Adds pairs, overwriting the oldest when full.</summary>
    public void Add(IReadOnlyList<int[]> prompts, IReadOnlyList<int[]> completions)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        long count = _meta[0].item<long>(), cursor = _meta[1].item<long>();
        for (int r = 0; r < prompts.Count; r++)
        {
            int[] pair = [.. prompts[r], .. completions[r]];
            int n = Math.Min(pair.Length, _width);
            var row = new long[_width];
            for (int i = 0; i < n; i++) row[i] = pair[i];
            _tokens[cursor].copy_(tensor(row));
            using (var promptLength = Math.Min(prompts[r].Length, n).ToScalar()) _promptLength[cursor].fill_(promptLength);
            using (var length = n.ToScalar()) _length[cursor].fill_(length);
            cursor = (cursor + 1) % Capacity;
            count = Math.Min(count + 1, Capacity);
        }
        using var countS = count.ToScalar();
        using var cursorS = cursor.ToScalar();
        _meta[0].fill_(countS);
        _meta[1].fill_(cursorS);
    }

    /// <summary><paramref name="n"/> pairs drawn uniformly with replacement by <paramref name="seed"/>.</summary>
    public (List<int[]> Prompts, List<int[]> Completions) Sample(int n, ulong seed)
    {
        using var scope = NewDisposeScope();
        int count = Count;
        if (count == 0) throw new InvalidOperationException("the replay buffer is empty.");
        var rng = new SplitMix64(seed);
        var prompts = new List<int[]>(n);
        var completions = new List<int[]>(n);
        for (int i = 0; i < n; i++)
        {
            long k = (long)(rng.NextUInt64() % (ulong)count);
            int pl = (int)_promptLength[k].item<long>(), len = (int)_length[k].item<long>();
            var ids = _tokens[k].narrow(0, 0, len).data<long>().ToArray().Select(x => (int)x).ToArray();
            prompts.Add(ids[..pl]);
            completions.Add(ids[pl..]);
        }
        return (prompts, completions);
    }
}
