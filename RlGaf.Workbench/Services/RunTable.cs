using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Services;

/// <summary>A run as the table reads it: the record, and its settings as text, parsed only when a query reads them.</summary>
public sealed class RunRow(RunRecord record, Func<RunRecord, IReadOnlyDictionary<string, string>> settings)
{
    private IReadOnlyDictionary<string, string>? _settings;
    public RunRecord Record { get; } = record;

    public string Setting(string key) =>
        (_settings ??= settings(Record)).TryGetValue(key, out var v) ? v : RunTable.DefaultSetting(key);
}

/// <summary>What the run table is asked for. Page counts from 0; PageSize 0 means every row.</summary>
/// <param name="Sort">A column, "-" in front for descending (default: -created).</param>
/// <param name="GroupBy">A setting to group by, or "seeds" for runs whose settings differ only in the seed.</param>
/// <param name="Ids">Only these runs (a selection), or null for every run.</param>
public sealed record RunListRequest(string? Filter = null, string? Sort = null, IReadOnlyList<RunColumn>? Columns = null, int Page = 0, int PageSize = 0, string? GroupBy = null,
    IReadOnlyCollection<string>? Ids = null);

/// <summary>Runs with the same value of the grouping setting: the mean and sample standard deviation of each numeric column.</summary>
public sealed record RunGroup(string Key, IReadOnlyList<RunRecord> Runs, IReadOnlyDictionary<string, ColumnStats> Stats);

public sealed record ColumnStats(double Mean, double Std, int Count)
{
    public override string ToString() => Count > 1 ? $"{Fmt(Mean)} ± {Fmt(Std)}" : Fmt(Mean);
    private static string Fmt(double v) => v.ToString(Math.Abs(v) >= 100 ? "0.0" : "0.000", CultureInfo.InvariantCulture);
}

/// <summary>One page of the table: the matching total, the page's runs (or groups), and how long the server took.</summary>
public sealed record RunListResult(int Total, IReadOnlyList<RunRecord> Runs, IReadOnlyList<RunGroup>? Groups, IReadOnlyList<RunColumn> Columns, double ServerMilliseconds);

/// <summary>
/// Filters, sorts, groups and pages the runs of the store for the Runs page, GET /api/runs and
/// 'runs --json'. Metric columns read the per-run summaries the store keeps as metrics arrive
/// (<see cref="RunRecord.Summaries"/>), never the metric points; settings JSON is parsed once per
/// version of a run's settings and kept.
/// </summary>
public sealed class RunTable(RunStore store)
{
    public const string SeedsGroup = "seeds";
    public const int MaxPageSize = 1000;

    private readonly ConcurrentDictionary<string, (string Json, IReadOnlyDictionary<string, string> Values)> _settings = new();
    private static readonly RunSettings Defaults = new();

    public static string DefaultSetting(string key) => RunSettings.Keys.Contains(key) ? Defaults.Get(key) : "";

    /// <summary>Checks the request's parts (ArgumentException naming the parameter) before anything is read.</summary>
    public static (RunQuery Filter, RunColumn Sort, bool Descending) Check(RunListRequest request)
    {
        var filter = RunQuery.Parse(request.Filter);
        var sortText = string.IsNullOrWhiteSpace(request.Sort) ? "-created" : request.Sort.Trim();
        bool desc = sortText.StartsWith('-');
        var sort = RunColumn.Parse(desc ? sortText[1..] : sortText, "sort");
        if (request.Page < 0) throw new ArgumentException($"page: {request.Page} must be 0 or more (pages count from 0).");
        if (request.PageSize is < 0 or > MaxPageSize) throw new ArgumentException($"page_size: {request.PageSize} must be in [0, {MaxPageSize}] (0 = every row).");
        if (request.GroupBy is { Length: > 0 } g && g != SeedsGroup && !RunSettings.Keys.Contains(g) && g is not ("method" or "dataset" or "status"))
            throw new ArgumentException($"group: '{g}' is not a setting (or method, dataset, status, or '{SeedsGroup}' for runs that differ only in their seed).");
        return (filter, sort, desc);
    }

