using RlGaf.Engine.Tasks;

namespace RlGaf.Workbench.Services;

/// <summary>The kinds of data a run can train on, as the New run page offers them.</summary>
public enum DatasetKind { Builtin, Imdb, Squad, Jsonl, Other }

/// <summary>A dataset found under a data root.</summary>
public sealed record DatasetCandidate(DatasetKind Kind, string Path, string Label);

/// <summary>
/// Turns the New run page's dataset choice (kind + path) into the run's dataset name and back, and
/// finds datasets under the data roots so users pick instead of typing paths: aclImdb folders (or
/// the IMDB CSV), SQuAD JSON, prompt/completion JSONL.
/// </summary>
public sealed class DatasetCatalog(PathPolicy paths)
{
    /// <summary>The built-in corpus: needs no files.</summary>
    public const string Builtin = "synthetic-reviews";

    // Workbench-owned folders under the data root that never hold user datasets.
    private static readonly HashSet<string> Skip = ["runs", "models", "checkpoints", "experiments", "node_modules", "bin", "obj"];

    /// <summary>The kinds the New run page offers.</summary>
    public static readonly IReadOnlyList<DatasetKind> Offered = [DatasetKind.Builtin, DatasetKind.Imdb, DatasetKind.Squad, DatasetKind.Jsonl];

    public static string Describe(DatasetKind kind) => kind switch
    {
        DatasetKind.Builtin => "Synthetic reviews (built in)",
        DatasetKind.Imdb => "IMDB reviews (aclImdb folder or CSV)",
        DatasetKind.Squad => "SQuAD 2.0 (official JSON)",
        DatasetKind.Jsonl => "Custom prompt/completion JSONL",
        _ => "Other (a dataset name the engine knows)",
    };

    /// <summary>The run's dataset setting for a kind and path.</summary>
    public static string Compose(DatasetKind kind, string path) => kind switch
    {
        DatasetKind.Builtin => Builtin,
        DatasetKind.Imdb => ImdbTask.Prefix + path.Trim(),
        DatasetKind.Squad => SquadTask.Prefix + path.Trim(),
        DatasetKind.Jsonl => JsonlTask.Prefix + path.Trim(),
        _ => path.Trim(),
    };

    /// <summary>The kind and path of a dataset setting (inverse of <see cref="Compose"/>).</summary>
    public static (DatasetKind Kind, string Path) Parse(string dataset)
    {
        if (dataset.StartsWith(ImdbTask.Prefix, StringComparison.Ordinal)) return (DatasetKind.Imdb, dataset[ImdbTask.Prefix.Length..]);
        if (dataset.StartsWith(SquadTask.Prefix, StringComparison.Ordinal)) return (DatasetKind.Squad, dataset[SquadTask.Prefix.Length..]);
        if (dataset.StartsWith(JsonlTask.Prefix, StringComparison.Ordinal)) return (DatasetKind.Jsonl, dataset[JsonlTask.Prefix.Length..]);
        return dataset == Builtin ? (DatasetKind.Builtin, "") : (DatasetKind.Other, dataset);
    }

    /// <summary>Datasets under the data roots, a few folders deep (bounded, so a huge root stays fast).</summary>
    public IReadOnlyList<DatasetCandidate> Discover(int maxDepth = 4, int maxResults = 100)
    {
        var found = new List<DatasetCandidate>();
        foreach (var root in paths.Roots)
        {
            if (!Directory.Exists(root)) continue;
            var pending = new Queue<(string Dir, int Depth)>([(root, 0)]);
            while (pending.Count > 0 && found.Count < maxResults)
            {
                var (dir, depth) = pending.Dequeue();
                if (IsAclImdb(dir)) { found.Add(new(DatasetKind.Imdb, dir, Label(root, dir))); continue; }
                try
                {
                    // A link that leads outside the roots is neither listed nor opened (KindOfFile reads the first bytes).
                    foreach (var file in Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal))
                        if (paths.Allows(file) && KindOfFile(file) is { } kind) found.Add(new(kind, file, Label(root, file)));
                    if (depth < maxDepth)
                        foreach (var sub in Directory.EnumerateDirectories(dir).Order(StringComparer.Ordinal))
                        {
                            var name = Path.GetFileName(sub);
                            if (!name.StartsWith('.') && !(depth == 0 && Skip.Contains(name)) && paths.Allows(sub)) pending.Enqueue((sub, depth + 1));
                        }
                }
                catch (Exception e) when (e is UnauthorizedAccessException or IOException) { }
            }
        }
        return found.Take(maxResults).ToList();
    }

    private static string Label(string root, string path) => Path.GetRelativePath(root, path);

    private static bool IsAclImdb(string dir) =>
        Directory.Exists(Path.Combine(dir, "train", "pos")) && Directory.Exists(Path.Combine(dir, "train", "neg"));

    /// <summary>What a file holds, judged from its extension and first bytes; null when it is no dataset.</summary>
    public static DatasetKind? KindOfFile(string file)
    {
        var ext = Path.GetExtension(file).ToLowerInvariant();
        if (ext == ".jsonl") return DatasetKind.Jsonl;
        if (ext is not (".json" or ".csv")) return null;
        string head;
        try
        {
            using var reader = new StreamReader(file);
            var buffer = new char[4096];
            head = new string(buffer, 0, reader.ReadBlock(buffer, 0, buffer.Length));
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException) { return null; }
        if (ext == ".json") return head.Contains("\"data\"", StringComparison.Ordinal) && head.Contains("\"paragraphs\"", StringComparison.Ordinal) ? DatasetKind.Squad : null;
        var header = head.Split('\n')[0].ToLowerInvariant();
        return header.Contains("review") && header.Contains("sentiment") ? DatasetKind.Imdb : null;
    }
}
