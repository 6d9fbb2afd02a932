using RlGaf.Engine.Text;

namespace RlGaf.Engine.Tasks;

/// <summary>A prompt with a real completion, in text and in model token ids.</summary>
/// <param name="Prompt">Model ids, starting with the beginning-of-sequence (end-of-text) token.</param>
/// <param name="Completion">Model ids of the real completion, ending with end-of-text.</param>
public sealed record TaskExample(string PromptText, int[] Prompt, string CompletionText, int[] Completion);

/// <summary>A (prompt, completion) pair with a label, for the RLHF-proxy reward model (1 = preferred).</summary>
public sealed record LabelledExample(int[] Prompt, int[] Completion, float Label);

/// <summary>A generated completion as the task's judge sees it.</summary>
/// <param name="EndedWithEos">False when the completion ran into max_new_tokens (usually unfinished).</param>
public sealed record JudgedSample(string PromptText, string CompletionText, int CompletionTokens, bool EndedWithEos);

/// <summary>
/// What an adversarial run aligns the generator to: prompts with real completions (the
/// discriminator's positives), labelled pairs for the RLHF-proxy reward model, a fixed held-out
/// prompt set for evaluation, and a judge that turns completions into task metrics
/// (oracle/*, align/*, squad/*). Implemented for the built-in synthetic reviews; IMDB and SQuAD
/// implement the same interface.
/// </summary>
public interface IAlignmentTask
{
    string Name { get; }
    Vocabulary Vocabulary { get; }
    /// <summary>Real (prompt, completion) pairs drawn with <paramref name="seed"/>.</summary>
    IReadOnlyList<TaskExample> SampleReal(int count, ulong seed);
    /// <summary>Labelled pairs for training a frozen reward model (RLHF proxy).</summary>
    IReadOnlyList<LabelledExample> SampleLabelled(int count, ulong seed);
    /// <summary>The fixed evaluation prompts (the same for every run and step).</summary>
    IReadOnlyList<TaskExample> HeldOut(int count);
    /// <summary>
    /// Real texts that lack the target property, as extra negatives of the discriminator (real_negatives):
    /// the label-0 pairs of <see cref="SampleLabelled"/> — IMDB's negative reviews, SQuAD's wrong answers and
    /// abstentions on answerable questions, synthetic reviews' negative reviews (the oracle's), another
    /// prompt's completion for JSONL. Null when the task has none.
    /// </summary>
    IReadOnlyList<LabelledExample>? SampleNegatives(int count, ulong seed)
    {
        var negatives = new List<LabelledExample>(count);
        // Half of the labelled pairs are negatives in every task here; a few rounds always suffice unless there are none.
        for (ulong round = 0; round < 16 && negatives.Count < count; round++)
            negatives.AddRange(SampleLabelled(2 * count, seed + round * 0x9E3779B97F4A7C15UL).Where(e => e.Label == 0).Take(count - negatives.Count));
        return negatives.Count == count ? negatives : null;
    }
    /// <summary>Task metrics of completions, by metric name.</summary>
    IReadOnlyDictionary<string, double> Judge(IReadOnlyList<JudgedSample> samples);
    /// <summary>A short verdict for one sample shown in tables (e.g. "valid, positive"); null when the task has none.</summary>
    string? Verdict(JudgedSample sample);
    /// <summary>
    /// The judge's score of one sample, higher = more aligned (IMDB: the held-out judge's P(positive);
    /// synthetic reviews: 1 for a valid positive review, else 0); what disc/judge_corr ranks the
    /// discriminator's scores against. NaN when the task has no per-sample judge.
    /// </summary>
    double JudgeScore(JudgedSample sample) => double.NaN;
}
