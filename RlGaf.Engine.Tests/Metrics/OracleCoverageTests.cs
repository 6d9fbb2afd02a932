using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Metrics;
using Xunit.Abstractions;

namespace RlGaf.Engine.Tests.Metrics;

public sealed class OracleCoverageTests(ITestOutputHelper output)
{
    private static readonly OracleCoverage C = OracleCoverage.Default;

    // A review grammar small enough to list: the openings' distribution by brute force.
    private static ReviewGrammar Tiny()
    {
        var g = new GrammarBuilder();
        g.Rule("Review", (1, "<Review.pos>"), (2, "<Review.neg>"));
        g.SentimentRule("Review", (1, "<Op.{s}> <Mid> <V.{s}>"));
        g.Rule("Op.pos", (2, "good <Film> ."), (1, "I liked it !"));
        g.Rule("Op.neg", (1, "bad <Film> ."), (3, "I hated it ."));
        g.Rule("Film", (3, "film"), (1, "movie"), (1, "play"));
        g.Rule("Mid", (1, ""), (2, "the plot was fine ."));
        g.Rule("V.pos", (1, "see it ."), (4, "ten out of ten ."));
        g.Rule("V.neg", (1, "skip it ."));
        return new ReviewGrammar(g.Build("Review"));
    }

    [Fact]
    public void Opening_probabilities_and_expected_mass_match_brute_force_on_a_tiny_grammar()
    {
        var tiny = Tiny();
        var coverage = new OracleCoverage(tiny, "Op.pos", "Op.neg");
        var openings = new Dictionary<string, double>();
        foreach (var (tokens, p) in tiny.Grammar.EnumerateDerivations(tiny.Grammar.Root))
        {
            string first = ReviewGrammar.SplitSentences(tiny.Render(tokens))[0];
            openings[first] = openings.GetValueOrDefault(first) + p;
        }
        Assert.Equal(8, openings.Count);
        Assert.Equal(openings.Count, coverage.OpeningCount);
        foreach (var (text, p) in openings) Assert.Equal(p, coverage.OpeningProbability(text), 12);
        Assert.Equal(0, coverage.OpeningProbability("Good sequel."));
        Assert.Equal(0, coverage.OpeningProbability(""));
        foreach (int m in new[] { 0, 1, 3, 10, 1000 })
            Assert.Equal(openings.Values.Sum(p => p * (1 - Math.Pow(1 - p, m))), coverage.ExpectedCoveredMass(m), 12);
    }

    [Fact]
    public void The_built_in_openings_histogram_is_a_distribution_over_every_opening()
    {
        var g = ReviewGrammar.Default.Grammar;
        Assert.Equal(1.0, C.ProbabilityHistogram.Sum(b => b.P * b.Count), 9);
        double derivations = (double)(g.CountDerivations(g.NonterminalId("Opening.pos")) + g.CountDerivations(g.NonterminalId("Opening.neg")));
        Assert.Equal(derivations, C.OpeningCount);
        output.WriteLine($"{C.OpeningCount:N0} openings, {C.ProbabilityHistogram.Count} distinct probabilities; " +
            $"expected covered mass at m = 200: {C.ExpectedCoveredMass(200):F4}, 1000: {C.ExpectedCoveredMass(1000):F4}");
        // Every sampled review's first sentence is an opening with the probability the DP assigns to its group.
        foreach (var s in ReviewGrammar.Default.Sample(300, 5))
        {
            double p = C.OpeningProbability(ReviewGrammar.SplitSentences(s.Text)[0]);
            Assert.Contains(C.ProbabilityHistogram, b => Math.Abs(b.P - p) <= 1e-12 * p);
        }
    }

    [Fact]
    public void The_grammar_own_samples_score_about_one_and_dropped_modes_score_less()
    {
        // The grammar's own samples: a fixed-seed draw of 500 has a coverage sd of about 0.03
        // (measured over 400 seeds), so this is a 4-sd band.
        var own = ReviewGrammar.Default.Sample(500, 21).Select(s => s.Text).ToList();
        var full = C.Evaluate(own);
        Assert.Equal(500, full.ValidSamples);
        Assert.InRange(full.Coverage, 0.88, 1.12);

        // Half the modes: only positive reviews (as many of them as the full set).
        var positive = ReviewGrammar.Default.Sample(1200, 12).Where(s => s.Sentiment == Sentiment.Positive).Take(500).Select(s => s.Text).ToList();
        var half = C.Evaluate(positive);
        // One template: "What a <adj> <film>!" only.
        var template = ReviewGrammar.Default.Sample(20000, 13).Where(s => s.Text.StartsWith("What a ")).Take(500).Select(s => s.Text).ToList();
        var narrow = C.Evaluate(template);
        // Full collapse: one review repeated.
        var one = C.Evaluate(Enumerable.Repeat(own[0], 500));
        output.WriteLine($"own {full.Coverage:F3}, positive only {half.Coverage:F3}, one template {narrow.Coverage:F3}, one review {one.Coverage:F4}");
        Assert.True(half.Coverage < 0.85 * full.Coverage);
        Assert.True(narrow.Coverage < half.Coverage);
        Assert.True(one.Coverage < 0.05);
        Assert.Equal(1, one.DistinctOpenings);
    }

    [Fact]
    public void Coverage_of_grammar_samples_averages_to_one_because_the_expected_mass_is_exact()
    {
        // 3,000 independent sets of 10 reviews; the mean of covered / expected has se ~0.002.
        var rng = new SplitMix64(99);
        double mean = Enumerable.Range(0, 3000).Average(_ =>
            C.Evaluate(Enumerable.Range(0, 10).Select(_ => ReviewGrammar.Default.Sample(ref rng).Text).ToList()).Coverage);
        Assert.InRange(mean, 0.99, 1.01);
    }

    [Fact]
    public void Invalid_texts_are_skipped_and_no_valid_text_gives_nan()
    {
        var r = C.Evaluate(["This film is a gem. A must-see.", "this film is a gem. A must-see.", "Gibberish words here."]);
        Assert.Equal(3, r.Samples);
        Assert.Equal(1, r.ValidSamples);
        Assert.Equal(C.OpeningProbability("This film is a gem."), r.CoveredMass, 15);
        Assert.Equal(C.ExpectedCoveredMass(1), r.ExpectedMass, 15);
        Assert.True(double.IsNaN(C.Evaluate(["nope"]).Coverage));
        Assert.True(double.IsNaN(C.Evaluate([]).Coverage));
    }

    [Theory]
    [InlineData(1e-9, 200)]
    [InlineData(3e-5, 1000)]
    [InlineData(0.01, 50)]
    [InlineData(0.5, 3)]
    public void Seen_probability_is_accurate_for_tiny_and_large_p(double p, int m)
    {
        // 1 - (1-p)^m by the binomial series sum_k (-1)^(k+1) C(m,k) p^k, fine for these sizes in decimal.
        decimal q = (decimal)p, term = 1, exact = 0;
        for (int k = 1; k <= m && k < 60; k++)
        {
            term *= (m - k + 1) * q / k;
            exact += k % 2 == 1 ? term : -term;
        }
        Assert.Equal((double)exact, OracleCoverage.SeenProbability(p, m), (double)exact * 1e-12 + 1e-300);
    }
}
