using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Metrics;
using RlGaf.Engine.Text;

namespace RlGaf.Engine.Tasks;

/// <summary>
/// "Write positive reviews" on the built-in grammar. Prompts are review openings of 0-2 words
/// ("", "I", "What a", "This film", ...), which leave the sentiment open; the real completions are
/// the rest of positive reviews. The grammar judges every completion exactly: valid rate, oracle
/// NLL per token, positive rate, coverage. Real completions are capped at <paramref name="maxNewTokens"/>
/// (the run's max_new_tokens, end-of-text included) as generated ones are, so their length is no cue
/// for the discriminator; a capped one loses its end-of-text, like a generated one that ran out.
/// </summary>
public sealed class SyntheticReviewsTask(Vocabulary vocabulary, int maxNewTokens = int.MaxValue) : IAlignmentTask
{
    public const string TaskName = "synthetic-reviews";
    private const ulong HeldOutSeed = 0x5EED_E7A1;
    private readonly ReviewGrammar _grammar = ReviewGrammar.Default;
    private readonly Lazy<double> _entropyPerToken = new(() => Evaluation.ReviewOracle.EntropyPerToken(ReviewGrammar.Default, vocabulary));

    public string Name => TaskName;
    public Vocabulary Vocabulary => vocabulary;

    public IReadOnlyList<TaskExample> SampleReal(int count, ulong seed) =>
        Draw(count, seed, Sentiment.Positive).Select(x => x.Example).ToList();

    public IReadOnlyList<LabelledExample> SampleLabelled(int count, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var result = new List<LabelledExample>(count);
        while (result.Count < count)
        {
            var s = _grammar.Sample(ref rng);
            var ex = Split(s.Text, (int)(rng.NextUInt64() % 3));
            result.Add(new LabelledExample(ex.Prompt, ex.Completion, s.Sentiment == Sentiment.Positive ? 1f : 0f));
        }
        return result;
    }

    public IReadOnlyList<TaskExample> HeldOut(int count) =>
        Draw(count, HeldOutSeed, sentiment: null).Select(x => x.Example).ToList();

    public IReadOnlyDictionary<string, double> Judge(IReadOnlyList<JudgedSample> samples)
    {
        int valid = 0, positive = 0;
        double nll = 0;
        long tokens = 0;
        var validTexts = new List<string>();
        foreach (var s in samples)
        {
            var a = Analyze(s);
            if (a is null || !a.IsValid) continue;
            valid++;
            nll -= a.LogProb;
            tokens += vocabulary.Encode(s.PromptText + s.CompletionText).Length;
            if (a.Sentiment == Sentiment.Positive) positive++;
            validTexts.Add(s.PromptText + s.CompletionText);
        }
        int n = Math.Max(1, samples.Count);
        return new Dictionary<string, double>
        {
            ["oracle/valid-rate"] = (double)valid / n,
            ["oracle/nll"] = tokens > 0 ? nll / tokens : double.NaN,
            ["oracle/entropy"] = _entropyPerToken.Value,
            ["align/positive-rate"] = (double)positive / n,
            ["oracle/coverage"] = OracleCoverage.Default.Evaluate(validTexts).Coverage,
        };
    }

    public string? Verdict(JudgedSample sample)
    {
        var a = Analyze(sample);
        if (a is null) return "unfinished";
        return a.IsValid ? $"valid, {a.Sentiment!.Value.ToString().ToLowerInvariant()}" : "not in grammar";
    }

    public double JudgeScore(JudgedSample sample) => Analyze(sample) is { IsValid: true, Sentiment: Sentiment.Positive } ? 1 : 0;

    private ReviewAnalysis? Analyze(JudgedSample s) =>
        s.EndedWithEos ? _grammar.Analyze(s.PromptText + s.CompletionText) : null;

    private IEnumerable<(TaskExample Example, Sentiment Sentiment)> Draw(int count, ulong seed, Sentiment? sentiment)
    {
        var rng = new SplitMix64(seed);
        int made = 0;
        while (made < count)
        {
            var s = _grammar.Sample(ref rng);
            int words = (int)(rng.NextUInt64() % 3);
            if (sentiment is { } want && s.Sentiment != want) continue;
            made++;
            yield return (Split(s.Text, words), s.Sentiment);
        }
    }

    /// <summary>Splits a review after its first <paramref name="words"/> words; the completion keeps its leading space.</summary>
    private TaskExample Split(string text, int words)
    {
        int cut = 0;
        for (int w = 0; w < words; w++)
        {
            int sp = text.IndexOf(' ', cut == 0 ? 0 : cut + 1);
            if (sp < 0) { cut = 0; break; }
            cut = sp;
        }
        string prompt = text[..cut], completion = text[cut..];
        int eot = vocabulary.EndOfTextId;
        var tokens = vocabulary.Encode(completion);
        if (tokens.Length + 1 <= maxNewTokens) return new TaskExample(prompt, [eot, .. vocabulary.Encode(prompt)], completion, [.. tokens, eot]);
        var capped = tokens[..Math.Max(0, maxNewTokens)];
        return new TaskExample(prompt, [eot, .. vocabulary.Encode(prompt)], vocabulary.Decode(capped), capped);
    }
}
