using System.Diagnostics;
using System.Numerics;
using RlGaf.Engine.Corpora.SyntheticReviews;
using Xunit.Abstractions;

namespace RlGaf.Engine.Tests.Corpora;

public sealed class SyntheticReviewsTests(ITestOutputHelper output)
{
    private static readonly ReviewGrammar G = ReviewGrammar.Default;

    // A tiny review grammar whose whole language can be listed, built through the same API.
    // Unequal weights everywhere, an empty alternative and a shared subtree, so mistakes in
    // normalisation or in the inside algorithm show up as probabilities that do not sum to 1.
    private static ReviewGrammar Tiny()
    {
        var g = new GrammarBuilder();
        g.Rule("Review", (1, "<Review.pos>"), (2, "<Review.neg>"));
        g.SentimentRule("Review", (1, "<Op.{s}> <Mid> <V.{s}>"));
        g.Rule("Op.pos", (2, "good film ."), (1, "I liked it !"));
        g.Rule("Op.neg", (1, "bad film ."), (3, "I hated it ."));
        g.Rule("Mid", (1, ""), (2, "the plot was <Adj> ."), (1, "the songs were <Adj> , but the plot was <Adj> ."));
        g.Rule("Adj", (3, "fine"), (1, "thin"));
        g.Rule("V.pos", (1, "see it ."), (4, "ten out of ten ."));
        g.Rule("V.neg", (1, "skip it ."));
        return new ReviewGrammar(g.Build("Review"));
    }

    private static Dictionary<string, double> TinyLanguage(ReviewGrammar tiny)
    {
        var language = new Dictionary<string, double>();
        foreach (var (tokens, p) in tiny.Grammar.EnumerateDerivations(tiny.Grammar.Root))
        {
            string text = tiny.Render(tokens);
            language[text] = language.GetValueOrDefault(text) + p;
        }
        return language;
    }

    [Fact]
    public void Sampled_reviews_are_valid_and_the_parser_agrees_with_the_sampler()
    {
        foreach (var s in G.Sample(3000, seed: 1))
        {
            var a = G.Analyze(s.Text);
            Assert.True(a.IsValid, $"{s.Text}: {a.Reason}");
            Assert.Null(a.Reason);
            // Equality with the sampled derivation's probability also shows that no other
            // derivation of the same text exists (the inside algorithm sums all of them).
            Assert.Equal(s.LogProb, a.LogProb, 1e-9);
            Assert.Equal(s.Sentiment, a.Sentiment);
            double other = s.Sentiment == Sentiment.Positive ? a.LogProbNegative : a.LogProbPositive;
            Assert.Equal(double.NegativeInfinity, other);
            Assert.Equal(s.LogProb, G.LogProb(s.Text)!.Value, 1e-9);
            Assert.Equal(s.Sentiment, G.SentimentOf(s.Text));
        }
    }

    [Fact]
    public void Probabilities_of_the_tiny_language_sum_to_one_and_match_enumeration()
    {
        var tiny = Tiny();
        var language = TinyLanguage(tiny);
        Assert.Equal((BigInteger)language.Count, tiny.CountDistinctReviews());
        Assert.Equal(tiny.CountDerivations(), tiny.CountDistinctReviews());
        double total = 0, entropy = 0;
        foreach (var (text, p) in language)
        {
            var a = tiny.Analyze(text);
            Assert.True(a.IsValid, $"{text}: {a.Reason}");
            Assert.Equal(Math.Log(p), a.LogProb, 1e-12);
            total += Math.Exp(a.LogProb);
            entropy -= p * Math.Log(p);
        }
        Assert.Equal(1.0, total, 1e-12);
        Assert.Equal(entropy, tiny.ExactEntropyNats(), 1e-12);
        Assert.Equal(1.0 / 3, tiny.PositiveShare, 1e-15);
        // By hand: positive 1/3, "good film ." 2/3, empty middle 1/4, "see it ." 1/5.
        Assert.Equal(Math.Log(1.0 / 3 * 2 / 3 * 1 / 4 * 1 / 5), tiny.LogProb("Good film. See it.")!.Value, 1e-12);
    }

