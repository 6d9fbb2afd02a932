using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace RlGaf.Engine.Data;

public enum ImdbSplit { Train, Test }

/// <summary>
/// One IMDB review. <paramref name="Id"/> and <paramref name="Rating"/> (1-10) come from the
/// aclImdb file name ID_RATING.txt; a CSV row has its data-row number as id and no rating (0).
/// </summary>
public sealed record ImdbReview(ImdbSplit Split, string Id, int Rating, bool Positive, string Text);

/// <summary>Both labelled splits of an IMDB dataset, fully loaded.</summary>
public sealed record ImdbDataset(string Source, IReadOnlyList<ImdbReview> Train, IReadOnlyList<ImdbReview> Test);

/// <summary>
/// Loads the Large Movie Review Dataset from a path the user gives (nothing is downloaded):
/// <list type="bullet">
/// <item>the aclImdb folder (train|test / pos|neg / ID_RATING.txt), streamed file by file;</item>
/// <item>the common CSV ("review,sentiment" header, labels positive|negative), split in half:
/// the first half of the rows is train, the second half test (the 50,000-row file is shuffled,
/// so this gives the usual 25,000 / 25,000).</item>
/// </list>
/// Texts are cleaned by <see cref="CleanText"/>. Errors are one <see cref="InvalidDataException"/>
/// or <see cref="FileNotFoundException"/> naming the file (and line), never quoting the file's text.
/// </summary>
public static partial class ImdbLoader
{
    [GeneratedRegex(@"<br\s*/?\s*>", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex LineBreakTag();
    [GeneratedRegex(@"^(\d+)_(\d+)\.txt$", RegexOptions.CultureInvariant)]
    private static partial Regex FileNamePattern();

    /// <summary>
    /// Review text as a model sees it: each &lt;br /&gt; (also &lt;br/&gt;, &lt;br&gt;) becomes a
    /// space, HTML entities are decoded (WebUtility.HtmlDecode), runs of white space become one
    /// space, and the ends are trimmed. One line per review keeps a compact vocabulary small.
    /// </summary>
    public static string CleanText(string raw)
    {
        var s = WebUtility.HtmlDecode(LineBreakTag().Replace(raw, " "));
        var sb = new StringBuilder(s.Length);
        bool space = false;
        foreach (char c in s)
        {
            if (char.IsWhiteSpace(c)) { space = sb.Length > 0; continue; }
            if (space) { sb.Append(' '); space = false; }
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>True when <paramref name="path"/> is an aclImdb-style folder, false for a CSV file; throws when neither exists.</summary>
    public static bool IsFolder(string path)
    {
        if (Directory.Exists(path)) return true;
        if (File.Exists(path)) return false;
        throw new FileNotFoundException($"{path}: IMDB data (an aclImdb folder or a CSV file) does not exist.", path);
    }

    /// <summary>
    /// Reviews of one split of an aclImdb folder, read lazily one file at a time (pos files first,
    /// then neg, each in order of id). <paramref name="progress"/> gets the number of files read so far.
    /// <paramref name="maxPerClass"/> (0 = all) keeps the lowest ids of each class; the rest are never opened.
    /// The folder layout and every file name are checked before the first review is returned.
    /// </summary>
    public static IEnumerable<ImdbReview> StreamFolder(string folder, ImdbSplit split, IProgress<int>? progress = null, int maxPerClass = 0)
    {
        var files = SplitFiles(folder, split, maxPerClass);
        return Read(files, split, progress);

        static IEnumerable<ImdbReview> Read(List<(string Path, bool Positive, string Id, int Rating)> files, ImdbSplit split, IProgress<int>? progress)
        {
            int done = 0;
            foreach (var f in files)
            {
                string raw = TextFiles.ReadAllText(f.Path, "review file");
                done++;
                progress?.Report(done);
                yield return new ImdbReview(split, f.Id, f.Rating, f.Positive, CleanText(raw));
            }
        }
    }

    /// <summary>Number of review files in a split of an aclImdb folder (no file is read).</summary>
    public static int CountFolder(string folder, ImdbSplit split) => SplitFiles(folder, split, 0).Count;

    /// <summary>The file list of a split, checked eagerly: the folders exist, are not empty, and every name is ID_RATING.txt.</summary>
    private static List<(string Path, bool Positive, string Id, int Rating)> SplitFiles(string folder, ImdbSplit split, int maxPerClass)
    {
        if (!Directory.Exists(folder)) throw new FileNotFoundException($"{folder}: IMDB folder does not exist.", folder);
        string splitName = split == ImdbSplit.Train ? "train" : "test";
        var result = new List<(string, bool, string, int)>();
        foreach (var (label, positive) in new[] { ("pos", true), ("neg", false) })
        {
            var dir = Path.Combine(folder, splitName, label);
            if (!Directory.Exists(dir)) throw new FileNotFoundException($"{dir}: folder does not exist (expected the aclImdb layout {splitName}/pos and {splitName}/neg).", dir);
            var named = new List<(long Id, string Path, int Rating)>();
            foreach (var path in Directory.EnumerateFiles(dir))
            {
                var m = FileNamePattern().Match(Path.GetFileName(path));
                if (!m.Success) throw new InvalidDataException($"{path}: file name is not ID_RATING.txt.");
                if (!long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long id)
                    || !int.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int rating) || rating is < 1 or > 10)
                    throw new InvalidDataException($"{path}: file name is not ID_RATING.txt with a rating of 1-10.");
                if (positive ? rating < 5 : rating > 6)
                    throw new InvalidDataException($"{path}: rating {rating} contradicts the folder '{label}'.");
                named.Add((id, path, rating));
            }
            if (named.Count == 0) throw new InvalidDataException($"{dir}: empty split (no review files).");
            foreach (var n in named.OrderBy(n => n.Id).Take(maxPerClass > 0 ? maxPerClass : int.MaxValue)) result.Add((n.Path, positive, n.Id.ToString(CultureInfo.InvariantCulture), n.Rating));
        }
        return result;
    }

    /// <summary>
    /// Loads the CSV format: header "review,sentiment" (either order, case-insensitive), labels
    /// positive|negative. Every row is checked before anything is returned.
    /// </summary>
    public static List<ImdbReview> ReadCsv(string path)
    {
        var text = TextFiles.ReadAllText(path, "IMDB CSV file");
        var records = Csv.Parse(text, path);
        var header = records[0];
        int review = Array.FindIndex(header.Fields, f => f.Trim().Equals("review", StringComparison.OrdinalIgnoreCase));
        int sentiment = Array.FindIndex(header.Fields, f => f.Trim().Equals("sentiment", StringComparison.OrdinalIgnoreCase));
        if (review < 0 || sentiment < 0 || header.Fields.Length != 2)
            throw new InvalidDataException($"{path}: line {header.Line}: the header must be 'review,sentiment' (found {header.Fields.Length} column(s) without both names).");
        if (records.Count < 2) throw new InvalidDataException($"{path}: the file has a header but no reviews.");
        var result = new List<ImdbReview>(records.Count - 1);
        for (int r = 1; r < records.Count; r++)
        {
            var rec = records[r];
            if (rec.Fields.Length != 2)
                throw new InvalidDataException($"{path}: line {rec.Line}: expected 2 columns (review,sentiment), found {rec.Fields.Length}.");
            bool positive = rec.Fields[sentiment].Trim().ToLowerInvariant() switch
            {
                "positive" => true,
                "negative" => false,
                _ => throw new InvalidDataException($"{path}: line {rec.Line}: the sentiment column holds an unknown label (expected positive or negative)."),
            };
            var clean = CleanText(rec.Fields[review]);
            if (clean.Length == 0) throw new InvalidDataException($"{path}: line {rec.Line}: the review is empty.");
            result.Add(new ImdbReview(ImdbSplit.Train, r.ToString(CultureInfo.InvariantCulture), 0, positive, clean));
        }
        return result;
    }

    /// <summary>
    /// Loads both splits of a folder or a CSV file fully, then returns them. <paramref name="maxPerSplit"/>
    /// (0 = all) keeps at most that many reviews a split, half positive and half negative, the lowest ids first.
    /// </summary>
    public static ImdbDataset Load(string path, int maxPerSplit = 0, IProgress<int>? progress = null)
    {
        if (IsFolder(path))
        {
            int done = 0;
            var counter = progress is null ? null : new SyncProgress(_ => progress.Report(++done));
            int perClass = maxPerSplit > 0 ? Math.Max(1, maxPerSplit / 2) : 0;
            var train = StreamFolder(path, ImdbSplit.Train, counter, perClass).ToList();
            var test = StreamFolder(path, ImdbSplit.Test, counter, perClass).ToList();
            return new ImdbDataset(path, train, test);
        }
        var rows = ReadCsv(path);
        if (rows.Count < 2) throw new InvalidDataException($"{path}: needs at least 2 reviews (one train, one test), found {rows.Count}.");
        int half = rows.Count / 2;
        var trainRows = rows.Take(half).ToList();
        var testRows = rows.Skip(half).Select(r => r with { Split = ImdbSplit.Test }).ToList();
        progress?.Report(rows.Count);
        return new ImdbDataset(path, Take(trainRows, maxPerSplit), Take(testRows, maxPerSplit));
    }

    private static List<ImdbReview> Take(IEnumerable<ImdbReview> reviews, int max)
    {
        if (max <= 0) return reviews.ToList();
        int each = Math.Max(1, max / 2), pos = 0, neg = 0;
        var result = new List<ImdbReview>();
        foreach (var r in reviews)
        {
            if (r.Positive ? pos++ < each : neg++ < max - each) result.Add(r);
        }
        return result;
    }

    /// <summary>Reports synchronously on the caller's thread (Progress&lt;T&gt; posts to a context).</summary>
    private sealed class SyncProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
