namespace RlGaf.Workbench.Services;

/// <summary>A piece of inline text: plain, `code` or **bold**.</summary>
public sealed record Inline(string Text, InlineKind Kind);

public enum InlineKind { Text, Code, Bold }

/// <summary>A block of a results.md: what the Experiments page draws.</summary>
public abstract record ResultsBlock;
public sealed record HeadingBlock(int Level, IReadOnlyList<Inline> Text) : ResultsBlock;
public sealed record ParagraphBlock(IReadOnlyList<Inline> Text) : ResultsBlock;
public sealed record TableBlock(IReadOnlyList<IReadOnlyList<Inline>> Header, IReadOnlyList<IReadOnlyList<IReadOnlyList<Inline>>> Rows) : ResultsBlock;
/// <summary>An image that names a file beside results.md (a plot); the page serves it from the experiment's folder.</summary>
public sealed record ImageBlock(string Alt, string File) : ResultsBlock;

/// <summary>
/// Reads the Markdown that <c>SuiteReport</c> writes (headings, paragraphs, pipe tables, one image per
/// line, inline `code` and **bold**) into blocks the page renders with MudBlazor components. Nothing
/// is passed through as HTML, so the file cannot inject markup; anything else reads as plain text.
/// A full Markdown library would add a dependency for a format this project writes itself.
/// </summary>
public static class ResultsMarkdown
{
    public static IReadOnlyList<ResultsBlock> Parse(string markdown)
    {
        var blocks = new List<ResultsBlock>();
        var paragraph = new List<string>();
        var table = new List<string>();

        // Only one of the two is ever open: a table line closes a paragraph and the other way round.
        void Flush()
        {
            if (paragraph.Count > 0) blocks.Add(new ParagraphBlock(Inlines(string.Join(' ', paragraph))));
            paragraph.Clear();
            if (table.Count > 0) blocks.Add(Table(table));
            table.Clear();
        }

        foreach (var raw in markdown.Replace("\r\n", "\n").Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith('|'))
            {
                if (paragraph.Count > 0) Flush();
                table.Add(line);
                continue;
            }
            if (table.Count > 0 || line.Length == 0) Flush();
            if (line.Length == 0) continue;
            int hashes = line.TakeWhile(c => c == '#').Count();
            if (hashes is >= 1 and <= 6 && line.Length > hashes && line[hashes] == ' ')
            {
                Flush();
                blocks.Add(new HeadingBlock(hashes, Inlines(line[(hashes + 1)..].Trim())));
            }
            else if (Image(line) is { } image)
            {
                Flush();
                blocks.Add(image);
            }
            else paragraph.Add(line); // consecutive lines are one paragraph
        }
        Flush();
        return blocks;
    }

    /// <summary>"![alt](file.png)" alone on a line, when the target is a plain file name beside results.md; null otherwise.</summary>
    private static ImageBlock? Image(string line)
    {
        if (!line.StartsWith("![", StringComparison.Ordinal) || !line.EndsWith(')')) return null;
        int mid = line.IndexOf("](", StringComparison.Ordinal);
        if (mid < 0) return null;
        var target = line[(mid + 2)..^1].Trim();
        // Only a file of the experiment: a URL or a path elsewhere is shown as text, never fetched.
        return target.Length > 0 && target.IndexOfAny(['/', '\\', ':', '?', '#', ' ']) < 0 && !target.StartsWith('.')
            ? new ImageBlock(line[2..mid], target)
            : null;
    }

    private static TableBlock Table(List<string> lines)
    {
        var rows = lines.Select(Cells).ToList();
        // The delimiter row (| --- | :---: |) separates the header from the body.
        bool IsDelimiter(List<string> cells) => cells.Count > 0 && cells.All(c => c.Length > 0 && c.Trim(':').Length > 0 && c.Trim(':').All(ch => ch == '-'));
        int delimiter = rows.FindIndex(IsDelimiter);
        var header = delimiter == 1 ? rows[0] : [];
        var body = delimiter == 1 ? rows.Skip(2) : rows.Where(r => !IsDelimiter(r));
        return new TableBlock(header.Select(Inlines).ToList(), body.Select(r => (IReadOnlyList<IReadOnlyList<Inline>>)r.Select(Inlines).ToList()).ToList());
    }

    /// <summary>The cells of "| a | b |" (a backslash-escaped pipe stays in its cell).</summary>
    private static List<string> Cells(string line)
    {
        var s = line.Trim();
        if (s.StartsWith('|')) s = s[1..];
        if (s.EndsWith('|') && !s.EndsWith("\\|", StringComparison.Ordinal)) s = s[..^1];
        var cells = new List<string>();
        var cell = new System.Text.StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 1 < s.Length && s[i + 1] == '|') { cell.Append('|'); i++; }
            else if (s[i] == '|') { cells.Add(cell.ToString().Trim()); cell.Clear(); }
            else cell.Append(s[i]);
        }
        cells.Add(cell.ToString().Trim());
        return cells;
    }

    /// <summary>Plain text with `code` and **bold** spans; an unmatched marker stays literal.</summary>
    public static IReadOnlyList<Inline> Inlines(string text)
    {
        var result = new List<Inline>();
        var plain = new System.Text.StringBuilder();
        void Emit(string t, InlineKind kind)
        {
            if (plain.Length > 0) { result.Add(new Inline(plain.ToString(), InlineKind.Text)); plain.Clear(); }
            result.Add(new Inline(t, kind));
        }
        int i = 0;
        while (i < text.Length)
        {
            if (text[i] == '`' && text.IndexOf('`', i + 1) is var close and > 0)
            {
                Emit(text[(i + 1)..close], InlineKind.Code);
                i = close + 1;
            }
            else if (text.AsSpan(i).StartsWith("**") && text.IndexOf("**", i + 2, StringComparison.Ordinal) is var end and > 0)
            {
                Emit(text[(i + 2)..end], InlineKind.Bold);
                i = end + 2;
            }
            else plain.Append(text[i++]);
        }
        if (plain.Length > 0) result.Add(new Inline(plain.ToString(), InlineKind.Text));
        return result;
    }
}
