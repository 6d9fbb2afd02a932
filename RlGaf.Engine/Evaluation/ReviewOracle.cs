using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Text;

namespace RlGaf.Engine.Evaluation;

/// <summary>
/// How generated reviews fare under the grammar that defines the built-in corpus:
/// <list type="bullet">
/// <item><c>ValidRate</c>: share of samples in the grammar's language.</item>
/// <item><c>OracleNllPerToken</c>: -log P_grammar(text) summed over valid samples, divided by their
/// model tokens (ratio of sums, as SeqGAN's NLL-oracle but per token). Lower means the model puts its
/// mass on likely reviews; a collapsed model scores low here too, so read it with diversity.</item>
/// <item><c>GrammarEntropyPerToken</c>: the same quantity for the grammar's own samples, the level a
/// perfect model reaches; <c>NllRatio</c> = oracle NLL / that entropy.</item>
/// <item><c>PositiveRate</c>: share of valid samples whose sentiment is positive (alignment).</item>
/// </list>
/// </summary>
public sealed record OracleReport(int Samples, int Valid, double ValidRate, double OracleNllPerToken,
    double GrammarEntropyPerToken, double NllRatio, double PositiveRate, int DistinctValid);

public static class ReviewOracle
{
    /// <summary>Entropy of the grammar per model token, estimated from <paramref name="samples"/> of its own reviews.</summary>
    public static double EntropyPerToken(ReviewGrammar grammar, Vocabulary vocabulary, int samples = 5000, ulong seed = 20231)
    {
        double nll = 0;
        long tokens = 0;
        foreach (var s in grammar.Sample(samples, seed))
        {
            nll -= s.LogProb;
            tokens += vocabulary.Encode(s.Text).Length;
        }
        return nll / tokens;
    }

    /// <summary>Grades generated texts; <paramref name="tokenCounts"/>[i] is the number of model tokens of texts[i].</summary>
    public static OracleReport Evaluate(ReviewGrammar grammar, IReadOnlyList<string> texts, IReadOnlyList<int> tokenCounts, double grammarEntropyPerToken)
    {
        if (texts.Count != tokenCounts.Count) throw new ArgumentException("texts and tokenCounts differ in length.");
        int valid = 0, positive = 0;
        double nll = 0;
        long tokens = 0;
        var distinct = new HashSet<string>();
        for (int i = 0; i < texts.Count; i++)
        {
            var a = grammar.Analyze(texts[i]);
            if (!a.IsValid) continue;
            valid++;
            nll -= a.LogProb;
            tokens += tokenCounts[i];
            if (a.Sentiment == Sentiment.Positive) positive++;
            distinct.Add(texts[i]);
        }
        double nllPerToken = tokens > 0 ? nll / tokens : double.NaN;
        return new OracleReport(texts.Count, valid, texts.Count == 0 ? double.NaN : (double)valid / texts.Count,
            nllPerToken, grammarEntropyPerToken, nllPerToken / grammarEntropyPerToken,
            valid == 0 ? double.NaN : (double)positive / valid, distinct.Count);
    }
}
