using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace RlGaf.Engine.Data;

/// <summary>What happens to a question that has no prediction.</summary>
public enum MissingPredictions
{
    /// <summary>Scored 0 (exact and F1) and counted in every total: the denominator is always the whole dataset.</summary>
    ScoreZero,
    /// <summary>
    /// Left out of every total, as the official v2.0 script's overall figures do (it prints "Missing
    /// prediction for ID" and skips the question; its HasAns/NoAns breakdowns then fail with a KeyError,
    /// which here become breakdowns over the predicted questions).
    /// </summary>
    Skip,
}

/// <summary>The official v2.0 script's output: percentages (x100) and counts.</summary>
public sealed record SquadScores(
    double Exact, double F1, int Total,
    double? HasAnsExact, double? HasAnsF1, int HasAnsTotal,
    double? NoAnsExact, double? NoAnsF1, int NoAnsTotal,
    IReadOnlyList<string> MissingIds)
{
    /// <summary>
    /// The script's JSON (json.dumps(out_eval, indent=2)): exact, f1, total, then HasAns_* and NoAns_*
    /// when the dataset has such questions; floats as Python writes them (100.0, 66.66666666666667).
    /// </summary>
    public string ToJson(bool indented = true)
    {
        var fields = new List<(string, string)> { ("exact", Py(Exact)), ("f1", Py(F1)), ("total", Int(Total)) };
        if (HasAnsExact is { } he) fields.AddRange([("HasAns_exact", Py(he)), ("HasAns_f1", Py(HasAnsF1!.Value)), ("HasAns_total", Int(HasAnsTotal))]);
        if (NoAnsExact is { } ne) fields.AddRange([("NoAns_exact", Py(ne)), ("NoAns_f1", Py(NoAnsF1!.Value)), ("NoAns_total", Int(NoAnsTotal))]);
        var items = fields.Select(f => $"\"{f.Item1}\": {f.Item2}");
        return indented ? "{\n  " + string.Join(",\n  ", items) + "\n}" : "{" + string.Join(", ", items) + "}";
    }

    /// <summary>The figures by name, in the script's order.</summary>
    public IReadOnlyDictionary<string, double> ToDictionary()
    {
        var d = new Dictionary<string, double> { ["exact"] = Exact, ["f1"] = F1, ["total"] = Total };
        if (HasAnsExact is { } he) { d["HasAns_exact"] = he; d["HasAns_f1"] = HasAnsF1!.Value; d["HasAns_total"] = HasAnsTotal; }
        if (NoAnsExact is { } ne) { d["NoAns_exact"] = ne; d["NoAns_f1"] = NoAnsF1!.Value; d["NoAns_total"] = NoAnsTotal; }
        return d;
    }

    private static string Int(int v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Python's repr of a float: shortest round-trip digits, with ".0" on integral values.</summary>
    private static string Py(double v)
    {
        var s = v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        return s.Contains('.') || s.Contains('E') ? s : s + ".0";
    }
}

/// <summary>
/// The official SQuAD v2.0 evaluation (evaluate-v2.0.py), without the optional no-answer
/// probability file (which, absent, changes nothing): answers are normalised (lower case, ASCII
/// punctuation removed, the articles a/an/the removed as whole words, white space collapsed), exact
/// match and token F1 are maxima over the gold answers, and an unanswerable question's only gold
/// answer is the empty string (empty vs empty = 1, empty vs non-empty = 0).
/// </summary>
public static partial class SquadEvaluation
{
    /// <summary>Python's string.punctuation.</summary>
    public const string Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    [GeneratedRegex(@"\b(a|an|the)\b")]
    private static partial Regex Articles();

    /// <summary>normalize_answer: lower, remove_punc, remove_articles, white_space_fix (in that order).</summary>
    public static string NormalizeAnswer(string s)
    {
        var lower = s.ToLowerInvariant();
        var sb = new StringBuilder(lower.Length);
        foreach (char c in lower) if (Punctuation.IndexOf(c) < 0) sb.Append(c);
        var noArticles = Articles().Replace(sb.ToString(), " ");
        return string.Join(' ', SplitWhite(noArticles));
    }

    /// <summary>get_tokens: the normalised answer split on white space (empty for an empty answer).</summary>
    public static string[] Tokens(string s) => s.Length == 0 ? [] : SplitWhite(NormalizeAnswer(s));

    public static int ExactMatch(string gold, string prediction) => NormalizeAnswer(gold) == NormalizeAnswer(prediction) ? 1 : 0;

    /// <summary>Token F1 (0..1); when either side has no tokens, 1 if both have none, else 0.</summary>
    public static double F1(string gold, string prediction)
    {
        var g = Tokens(gold);
        var p = Tokens(prediction);
        if (g.Length == 0 || p.Length == 0) return g.Length == p.Length ? 1 : 0;
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in g) counts[t] = counts.GetValueOrDefault(t) + 1;
        int same = 0;
        foreach (var t in p)
            if (counts.TryGetValue(t, out int c) && c > 0) { counts[t] = c - 1; same++; }
        if (same == 0) return 0;
        double precision = (double)same / p.Length, recall = (double)same / g.Length;
        return 2 * precision * recall / (precision + recall);
    }

    /// <summary>The gold answers the script compares with: answers whose normalised text is non-empty, or [""] if none.</summary>
    public static IReadOnlyList<string> GoldAnswers(SquadQuestion q)
    {
        var gold = q.Answers.Select(a => a.Text).Where(t => NormalizeAnswer(t).Length > 0).ToList();
        return gold.Count > 0 ? gold : [""];
    }

    /// <summary>(exact, f1) of one prediction: maxima over the gold answers, each 0 or 1 / 0..1.</summary>
    public static (int Exact, double F1) Score(SquadQuestion q, string prediction)
    {
        var gold = GoldAnswers(q);
        return (gold.Max(g => ExactMatch(g, prediction)), gold.Max(g => F1(g, prediction)));
    }

    /// <summary>The script's figures over a dataset and predictions by question id.</summary>
    public static SquadScores Evaluate(SquadDataset data, IReadOnlyDictionary<string, string> predictions,
        MissingPredictions missing = MissingPredictions.ScoreZero)
    {
        var scored = new List<(bool HasAns, int Exact, double F1)>();
        var missingIds = new List<string>();
        foreach (var q in data.Questions)
        {
            if (!predictions.TryGetValue(q.Id, out var pred))
            {
                missingIds.Add(q.Id);
                if (missing == MissingPredictions.Skip) continue;
                scored.Add((q.HasAnswer, 0, 0));
                continue;
            }
            var (em, f1) = Score(q, pred);
            scored.Add((q.HasAnswer, em, f1));
        }
        int total = scored.Count;
        var has = scored.Where(s => s.HasAns).ToList();
        var no = scored.Where(s => !s.HasAns).ToList();
        static double Pct(double sum, int n) => n == 0 ? 0 : 100.0 * sum / n;
        return new SquadScores(
            Pct(scored.Sum(s => s.Exact), total), Pct(scored.Sum(s => s.F1), total), total,
            has.Count > 0 ? Pct(has.Sum(s => s.Exact), has.Count) : null, has.Count > 0 ? Pct(has.Sum(s => s.F1), has.Count) : null, has.Count,
            no.Count > 0 ? Pct(no.Sum(s => s.Exact), no.Count) : null, no.Count > 0 ? Pct(no.Sum(s => s.F1), no.Count) : null, no.Count,
            missingIds);
    }

    /// <summary>Reads a predictions file: one JSON object mapping question id to answer text ("" = no answer).</summary>
    public static Dictionary<string, string> ReadPredictions(string path)
    {
        var text = TextFiles.ReadAllText(path, "predictions file");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text); }
        // The parser's message quotes the offending text; the position is enough.
        catch (JsonException e) { throw new InvalidDataException($"{path}: line {e.LineNumber + 1}: not valid JSON (at byte {e.BytePositionInLine + 1})."); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: $: predictions must be an object mapping question id to answer text.");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            int index = 1;
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                // Named by its 1-based position in the object: the key is the file's text.
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}: entry {index}: the prediction must be a string (\"\" for no answer).");
                index++;
                result[p.Name] = p.Value.GetString()!;
            }
            return result;
        }
    }

    /// <summary>Python's str.split(): runs of white space (str.isspace, which includes U+001C-U+001F) separate.</summary>
    private static string[] SplitWhite(string s)
    {
        var parts = new List<string>();
        int start = -1;
        for (int i = 0; i <= s.Length; i++)
        {
            bool white = i == s.Length || char.IsWhiteSpace(s[i]) || s[i] is >= '\u001C' and <= '\u001F';
            if (white) { if (start >= 0) { parts.Add(s[start..i]); start = -1; } }
            else if (start < 0) start = i;
        }
        return [.. parts];
    }
}