    public RunListResult Query(RunListRequest request)
    {
        var clock = Stopwatch.StartNew();
        var (filter, sort, desc) = Check(request);
        var columns = request.Columns ?? [];
        var ids = request.Ids is null ? null : request.Ids.ToHashSet(StringComparer.Ordinal);
        var rows = store.List().Where(r => ids is null || ids.Contains(r.Id)).Select(r => new RunRow(r, SettingsOf)).Where(filter.Matches).ToList();
        var comparer = new ValueComparer();
        // Runs without a value sort last whichever the direction.
        var keyed = rows.Select(r => (Row: r, Key: sort.ValueOf(r))).ToList();
        var withValue = keyed.Where(k => k.Key is not null);
        var ordered = (desc ? withValue.OrderByDescending(k => k.Key, comparer) : withValue.OrderBy(k => k.Key, comparer))
            .ThenByDescending(k => k.Row.Record.CreatedUtc)
            .Concat(keyed.Where(k => k.Key is null)).Select(k => k.Row).ToList();

        if (request.GroupBy is { Length: > 0 } by)
        {
            var groups = ordered.GroupBy(r => GroupKey(r, by)).Select(g => Group(g.Key, g.ToList(), columns)).ToList();
            return new RunListResult(groups.Count, ordered.Select(r => r.Record).ToList(), Page(groups, request), columns, clock.Elapsed.TotalMilliseconds);
        }
        var page = Page(ordered, request).Select(r => r.Record).ToList();
        return new RunListResult(ordered.Count, page, null, columns, clock.Elapsed.TotalMilliseconds);
    }

    private static List<T> Page<T>(List<T> items, RunListRequest request) =>
        request.PageSize == 0 ? items : items.Skip(request.Page * request.PageSize).Take(request.PageSize).ToList();

    private static string GroupKey(RunRow row, string by)
    {
        if (by is "method" or "dataset" or "status") return new RunColumn(ColumnKind.Field, by).ValueOf(row)?.ToString() ?? "";
        if (by != SeedsGroup) return $"{by}={row.Setting(by)}";
        // Every setting but the seed: the runs of one configuration over several seeds.
        return string.Join(' ', RunSettings.Keys.Where(k => k != "seed").Order(StringComparer.Ordinal)
            .Select(k => (k, v: row.Setting(k))).Where(kv => kv.v != DefaultSetting(kv.k)).Select(kv => $"{kv.k}={kv.v}")) is { Length: > 0 } key ? key : "(defaults)";
    }

    private static RunGroup Group(string key, List<RunRow> rows, IReadOnlyList<RunColumn> columns)
    {
        var stats = new Dictionary<string, ColumnStats>();
        foreach (var c in columns)
        {
            var values = rows.Select(r => c.ValueOf(r) switch { double d => d, int i => (double?)i, _ => null }).OfType<double>().Where(double.IsFinite).ToList();
            if (values.Count == 0) continue;
            var st = Engine.Experiments.Stat.Of(values); // mean and sample std, as the suites report seeds
            stats[c.Label] = new ColumnStats(st.Mean, st.Std, st.N);
        }
        return new RunGroup(key, rows.Select(r => r.Record).ToList(), stats);
    }

    /// <summary>A run as the table reads it (settings parsed once per version and kept).</summary>
    public RunRow Row(RunRecord r) => new(r, SettingsOf);

    /// <summary>A run's settings as text, from its JSON, kept until the JSON changes (a live change).</summary>
    private IReadOnlyDictionary<string, string> SettingsOf(RunRecord r)
    {
        if (_settings.TryGetValue(r.Id, out var cached) && cached.Json == r.SettingsJson) return cached.Values;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(r.SettingsJson);
            foreach (var p in doc.RootElement.EnumerateObject())
                values[p.Name] = p.Value.ValueKind switch
                {
                    JsonValueKind.String => p.Value.GetString() ?? "",
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    JsonValueKind.Null => "",
                    _ => p.Value.GetRawText(),
                };
        }
        catch (JsonException) { /* a damaged record: its settings read as the defaults */ }
        _settings[r.Id] = (r.SettingsJson, values);
        return values;
    }

    /// <summary>Numbers before text; numbers by value, text ordinally ignoring case.</summary>
    private sealed class ValueComparer : IComparer<object?>
    {
        public int Compare(object? a, object? b)
        {
            double? x = Num(a), y = Num(b);
            if (x is { } dx && y is { } dy) return dx.CompareTo(dy);
            if (x is not null) return -1;
            if (y is not null) return 1;
            return string.Compare(a?.ToString(), b?.ToString(), StringComparison.OrdinalIgnoreCase);
        }

        private static double? Num(object? v) => v switch { double d => d, int i => i, _ => null };
    }
}
