using System.Text;

namespace RlGaf.Engine.Data;

/// <summary>One CSV record: its fields and the 1-based line it starts on.</summary>
public sealed record CsvRecord(int Line, string[] Fields);

/// <summary>
/// RFC 4180 CSV: comma-separated fields, optionally double-quoted; a quoted field may hold commas,
/// line breaks and doubled quotes (""). CRLF, LF and CR all end records. Errors name the file and line
/// but never quote the file's text (a loader pointed at the wrong file must not print it).
/// </summary>
public static class Csv
{
    public static List<CsvRecord> Parse(string text, string path)
    {
        var records = new List<CsvRecord>();
        var fields = new List<string>();
        var field = new StringBuilder();
        int line = 1, recordLine = 1, i = 0;
        bool fieldStarted = false;
        while (i < text.Length)
        {
            char c = text[i];
            if (c == '"' && field.Length == 0 && !fieldStarted)
            {
                int quoteLine = line;
                i++;
                while (true)
                {
                    if (i >= text.Length) throw new InvalidDataException($"{path}: line {quoteLine}: unterminated quoted field.");
                    char q = text[i];
                    if (q == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    if (q == '\n' || (q == '\r' && (i + 1 >= text.Length || text[i + 1] != '\n'))) line++;
                    field.Append(q);
                    i++;
                }
                fieldStarted = true;
                if (i < text.Length && text[i] is not (',' or '\r' or '\n'))
                    throw new InvalidDataException($"{path}: line {line}: unexpected text after a closing quote (a field is either quoted entirely or not at all).");
                continue;
            }
            if (c == ',')
            {
                fields.Add(field.ToString()); field.Clear(); fieldStarted = false;
                i++;
                continue;
            }
            if (c is '\r' or '\n')
            {
                i += c == '\r' && i + 1 < text.Length && text[i + 1] == '\n' ? 2 : 1;
                EndRecord();
                line++;
                recordLine = line;
                continue;
            }
            if (c == '"') throw new InvalidDataException($"{path}: line {line}: a quote inside an unquoted field (quote the whole field and double the quote).");
            field.Append(c);
            fieldStarted = true;
            i++;
        }
        EndRecord();
        return records;

        void EndRecord()
        {
            bool blank = fields.Count == 0 && field.Length == 0 && !fieldStarted;
            if (!blank)
            {
                fields.Add(field.ToString());
                records.Add(new CsvRecord(recordLine, [.. fields]));
            }
            fields.Clear(); field.Clear(); fieldStarted = false;
        }
    }
}