    [Fact]
    public void Inside_sums_every_derivation_of_an_ambiguous_grammar()
    {
        var g = new GrammarBuilder();
        g.Rule("S", (1, "a b"), (1, "<X> b"), (2, "<X> <Y>"), (4, "c"));
        g.Rule("X", (1, "a"), (3, ""));
        g.Rule("Y", (1, "b"), (1, "a b"));
        var pcfg = g.Build("S");
        int s = pcfg.NonterminalId("S");
        var byString = new Dictionary<string, double>();
        foreach (var (tokens, p) in pcfg.EnumerateDerivations(s))
        {
            string key = string.Join(' ', tokens.Select(t => pcfg.Terminals[t]));
            byString[key] = byString.GetValueOrDefault(key) + p;
        }
        Assert.True(byString.Count < pcfg.CountDerivations(s)); // really ambiguous
        Assert.Equal((BigInteger)byString.Count, pcfg.CountDistinctStrings(s));
        Assert.Equal(1.0, byString.Values.Sum(), 1e-12);
        foreach (var (text, p) in byString)
        {
            int[] ids = text.Split(' ').Select(w => { pcfg.TryGetTerminalId(w, out int id); return id; }).ToArray();
            Assert.Equal(p, pcfg.Inside(s, ids), 1e-12);
        }
        pcfg.TryGetTerminalId("a", out int a);
        Assert.Equal(0.0, pcfg.Inside(s, [a]));
    }

    [Fact]
    public void Empirical_frequencies_match_exact_probabilities()
    {
        // The tiny grammar end to end (sample, render, analyse) ...
        var tiny = Tiny();
        var counts = new Dictionary<string, int>();
        const int n = 200_000;
        foreach (var s in tiny.Sample(n, seed: 42)) counts[s.Text] = counts.GetValueOrDefault(s.Text) + 1;
        foreach (var (text, p) in TinyLanguage(tiny))
            AssertWithinStandardErrors(counts.GetValueOrDefault(text), n, Math.Exp(tiny.LogProb(text)!.Value), text);

        // ... and the most frequent openings of the built-in grammar (a sub-grammar).
        var pcfg = G.Grammar;
        int opening = pcfg.NonterminalId("Opening.pos");
        var rng = new SplitMix64(7);
        var openings = new Dictionary<string, (int Count, int[] Tokens)>();
        var buffer = new List<int>();
        for (int i = 0; i < n; i++)
        {
            buffer.Clear();
            pcfg.Sample(opening, ref rng, buffer, out _);
            string key = string.Join(' ', buffer);
            openings[key] = (openings.GetValueOrDefault(key).Count + 1, buffer.ToArray());
        }
        foreach (var (_, (count, tokens)) in openings.OrderByDescending(kv => kv.Value.Count).Take(30))
            AssertWithinStandardErrors(count, n, pcfg.Inside(opening, tokens), G.Render(tokens));
    }

    private static void AssertWithinStandardErrors(int count, int n, double p, string what)
    {
        double se = Math.Sqrt(n * p * (1 - p));
        Assert.True(Math.Abs(count - n * p) <= 5 * se + 1, $"{what}: {count} draws of {n}, expected {n * p:F1} +- {se:F1}");
    }

    [Fact]
    public void Small_sub_grammars_are_unambiguous_and_their_probabilities_sum_to_one()
    {
        // Every nonterminal small enough to list: distinct strings == derivations, and the
        // inside probabilities of its distinct strings sum to exactly 1.
        var pcfg = G.Grammar;
        int checkedCount = 0;
        for (int nt = 0; nt < pcfg.Nonterminals.Count; nt++)
        {
            if (pcfg.CountDerivations(nt) > 20_000) continue;
            var derivations = pcfg.EnumerateDerivations(nt);
            var distinct = derivations.Select(d => string.Join(' ', d.Tokens)).Distinct().Count();
            Assert.True(distinct == derivations.Count, $"{pcfg.Nonterminals[nt]} is ambiguous");
            double total = derivations.Sum(d => pcfg.Inside(nt, d.Tokens));
            Assert.Equal(1.0, total, 1e-9);
            checkedCount++;
        }
        Assert.Contains(pcfg.NonterminalId("Clause.pos"), Enumerable.Range(0, pcfg.Nonterminals.Count)
            .Where(nt => pcfg.CountDerivations(nt) <= 20_000));
        Assert.True(checkedCount > 30);
    }

