namespace RlGaf.Engine.Models;

/// <summary>How <see cref="TextGenerator"/> picks tokens and when it stops.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens generated per sequence (EOS included). Prompt + this must fit n_positions.</summary>
    public int MaxNewTokens { get; init; } = 32;

    /// <summary>False: greedy (argmax). True: sample from the filtered, temperature-scaled distribution.</summary>
    public bool DoSample { get; init; }

    /// <summary>Divides the logits before sampling; below 1 sharpens, above 1 flattens. Ignored when greedy.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Keep only the k most likely tokens before sampling; 0 = off.</summary>
    public int TopK { get; init; }

    /// <summary>Nucleus sampling: keep the smallest set of tokens whose probability reaches p; 1 = off.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Seed of the private sampling generator (the global RNG is never used); null = a fresh random seed.</summary>
    public long? Seed { get; init; }

    /// <summary>End-of-text id: a sequence stops after generating it (it is included in the output). Null = never stop early.</summary>
    public int? EosId { get; init; }

    /// <summary>Token an empty prompt starts from (GPT-2: 50256). Null = empty prompts are an error.</summary>
    public int? BosId { get; init; }

    /// <summary>Id used for left padding and for finished sequences; masked out, so any valid id works.</summary>
    public int PadId { get; init; }

    /// <summary>Reuse keys/values of earlier tokens (fast). False recomputes the whole sequence each step (same tokens).</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate(int vocabSize)
    {
        if (MaxNewTokens < 0) throw new ArgumentException($"MaxNewTokens ({MaxNewTokens}) must be >= 0.");
        if (!(Temperature > 0) || !double.IsFinite(Temperature)) throw new ArgumentException($"Temperature ({Temperature}) must be positive.");
        if (TopK < 0) throw new ArgumentException($"TopK ({TopK}) must be >= 0 (0 = off).");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"TopP ({TopP}) must be in (0, 1].");
        Id(EosId, "EosId", vocabSize);
        Id(BosId, "BosId", vocabSize);
        Id(PadId, "PadId", vocabSize);
    }

    private static void Id(int? id, string name, int vocabSize)
    {
        if (id is int v && (v < 0 || v >= vocabSize)) throw new ArgumentException($"{name} ({v}) is outside the vocabulary [0, {vocabSize}).");
    }
}

/// <summary>One generated continuation.</summary>
/// <param name="Tokens">Generated ids after the prompt; ends with EOS when <paramref name="EndedWithEos"/>, nothing after it.</param>
/// <param name="LogProbs">Per token, log p(token) under the model's raw distribution (log_softmax of the logits, before temperature/top-k/top-p).</param>
/// <param name="EndedWithEos">True when the sequence stopped by generating the EOS id, false when it hit MaxNewTokens.</param>
public sealed record GeneratedSequence(int[] Tokens, float[] LogProbs, bool EndedWithEos);

/// <summary>Continuations in the order of the prompts.</summary>
/// <param name="Sequences">One entry per prompt.</param>
/// <param name="Steps">Forward passes run (the longest continuation's length).</param>
public sealed record GenerationResult(IReadOnlyList<GeneratedSequence> Sequences, int Steps);
