namespace RlGaf.Engine.Corpora.SyntheticReviews;

/// <summary>
/// Defines a finite, non-recursive probabilistic grammar as data. Each rule is a nonterminal
/// with weighted alternatives (weights are normalised per nonterminal when built). An
/// alternative is a whitespace-separated list of symbols: <c>&lt;Name&gt;</c> is a nonterminal,
/// anything else a terminal (a word such as <c>must-see</c>, or one punctuation mark
/// <c>, . ! ? ; :</c>). The empty string is the empty alternative.
/// </summary>
public sealed class GrammarBuilder
{
    internal readonly List<(string Name, List<(double Weight, string Rhs)> Alternatives)> Rules = [];
    private readonly HashSet<string> _names = [];

    /// <summary>Adds a nonterminal with weighted alternatives.</summary>
    public GrammarBuilder Rule(string name, params (double Weight, string Rhs)[] alternatives)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('<') || name.Contains('>') || name.Any(char.IsWhiteSpace))
            throw new ArgumentException($"Bad nonterminal name '{name}'.", nameof(name));
        if (!_names.Add(name)) throw new ArgumentException($"Nonterminal '{name}' is defined twice.", nameof(name));
        if (alternatives.Length == 0) throw new ArgumentException($"Nonterminal '{name}' has no alternatives.", nameof(alternatives));
        foreach (var (w, _) in alternatives)
            if (!(w > 0) || !double.IsFinite(w))
                throw new ArgumentException($"Nonterminal '{name}' has a weight that is not positive and finite: {w}.", nameof(alternatives));
        Rules.Add((name, alternatives.ToList()));
        return this;
    }

    /// <summary>
    /// Adds two nonterminals <c>name.pos</c> and <c>name.neg</c> from one template: in each
    /// alternative <c>{s}</c> becomes the rule's own sentiment (pos/neg) and <c>{o}</c> the opposite one.
    /// </summary>
    public GrammarBuilder SentimentRule(string name, params (double Weight, string Rhs)[] alternatives)
    {
        foreach (var (s, o) in new[] { ("pos", "neg"), ("neg", "pos") })
            Rule($"{name}.{s}", alternatives.Select(a => (a.Weight, a.Rhs.Replace("{s}", s).Replace("{o}", o))).ToArray());
        return this;
    }

    /// <summary>Adds a nonterminal whose alternatives are single words (or short phrases separated by '|'), equally likely.</summary>
    public GrammarBuilder Words(string name, string choices) =>
        Rule(name, choices.Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(c => (1.0, c)).ToArray());

    /// <summary>Compiles the grammar; throws when a symbol is undefined or the grammar is recursive.</summary>
    public Pcfg Build(string root) => new(this, root);
}