    [Fact]
    public void The_built_in_grammar_is_unambiguous_exactly()
    {
        // Distinct strings (counted on a determinised automaton, exact even for ambiguous
        // grammars) equal derivations only if no review has two derivations. This is what makes
        // the sampler's derivation log-prob the text's log-prob, and the derivation entropy the
        // text entropy.
        var sw = Stopwatch.StartNew();
        var distinct = G.CountDistinctReviews();
        output.WriteLine($"distinct-string count took {sw.ElapsedMilliseconds} ms");
        Assert.Equal(G.CountDerivations(), distinct);
        var pcfg = G.Grammar;
        foreach (var name in new[] { "Review.pos", "Review.neg", "Mid.pos", "Opening.neg" })
            Assert.Equal(pcfg.CountDerivations(pcfg.NonterminalId(name)), pcfg.CountDistinctStrings(pcfg.NonterminalId(name)));
    }

    [Fact]
    public void Distinct_string_count_sees_overlap_between_alternatives()
    {
        var g = new GrammarBuilder();
        g.Rule("S", (1, "<A> <B>"), (1, "x y z"), (1, "<A>"));
        g.Rule("A", (1, "x"), (1, "x y"), (1, ""));
        g.Rule("B", (1, "y z"), (1, "z"), (1, "y"));
        var pcfg = g.Build("S");
        int s = pcfg.NonterminalId("S");
        var strings = pcfg.EnumerateDerivations(s).Select(d => string.Join(' ', d.Tokens)).ToHashSet();
        Assert.Equal(13, (int)pcfg.CountDerivations(s)); // 3 x 3 + 1 + 3
        Assert.Equal((BigInteger)strings.Count, pcfg.CountDistinctStrings(s));
        Assert.True(strings.Count < 13); // e.g. "x y z" three ways
    }

    [Fact]
    public void Random_small_grammars_agree_with_brute_force()
    {
        // Random non-recursive grammars over {a, b, c}, often ambiguous: the inside algorithm
        // and the distinct-string count must match brute-force enumeration of derivations.
        var rng = new SplitMix64(2024);
        for (int trial = 0; trial < 200; trial++)
        {
            var g = new GrammarBuilder();
            const int symbols = 5;
            for (int n = 0; n < symbols; n++)
            {
                int altCount = 1 + (int)(rng.NextUInt64() % 3);
                var alts = new (double, string)[altCount];
                for (int a = 0; a < altCount; a++)
                {
                    int len = (int)(rng.NextUInt64() % 4);
                    var parts = new List<string>();
                    for (int k = 0; k < len; k++)
                    {
                        int pick = (int)(rng.NextUInt64() % (ulong)(3 + symbols - n - 1));
                        parts.Add(pick < 3 ? "abc"[pick].ToString() : $"<N{n + 1 + pick - 3}>");
                    }
                    alts[a] = (0.5 + rng.NextDouble(), string.Join(' ', parts));
                }
                g.Rule($"N{n}", alts);
            }
            var pcfg = g.Build("N0");
            var byString = new Dictionary<string, (double P, int[] Tokens)>();
            foreach (var (tokens, p) in pcfg.EnumerateDerivations(0))
            {
                string key = string.Join(' ', tokens.Select(t => pcfg.Terminals[t]));
                byString[key] = (byString.GetValueOrDefault(key).P + p, tokens);
            }
            Assert.Equal((BigInteger)byString.Count, pcfg.CountDistinctStrings(0));
            foreach (var (key, (p, tokens)) in byString)
                Assert.True(Math.Abs(p - pcfg.Inside(0, tokens)) < 1e-12, $"trial {trial}, '{key}'");
            Assert.Equal(1.0, byString.Values.Sum(v => v.P), 1e-12);
        }
    }

