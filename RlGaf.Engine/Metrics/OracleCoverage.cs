using RlGaf.Engine.Corpora.SyntheticReviews;

namespace RlGaf.Engine.Metrics;

/// <summary>What <see cref="OracleCoverage.Evaluate"/> found (docs/metrics.md, <c>oracle/coverage</c>).</summary>
/// <param name="Samples">Texts graded.</param>
/// <param name="ValidSamples">Texts in the grammar's language (m).</param>
/// <param name="DistinctOpenings">Distinct first sentences among the valid texts.</param>
/// <param name="CoveredMass">Sum over those distinct openings of P_grammar(opening).</param>
/// <param name="ExpectedMass">Exact expected covered mass of m reviews drawn from the grammar itself.</param>
/// <param name="Coverage"><paramref name="CoveredMass"/> / <paramref name="ExpectedMass"/>; NaN when m = 0.</param>
public sealed record OracleCoverageReport(int Samples, int ValidSamples, int DistinctOpenings,
    double CoveredMass, double ExpectedMass, double Coverage);

/// <summary>
/// oracle/coverage: how much of the grammar's opening-sentence distribution a set of generated
/// reviews reaches, relative to what the grammar's own samples reach. The opening (a review's
/// first sentence, derived from <c>Opening.pos</c> or <c>Opening.neg</c>) is where the grammar's
/// modes show: per sentiment 1,208 template openings and 5,880^2 contrast openings ("the plot
/// was dull, but the acting was superb."), 69,151,216 in all.
/// With m valid samples and opening probabilities p(o):
/// covered = sum over distinct openings seen of p(o); expected = E[covered] for m grammar samples
/// = sum over all openings o of p(o) (1 - (1 - p(o))^m), computed exactly by grouping openings by
/// probability (a histogram DP over the grammar: 20 distinct values for the built-in one).
/// Coverage = covered / expected: about 1 for a model that samples like the grammar, falling
/// towards 0 when the model drops modes (one sentiment, one template, one review); above 1 is
/// possible for a model that avoids repeats more than random sampling does. It weighs modes by
/// mass: dropping many rare openings costs little, dropping a frequent template costs a lot
/// (500 reviews that all open "What a ...!" score about 0.58, one sentiment only about 0.75).
/// </summary>
public sealed class OracleCoverage
{
    private static readonly Lazy<OracleCoverage> s_default = new(() => new OracleCoverage(ReviewGrammar.Default));

    private readonly ReviewGrammar _grammar;
    private readonly int _positive, _negative;
    private readonly (double P, double Count)[] _histogram;

    /// <summary>Coverage for the built-in grammar.</summary>
    public static OracleCoverage Default => s_default.Value;

    /// <summary>
    /// <paramref name="positiveOpening"/> and <paramref name="negativeOpening"/> name the
    /// nonterminals that yield a review's first sentence, and nothing else, under each sentiment.
    /// </summary>
    public OracleCoverage(ReviewGrammar grammar, string positiveOpening = "Opening.pos", string negativeOpening = "Opening.neg")
    {
        _grammar = grammar;
        var g = grammar.Grammar;
        _positive = g.NonterminalId(positiveOpening);
        _negative = g.NonterminalId(negativeOpening);
        var memo = new Dictionary<int, List<(double P, double Count)>>();
        // Positive and negative openings are different strings (their word lists differ), and the
        // grammar is unambiguous, so derivations and strings correspond one to one.
        var all = Histogram(g, _positive, memo).Select(b => (b.P * grammar.PositiveShare, b.Count))
            .Concat(Histogram(g, _negative, memo).Select(b => (b.P * (1 - grammar.PositiveShare), b.Count)));
        _histogram = Merge(all).ToArray();
    }

    /// <summary>Number of distinct openings the grammar can produce.</summary>
    public double OpeningCount => _histogram.Sum(b => b.Count);

    /// <summary>Distinct values of P(opening) with their multiplicities (they sum to 1 over all openings).</summary>
    public IReadOnlyList<(double P, double Count)> ProbabilityHistogram => _histogram;

