using System.Text;

namespace RlGaf.Engine.Corpora;

/// <summary>A plain-text corpus: one document per line, UTF-8. Blank lines are skipped.</summary>
public static class PlainTextCorpus
{
    public static List<string> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"corpus file '{path}' does not exist (or use 'synthetic-reviews').");
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        var docs = new List<string>();
        int lineNo = 0;
        using var reader = new StreamReader(path, strict);
        try
        {
            for (string? line; (line = reader.ReadLine()) is not null;)
            {
                lineNo++;
                if (!string.IsNullOrWhiteSpace(line)) docs.Add(line.Trim());
            }
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException($"{path}: line {lineNo + 1} is not valid UTF-8.");
        }
        if (docs.Count == 0) throw new InvalidDataException($"{path}: the file has no non-empty lines.");
        return docs;
    }
}
