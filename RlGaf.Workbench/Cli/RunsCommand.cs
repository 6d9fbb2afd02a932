using System.Globalization;
using System.Text.Json;
using RlGaf.Workbench.Api;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace RlGaf.Workbench.Cli;

/// <summary>What 'runs' lists: the run table's filter, sort and extra columns (the query syntax of docs/workbench.md).</summary>
public sealed record RunsListOptions(string DataRoot, bool Json, string? Filter, string? Sort, string? Columns);

/// <summary>'runs tag ID +a -b' and 'runs note ID "text"'.</summary>
public sealed record RunsLabelOptions(string DataRoot, string Id, IReadOnlyList<string> Add, IReadOnlyList<string> Remove, string? Note);

/// <summary>
/// runs: the run table on the command line (the same filter, sort and columns as the Runs page and
/// GET /api/runs), and a run's tags and note. Parsing is the thin <see cref="Parse"/>; the work is in
/// <see cref="List"/> and <see cref="Label"/>, which go through a workbench serving the data root.
/// </summary>
internal static class RunsCommand
{
    public const string Summary = "list the runs: runs [--json] [--filter EXPR] [--sort [-]COL] [--columns COL,...]; runs tag RUN_ID +TAG -TAG ...; runs note RUN_ID \"TEXT\"";

    public static int Run(ArgParser args)
    {
        string dataRoot = TrainCommand.DataRoot(args);
        if (args.Positionals.Count > 0 && args.Positionals[0] is "tag" or "note") return Label(ParseLabel(args, dataRoot));
        var options = new RunsListOptions(dataRoot, args.Flag("--json"), args.String("--filter"), args.String("--sort"), args.String("--columns"));
        args.EnsureAllUsed();
        return List(options);
    }

