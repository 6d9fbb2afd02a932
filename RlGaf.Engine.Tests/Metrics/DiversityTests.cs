using RlGaf.Engine.Metrics;

namespace RlGaf.Engine.Tests.Metrics;

public sealed class DiversityTests
{
    private static IReadOnlyList<IReadOnlyList<int>> S(params int[][] samples) => samples;

    [Fact]
    public void Distinct_n_unique_ratio_and_entropy_match_hand_counts()
    {
        // [1 2 1 2] and [1 2 3]:
        // unigrams 1 2 1 2 | 1 2 3: 7 in all, 3 distinct            -> distinct-1 = 3/7
        // bigrams (12)(21)(12) | (12)(23): 5 in all, 3 distinct     -> distinct-2 = 3/5
        // trigrams (121)(212) | (123): 3 in all, 3 distinct         -> distinct-3 = 1
        // bigram frequencies 3/5, 1/5, 1/5 -> Ent-2 = -(0.6 ln 0.6 + 2 * 0.2 ln 0.2) = 0.950270539...
        var r = Diversity.Compute(S([1, 2, 1, 2], [1, 2, 3]));
        Assert.Equal(2, r.Samples);
        Assert.Equal(3.0 / 7, r.Distinct1, 12);
        Assert.Equal(3.0 / 5, r.Distinct2, 12);
        Assert.Equal(1.0, r.Distinct3, 12);
        Assert.Equal(0.9502705392332347, r.NGramEntropy, 12);
        Assert.Equal(2, r.EntropyOrder);
        Assert.Equal(1.0, r.UniqueRatio);
    }

    [Fact]
    public void Identical_samples_give_self_bleu_one_and_unique_ratio_one_over_n()
    {
        var r = Diversity.Compute(S([5, 6, 7, 8, 9], [5, 6, 7, 8, 9], [5, 6, 7, 8, 9], [5, 6, 7, 8, 9]));
        Assert.Equal(1.0, r.SelfBleu4, 12);
        Assert.Equal(4, r.SelfBleuHypotheses);
        Assert.Equal(0.25, r.UniqueRatio);
        Assert.Equal(5.0 / 20, r.Distinct1, 12);
        Assert.Equal(Math.Log(4), r.NGramEntropy, 12); // 4 distinct bigrams, each 1/4
    }

    [Fact]
    public void Disjoint_samples_give_self_bleu_zero()
    {
        // No unigram of a hypothesis occurs in any other sample: nltk returns 0 before smoothing.
        var r = Diversity.Compute(S([1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]));
        Assert.Equal(0.0, r.SelfBleu4);
        Assert.Equal(1.0, r.Distinct1);
    }

    [Fact]
    public void Self_bleu_with_smoothing_matches_a_hand_worked_case()
    {
        // A = 1 2 3 4, B = 1 2 5 6, C = 7 8 9 10.
        // Hypothesis A against {B, C}: p1 = 2/4 (1, 2); p2 = 1/3 ((1 2)); p3 = 0/2 -> 0.1/2 (method1);
        // p4 = 0/1 -> 0.1/1; closest reference length 4 = c, so BP = 1.
        // BLEU(A) = (0.5 * 1/3 * 0.05 * 0.1)^(1/4) = 0.169904424...; B is symmetric; C has no
        // matching unigram, so 0. Mean = 2/3 * 0.169904424... = 0.113269616...
        var r = Diversity.Compute(S([1, 2, 3, 4], [1, 2, 5, 6], [7, 8, 9, 10]));
        Assert.Equal(0.11326961632314152, r.SelfBleu4, 12);
    }

    [Fact]
    public void Self_bleu_applies_the_brevity_penalty_against_the_closest_reference()
    {
        // A = 1 2 3 4 against B = 1 2 3 4 5 6: every precision 1, c = 4 < r = 6, BP = e^(1 - 6/4).
        // B against A: p = 4/6, 3/5, 2/4, 1/3; c = 6 > r = 4, BP = 1 -> (4/6 * 3/5 * 2/4 * 1/3)^(1/4).
        // Mean = (0.606530660 + 0.508132748) / 2.
        var r = Diversity.Compute(S([1, 2, 3, 4], [1, 2, 3, 4, 5, 6]));
        Assert.Equal(0.5573317039336241, r.SelfBleu4, 12);
    }

