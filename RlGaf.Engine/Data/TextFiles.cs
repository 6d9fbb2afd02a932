using System.Text;

namespace RlGaf.Engine.Data;

/// <summary>Strict reading of UTF-8 text files: every failure names the file (and the line).</summary>
public static class TextFiles
{
    /// <summary>Largest text file read whole (1 GiB): a .NET string holds at most ~2^30 characters.</summary>
    public const long MaxTextBytes = 1L << 30;

    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Throws <see cref="FileNotFoundException"/> naming <paramref name="what"/> and the path when the file is absent.</summary>
    public static void RequireFile(string path, string what)
    {
        if (Directory.Exists(path)) throw new InvalidDataException($"{path}: is a folder; {what} must be a file.");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: {what} does not exist.", path);
    }

    /// <summary>
    /// The whole file as text (a UTF-8 byte-order mark is dropped). Invalid UTF-8 is an
    /// <see cref="InvalidDataException"/> naming the file and the 1-based line of the first bad byte;
    /// an empty (or whitespace-only) file is one too, and so is a file over <see cref="MaxTextBytes"/>, refused before it is read.
    /// </summary>
    public static string ReadAllText(string path, string what)
    {
        RequireFile(path, what);
        long length = new FileInfo(path).Length;
        if (length > MaxTextBytes)
            throw new InvalidDataException($"{path}: {what} is {length} bytes; text files over {MaxTextBytes} bytes are not read (split it).");
        var bytes = File.ReadAllBytes(path);
        int start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        string text;
        try { text = Strict.GetString(bytes, start, bytes.Length - start); }
        catch (DecoderFallbackException) { throw new InvalidDataException($"{path}: line {BadLine(bytes, start)} is not valid UTF-8."); }
        if (string.IsNullOrWhiteSpace(text)) throw new InvalidDataException($"{path}: the file is empty.");
        return text;
    }

    /// <summary>The 1-based line holding the first undecodable byte ('\n' never occurs inside a UTF-8 sequence).</summary>
    private static int BadLine(byte[] bytes, int start)
    {
        int line = 1, lineStart = start;
        for (int i = start; i <= bytes.Length; i++)
        {
            if (i < bytes.Length && bytes[i] != (byte)'\n') continue;
            try { Strict.GetString(bytes, lineStart, i - lineStart); }
            catch (DecoderFallbackException) { return line; }
            line++;
            lineStart = i + 1;
        }
        return line;
    }

    /// <summary>Splits text into lines ("\n", "\r\n" or "\r"), keeping their 1-based numbers.</summary>
    public static IEnumerable<(int Number, string Text)> Lines(string text)
    {
        int n = 0;
        using var reader = new StringReader(text);
        for (string? line; (line = reader.ReadLine()) is not null;) yield return (++n, line);
    }
}