    /// <summary>P_grammar(first sentence = <paramref name="opening"/>); 0 for a text that is not an opening.</summary>
    public double OpeningProbability(string opening)
    {
        var tokens = new List<int>();
        bool first = true;
        foreach (string word in SplitWords(opening))
        {
            // The first word is capitalised ("This", "I"): its terminal is the lower-case form, or itself.
            string lower = first && word.Length > 0 ? char.ToLowerInvariant(word[0]) + word[1..] : word;
            if (_grammar.Grammar.TryGetTerminalId(lower, out int id) || _grammar.Grammar.TryGetTerminalId(word, out id)) tokens.Add(id);
            else return 0;
            first = false;
        }
        if (tokens.Count == 0) return 0;
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokens);
        return _grammar.PositiveShare * _grammar.Grammar.Inside(_positive, span)
            + (1 - _grammar.PositiveShare) * _grammar.Grammar.Inside(_negative, span);
    }

    /// <summary>Exact E[sum of P(o) over the distinct openings of <paramref name="draws"/> grammar samples].</summary>
    public double ExpectedCoveredMass(int draws)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(draws);
        double sum = 0;
        foreach (var (p, count) in _histogram)
            sum += count * p * SeenProbability(p, draws);
        return sum;
    }

    // 1 - (1 - p)^m without cancellation: contrast openings have p ~ 1e-9, where 1 - p loses digits.
    // (.NET's double.LogP1/ExpM1 are plain Log(1 + x)/Exp(x) - 1, so the series are written out.)
    internal static double SeenProbability(double p, int m)
    {
        double log1mP = p < 1e-4 ? -p * (1 + p * (0.5 + p * (1.0 / 3 + p * 0.25))) : Math.Log(1 - p);
        double x = m * log1mP; // ln (1-p)^m <= 0
        return x > -1e-5 ? -x * (1 + x * (0.5 + x * (1.0 / 6 + x / 24))) : 1 - Math.Exp(x);
    }

    /// <summary>Grades texts: invalid ones are skipped, m is the number of valid ones.</summary>
    public OracleCoverageReport Evaluate(IEnumerable<string> texts)
    {
        int samples = 0, valid = 0;
        var openings = new HashSet<string>(StringComparer.Ordinal);
        foreach (string text in texts)
        {
            samples++;
            if (!_grammar.Analyze(text).IsValid) continue;
            valid++;
            openings.Add(ReviewGrammar.SplitSentences(text)[0]);
        }
        double covered = openings.Sum(OpeningProbability);
        double expected = ExpectedCoveredMass(valid);
        return new OracleCoverageReport(samples, valid, openings.Count, covered, expected,
            valid == 0 ? double.NaN : covered / expected);
    }

    private static IEnumerable<string> SplitWords(string text)
    {
        for (int i = 0; i < text.Length;)
        {
            if (char.IsWhiteSpace(text[i])) { i++; continue; }
            int j = i + 1;
            if (!Pcfg.Punctuation.Contains(text[i]))
                while (j < text.Length && !char.IsWhiteSpace(text[j]) && !Pcfg.Punctuation.Contains(text[j])) j++;
            yield return text[i..j];
            i = j;
        }
    }

    // The probabilities of a nonterminal's derivations, grouped: (probability, how many derivations
    // have it). An alternative's group is the product of its children's groups, times its own
    // probability; a nonterminal's is the union over its alternatives.
    private static List<(double P, double Count)> Histogram(Pcfg g, int nt, Dictionary<int, List<(double P, double Count)>> memo)
    {
        if (memo.TryGetValue(nt, out var done)) return done;
        var result = new List<(double P, double Count)>();
        foreach (var (probability, rhs) in g.Alternatives(nt))
        {
            List<(double P, double Count)> current = [(probability, 1.0)];
            foreach (string symbol in rhs.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!symbol.StartsWith('<')) continue; // a terminal multiplies by 1
                var child = Histogram(g, g.NonterminalId(symbol[1..^1]), memo);
                current = Merge(current.SelectMany(a => child.Select(b => (a.P * b.P, a.Count * b.Count))));
            }
            result.AddRange(current);
        }
        return memo[nt] = Merge(result);
    }

    // Equal probabilities reached by different products differ in the last bits: merge within 1e-12.
    private static List<(double P, double Count)> Merge(IEnumerable<(double P, double Count)> bins)
    {
        var merged = new List<(double P, double Count)>();
        foreach (var (p, c) in bins.OrderBy(b => b.P))
        {
            if (merged.Count > 0 && p - merged[^1].P <= 1e-12 * p) merged[^1] = (merged[^1].P, merged[^1].Count + c);
            else merged.Add((p, c));
        }
        return merged;
    }
}
