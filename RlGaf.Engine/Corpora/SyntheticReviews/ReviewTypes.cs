namespace RlGaf.Engine.Corpora.SyntheticReviews;

/// <summary>The sentiment a review is generated with (chosen at the top of the grammar).</summary>
public enum Sentiment { Negative = 0, Positive = 1 }

/// <summary>One review drawn from the grammar.</summary>
/// <param name="Text">The rendered review, e.g. "The acting was superb. A must-see."</param>
/// <param name="Sentiment">The sentiment chosen at the root.</param>
/// <param name="LogProb">Natural log of the probability of the derivation that was sampled
/// (equals the text's exact log-probability because the grammar is unambiguous).</param>
public sealed record ReviewSample(string Text, Sentiment Sentiment, double LogProb);

/// <summary>What the grammar says about a text.</summary>
/// <param name="IsValid">True when the text is in the grammar's language.</param>
/// <param name="LogProb">ln P(text), summed over all derivations; -infinity when invalid.</param>
/// <param name="LogProbPositive">ln P(text, positive); -infinity when no positive derivation.</param>
/// <param name="LogProbNegative">ln P(text, negative); -infinity when no negative derivation.</param>
/// <param name="Sentiment">The sentiment with the larger mass; null when invalid.</param>
/// <param name="Reason">Why the text is invalid; null when valid.</param>
public sealed record ReviewAnalysis(
    bool IsValid,
    double LogProb,
    double LogProbPositive,
    double LogProbNegative,
    Sentiment? Sentiment,
    string? Reason)
{
    internal static ReviewAnalysis Invalid(string reason) =>
        new(false, double.NegativeInfinity, double.NegativeInfinity, double.NegativeInfinity, null, reason);
}
