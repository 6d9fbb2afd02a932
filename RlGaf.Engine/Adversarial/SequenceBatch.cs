using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// Prompts and completions (model token ids) laid out for one forward pass: prompts left-padded to
/// a common width P, completions right-padded to a common width L, so completion token j of every
/// row sits in column P + j and is predicted by the logits of column P + j - 1. Every prompt starts
/// with end-of-text (the beginning-of-sequence token), so P >= 1.
/// </summary>
public sealed class SequenceBatch
{
    public IReadOnlyList<int[]> Prompts { get; }
    public IReadOnlyList<int[]> Completions { get; }
    /// <summary>Width of the (left-padded) prompt part.</summary>
    public int PromptWidth { get; }
    /// <summary>Width of the (right-padded) completion part; at least 1.</summary>
    public int CompletionWidth { get; }
    public int Count => Prompts.Count;
    /// <summary>[B, P+L] token ids; padding holds <c>padId</c>.</summary>
    public Tensor Tokens { get; }
    /// <summary>[B, P+L] 1 for real tokens, 0 for padding.</summary>
    public Tensor AttentionMask { get; }
    /// <summary>[B, L] float 1 on real completion tokens (end-of-text included), 0 on padding.</summary>
    public Tensor CompletionMask { get; }
    /// <summary>[B] column of each row's last real token (where a sequence score is read).</summary>
    public Tensor LastIndex { get; }

    /// <param name="maxLength">
    /// The model's window: completions are cut so that the padded rectangle (longest prompt + longest
    /// completion) fits. Each example may fit alone and the rectangle still not (a long prompt in one row,
    /// a long completion in another); cutting real completions costs their tail, never a crash.
    /// </param>
    public SequenceBatch(IReadOnlyList<int[]> prompts, IReadOnlyList<int[]> completions, int padId, Device device, int? maxLength = null)
    {
        if (prompts.Count == 0 || prompts.Count != completions.Count)
            throw new ArgumentException($"A batch needs as many completions as prompts (got {prompts.Count} and {completions.Count}), at least one.");
        if (prompts.Any(p => p.Length == 0)) throw new ArgumentException("Every prompt must hold at least the beginning-of-sequence token.");
        if (maxLength is int max)
        {
            int room = max - prompts.Max(p => p.Length);
            if (room < 1) throw new ArgumentException($"A prompt of {prompts.Max(p => p.Length)} tokens leaves no room in the model's window of {max}.");
            if (completions.Any(c => c.Length > room)) completions = completions.Select(c => c.Length > room ? c[..room] : c).ToList();
        }
        Prompts = prompts;
        Completions = completions;
        PromptWidth = prompts.Max(p => p.Length);
        CompletionWidth = Math.Max(1, completions.Max(c => c.Length));
        int b = prompts.Count, p = PromptWidth, l = CompletionWidth, t = p + l;
        var ids = new long[b * t];
        var mask = new long[b * t];
        var cmask = new float[b * l];
        var last = new long[b];
        Array.Fill(ids, padId);
        for (int r = 0; r < b; r++)
        {
            int pad = p - prompts[r].Length;
            for (int i = 0; i < prompts[r].Length; i++) { ids[r * t + pad + i] = prompts[r][i]; mask[r * t + pad + i] = 1; }
            for (int j = 0; j < completions[r].Length; j++) { ids[r * t + p + j] = completions[r][j]; mask[r * t + p + j] = 1; cmask[r * l + j] = 1; }
            last[r] = p + completions[r].Length - 1;
        }
        Tokens = tensor(ids, [b, t], device: device);
        AttentionMask = tensor(mask, [b, t], device: device);
        CompletionMask = tensor(cmask, [b, l], device: device);
        LastIndex = tensor(last, [b], device: device);
    }

    /// <summary>The completion token ids as a [B, L] tensor (padding included).</summary>
    public Tensor CompletionTokens => Tokens.narrow(1, PromptWidth, CompletionWidth);

    /// <summary>The rows <paramref name="rows"/> as a new batch (PPO minibatches).</summary>
    public SequenceBatch Select(IReadOnlyList<int> rows, int padId) =>
        new(rows.Select(r => Prompts[r]).ToList(), rows.Select(r => Completions[r]).ToList(), padId, Tokens.device);
}
