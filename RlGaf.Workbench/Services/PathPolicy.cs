using Microsoft.Extensions.Options;
using RlGaf.Engine.Runs;

namespace RlGaf.Workbench.Services;

/// <summary>
/// Paths typed into the UI or the API (generator, disc_checkpoint, a dataset path) may only point
/// under the configured data roots (RlGaf:DataRoots, default the data root): a web form must not
/// become a way to read arbitrary files. Relative paths are taken under the first root. The decision
/// is made on the physical path: every symbolic link (and Windows junction) is followed, component by
/// component, and ".." is applied after the link before it, as the operating system does, so a link
/// under a root that points outside it cannot be used to escape. The roots themselves may be links.
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

    /// <summary>Most links followed while resolving one path (Linux's own limit is 40); a loop ends here.</summary>
    public const int MaxLinks = 40;

    private static readonly StringComparison PathComparison = OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>
    /// The physical path of <paramref name="value"/> (links resolved) when it lies under a data root;
    /// otherwise an ArgumentException naming the setting and why. Callers use the returned path, which
    /// is the one that was checked.
    /// </summary>
    public string Resolve(string key, string value)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new ArgumentException($"{key}: empty path.");
        string full = Physical(key, value, Path.IsPathRooted(value) ? value : Path.Combine(Roots[0], value));
        foreach (var r in Roots)
        {
            var root = Path.TrimEndingDirectorySeparator(Physical(key, r, r));
            if (string.Equals(full, root, PathComparison) || full.StartsWith(root + Path.DirectorySeparatorChar, PathComparison))
                return full;
        }
        // Where a link leads is not echoed: the caller learns only that it escapes.
        var shown = string.Equals(Path.GetFullPath(value, Roots[0]), full, PathComparison) ? "" : " through a symbolic link";
        throw new ArgumentException($"{key}: '{value}' is outside the data roots{shown} ({string.Join(", ", Roots)}); only paths under them are allowed (RlGaf:DataRoots).");
    }

    /// <summary>Whether <paramref name="path"/> resolves (links followed) under a data root; never throws for a refusal.</summary>
    public bool Allows(string path)
    {
        try { Resolve("path", path); return true; }
        catch (ArgumentException) { return false; }
    }

    /// <summary>
    /// <paramref name="path"/> (absolute) with every link resolved, walking it component by component:
    /// "." is dropped, ".." goes to the parent of the physical path so far, and a link's target is
    /// spliced in and walked the same way (relative targets from the link's folder). Components that do
    /// not exist are kept as written. More than <see cref="MaxLinks"/> links is refused (a loop).
    /// </summary>
    private static string Physical(string key, string value, string path)
    {
        string current = Path.GetPathRoot(path)!;
        var pending = new Stack<string>(Components(path[current.Length..]).Reverse());
        int links = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current; // ".." of the root is the root
                continue;
            }
            string next = Path.Combine(current, part);
            string? target = LinkTarget(next);
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks) throw new ArgumentException($"{key}: '{value}' goes through more than {MaxLinks} symbolic links (a loop?).");
            if (Path.IsPathRooted(target)) current = Path.GetPathRoot(target)!;
            foreach (var t in Components(target[(Path.GetPathRoot(target)?.Length ?? 0)..]).Reverse()) pending.Push(t);
        }
        return current;
    }

    private static IEnumerable<string> Components(string relative) =>
        relative.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The target of <paramref name="path"/> if it is a link (file or folder, dangling or not), else null.</summary>
    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget; // readlink: the same for links to files and to folders
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // unreadable: the path is then checked as written, and opening it fails later
        }
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
