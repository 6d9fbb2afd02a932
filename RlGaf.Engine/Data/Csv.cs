using nietras.SeparatedValues;

namespace RlGaf.Engine.Data;

/// <summary>One CSV record: its fields and the 1-based line it starts on.</summary>
public sealed record CsvRecord(int Line, string[] Fields);

/// <summary>
/// RFC 4180 CSV read with Sep: comma-separated fields, optionally double-quoted; a quoted field may hold
/// commas, line breaks and doubled quotes (""). CRLF, LF and CR all end records; blank lines are skipped.
/// Sep splits the records (quote-aware) and numbers their lines; it accepts malformed quoting silently, so
/// each raw field is checked here first. Errors name the file and line but never quote the file's text
/// (a loader pointed at the wrong file must not print it). Column counts are the caller's to check.
/// </summary>
public static class Csv
{
    public static List<CsvRecord> Parse(string text, string path)
    {
        var records = new List<CsvRecord>();
        // Raw fields (no Sep unescape): the field shape must be checked before the quotes are removed.
        var options = Sep.New(',').Reader(o => o with { HasHeader = false, DisableColCountCheck = true });
        int nextLine = 1; // where the next record starts
        try
        {
            using var reader = options.FromText(text);
            foreach (var row in reader)
            {
                // Sep 0.18.0 reports the first row's LineNumberFrom as its LineNumberToExcl when HasHeader is
                // false; the first row always starts on line 1 (blank lines are rows too).
                int line = row.RowIndex == 0 ? 1 : row.LineNumberFrom;
                nextLine = row.LineNumberToExcl;
                if (row.Span.Length == 0) continue;
                var fields = new string[row.ColCount];
                int fieldLine = line;
                for (int c = 0; c < fields.Length; c++)
                {
                    var raw = row[c].Span;
                    fields[c] = Field(raw, fieldLine, path);
                    fieldLine += LineBreaks(raw);
                }
                records.Add(new CsvRecord(line, fields));
            }
        }
        catch (NotSupportedException)
        {
            // Sep's row limit (16M characters): in practice a quote that never closes and swallows the rest.
            throw new InvalidDataException($"{path}: line {nextLine}: unterminated quoted field, or a record over 16777216 characters.");
        }
        return records;
    }

    /// <summary>A raw field as Sep split it: either no quote at all, or quoted entirely with inner quotes doubled.</summary>
    private static string Field(ReadOnlySpan<char> raw, int line, string path)
    {
        if (raw.Length == 0 || raw[0] != '"')
        {
            int quote = raw.IndexOf('"');
            if (quote >= 0)
                throw new InvalidDataException($"{path}: line {line + LineBreaks(raw[..quote])}: a quote inside an unquoted field (quote the whole field and double the quote).");
            return raw.ToString();
        }
        for (int i = 1; i < raw.Length; i++)
        {
            if (raw[i] != '"') continue;
            if (i + 1 < raw.Length && raw[i + 1] == '"') { i++; continue; }
            if (i + 1 < raw.Length)
                throw new InvalidDataException($"{path}: line {line + LineBreaks(raw[..i])}: unexpected text after a closing quote (a field is either quoted entirely or not at all).");
            return raw[1..^1].ToString().Replace("\"\"", "\"", StringComparison.Ordinal);
        }
        throw new InvalidDataException($"{path}: line {line}: unterminated quoted field.");
    }

    /// <summary>Line breaks in a span, counted as Sep counts lines: CRLF, LF and CR each once.</summary>
    private static int LineBreaks(ReadOnlySpan<char> s)
    {
        if (s.IndexOfAny('\r', '\n') < 0) return 0;
        int n = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\n') n++;
            else if (s[i] == '\r' && (i + 1 >= s.Length || s[i + 1] != '\n')) n++;
        }
        return n;
    }
}
