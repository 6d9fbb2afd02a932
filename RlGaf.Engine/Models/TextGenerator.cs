using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Models;

/// <summary>
/// Batched autoregressive generation for prompts of different lengths: prompts are left-padded
/// with an attention mask so every row's next token sits in the last column, and positions count
/// from each row's first real token (so a padded row gives the same tokens as generated alone).
/// </summary>
public static class TextGenerator
{
    /// <summary>
    /// Continues every prompt. Runs under no_grad and eval mode (restored afterwards) in a dispose
    /// scope per step; sampling uses a private generator, so the global RNG is not touched.
    /// </summary>
    public static GenerationResult Generate(Gpt2Model model, IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options)
    {
        var cfg = model.Config;
        options.Validate(cfg.VocabSize);
        var rows = prompts.Select((p, i) => PromptRow(p, i, options, cfg.VocabSize)).ToArray();
        int b = rows.Length;
        if (b == 0) return new GenerationResult([], 0);
        int maxPrompt = rows.Max(r => r.Count);
        if (maxPrompt + options.MaxNewTokens > cfg.NPositions)
            throw new ArgumentException($"Longest prompt ({maxPrompt} tokens) + MaxNewTokens ({options.MaxNewTokens}) exceeds n_positions ({cfg.NPositions}).");

        // Left padding: every row has the same length, the real tokens at the right end.
        var padCount = rows.Select(r => maxPrompt - r.Count).ToArray();
        var seq = rows.Select((r, i) => Enumerable.Repeat((long)options.PadId, padCount[i]).Concat(r).ToList()).ToArray();
        return Loop(model, seq, padCount, options, null, null);
    }

    /// <summary>
    /// Continues left-padded rows whose prompt was already run through the model: <paramref name="cache"/>
    /// holds every prompt position's keys and values (columns of padding may hold anything: they are
    /// masked) and <paramref name="firstLogits"/> [B, V] the logits at each row's last prompt token. Draws
    /// and every later step are exactly those of <see cref="Generate"/> for the same prompts, so a caller
    /// that shares one forward pass among many prompts (SeqGAN's rollouts from prefixes of one sample)
    /// gets the same tokens without recomputing the prompts. The cache is consumed (grown) here.
    /// </summary>
    internal static GenerationResult ContinuePrefilled(Gpt2Model model, IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options, KvCache cache, Tensor firstLogits)
    {
        var cfg = model.Config;
        options.Validate(cfg.VocabSize);
        var rows = prompts.Select((p, i) => PromptRow(p, i, options, cfg.VocabSize)).ToArray();
        int maxPrompt = rows.Max(r => r.Count);
        if (cache.Length != maxPrompt) throw new ArgumentException($"prefilled cache holds {cache.Length} positions, the padded prompts {maxPrompt}.");
        if (maxPrompt + options.MaxNewTokens > cfg.NPositions)
            throw new ArgumentException($"Longest prompt ({maxPrompt} tokens) + MaxNewTokens ({options.MaxNewTokens}) exceeds n_positions ({cfg.NPositions}).");
        var padCount = rows.Select(r => maxPrompt - r.Count).ToArray();
        var seq = rows.Select((r, i) => Enumerable.Repeat((long)options.PadId, padCount[i]).Concat(r).ToList()).ToArray();
        return Loop(model, seq, padCount, options with { UseCache = true }, cache, firstLogits);
    }

