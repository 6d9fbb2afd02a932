using System.Text.RegularExpressions;

namespace RlGaf.Workbench.Storage;

/// <summary>
/// What a run's tags and note may be. A tag is one word a filter can name (tag:baseline): a letter or
/// digit, then letters, digits and . _ - + / =, at most <see cref="MaxTagLength"/> characters; a run
/// carries at most <see cref="MaxTags"/>. A note is free text up to <see cref="MaxNoteLength"/>
/// characters, without control characters other than newlines and tabs.
/// </summary>
public static partial class RunLabels
{
    public const int MaxTags = 32;
    public const int MaxTagLength = 40;
    public const int MaxNoteLength = 4000;

    [GeneratedRegex(@"^[\p{L}\p{Nd}][\p{L}\p{Nd}._\-+/=]*$")]
    private static partial Regex TagPattern();

    /// <summary>The tag, trimmed, or ArgumentException naming <paramref name="field"/> and what is wrong.</summary>
    public static string CheckTag(string? tag, string field)
    {
        var t = (tag ?? "").Trim();
        if (t.Length == 0) throw new ArgumentException($"{field}: a tag cannot be empty.");
        if (t.Length > MaxTagLength) throw new ArgumentException($"{field}: tag '{t[..20]}...' has {t.Length} characters; at most {MaxTagLength}.");
        if (!TagPattern().IsMatch(t))
            throw new ArgumentException($"{field}: tag '{t}' is not one word (it must start with a letter or digit and hold only letters, digits and . _ - + / =).");
        return t;
    }

    /// <summary>The note, trailing whitespace trimmed, or ArgumentException naming <paramref name="field"/>.</summary>
    public static string CheckNote(string? note, string field)
    {
        var n = (note ?? "").TrimEnd();
        if (n.Length > MaxNoteLength) throw new ArgumentException($"{field}: {n.Length} characters; a note holds at most {MaxNoteLength}.");
        int bad = IndexOfControl(n);
        if (bad >= 0) throw new ArgumentException($"{field}: control character U+{(int)n[bad]:X4} at position {bad}; only newlines and tabs are allowed.");
        return n;
    }

    private static int IndexOfControl(string s)
    {
        for (int i = 0; i < s.Length; i++)
            if (char.IsControl(s[i]) && s[i] is not ('\n' or '\t' or '\r')) return i;
        return -1;
    }
}
