using System.Globalization;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Services;

/// <summary>A query the user got wrong: the message names the token, its position (from 1) and the reason.</summary>
public sealed class RunQueryException(string what, string token, int position, string reason)
    : ArgumentException($"{what}: '{token}' at position {position}: {reason}")
{
    public string Token { get; } = token;
    public int Position { get; } = position;
    public string Reason { get; } = reason;
}

/// <summary>How a metric column reads the metric's history.</summary>
public enum MetricAggregate { Last, Best, Min, Max }

/// <summary>What a column (or a sort key, or a compared key) reads.</summary>
public enum ColumnKind { Field, Setting, Metric }

/// <summary>
/// One column of the run table: a field of the run (name, status, step...), a setting (gumbel_tau) or a
/// metric, read as its last value (reward/mean) or its best, min or max (best(reward/mean)). "Best" is the
/// max, or the min for metrics where lower is better (<see cref="LowerIsBetter"/>).
/// </summary>
public sealed record RunColumn(ColumnKind Kind, string Key, MetricAggregate Aggregate = MetricAggregate.Last)
{
    /// <summary>The run's own fields, as columns and sort keys.</summary>
    public static readonly IReadOnlyList<string> Fields = ["id", "name", "status", "method", "dataset", "step", "created", "updated", "tags", "note", "phase"];

    public static bool IsNumericField(string key) => key is "step";

    /// <summary>Metrics where a smaller value is better: losses, NLLs, KL, self-BLEU (repetition).</summary>
    public static bool LowerIsBetter(string metric) =>
        metric.Contains("loss", StringComparison.Ordinal) || metric.Contains("nll", StringComparison.Ordinal) ||
        metric.Contains("self-bleu", StringComparison.Ordinal) || metric.EndsWith("/kl", StringComparison.Ordinal);

    public string Label => Kind == ColumnKind.Metric && Aggregate != MetricAggregate.Last ? $"{Aggregate.ToString().ToLowerInvariant()}({Key})" : Key;

    /// <summary>
    /// Parses "name", "gumbel_tau", "reward/mean" or "max(reward/mean)" (last, best, min, max). Unknown
    /// names throw <see cref="RunQueryException"/> (<paramref name="what"/> names the parameter).
    /// </summary>
    public static RunColumn Parse(string text, string what, int position = 1)
    {
        var t = text.Trim();
        if (t.Length == 0) throw new RunQueryException(what, text, position, "an empty column name.");
        int open = t.IndexOf('(');
        if (open >= 0)
        {
            if (!t.EndsWith(')')) throw new RunQueryException(what, text, position, "missing its ')' (expected last(METRIC), best(...), min(...) or max(...)).");
            var fn = t[..open];
            var inner = t[(open + 1)..^1].Trim();
            if (!Enum.TryParse<MetricAggregate>(fn, ignoreCase: true, out var agg) || !char.IsLetter(fn.FirstOrDefault()))
                throw new RunQueryException(what, text, position, $"an unknown aggregate '{fn}' (expected last, best, min or max).");
            if (!inner.Contains('/')) throw new RunQueryException(what, text, position, $"not a metric name ('{inner}'; metrics look like reward/mean).");
            return new RunColumn(ColumnKind.Metric, inner, agg);
        }
        if (Fields.Contains(t)) return new RunColumn(ColumnKind.Field, t);
        if (RunSettings.Keys.Contains(t)) return new RunColumn(ColumnKind.Setting, t);
        if (t.Contains('/')) return new RunColumn(ColumnKind.Metric, t);
        throw new RunQueryException(what, text, position,
            $"not a field ({string.Join(", ", Fields)}), a setting (such as gumbel_tau) or a metric (such as reward/mean).");
    }

    /// <summary>The column's value for a run: a double for numbers (null when the run has none), else text.</summary>
    public object? ValueOf(RunRow row)
    {
        var r = row.Record;
        switch (Kind)
        {
            case ColumnKind.Field:
                return Key switch
                {
                    "id" => r.Id, "name" => r.Name, "status" => RunStore.Kebab(r.Status.ToString()), "method" => r.Method, "dataset" => r.Dataset,
                    "step" => r.Step, "created" => r.CreatedUtc.ToString("o", CultureInfo.InvariantCulture),
                    "updated" => r.UpdatedUtc.ToString("o", CultureInfo.InvariantCulture), "tags" => string.Join(' ', r.Tags), "note" => r.Note,
                    "phase" => r.Phase?.Name ?? "", _ => null,
                };
            case ColumnKind.Setting:
                var text = row.Setting(Key);
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : text;
            default:
                return MetricValue(r);
        }
    }

