using RlGaf.Engine.Metrics;
using RlGaf.Engine.Tasks;

namespace RlGaf.Engine.Evaluation;

/// <summary>
/// Generated completions as an evaluation sees them: the task's judged samples, and the metrics logged
/// for a set of them. One definition for run evaluations and checkpoint comparisons, so their figures compare.
/// </summary>
public static class CompletionMetrics
{
    /// <summary>Judged samples of <paramref name="completions"/> (model ids; end-of-text is dropped) of the prompts, in order.</summary>
    public static List<JudgedSample> Judged(IAlignmentTask task, IReadOnlyList<TaskExample> prompts, IReadOnlyList<int[]> completions, IReadOnlyList<bool> ended)
    {
        int eot = task.Vocabulary.EndOfTextId;
        return prompts.Select((e, i) =>
        {
            var ids = completions[i].Where(t => t != eot).ToArray();
            return new JudgedSample(e.PromptText, task.Vocabulary.Decode(ids), ids.Length, ended[i]);
        }).ToList();
    }

    /// <summary>Diversity over whitespace words (div/*, tokenizer-independent) and the task's judge (oracle/*, align/*, ...).</summary>
    public static Dictionary<string, double> Of(IAlignmentTask task, IReadOnlyList<JudgedSample> judged)
    {
        var metrics = new Dictionary<string, double>();
        foreach (var (k, v) in Diversity.ComputeOverWords(judged.Select(j => j.CompletionText).ToList()).ToMetrics()) metrics[k] = v;
        foreach (var (k, v) in task.Judge(judged)) metrics[k] = v;
        return metrics;
    }
}