    private static GenerationResult Loop(Gpt2Model model, List<long>[] seq, int[] padCount, GenerationOptions options, KvCache? prefilled, Tensor? firstLogits)
    {
        var cfg = model.Config;
        int b = seq.Length;
        var tokens = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var logProbs = Enumerable.Range(0, b).Select(_ => new List<float>()).ToArray();
        var finished = new bool[b];

        var device = model.Device;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var gen = options.DoSample ? new Generator((ulong)(options.Seed ?? Random.Shared.NextInt64()), device) : null;
            using var noGrad = no_grad();
            using var ownCache = prefilled is null && options.UseCache ? new KvCache(cfg.NLayer) : null;
            var cache = prefilled ?? ownCache;
            int steps = 0;
            while (steps < options.MaxNewTokens && !finished.All(f => f))
            {
                using var scope = NewDisposeScope();
                int total = seq[0].Count;
                Tensor logits;
                if (steps == 0 && firstLogits is not null) logits = firstLogits.to_type(ScalarType.Float32);
                else
                {
                    // With a cache only the newest token is fed; the first step feeds the whole prompt.
                    int from = cache is not null && steps > 0 ? total - 1 : 0;
                    using var input = tensor(seq.SelectMany(r => r.Skip(from)).ToArray(), [b, total - from], device: device);
                    using var mask = MaskTensor(padCount, total, device);
                    var hidden = model.ForwardHidden(input, mask, cache);
                    // Only the last position's logits are needed: skip the [T, V] head over the prompt.
                    logits = model.Logits(hidden.select(1, -1)).to_type(ScalarType.Float32);
                }
                var next = Choose(logits, options, gen);
                var chosenLogp = logits.log_softmax(1).gather(1, next.unsqueeze(1)).squeeze(1);
                var nextIds = next.cpu().data<long>().ToArray();
                var nextLogp = chosenLogp.cpu().data<float>().ToArray();
                for (int r = 0; r < b; r++)
                {
                    if (finished[r])
                    {
                        seq[r].Add(options.PadId); // keeps the batch rectangular; never reported
                        continue;
                    }
                    seq[r].Add(nextIds[r]);
                    tokens[r].Add((int)nextIds[r]);
                    logProbs[r].Add(nextLogp[r]);
                    if (nextIds[r] == options.EosId) finished[r] = true;
                }
                steps++;
            }
            var result = Enumerable.Range(0, b)
                .Select(r => new GeneratedSequence(tokens[r].ToArray(), logProbs[r].ToArray(), finished[r])).ToArray();
            return new GenerationResult(result, steps);
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>
    /// Samples completions the way runs do (training batches, evaluations, checkpoint comparisons):
    /// temperature only, end-of-text as beginning, end and padding, at most <paramref name="maxNewTokens"/>
    /// cut to what the window leaves after the longest prompt. The same model, prompts and seed give the same tokens.
    /// </summary>
    public static GenerationResult SampleCompletions(Gpt2Model model, IReadOnlyList<int[]> prompts, int endOfText, double temperature, ulong seed, int maxNewTokens)
    {
        int longest = prompts.Max(p => p.Length);
        int budget = Math.Min(maxNewTokens, model.Config.NPositions - longest);
        if (budget < 1) throw new ArgumentException($"max_new_tokens: prompts of {longest} tokens leave no room in the model's window ({model.Config.NPositions}).");
        return Generate(model, prompts.Select(p => (IReadOnlyList<int>)p).ToList(), CompletionOptions(endOfText, temperature, seed, budget));
    }

    /// <summary>The options <see cref="SampleCompletions"/> samples with, for a budget it already cut to the window.</summary>
    internal static GenerationOptions CompletionOptions(int endOfText, double temperature, ulong seed, int budget) => new()
    {
        MaxNewTokens = budget, DoSample = true, Temperature = temperature, Seed = (long)(seed >> 1),
        EosId = endOfText, BosId = endOfText, PadId = endOfText,
    };

    /// <summary>
    /// Picks the next token per row from float32 logits [B, V]: argmax, or temperature, top-k,
    /// top-p, then a draw from the private generator.
    /// </summary>
    internal static Tensor Choose(Tensor logits, GenerationOptions o, Generator? gen)
    {
        if (!o.DoSample) return logits.argmax(1);
        using var scope = NewDisposeScope();
        using var temperature = o.Temperature.ToScalar();
        var l = o.Temperature == 1.0 ? logits : logits.div(temperature);
        long vocab = l.shape[1];
        if (o.TopK > 0 && o.TopK < vocab)
        {
            var kth = l.topk(o.TopK, dim: 1).values.narrow(1, o.TopK - 1, 1);
            l = l.masked_fill(l.lt(kth), Scalars.NegativeInfinity);
        }
        if (o.TopP < 1.0)
        {
            var (sorted, order) = l.sort(1, descending: true);
            var probs = sorted.softmax(1);
            // Drop a token once the more likely ones already reach p; the most likely always stays.
            var before = probs.cumsum(1) - probs;
            using var topP = o.TopP.ToScalar();
            sorted = sorted.masked_fill(before.ge(topP), Scalars.NegativeInfinity);
            l = full_like(l, Scalars.NegativeInfinity).scatter(1, order, sorted);
        }
        return multinomial(l.softmax(1), 1, replacement: false, generator: gen).squeeze(1).MoveToOuterDisposeScope();
    }

    private static List<long> PromptRow(IReadOnlyList<int> prompt, int index, GenerationOptions o, int vocab)
    {
        if (prompt.Count == 0)
        {
            if (o.BosId is not int bos)
                throw new ArgumentException($"Prompt {index} is empty; set GenerationOptions.BosId (GPT-2: 50256) to generate from nothing.");
            return [bos];
        }
        foreach (var id in prompt)
            if (id < 0 || id >= vocab) throw new ArgumentException($"Prompt {index} has token id {id}, outside the vocabulary [0, {vocab}).");
        return prompt.Select(i => (long)i).ToList();
    }

    private static Tensor MaskTensor(int[] padCount, int total, Device device)
    {
        var m = new long[padCount.Length * total];
        for (int r = 0; r < padCount.Length; r++)
            for (int t = padCount[r]; t < total; t++) m[r * total + t] = 1;
        return tensor(m, [padCount.Length, total], device: device);
    }
}
