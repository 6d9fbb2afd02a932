using System.Numerics;
using System.Text;

namespace RlGaf.Engine.Corpora.SyntheticReviews;

/// <summary>
/// The "synthetic reviews" corpus: a probabilistic grammar of short English movie reviews with
/// a known sentiment, used as an exact oracle. It samples reviews with a seed, computes the
/// exact probability of any text (or says it is not a review), and tells a valid text's
/// sentiment. See docs/synthetic-reviews.md.
/// </summary>
/// <remarks>
/// The surface text is a deterministic function of the terminal sequence: terminals joined by
/// single spaces, no space before punctuation, the first letter of each sentence capitalised.
/// Analysis reads the terminals back, re-renders them and requires the result to equal the
/// input exactly, so spacing, capitalisation and punctuation faults are rejected.
/// </remarks>
public sealed class ReviewGrammar
{
    private static readonly Lazy<ReviewGrammar> s_default = new(() => new ReviewGrammar(DefaultReviewGrammar.Build()));

    private readonly int _positive, _negative;
    private readonly double _pPositive, _pNegative;
    private readonly bool[] _isPunct, _endsSentence;
    private readonly string[] _capitalised;
    private readonly Dictionary<string, int> _midSentence = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _sentenceStart = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _midLookup, _startLookup;
    private readonly int _maxTokens;
    private readonly Lazy<BigInteger> _distinct;

    /// <summary>The built-in grammar (docs/synthetic-reviews.md).</summary>
    public static ReviewGrammar Default => s_default.Value;

    /// <summary>
    /// Wraps a grammar whose root has exactly two alternatives, <c>&lt;positive&gt;</c> and
    /// <c>&lt;negative&gt;</c>, each a single nonterminal.
    /// </summary>
    public ReviewGrammar(Pcfg grammar, string positive = "Review.pos", string negative = "Review.neg")
    {
        Grammar = grammar;
        _positive = grammar.NonterminalId(positive);
        _negative = grammar.NonterminalId(negative);
        var rootAlts = grammar.Alternatives(grammar.Root);
        if (rootAlts.Count != 2 || rootAlts[0].Rhs != $"<{positive}>" || rootAlts[1].Rhs != $"<{negative}>")
            throw new ArgumentException($"The root must have exactly the alternatives <{positive}> and <{negative}>, in that order.");
        _pPositive = rootAlts[0].Probability;
        _pNegative = rootAlts[1].Probability;
        _maxTokens = grammar.LengthRange(grammar.Root).Max;
        _distinct = new(() => grammar.CountDistinctStrings(grammar.Root));

        var terms = grammar.Terminals;
        _isPunct = terms.Select(t => t.Length == 1 && Pcfg.Punctuation.Contains(t[0])).ToArray();
        _endsSentence = terms.Select(t => t is "." or "!" or "?").ToArray();
        _capitalised = terms.Select(Capitalise).ToArray();
        for (int t = 0; t < terms.Count; t++)
        {
            if (_isPunct[t]) continue;
            _midSentence[terms[t]] = t;
            if (!_sentenceStart.TryAdd(_capitalised[t], t))
                throw new ArgumentException($"Terminals '{terms[_sentenceStart[_capitalised[t]]]}' and '{terms[t]}' look the same at a sentence start.");
        }
        _midLookup = _midSentence.GetAlternateLookup<ReadOnlySpan<char>>();
        _startLookup = _sentenceStart.GetAlternateLookup<ReadOnlySpan<char>>();
        Terminals = terms.ToArray();
        SurfaceForms = terms.Concat(_capitalised).Distinct().ToArray();
    }

    /// <summary>The underlying grammar (for sub-grammar checks and reports).</summary>
    public Pcfg Grammar { get; }

    /// <summary>Every terminal as it appears mid-sentence: words and punctuation marks.</summary>
    public IReadOnlyCollection<string> Terminals { get; }

    /// <summary>
    /// Every piece of surface text: the terminals and their sentence-initial capitalised forms
    /// (a superset of what occurs). Use this to build a compact tokenizer vocabulary.
    /// </summary>
    public IReadOnlyCollection<string> SurfaceForms { get; }

    /// <summary>Exact probability that a sampled review is positive.</summary>
    public double PositiveShare => _pPositive;

    // ---------------------------------------------------------------- sampling

    /// <summary>Draws one review; advances <paramref name="rng"/>.</summary>
    public ReviewSample Sample(ref SplitMix64 rng)
    {
        var tokens = new List<int>(48);
        int alt = Grammar.Sample(Grammar.Root, ref rng, tokens, out double logProb);
        return new ReviewSample(Render(tokens), alt == 0 ? Sentiment.Positive : Sentiment.Negative, logProb);
    }

    /// <summary>Draws <paramref name="count"/> reviews from a generator seeded with <paramref name="seed"/>.</summary>
    public IReadOnlyList<ReviewSample> Sample(int count, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var rng = new SplitMix64(seed);
        var result = new ReviewSample[count];
        for (int i = 0; i < count; i++) result[i] = Sample(ref rng);
        return result;
    }

    // ---------------------------------------------------------------- rendering

    /// <summary>Renders terminal ids as text.</summary>
    public string Render(IReadOnlyList<int> tokens)
    {
        var sb = new StringBuilder(tokens.Count * 7);
        AppendRendered(sb, tokens);
        return sb.ToString();
    }

    /// <summary>Renders terminals (mid-sentence spellings) as text.</summary>
    public string Render(IEnumerable<string> terminals) =>
        Render(terminals.Select(t => Grammar.TryGetTerminalId(t, out int id) ? id
            : throw new ArgumentException($"'{t}' is not a terminal.", nameof(terminals))).ToList());