    public double? MetricValue(RunRecord r)
    {
        if (!r.Summaries.TryGetValue(Key, out var s) || s.Count == 0) return null;
        double v = Aggregate switch
        {
            MetricAggregate.Min => s.Min,
            MetricAggregate.Max => s.Max,
            MetricAggregate.Best => LowerIsBetter(Key) ? s.Min : s.Max,
            _ => s.Last,
        };
        return double.IsNaN(v) ? null : v;
    }
}

/// <summary>
/// A filter of the run table, parsed from text such as
/// <c>status:completed method:ppo tag:baseline -tag:broken gumbel_tau&gt;0.5 max(align/positive-rate)&gt;=0.8 "free text"</c>:
/// terms separated by spaces, all of which must hold. A term is a field (status, method, dataset, tag,
/// name, id) with ':' (or = / !=); a setting, a metric or step compared with = != &lt; &lt;= &gt; &gt;= (':' means =);
/// or free text (a word or a "quoted phrase") found in the name, id, note, tags, method or dataset.
/// A leading '-' negates a term. Case does not matter except in tags.
/// </summary>
public sealed class RunQuery
{
    public static readonly IReadOnlyList<string> FilterFields = ["status", "method", "dataset", "tag", "name", "id"];
    private static readonly string[] Operators = [">=", "<=", "!=", ">", "<", "=", ":"];

    private readonly List<Term> _terms;
    public string Text { get; }
    public int Count => _terms.Count;

    private RunQuery(string text, List<Term> terms) { Text = text; _terms = terms; }

    public static readonly RunQuery All = new("", []);

    /// <summary>Whether the filter reads settings (the table then parses each run's settings).</summary>
    public bool ReadsSettings => _terms.Any(t => t.Column?.Kind == ColumnKind.Setting);

    public bool Matches(RunRow row) => _terms.All(t => t.Matches(row) != t.Negated);

    /// <summary>Parses a filter; null or blank matches every run. Throws <see cref="RunQueryException"/> naming the bad token.</summary>
    public static RunQuery Parse(string? text, string what = "filter")
    {
        if (string.IsNullOrWhiteSpace(text)) return All;
        var terms = new List<Term>();
        foreach (var (token, pos) in Tokenize(text, what)) terms.Add(ParseTerm(token, pos, what));
        return new RunQuery(text, terms);
    }

    /// <summary>Splits on whitespace; double quotes group a phrase (a key:"two words" value too).</summary>
    private static IEnumerable<(string Token, int Position)> Tokenize(string text, string what)
    {
        int i = 0;
        while (i < text.Length)
        {
            if (char.IsWhiteSpace(text[i])) { i++; continue; }
            int start = i;
            bool quoted = false;
            while (i < text.Length && (quoted || !char.IsWhiteSpace(text[i])))
            {
                if (text[i] == '"') quoted = !quoted;
                i++;
            }
            var token = text[start..i];
            if (quoted) throw new RunQueryException(what, token, start + 1, "the closing '\"' is missing.");
            yield return (token, start + 1);
        }
    }

