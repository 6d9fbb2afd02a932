namespace RlGaf.Engine.Metrics;

/// <summary>
/// Diversity of a set of completions (docs/metrics.md, <c>div/*</c>). Values are NaN where they
/// are undefined: every value on an empty set; self-BLEU with fewer than two samples; distinct-n
/// and n-gram entropy when no sample has n tokens.
/// </summary>
/// <param name="Samples">Completions measured.</param>
/// <param name="Distinct1">Distinct unigrams / total unigrams, pooled over all samples.</param>
/// <param name="Distinct2">Distinct bigrams / total bigrams (n-grams never cross samples).</param>
/// <param name="Distinct3">Distinct trigrams / total trigrams.</param>
/// <param name="SelfBleu4">Mean BLEU-4 of each hypothesis against all other samples (<see cref="SelfBleu"/>).</param>
/// <param name="SelfBleuHypotheses">Hypotheses scored for <paramref name="SelfBleu4"/> (the first ones, up to the cap).</param>
/// <param name="UniqueRatio">Distinct completions / completions.</param>
/// <param name="NGramEntropy">Entropy in nats of the pooled n-gram frequency distribution.</param>
/// <param name="EntropyOrder">The n of <paramref name="NGramEntropy"/>.</param>
public sealed record DiversityReport(int Samples, double Distinct1, double Distinct2, double Distinct3,
    double SelfBleu4, int SelfBleuHypotheses, double UniqueRatio, double NGramEntropy, int EntropyOrder)
{
    public const string Distinct1Name = "div/distinct-1";
    public const string Distinct2Name = "div/distinct-2";
    public const string Distinct3Name = "div/distinct-3";
    public const string SelfBleu4Name = "div/self-bleu-4";
    public const string UniqueRatioName = "div/unique-ratio";
    public const string NGramEntropyName = "div/ngram-entropy";

    /// <summary>The report as namespaced metrics, the names docs/metrics.md explains.</summary>
    public IReadOnlyDictionary<string, double> ToMetrics() => new Dictionary<string, double>
    {
        [Distinct1Name] = Distinct1,
        [Distinct2Name] = Distinct2,
        [Distinct3Name] = Distinct3,
        [SelfBleu4Name] = SelfBleu4,
        [UniqueRatioName] = UniqueRatio,
        [NGramEntropyName] = NGramEntropy,
    };
}

/// <summary>
/// Diversity metrics over token sequences. The unit is whatever ids the caller passes; the
/// trainer reports them over words (<see cref="ComputeOverWords"/>: whitespace words with
/// punctuation split off), so the numbers do not depend on the tokenizer and runs with
/// different vocabularies compare. Pure and deterministic; never throws on the samples.
/// </summary>
public static class Diversity
{
    /// <summary>Every <c>div/*</c> value. <paramref name="selfBleuHypotheses"/> caps the hypotheses (TextGAN uses 200).</summary>
    public static DiversityReport Compute(IReadOnlyList<IReadOnlyList<int>> samples, int selfBleuHypotheses = 200, int entropyOrder = 2)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentOutOfRangeException.ThrowIfLessThan(entropyOrder, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(entropyOrder, NGrams.MaxOrder);
        var (bleu, hypotheses) = SelfBleu.Compute(samples, selfBleuHypotheses);
        return new DiversityReport(samples.Count, DistinctN(samples, 1), DistinctN(samples, 2), DistinctN(samples, 3),
            bleu, hypotheses, UniqueRatio(samples), NGramEntropy(samples, entropyOrder), entropyOrder);
    }

    /// <summary><see cref="Compute"/> over the words of texts (<see cref="NGrams.Words"/>).</summary>
    public static DiversityReport ComputeOverWords(IReadOnlyList<string> texts, int selfBleuHypotheses = 200, int entropyOrder = 2) =>
        Compute(NGrams.Words(texts), selfBleuHypotheses, entropyOrder);

    /// <summary>
    /// Distinct n-grams / total n-grams, pooled over samples (the common code's definition; Li et
    /// al. 2016 divide by the total number of tokens instead, which makes distinct-2/3 lower for
    /// short samples). NaN when no sample has n tokens.
    /// </summary>
    public static double DistinctN(IReadOnlyList<IReadOnlyList<int>> samples, int n)
    {
        var counts = NGrams.CountPooled(samples, n);
        long total = 0;
        foreach (int c in counts.Values) total += c;
        return total == 0 ? double.NaN : (double)counts.Count / total;
    }

    /// <summary>Distinct completions (as whole token sequences) / completions; NaN when empty.</summary>
    public static double UniqueRatio(IReadOnlyList<IReadOnlyList<int>> samples)
    {
        if (samples.Count == 0) return double.NaN;
        var distinct = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in samples) distinct.Add(string.Join(',', s));
        return (double)distinct.Count / samples.Count;
    }

    /// <summary>
    /// Ent-n: -sum p ln p over the pooled n-gram frequencies p = count / total, in nats. 0 when one
    /// n-gram repeats; ln(total) when all differ. NaN when no sample has n tokens.
    /// </summary>
    public static double NGramEntropy(IReadOnlyList<IReadOnlyList<int>> samples, int n = 2)
    {
        var counts = NGrams.CountPooled(samples, n);
        long total = 0;
        foreach (int c in counts.Values) total += c;
        if (total == 0) return double.NaN;
        double h = 0;
        foreach (int c in counts.Values)
        {
            double p = (double)c / total;
            h -= p * Math.Log(p);
        }
        return h;
    }
}
