namespace RlGaf.Engine.Metrics;

/// <summary>
/// Self-BLEU-4 (Texygen / TextGAN-PyTorch): each of the first <c>maxHypotheses</c> samples is a
/// hypothesis scored against ALL OTHER samples as references (the hypothesis itself excluded:
/// Texygen's two code paths disagree on this, we exclude), and the BLEU scores are averaged.
/// BLEU is nltk's sentence_bleu: uniform weights 1/4, clipped n-gram precisions (a hypothesis
/// n-gram counts at most as often as in the reference where it is most frequent), brevity
/// penalty against the closest reference length (ties to the shorter), smoothing method1
/// (a zero precision numerator becomes 0.1), a precision denominator of at least 1, and
/// score 0 when no unigram matches at all (nltk returns 0 before smoothing in that case).
/// </summary>
public static class SelfBleu
{
    /// <summary>nltk SmoothingFunction().method1's epsilon.</summary>
    public const double Epsilon = 0.1;

    /// <summary>The maximum count of one n-gram over all samples, the runner-up, and who holds the maximum.</summary>
    private struct Top2 { public int Max1, Owner1, Max2; }

    /// <summary>
    /// Mean self-BLEU-4 over hypotheses 0..min(maxHypotheses, count)-1 and how many were scored.
    /// NaN (0 hypotheses) with fewer than two samples: there is no reference.
    /// </summary>
    public static (double Value, int Hypotheses) Compute(IReadOnlyList<IReadOnlyList<int>> samples, int maxHypotheses = 200)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxHypotheses, 1);
        if (samples.Count < 2) return (double.NaN, 0);

        // Per n-gram, the top-2 counts across samples: the max over "all but h" is then Max2 when
        // h holds Max1 and Max1 otherwise, O(1) per lookup instead of a pass over the references.
        var top = new Dictionary<NGram, Top2>[NGrams.MaxOrder + 1];
        for (int n = 1; n <= NGrams.MaxOrder; n++)
        {
            top[n] = [];
            for (int s = 0; s < samples.Count; s++)
                foreach (var (g, c) in NGrams.Count(samples[s], n))
                {
                    var t = top[n].GetValueOrDefault(g);
                    if (c > t.Max1) { t.Max2 = t.Max1; t.Max1 = c; t.Owner1 = s; }
                    else if (c > t.Max2) t.Max2 = c;
                    top[n][g] = t;
                }
        }
        // Reference lengths as a sorted histogram, so the closest length without h is cheap too.
        var lengthCounts = new SortedDictionary<int, int>();
        foreach (var s in samples) lengthCounts[s.Count] = lengthCounts.GetValueOrDefault(s.Count) + 1;

        int hypotheses = Math.Min(maxHypotheses, samples.Count);
        double sum = 0;
        for (int h = 0; h < hypotheses; h++)
        {
            var hyp = samples[h];
            double meanLog = 0; // uniform weights 1/4 over ln p_n
            bool anyUnigram = false;
            for (int n = 1; n <= NGrams.MaxOrder; n++)
            {
                int matched = 0, total = 0;
                foreach (var (g, c) in NGrams.Count(hyp, n))
                {
                    total += c;
                    if (!top[n].TryGetValue(g, out var t)) continue;
                    int refMax = t.Owner1 == h ? t.Max2 : t.Max1;
                    matched += Math.Min(c, refMax);
                }
                if (n == 1) anyUnigram = matched > 0;
                int denominator = Math.Max(1, total);
                meanLog += Math.Log(matched > 0 ? (double)matched / denominator : Epsilon / denominator) / NGrams.MaxOrder;
            }
            if (!anyUnigram) continue; // BLEU 0
            sum += BrevityPenalty(hyp.Count, ClosestReferenceLength(lengthCounts, hyp.Count)) * Math.Exp(meanLog);
        }
        return (sum / hypotheses, hypotheses);
    }

    /// <summary>BP = 1 when the hypothesis is longer than the reference, else exp(1 - r/c).</summary>
    internal static double BrevityPenalty(int hypothesisLength, int referenceLength) =>
        hypothesisLength > referenceLength ? 1 : hypothesisLength == 0 ? 0 : Math.Exp(1 - (double)referenceLength / hypothesisLength);

    // The reference length closest to the hypothesis's among all samples but the hypothesis
    // (whose own length is taken out once); ties go to the shorter length, as nltk's min over (|r - c|, r).
    private static int ClosestReferenceLength(SortedDictionary<int, int> lengthCounts, int own)
    {
        int best = -1;
        foreach (var (length, count) in lengthCounts)
        {
            if (length == own && count == 1) continue;
            if (best < 0 || Math.Abs(length - own) < Math.Abs(best - own)) best = length;
        }
        return best;
    }
}