    [Theory]
    [InlineData("I loved this film. The plot was a mess, but the acting was superb. Skip it.", "not a review")] // verdict contradicts opening
    [InlineData("I loved this film. The acting was superb, but the plot was a mess. A must-see.", "not a review")] // contrast ends negative in a positive review
    [InlineData("I loved this film. The plot was a mess, but the acting superb was. A must-see.", "not a review")] // swapped words
    [InlineData("I loved this film. The performances was superb. A must-see.", "not a review")] // number agreement
    [InlineData("I loved this film. The plot was a mess, but the acting was superb. A must-see", "not a review")] // missing final period
    [InlineData("I loved this film.  The plot was a mess, but the acting was superb. A must-see.", "canonical")] // double space
    [InlineData("I loved this film. The plot was a mess , but the acting was superb. A must-see.", "canonical")] // space before comma
    [InlineData("I loved this film. The plot was a mess, but the acting was superb. A must-see. ", "canonical")] // trailing space
    [InlineData(" I loved this film. The plot was a mess, but the acting was superb. A must-see.", "canonical")] // leading space
    [InlineData("I loved this film. the plot was a mess, but the acting was superb. A must-see.", "capital")] // lowercase sentence start
    [InlineData("I loved this film. The Plot was a mess, but the acting was superb. A must-see.", "capital")] // capital inside
    [InlineData("I loved this flim. The plot was a mess, but the acting was superb. A must-see.", "unknown word 'flim' at word 4")]
    [InlineData("I loved this film. The plot was a mess, but the acting was superb. A must-see.\n", "canonical")]
    [InlineData("I loved this film; the plot was a mess. A must-see.", "unexpected ';'")]
    [InlineData("I loved this film. A must-see. A must-see.", "not a review")] // verdict as a middle sentence
    [InlineData("A must-see.", "not a review")]
    [InlineData("", "empty")]
    public void Near_misses_are_rejected(string text, string reason)
    {
        Assert.True(G.Analyze("I loved this film. The plot was a mess, but the acting was superb. A must-see.").IsValid);
        var a = G.Analyze(text);
        Assert.False(a.IsValid);
        Assert.Contains(reason, a.Reason);
        Assert.Equal(double.NegativeInfinity, a.LogProb);
        Assert.Null(a.Sentiment);
        Assert.Null(G.LogProb(text));
        Assert.Null(G.SentimentOf(text));
    }

    [Fact]
    public void Sentiment_is_not_a_bag_of_words()
    {
        const string positive = "The plot was a mess, but the acting was superb. Overall, the good outweighs the bad.";
        const string negative = "The acting was superb, but the plot was a mess. Overall, the bad outweighs the good.";
        static string Bag(string t) => string.Join(' ', t.ToLowerInvariant().Split(' ', ',', '.').Where(w => w != "").Order());
        Assert.Equal(Bag(positive), Bag(negative));
        Assert.Equal(Sentiment.Positive, G.SentimentOf(positive));
        Assert.Equal(Sentiment.Negative, G.SentimentOf(negative));
        // Mixing the two halves is a contradiction, not a review.
        Assert.Null(G.SentimentOf("The plot was a mess, but the acting was superb. Overall, the bad outweighs the good."));

        Assert.Equal(Sentiment.Positive, G.SentimentOf("Not a boring movie at all. The jokes were flat, but the songs were lovely. Two thumbs up!"));
        Assert.Equal(Sentiment.Negative, G.SentimentOf("I did not enjoy this comedy. Although the cast was superb, the script was lazy. Two out of ten."));
        // Sampled positive reviews often contain negative adjectives (contrast clauses).
        var negativeWords = new HashSet<string>(G.Grammar.Alternatives(G.Grammar.NonterminalId("AspectAdj.neg")).Select(a => a.Rhs));
        Assert.Contains(G.Sample(500, seed: 3), s => s.Sentiment == Sentiment.Positive
            && s.Text.Split(' ', ',', '.', '!').Any(negativeWords.Contains));
    }

    [Fact]
    public void The_language_is_large_reviews_are_short_and_sentiment_is_balanced()
    {
        Assert.True(G.CountDistinctReviews() >= BigInteger.Pow(10, 8));
        Assert.Equal(0.5, G.PositiveShare);
        var samples = G.Sample(20_000, seed: 11);
        var words = samples.Select(s => ReviewGrammar.CountWords(s.Text)).Order().ToArray();
        double mean = words.Average();
        Assert.InRange(mean, 12, 20);
        Assert.InRange(words[words.Length / 10], 8, 25);       // 10th percentile
        Assert.InRange(words[words.Length * 9 / 10], 8, 25);   // 90th percentile
        Assert.Equal(G.ExpectedWordCount(), mean, 0.2);
        double share = samples.Count(s => s.Sentiment == Sentiment.Positive) / (double)samples.Count;
        Assert.InRange(share, 0.48, 0.52);
        Assert.True(samples.Select(s => s.Text).Distinct().Count() > 19_000);
        // Sampled entropy estimate agrees with the exact one.
        var nll = samples.Select(s => -s.LogProb).ToArray();
        double m = nll.Average(), sd = Math.Sqrt(nll.Sum(x => (x - m) * (x - m)) / (nll.Length - 1));
        Assert.True(Math.Abs(m - G.ExactEntropyNats()) < 5 * sd / Math.Sqrt(nll.Length), $"{m} vs {G.ExactEntropyNats()}");
    }