    private void AppendRendered(StringBuilder sb, IReadOnlyList<int> tokens)
    {
        bool start = true;
        for (int k = 0; k < tokens.Count; k++)
        {
            int t = tokens[k];
            if (_isPunct[t]) sb.Append(Grammar.Terminals[t]);
            else
            {
                if (k > 0) sb.Append(' ');
                sb.Append(start ? _capitalised[t] : Grammar.Terminals[t]);
            }
            start = _endsSentence[t];
        }
    }

    private static string Capitalise(string s) =>
        s.Length > 0 && char.IsAsciiLetterLower(s[0]) ? char.ToUpperInvariant(s[0]) + s[1..] : s;

    /// <summary>Splits a review into its sentences (each with its final punctuation), e.g. to use the first as a prompt.</summary>
    public static IReadOnlyList<string> SplitSentences(string text)
    {
        var result = new List<string>();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] is not ('.' or '!' or '?')) continue;
            result.Add(text[start..(i + 1)].Trim());
            start = i + 1;
        }
        if (start < text.Length && text[start..].Trim().Length > 0) result.Add(text[start..].Trim());
        return result;
    }

    /// <summary>Number of words (whitespace-separated pieces) in a text.</summary>
    public static int CountWords(string text) =>
        text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;

    // ---------------------------------------------------------------- analysis

    [ThreadStatic] private static List<int>? s_tokens;
    [ThreadStatic] private static StringBuilder? s_render;

    /// <summary>Exact log-probabilities and sentiment of a text, or why it is not a review.</summary>
    public ReviewAnalysis Analyze(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return ReviewAnalysis.Invalid("empty text");
        var tokens = s_tokens ??= new List<int>(64);
        tokens.Clear();
        var error = Tokenise(text, tokens);
        if (error is not null) return ReviewAnalysis.Invalid(error);

        var sb = s_render ??= new StringBuilder(256);
        sb.Clear();
        AppendRendered(sb, tokens);
        if (!sb.Equals(text.AsSpan()))
        {
            int at = 0;
            while (at < text.Length && at < sb.Length && text[at] == sb[at]) at++;
            return ReviewAnalysis.Invalid($"not in canonical form (spacing or punctuation) at character {at}");
        }

        Span<int> roots = [_positive, _negative];
        Span<double> inside = stackalloc double[2];
        Grammar.Inside(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokens), roots, inside);
        double pos = _pPositive * inside[0], neg = _pNegative * inside[1];
        if (pos + neg == 0) return ReviewAnalysis.Invalid("not a review: no parse");
        return new ReviewAnalysis(true, Math.Log(pos + neg), Math.Log(pos), Math.Log(neg),
            pos >= neg ? Sentiment.Positive : Sentiment.Negative, null);
    }

    private string? Tokenise(string text, List<int> tokens)
    {
        bool start = true;
        int word = 0;
        for (int i = 0; i < text.Length;)
        {
            char c = text[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (Pcfg.Punctuation.Contains(c))
            {
                if (!Grammar.TryGetTerminalId(c.ToString(), out int p)) return $"unexpected '{c}' at character {i}";
                tokens.Add(p);
                start = _endsSentence[p];
                i++;
            }
            else
            {
                int j = i;
                while (j < text.Length && !char.IsWhiteSpace(text[j]) && !Pcfg.Punctuation.Contains(text[j])) j++;
                var w = text.AsSpan(i, j - i);
                word++;
                if ((start ? _startLookup : _midLookup).TryGetValue(w, out int t)) tokens.Add(t);
                else if (start && _midLookup.ContainsKey(w))
                    return $"sentence does not start with a capital letter: '{w}' at word {word}";
                else if (!start && _startLookup.ContainsKey(w))
                    return $"unexpected capital letter: '{w}' at word {word}";
                else return $"unknown word '{w}' at word {word}";
                start = false;
                i = j;
            }
            if (tokens.Count > _maxTokens) return $"too long: more than {_maxTokens} tokens";
        }
        return null;
    }

    /// <summary>ln P(text), or null when the text is not in the language.</summary>
    public double? LogProb(string text)
    {
        var a = Analyze(text);
        return a.IsValid ? a.LogProb : null;
    }

    /// <summary>The sentiment of a valid review, or null when the text is not in the language.</summary>
    public Sentiment? SentimentOf(string text) => Analyze(text).Sentiment;

    // ---------------------------------------------------------------- exact statistics

    /// <summary>Number of derivations of the root.</summary>
    public BigInteger CountDerivations() => Grammar.CountDerivations(Grammar.Root);

    /// <summary>
    /// Exact number of distinct reviews in the language, counted over strings (not derivations)
    /// by determinising the unrolled grammar; computed once (about a second) and cached. For an
    /// unambiguous grammar such as the built-in one it equals <see cref="CountDerivations"/>.
    /// </summary>
    public BigInteger CountDistinctReviews() => _distinct.Value;

    /// <summary>Exact entropy of a review in nats (derivation entropy; equal to string entropy since unambiguous).</summary>
    public double ExactEntropyNats() => Grammar.DerivationEntropy(Grammar.Root);

    /// <summary>Exact expected number of words per review (punctuation not counted).</summary>
    public double ExpectedWordCount() =>
        Grammar.ExpectedTerminalCount(Grammar.Root, t => !(t.Length == 1 && Pcfg.Punctuation.Contains(t[0])));
}