    private static RunsLabelOptions ParseLabel(ArgParser args, string dataRoot)
    {
        var p = args.Positionals;
        string verb = p[0];
        args.EnsureAllUsed(maxPositionals: int.MaxValue);
        if (p.Count < 2) throw new UsageException($"give the run id: runs {verb} RUN_ID {(verb == "tag" ? "+TAG -TAG ..." : "\"TEXT\"")}.");
        if (verb == "note")
        {
            if (p.Count != 3) throw new UsageException($"runs note: give the note as one argument (quote it): runs note {p[1]} \"TEXT\" (\"\" clears it); found {p.Count - 2}.");
            return new RunsLabelOptions(dataRoot, p[1], [], [], p[2]);
        }
        if (p.Count < 3) throw new UsageException($"runs tag: give at least one +TAG (add) or -TAG (remove): runs tag {p[1]} +baseline.");
        var add = new List<string>();
        var remove = new List<string>();
        foreach (var t in p.Skip(2))
        {
            if (t.Length > 1 && t[0] == '+') add.Add(RunLabels.CheckTag(t[1..], $"tag '{t}'"));
            else if (t.Length > 1 && t[0] == '-') remove.Add(t[1..]);
            else throw new UsageException($"runs tag: '{t}' must start with + (add the tag) or - (remove it).");
        }
        return new RunsLabelOptions(dataRoot, p[1], add, remove, null);
    }

    public static int Label(RunsLabelOptions o)
    {
        RunView view;
        using (var client = WorkbenchClient.For(o.DataRoot))
        {
            if (client is not null) view = client.Label(o.Id, o.Add, o.Remove, o.Note);
            else
            {
                using var store = TrainCommand.OpenStore(o.DataRoot, "runs", brief: true);
                if (store.Get(o.Id) is null) throw new UsageException($"run '{o.Id}' is not in {store.DataRoot} (see 'runs').");
                RunRecord r = store.SetTags(o.Id, o.Add, o.Remove);
                if (o.Note is not null) r = store.SetNote(o.Id, o.Note);
                view = RunView.From(r);
            }
        }
        Console.WriteLine($"run {view.Id}: tags [{string.Join(' ', view.Tags ?? [])}]{(string.IsNullOrEmpty(view.Note) ? "" : $", note \"{view.Note}\"")}");
        return 0;
    }

    public static int List(RunsListOptions o)
    {
        // Checked here, naming the option, before the store or a workbench is asked.
        IReadOnlyList<RunColumn> columns;
        try
        {
            RunTable.Check(new RunListRequest(o.Filter, o.Sort));
            columns = RunsApi.ParseColumns(o.Columns);
        }
        catch (ArgumentException e) { throw new UsageException("--" + e.Message); }
        IReadOnlyList<RunView> runs;
        string where;
        using (var client = WorkbenchClient.For(o.DataRoot))
        {
            if (client is not null) { runs = client.List(o.Filter, o.Sort, o.Columns); where = o.DataRoot; }
            else
            {
                using var store = TrainCommand.OpenStore(o.DataRoot, "runs", brief: true);
                var result = new RunTable(store).Query(new RunListRequest(o.Filter, o.Sort, columns));
                runs = result.Runs.Select(r => RunView.From(r, columns)).ToList();
                where = store.DataRoot;
            }
        }
        if (o.Json)
        {
            foreach (var r in runs)
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    run_id = r.Id, name = r.Name, status = r.Status, r.Method, r.Dataset, step = r.Step, total_steps = r.TotalSteps, created = r.CreatedUtc,
                    metrics = r.Latest, tags = r.Tags ?? [], note = r.Note ?? "", phase = r.Phase, columns = r.Columns,
                }, CliCommon.JsonLine));
            return 0;
        }
        if (runs.Count == 0) { Console.WriteLine(o.Filter is null ? $"no runs in {where}" : $"no runs in {where} match '{o.Filter}'"); return 0; }
        // On a terminal a Spectre table; redirected, the fixed-width text below, which scripts and tests read.
        if (Terminal.Output() is { } console) { console.Write(TerminalTable(runs, columns)); return 0; }
        var extra = string.Concat(columns.Select(c => $" {Trim(c.Label, 14),14}"));
        Console.WriteLine($"{"id",-20} {"status",-12} {"method",-15} {"dataset",-18} {"step",11} {"positive",9} {"valid",7}{extra}  created           tags");
        foreach (var r in runs)
        {
            var values = string.Concat(columns.Select(c => $" {Trim(Cell(r.Columns?.GetValueOrDefault(c.Label)), 14),14}"));
            string step = r.Phase is { } ph ? $"{ph.Name} {ph.Step}/{ph.Total}" : $"{r.Step}/{r.TotalSteps}";
            Console.WriteLine($"{r.Id,-20} {r.Status,-12} {r.Method,-15} {r.Dataset,-18} {step,11} " +
                              $"{Fmt(r.Latest, "align/positive-rate"),9} {Fmt(r.Latest, "oracle/valid-rate"),7}{values}  {r.CreatedUtc.ToLocalTime():yyyy-MM-dd HH:mm}  {string.Join(' ', r.Tags ?? [])}");
        }
        return 0;
    }

    /// <summary>
    /// The run table as a terminal shows it: the plain text's columns, with the run's name after its id
    /// (room the fixed-width text does not have), long cells wrapped rather than cut, the status coloured.
    /// </summary>
    internal static Table TerminalTable(IReadOnlyList<RunView> runs, IReadOnlyList<RunColumn> columns)
    {
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("id").AddColumn("name").AddColumn("status").AddColumn("method").AddColumn("dataset");
        foreach (var h in new[] { "step", "positive", "valid" }.Concat(columns.Select(c => c.Label)))
            table.AddColumn(new TableColumn(new Text(h)).RightAligned());
        table.AddColumn("created").AddColumn("tags");
        foreach (var r in runs)
        {
            string step = r.Phase is { } ph ? $"{ph.Name} {ph.Step}/{ph.Total}" : $"{r.Step}/{r.TotalSteps}";
            var cells = new List<IRenderable>
            {
                new Text(r.Id), new Text(r.Name), new Text(r.Status, StatusStyle(r.Status)), new Text(r.Method), new Text(r.Dataset),
                new Text(step), new Text(Fmt(r.Latest, "align/positive-rate")), new Text(Fmt(r.Latest, "oracle/valid-rate")),
            };
            cells.AddRange(columns.Select(c => new Text(Cell(r.Columns?.GetValueOrDefault(c.Label)))));
            cells.Add(new Text(r.CreatedUtc.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.CurrentCulture)));
            cells.Add(new Text(string.Join(' ', r.Tags ?? [])));
            table.AddRow(cells);
        }
        return table;
    }

    private static Style StatusStyle(string status) => status switch
    {
        "completed" => new Style(Color.Green),
        "failed" or "interrupted" => new Style(Color.Red),
        "running" or "pretraining" or "queued" => new Style(Color.Yellow),
        _ => Style.Plain,
    };

    private static string Cell(object? v) => v switch
    {
        null => "-",
        double d => d.ToString("0.####", CultureInfo.InvariantCulture),
        JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble().ToString("0.####", CultureInfo.InvariantCulture),
        JsonElement { ValueKind: JsonValueKind.Null } => "-",
        JsonElement e => e.ToString(),
        _ => v.ToString() ?? "-",
    };

    private static string Trim(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "~";

    private static string Fmt(IReadOnlyDictionary<string, double> m, string key) =>
        m.TryGetValue(key, out var v) && double.IsFinite(v) ? v.ToString("P0") : "-";
}