    [Fact]
    public void Seeded_sampling_is_reproducible()
    {
        var a = G.Sample(200, seed: 123);
        var b = G.Sample(200, seed: 123);
        var c = G.Sample(200, seed: 124);
        Assert.Equal(a, b);
        Assert.NotEqual(a.Select(s => s.Text), c.Select(s => s.Text));
        // Pinned values: SplitMix64 is fully specified, so these never change across platforms.
        var rng = new SplitMix64(0);
        Assert.Equal(0xE220A8397B1DCDAFUL, rng.NextUInt64());
        Assert.Equal(0x6E789E6AA1B965F4UL, rng.NextUInt64());
    }

    [Fact]
    public void Terminals_are_a_modest_ascii_vocabulary()
    {
        Assert.InRange(G.Terminals.Count, 100, 400);
        Assert.All(G.SurfaceForms, t => Assert.True(t.All(char.IsAscii) && !t.Contains(' ')));
        Assert.Contains("must-see", G.Terminals);
        Assert.Contains(",", G.Terminals);
        Assert.Contains("The", G.SurfaceForms);
        foreach (var s in G.Sample(500, seed: 5))
            foreach (var piece in s.Text.Split(' '))
                Assert.Contains(piece.TrimEnd(',', '.', '!'), G.SurfaceForms);
        Assert.Equal(["I loved this film.", "A must-see!"], ReviewGrammar.SplitSentences("I loved this film. A must-see!"));
    }

    [Fact]
    public void Bad_grammars_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new GrammarBuilder().Rule("A", (1, "<B>")).Rule("B", (1, "x <A>")).Build("A"));
        Assert.Throws<ArgumentException>(() => new GrammarBuilder().Rule("A", (1, "<Missing>")).Build("A"));
        Assert.Throws<ArgumentException>(() => new GrammarBuilder().Rule("A", (1, "caf\u00e9")).Build("A"));
        Assert.Throws<ArgumentException>(() => new GrammarBuilder().Rule("A", (0, "x")));
    }

    [Fact]
    public void Analyze_is_fast()
    {
        var texts = G.Sample(5000, seed: 9).Select(s => s.Text).ToArray();
        foreach (var t in texts.Take(500)) G.Analyze(t); // warm up
        var sw = Stopwatch.StartNew();
        foreach (var t in texts) Assert.True(G.Analyze(t).IsValid);
        double perSecond = texts.Length / sw.Elapsed.TotalSeconds;
        output.WriteLine($"Analyze: {perSecond:F0} reviews/s");
        Assert.True(perSecond > 2_000, $"{perSecond:F0} reviews/s"); // target ~10k/s; loose for loaded CI boxes
    }

    [Fact]
    public void Report()
    {
        var samples = G.Sample(20_000, seed: 2);
        double words = samples.Average(s => ReviewGrammar.CountWords(s.Text));
        var sw = Stopwatch.StartNew();
        var distinct = G.Grammar.CountDistinctStrings(G.Grammar.Root);
        output.WriteLine($"distinct reviews: {distinct} (~10^{BigInteger.Log10(distinct):F1}), counted in {sw.ElapsedMilliseconds} ms");
        output.WriteLine($"terminals: {G.Terminals.Count}, surface forms: {G.SurfaceForms.Count}");
        output.WriteLine($"exact entropy: {G.ExactEntropyNats():F3} nats/review; sampled mean -log p: {samples.Average(s => -s.LogProb):F3}");
        output.WriteLine($"exact mean words: {G.ExpectedWordCount():F3}; sampled: {words:F3}; entropy per word: {G.ExactEntropyNats() / G.ExpectedWordCount():F3} nats");
        var w = samples.Select(s => ReviewGrammar.CountWords(s.Text)).Order().ToArray();
        output.WriteLine($"words p5/p50/p95/max: {w[w.Length / 20]}/{w[w.Length / 2]}/{w[w.Length * 19 / 20]}/{w[^1]}");
        foreach (var s in samples.Take(8)) output.WriteLine($"{s.Sentiment,-8} {s.LogProb,8:F2}  {s.Text}");
    }
}
