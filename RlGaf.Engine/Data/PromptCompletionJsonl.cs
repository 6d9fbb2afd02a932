using System.Text.Json;

namespace RlGaf.Engine.Data;

/// <summary>A custom example: a prompt and the completion wanted for it (line = 1-based line in the file).</summary>
public sealed record PromptCompletion(int Line, string Prompt, string Completion);

/// <summary>
/// Custom datasets as JSON Lines: one object {"prompt": "...", "completion": "..."} a line (other
/// fields are ignored, blank lines skipped). The whole file is checked before it is returned; errors
/// name the file and line but never quote the line.
/// </summary>
public static class PromptCompletionJsonl
{
    public static List<PromptCompletion> Load(string path)
    {
        var text = TextFiles.ReadAllText(path, "JSONL file");
        var result = new List<PromptCompletion>();
        foreach (var (n, line) in TextFiles.Lines(text))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            // The parser's message quotes the offending text; the position is enough.
            catch (JsonException e) { throw new InvalidDataException($"{path}: line {n}: not valid JSON (at byte {e.BytePositionInLine + 1})."); }
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: line {n}: expected an object with 'prompt' and 'completion'.");
                result.Add(new PromptCompletion(n, Field(root, "prompt", n), Field(root, "completion", n)));
            }
        }
        if (result.Count == 0) throw new InvalidDataException($"{path}: the file has no examples.");
        return result;

        string Field(JsonElement root, string name, int n)
        {
            if (!root.TryGetProperty(name, out var v)) throw new InvalidDataException($"{path}: line {n}: missing '{name}'.");
            if (v.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{path}: line {n}: '{name}' must be a string.");
            return v.GetString()!;
        }
    }
}