    private static Term ParseTerm(string token, int pos, string what)
    {
        bool negated = token.StartsWith('-') && token.Length > 1;
        var body = negated ? token[1..] : token;
        if (body.StartsWith('"'))
        {
            if (body.Length < 2 || !body.EndsWith('"') || body[1..^1].Contains('"'))
                throw new RunQueryException(what, token, pos, "a quoted phrase must end with '\"' and hold no other quote.");
            var phrase = body[1..^1];
            if (phrase.Length == 0) throw new RunQueryException(what, token, pos, "an empty phrase.");
            return new Term(negated, null, null, phrase, null, null);
        }
        // The first operator character splits key and value: metric names hold '/', '-' and '(' but none of <>=!:.
        int at = body.IndexOfAny(['<', '>', '=', '!', ':']);
        if (at < 0) return new Term(negated, null, null, body, null, null);
        var op = Operators.FirstOrDefault(o => string.CompareOrdinal(body, at, o, 0, o.Length) == 0) ?? "!";
        if (body[at] == '!' && op != "!=") throw new RunQueryException(what, token, pos, "'!' must be followed by '=' (not equal).");
        var key = body[..at];
        var value = Unquote(body[(at + op.Length)..]);
        if (key.Length == 0) throw new RunQueryException(what, token, pos, $"nothing before '{op}' (expected a field, setting or metric).");
        if (value.Length == 0) throw new RunQueryException(what, token, pos, $"'{op}' needs a value after it.");
        if (op == ":") op = "=";
        if (FilterFields.FirstOrDefault(f => string.Equals(f, key, StringComparison.OrdinalIgnoreCase)) is { } field) key = field;
        if (FilterFields.Contains(key))
        {
            if (op is not ("=" or "!=")) throw new RunQueryException(what, token, pos, $"'{key}' takes ':' (or = / !=), not '{op}'.");
            if (op == "!=") negated = !negated;
            if (key == "status" && !Enum.GetNames<RunStatus>().Any(n => string.Equals(RunStore.Kebab(n), value, StringComparison.OrdinalIgnoreCase)))
                throw new RunQueryException(what, token, pos, $"unknown status '{value}' (expected {string.Join(", ", Enum.GetNames<RunStatus>().Select(RunStore.Kebab))}).");
            if (key == "method" && !Enum.GetNames<TrainingMethod>().Any(n => string.Equals(RunStore.Kebab(n), value, StringComparison.OrdinalIgnoreCase)))
                throw new RunQueryException(what, token, pos, $"unknown method '{value}' (expected {string.Join(", ", Enum.GetNames<TrainingMethod>().Select(RunStore.Kebab))}).");
            return new Term(negated, key, null, value, null, null);
        }
        RunColumn column;
        try { column = RunColumn.Parse(key, what, pos); }
        catch (RunQueryException e) { throw new RunQueryException(what, token, pos, $"'{key}' is {e.Reason}"); }
        if (column.Kind == ColumnKind.Field && !RunColumn.IsNumericField(column.Key))
            throw new RunQueryException(what, token, pos, $"'{key}' cannot be compared (compare step, settings or metrics; filter {string.Join(", ", FilterFields)} with ':').");
        double? number = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;
        if (number is null && (op is not ("=" or "!=") || column.Kind != ColumnKind.Setting))
            throw new RunQueryException(what, token, pos, $"'{value}' is not a number ('{op}' on {(column.Kind == ColumnKind.Setting ? "a setting" : column.Kind == ColumnKind.Metric ? "a metric" : key)} compares numbers).");
        return new Term(negated, null, column, value, op, number);
    }

    private static string Unquote(string v) => v.Length >= 2 && v[0] == '"' && v[^1] == '"' ? v[1..^1] : v;

    /// <summary>One term: a field match (Field set), a comparison (Column set) or free text (neither).</summary>
    private sealed record Term(bool Negated, string? Field, RunColumn? Column, string Value, string? Op, double? Number)
    {
        public bool Matches(RunRow row)
        {
            var r = row.Record;
            if (Field is not null)
                return Field switch
                {
                    "status" => string.Equals(RunStore.Kebab(r.Status.ToString()), Value, StringComparison.OrdinalIgnoreCase),
                    "method" => string.Equals(r.Method, Value, StringComparison.OrdinalIgnoreCase),
                    "dataset" => r.Dataset.Contains(Value, StringComparison.OrdinalIgnoreCase),
                    "tag" => r.Tags.Contains(Value, StringComparer.Ordinal),
                    "name" => r.Name.Contains(Value, StringComparison.OrdinalIgnoreCase),
                    _ => r.Id.StartsWith(Value, StringComparison.OrdinalIgnoreCase),
                };
            if (Column is null)
                return r.Name.Contains(Value, StringComparison.OrdinalIgnoreCase) || r.Id.Contains(Value, StringComparison.OrdinalIgnoreCase)
                    || r.Note.Contains(Value, StringComparison.OrdinalIgnoreCase) || r.Method.Contains(Value, StringComparison.OrdinalIgnoreCase)
                    || r.Dataset.Contains(Value, StringComparison.OrdinalIgnoreCase) || r.Tags.Any(t => t.Contains(Value, StringComparison.OrdinalIgnoreCase));
            var v = Column.ValueOf(row);
            if (v is null) return false; // a run without the metric matches no comparison
            if (v is int i) v = (double)i;
            if (v is double x && Number is { } n)
                return Op switch { "=" => x == n, "!=" => x != n, ">" => x > n, ">=" => x >= n, "<" => x < n, _ => x <= n };
            bool same = string.Equals(v.ToString(), Value, StringComparison.OrdinalIgnoreCase);
            return Op == "=" ? same : Op == "!=" ? !same : false;
        }
    }
}