    [Fact]
    public void Self_bleu_excludes_the_hypothesis_from_its_references()
    {
        // A = 1 1 1 1, B = 1 2 3 4. A against B alone: "1" is clipped to B's count 1 -> p1 = 1/4;
        // p2 = 0/3 -> 0.1/3; p3 -> 0.1/2; p4 -> 0.1. B against A: p1 = 1/4 and the same zeros.
        // Both (0.25 * 0.1/3 * 0.05 * 0.1)^(1/4) = 0.080342841...; with A among its own references
        // A would score 1.
        var r = Diversity.Compute(S([1, 1, 1, 1], [1, 2, 3, 4]));
        Assert.Equal(0.08034284189446518, r.SelfBleu4, 12);
    }

    [Fact]
    public void Self_bleu_caps_the_hypotheses_but_keeps_every_other_sample_as_reference()
    {
        // Hypotheses A and B only; C, the only sample that shares anything with them, stays a reference.
        var samples = S([1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8]);
        var (value, hypotheses) = SelfBleu.Compute(samples, maxHypotheses: 2);
        Assert.Equal(2, hypotheses);
        Assert.Equal(1.0, value, 12); // each is a substring of C; c = 4, closest r is the other 4-long sample
    }

    [Fact]
    public void Empty_and_single_sample_inputs_are_defined()
    {
        var empty = Diversity.Compute(S());
        Assert.Equal(0, empty.Samples);
        Assert.All(empty.ToMetrics().Values, v => Assert.True(double.IsNaN(v)));

        var one = Diversity.Compute(S([1, 2]));
        Assert.True(double.IsNaN(one.SelfBleu4));
        Assert.Equal(0, one.SelfBleuHypotheses);
        Assert.Equal(1.0, one.UniqueRatio);
        Assert.Equal(1.0, one.Distinct2);
        Assert.True(double.IsNaN(one.Distinct3)); // no sample has 3 tokens

        var blanks = Diversity.Compute(S([], []));
        Assert.Equal(0.5, blanks.UniqueRatio);
        Assert.Equal(0.0, blanks.SelfBleu4);
    }

    [Fact]
    public void Metrics_are_namespaced()
    {
        var names = Diversity.Compute(S([1, 2, 3], [3, 2, 1])).ToMetrics().Keys.Order();
        Assert.Equal(["div/distinct-1", "div/distinct-2", "div/distinct-3", "div/ngram-entropy", "div/self-bleu-4", "div/unique-ratio"], names);
    }

    [Fact]
    public void Words_split_on_whitespace_and_punctuation_and_keep_case()
    {
        var w = NGrams.Words(["The acting was superb.", "the  acting was superb!"]);
        Assert.Equal([0, 1, 2, 3, 4], w[0]);
        Assert.Equal([5, 1, 2, 3, 6], w[1]);
        var r = Diversity.ComputeOverWords(["a b c d", "a b c d"]);
        Assert.Equal(1.0, r.SelfBleu4, 12);
    }

    [Fact]
    public void Self_bleu_agrees_with_a_direct_nltk_style_implementation()
    {
        var rng = new Random(7);
        for (int trial = 0; trial < 20; trial++)
        {
            var samples = Enumerable.Range(0, rng.Next(2, 12))
                .Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, rng.Next(0, 9)).Select(_ => rng.Next(0, 5)).ToArray())
                .ToArray();
            int cap = rng.Next(1, 14);
            var (value, hypotheses) = SelfBleu.Compute(samples, cap);
            int h = Math.Min(cap, samples.Length);
            double expected = Enumerable.Range(0, h)
                .Average(i => ReferenceBleu(samples[i], samples.Where((_, j) => j != i).ToList()));
            Assert.Equal(h, hypotheses);
            Assert.Equal(expected, value, 12);
        }
    }

    // nltk.translate.bleu_score.sentence_bleu with SmoothingFunction().method1, written out
    // plainly: a pass over every reference for every n-gram, no precomputation.
    private static double ReferenceBleu(IReadOnlyList<int> hyp, IReadOnlyList<IReadOnlyList<int>> refs)
    {
        var precisions = new List<(int Num, int Den)>();
        for (int n = 1; n <= 4; n++)
        {
            var counts = NGrams.Count(hyp, n);
            int num = counts.Sum(kv => Math.Min(kv.Value, refs.Max(r => NGrams.Count(r, n).GetValueOrDefault(kv.Key))));
            precisions.Add((num, Math.Max(1, counts.Values.Sum())));
        }
        if (precisions[0].Num == 0) return 0;
        int c = hyp.Count;
        int closest = refs.Select(r => r.Count).OrderBy(l => Math.Abs(l - c)).ThenBy(l => l).First();
        double bp = c > closest ? 1 : Math.Exp(1 - (double)closest / c);
        return bp * Math.Exp(precisions.Sum(p => 0.25 * Math.Log(p.Num == 0 ? 0.1 / p.Den : (double)p.Num / p.Den)));
    }
}
