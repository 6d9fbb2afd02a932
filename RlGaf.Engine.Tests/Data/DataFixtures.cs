namespace RlGaf.Engine.Tests.Data;

/// <summary>A temporary folder the test writes its fixtures into; deleted afterwards.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rlgaf-data-" + Guid.NewGuid().ToString("N")[..8]);
    public TempDir() => Directory.CreateDirectory(Path);
    public string File(string name, string text)
    {
        var p = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
        System.IO.File.WriteAllText(p, text);
        return p;
    }
    public string Bytes(string name, byte[] bytes)
    {
        var p = System.IO.Path.Combine(Path, name);
        System.IO.File.WriteAllBytes(p, bytes);
        return p;
    }
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}

public static class SharedData
{
    /// <summary>../shared/data next to the repository root (the folder holding RlGaf.sln), or null.</summary>
    public static string? Folder
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            {
                if (!File.Exists(Path.Combine(d.FullName, "RlGaf.sln"))) continue;
                var shared = Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "data"));
                if (Directory.Exists(shared)) return shared;
                // A git worktree under wt/NAME: the shared folder sits beside the main checkout.
                var up = Path.GetFullPath(Path.Combine(d.FullName, "..", "..", "shared", "data"));
                return Directory.Exists(up) ? up : null;
            }
            return null;
        }
    }

    public const string SquadJson = """
    {"version": "v2.0", "data": [{"title": "Cats", "paragraphs": [
      {"context": "The cat sat on the mat. It was black.", "qas": [
        {"question": "Where did the cat sit?", "id": "q1", "answers": [{"text": "on the mat", "answer_start": 12}, {"text": "the mat", "answer_start": 15}], "is_impossible": false},
        {"question": "What colour was the dog?", "id": "q2", "answers": [], "is_impossible": true, "plausible_answers": [{"text": "black", "answer_start": 31}]},
        {"question": "What sat?", "id": "q3", "answers": [{"text": "The cat", "answer_start": 0}], "is_impossible": false}
      ]}]}]}
    """;
}
