using Microsoft.Extensions.Options;
using RlGaf.Engine.Runs;

namespace RlGaf.Workbench.Services;

/// <summary>
/// Paths typed into the UI or the API (generator, disc_checkpoint, a dataset path) may only point
/// under the configured data roots (RlGaf:DataRoots, default the data root): a web form must not
/// become a way to read arbitrary files. Relative paths are taken under the first root.
/// </summary>
public sealed class PathPolicy
{
    public IReadOnlyList<string> Roots { get; }

    public PathPolicy(IOptions<WorkbenchOptions> options) : this(RootsOf(options.Value)) { }

    public PathPolicy(IReadOnlyList<string> roots) =>
        Roots = roots.Select(r => Path.TrimEndingDirectorySeparator(Path.GetFullPath(r))).ToList();

    public static IReadOnlyList<string> RootsOf(WorkbenchOptions o)
    {
        var dataRoot = WorkbenchPaths.DataRoot(o.DataRoot);
        return o.DataRoots is { Length: > 0 } roots ? roots.Select(r => Path.GetFullPath(r, dataRoot)).ToList() : [dataRoot];
    }

    /// <summary>The full path of <paramref name="value"/> when it lies under a data root; otherwise an ArgumentException naming the setting and why.</summary>
    public string Resolve(string key, string value)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new ArgumentException($"{key}: empty path.");
        string full = Path.GetFullPath(value, Roots[0]);
        foreach (var root in Roots)
            if (full == root || full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                return full;
        throw new ArgumentException($"{key}: '{value}' is outside the data roots ({string.Join(", ", Roots)}); only paths under them are allowed (RlGaf:DataRoots).");
    }

    /// <summary>Checks every path-valued setting and returns the settings with those paths made absolute.</summary>
    public RunSettings Apply(RunSettings s)
    {
        if (s.Generator != "pretrain") s = s with { Generator = Resolve("generator", s.Generator) };
        if (!string.IsNullOrWhiteSpace(s.DiscCheckpoint)) s = s with { DiscCheckpoint = Resolve("disc_checkpoint", s.DiscCheckpoint) };
        var (kind, path) = DatasetCatalog.Parse(s.Dataset);
        // imdb:PATH, squad:PATH, jsonl:PATH: the path after the prefix is what must lie under a root.
        if (kind is DatasetKind.Imdb or DatasetKind.Squad or DatasetKind.Jsonl) s = s with { Dataset = DatasetCatalog.Compose(kind, Resolve("dataset", path)) };
        else if (LooksLikePath(s.Dataset)) s = s with { Dataset = Resolve("dataset", s.Dataset) };
        return s;
    }

    /// <summary>An ArgumentException naming the dataset when its (already resolved) files are missing.</summary>
    public static void RequireDatasetExists(string dataset)
    {
        var (kind, path) = DatasetCatalog.Parse(dataset);
        if (kind == DatasetKind.Builtin) return;
        bool exists = kind == DatasetKind.Imdb ? Directory.Exists(path) || File.Exists(path) : File.Exists(path);
        if (!exists) throw new ArgumentException($"dataset: '{path}' does not exist ({DatasetCatalog.Describe(kind)}).");
    }

    /// <summary>Built-in dataset names are plain words; anything with a separator or a dot-start is a path.</summary>
    public static bool LooksLikePath(string value) =>
        value.Contains('/') || value.Contains('\\') || value.StartsWith('.') || value.StartsWith('~') || Path.IsPathRooted(value);
}
