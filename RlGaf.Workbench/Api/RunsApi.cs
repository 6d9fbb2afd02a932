using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using nietras.SeparatedValues;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Api;

/// <summary>A run as the API and the run list show it.</summary>
/// <param name="Columns">The values of the columns a list asked for (GET /api/runs?columns=...), by label; numbers or text.</param>
public sealed record RunView(string Id, string Name, string Status, string? Message, string Method, string Dataset, int Step, int TotalSteps,
    DateTime CreatedUtc, DateTime UpdatedUtc, IReadOnlyDictionary<string, double> Latest, string? Parent = null, int? ForkStep = null,
    IReadOnlyList<string>? Tags = null, string? Note = null, PhaseState? Phase = null, IReadOnlyDictionary<string, object?>? Columns = null)
{
    public static RunView From(RunRecord r) => new(r.Id, r.Name, RunStore.Kebab(r.Status.ToString()), r.Message, r.Method, r.Dataset,
        r.Step, r.TotalSteps, r.CreatedUtc, r.UpdatedUtc, r.Latest, r.Parent, r.ForkStep, r.Tags, r.Note, r.Phase);

    /// <summary>The run with the values of <paramref name="columns"/> (what the run table shows).</summary>
    public static RunView From(RunRecord r, IReadOnlyList<RunColumn> columns)
    {
        if (columns.Count == 0) return From(r);
        var row = new RunRow(r, _ => new Dictionary<string, string>(JsonSettingsText(r.SettingsJson)));
        return From(r) with { Columns = columns.ToDictionary(c => c.Label, c => c.ValueOf(row)) };
    }

    private static Dictionary<string, string> JsonSettingsText(string json)
    {
        var d = new Dictionary<string, string>();
        try
        {
            using var doc = JsonDocument.Parse(json);
            foreach (var p in doc.RootElement.EnumerateObject()) d[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() ?? "" : p.Value.GetRawText();
        }
        catch (JsonException) { }
        return d;
    }
}

/// <summary>
/// The HTTP API under /api (minimal APIs). It goes through <see cref="TrainingHost"/>, so it has the
/// same validation as the forms: a refused request is 400 with the reason, an unknown run 404, a
/// request that does not fit the run's state 409.
/// </summary>
public static class RunsApi
{
    /// <summary>JSON for the API and the hub: NaN/Infinity allowed (losses do go NaN), kebab-case enums.</summary>
    public static void Configure(JsonSerializerOptions o)
    {
        o.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
        if (!o.Converters.OfType<JsonStringEnumConverter>().Any()) o.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower));
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/runs");
        // The run table: filter, sort, columns, paging and grouping (docs/workbench.md, "Run table queries").
        api.MapGet("", (HttpContext http, RunTable table) => Guard(() =>
        {
            var request = ParseListQuery(http.Request.Query);
            var result = table.Query(request);
            http.Response.Headers["X-Total-Count"] = result.Total.ToString(CultureInfo.InvariantCulture);
            var columns = request.Columns ?? [];
            if (http.Request.Query["format"] == "csv")
                return Results.Text(TableCsv(result.Runs, columns), "text/csv");
            if (result.Groups is { } groups)
                return Results.Ok(groups.Select(g => new { key = g.Key, runs = g.Runs.Select(r => r.Id), count = g.Runs.Count, stats = g.Stats }));
            return Results.Ok(result.Runs.Select(r => RunView.From(r, columns)));
        }));
        // Tags and note: {"tags": [...]} replaces the tags, {"add_tags": [...], "remove_tags": [...]} edits them, {"note": "..."}.
        api.MapPatch("/{id}", (string id, JsonElement body, TrainingHost host) => Guard(() =>
        {
            var (replace, add, remove, note) = ParseLabels(body);
            return Results.Ok(RunView.From(host.SetLabels(id, replace, add, remove, note)));
        }));
        api.MapGet("/{id}", (string id, TrainingHost host) =>
            host.Store.Get(id) is { } r ? Results.Ok(new { run = RunView.From(r), settings = JsonDocument.Parse(r.SettingsJson).RootElement }) : NotFound(id));
        api.MapGet("/presets", () => Presets.All.Select(p => new { name = p.Key, description = p.Value.Description }));
        api.MapPost("", (JsonElement body, TrainingHost host, Services.RunViews views) => Guard(() =>
        {
            var (settings, name) = ParseCreate(body, views.Preset);
            var r = host.Create(settings, name);
            return Results.Created($"/api/runs/{r.Id}", RunView.From(r));
        }));
        api.MapPost("/{id}/pause", (string id, TrainingHost host) => Guard(() => { host.Pause(id); return Accepted(host, id); }));
        api.MapPost("/{id}/resume", (string id, TrainingHost host) => Guard(() => { host.Resume(id); return Accepted(host, id); }));
        api.MapPost("/{id}/stop", (string id, TrainingHost host) => Guard(() => { host.Stop(id); return Accepted(host, id); }));
        api.MapPost("/{id}/clone", (string id, TrainingHost host) => Guard(() =>
        {
            var r = host.Clone(id);
            return Results.Created($"/api/runs/{r.Id}", RunView.From(r));
        }));
        api.MapPost("/{id}/fork", (string id, JsonElement body, TrainingHost host) => Guard(() =>
        {
            var (step, changes, name) = ParseFork(body);
            var r = host.Fork(id, step, changes, name);
            return Results.Created($"/api/runs/{r.Id}", RunView.From(r));
        }));
        api.MapGet("/{id}/tensorboard", (string id, TrainingHost host) => Guard(() =>
        {
            var (name, bytes) = TensorboardExport.ToBytes(host.Store, id);
            return Results.File(bytes, "application/octet-stream", name);
        }));
        api.MapDelete("/{id}", (string id, TrainingHost host) => Guard(() => { host.Delete(id); return Results.NoContent(); }));
        api.MapPost("/{id}/settings", (string id, JsonElement body, TrainingHost host) => Guard(() =>
        {
            if (body.ValueKind != JsonValueKind.Object) throw new ArgumentException("expected a JSON object {\"key\": value, ...}.");
            var changes = body.EnumerateObject().Select(p => (p.Name, Text(p.Value))).ToList();
            if (changes.Count == 0) throw new ArgumentException("no settings given.");
            // JSON allows a key twice; which value would win is a guess, so refuse the whole body.
            if (changes.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1) is { } twice)
                throw new ArgumentException($"{twice.Key}: given {twice.Count()} times; give each setting once. Nothing was applied.");
            // All or none: the host checks them all before sending any.
            host.Change(id, changes);
            return Results.Accepted($"/api/runs/{id}", new { applied_at = "next step", changes = changes.ToDictionary(c => c.Name, c => c.Item2) });
        }));
        api.MapGet("/{id}/metrics.json", (string id, TrainingHost host) => host.Store.Get(id) is null ? NotFound(id)
            : Results.Ok(host.Store.GetMetrics(id).Select(p => new { step = p.Step, metrics = p.Values })));
        api.MapGet("/{id}/metrics.csv", (string id, TrainingHost host) => host.Store.Get(id) is null ? NotFound(id)
            : Results.Text(MetricsCsv(host.Store.GetMetrics(id)), "text/csv"));
        api.MapGet("/{id}/samples.jsonl", (string id, TrainingHost host) => host.Store.Get(id) is null ? NotFound(id)
            : Results.Text(SamplesJsonl(host.Store.GetSamples(id)), "application/jsonl"));
        api.MapGet("/{id}/events", (string id, TrainingHost host) => host.Store.Get(id) is null ? NotFound(id)
            : Results.Ok(host.Store.GetEvents(id).Select(EventView.From)));

        var compare = app.MapGroup("/api/compare");
        compare.MapGet("/sources", (CheckpointComparer comparer) => comparer.Options());
        compare.MapPost("", async (JsonElement body, CheckpointComparer comparer, HttpContext http) =>
        {
            try
            {
                var request = ParseCompare(body);
                var result = await comparer.CompareAsync(request, null, http.RequestAborted);
                return Results.Ok(CompareView(request, result));
            }
            catch (KeyNotFoundException e) { return Results.NotFound(new { error = e.Message }); }
            catch (ArgumentException e) { return Results.BadRequest(new { error = e.Message }); }
            catch (InvalidOperationException e) { return Results.Conflict(new { error = e.Message }); }
        });
    }

    /// <summary>The query of GET /api/runs: filter, sort, columns (comma-separated), page, page_size, group. Errors name the parameter.</summary>
    public static RunListRequest ParseListQuery(IQueryCollection query)
    {
        foreach (var key in query.Keys)
            if (key is not ("filter" or "sort" or "columns" or "page" or "page_size" or "group" or "ids" or "format" or "access_token"))
                throw new ArgumentException($"unknown parameter '{key}' (expected filter, sort, columns, page, page_size, group, ids, format).");
        string? One(string key) => query.TryGetValue(key, out var v) ? v.Count == 1 ? v[0] : throw new ArgumentException($"{key}: given {v.Count} times; give it once.") : null;
        int Int(string key, int fallback) => One(key) is { } t
            ? int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new ArgumentException($"{key}: '{t}' is not an integer.")
            : fallback;
        var columns = ParseColumns(One("columns"));
        int page = Int("page", 0);
        // A page asked for without its size gets 50 rows; no page at all: every run (as before paging existed).
        int size = Int("page_size", query.ContainsKey("page") ? 50 : 0);
        var ids = One("ids")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var request = new RunListRequest(One("filter"), One("sort"), columns, page, size, One("group"), ids);
        if (One("format") is { } format && format is not ("json" or "csv")) throw new ArgumentException($"format: '{format}' is not json or csv.");
        RunTable.Check(request);
        return request;
    }

    /// <summary>"reward/mean,max(align/positive-rate),gumbel_tau" as columns; errors name the column.</summary>
    public static IReadOnlyList<RunColumn> ParseColumns(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return [];
        var columns = new List<RunColumn>();
        int pos = 1;
        foreach (var part in text.Split(','))
        {
            columns.Add(RunColumn.Parse(part, "columns", pos));
            pos += part.Length + 1;
        }
        return columns;
    }

    /// <summary>{"tags": [...]} | {"add_tags": [...], "remove_tags": [...]} and/or {"note": "..."}; unknown fields and wrong types name the field.</summary>
    public static (IReadOnlyList<string>? Replace, IReadOnlyList<string> Add, IReadOnlyList<string> Remove, string? Note) ParseLabels(JsonElement body) => ParseBody(() =>
    {
        if (body.ValueKind != JsonValueKind.Object) throw new ArgumentException("expected a JSON object {\"tags\": [...], \"note\": \"...\"}.");
        List<string>? replace = null;
        List<string> add = [], remove = [];
        string? note = null;
        bool any = false;
        static List<string> Strings(JsonElement v, string field) => v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new ArgumentException($"{field}: expected strings, found a JSON {e.ValueKind.ToString().ToLowerInvariant()}.")).ToList()
            : throw new ArgumentException($"{field}: expected an array of strings.");
        foreach (var p in body.EnumerateObject())
        {
            any = true;
            switch (p.Name)
            {
                case "tags": replace = Strings(p.Value, "tags"); break;
                case "add_tags": add = Strings(p.Value, "add_tags"); break;
                case "remove_tags": remove = Strings(p.Value, "remove_tags"); break;
                case "note": note = StringField(p.Value, "note") ?? ""; break;
                default: throw new ArgumentException($"unknown field '{p.Name}' (expected tags, add_tags, remove_tags, note).");
            }
        }
        if (!any) throw new ArgumentException("nothing to change: give tags, add_tags, remove_tags or note.");
        if (replace is not null && (add.Count > 0 || remove.Count > 0)) throw new ArgumentException("tags: give either tags (the whole list) or add_tags/remove_tags, not both.");
        return ((IReadOnlyList<string>?)replace, (IReadOnlyList<string>)add, (IReadOnlyList<string>)remove, note);
    });

    /// <summary>{"sources": [keys], "judge": key | "none" | null, "prompts", "seed", "temperature", "max_new_tokens"}; judge absent = the first checkpoint with a discriminator.</summary>
    public static CompareKeysRequest ParseCompare(JsonElement body) => ParseBody(() => ParseCompareCore(body));

    private static CompareKeysRequest ParseCompareCore(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object) throw new ArgumentException("expected a JSON object {\"sources\": [\"RUNID@STEP\", \"model:NAME\", ...], ...}.");
        var r = new CompareKeysRequest([]);
        bool hasSources = false;
        foreach (var p in body.EnumerateObject())
        {
            try
            {
                r = p.Name switch
                {
                    "sources" => r with { Sources = p.Value.EnumerateArray().Select(v => v.GetString() ?? throw new ArgumentException("sources: null is not a source.")).ToList() },
                    "judge" => r with { Judge = p.Value.ValueKind == JsonValueKind.Null ? CheckpointComparer.NoJudge : p.Value.GetString() },
                    "prompts" => r with { Prompts = p.Value.GetInt32() },
                    "seed" => r with { Seed = p.Value.GetInt64() },
                    "temperature" => r with { Temperature = p.Value.GetDouble() },
                    "max_new_tokens" => r with { MaxNewTokens = p.Value.ValueKind == JsonValueKind.Null ? null : p.Value.GetInt32() },
                    _ => throw new ArgumentException($"unknown field '{p.Name}' (expected sources, judge, prompts, seed, temperature, max_new_tokens)."),
                };
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new ArgumentException($"{p.Name}: {p.Value.GetRawText()} is not a valid value.");
            }
            hasSources |= p.Name == "sources";
        }
        if (!hasSources) throw new ArgumentException("sources: required (2 to 4 keys: RUNID@STEP, RUNID@sft, model:NAME, path:DIR; GET /api/compare/sources lists them).");
        return r;
    }

    private static object CompareView(CompareKeysRequest request, Engine.Evaluation.ComparisonResult r) => new
    {
        dataset = r.Dataset, judge = r.JudgeLabel, prompts = r.Prompts, seed = r.Seed, temperature = r.Temperature,
        max_new_tokens = r.MaxNewTokens, seconds = r.Seconds,
        sources = r.Sources.Select((s, i) => new { key = request.Sources[i], label = s.Label, step = s.Step, method = s.Method, dataset = s.Dataset, metrics = s.Metrics }),
        rows = r.Rows.Select(row => new
        {
            index = row.Index, prompt = row.Prompt,
            completions = row.BySource.Select((c, i) => new
            {
                source = r.Sources[i].Label, completion = c.Completion, ended_with_eos = c.EndedWithEos, judge_score = c.JudgeScore, verdict = c.Verdict,
            }),
        }),
    };

    /// <summary>JSON settings, {"settings": {...}, "name": "..."}, or {"preset": name, "set": {key: value}, "name": "..."}.</summary>
    public static (RunSettings Settings, string? Name) ParseCreate(JsonElement body, Func<string, RunSettings>? preset = null) =>
        ParseBody(() => ParseCreateCore(body, preset));

    private static (RunSettings Settings, string? Name) ParseCreateCore(JsonElement body, Func<string, RunSettings>? preset)
    {
        if (body.ValueKind != JsonValueKind.Object) throw new ArgumentException("expected a JSON object: settings, or {\"preset\": name, \"set\": {...}}.");
        if (body.TryGetProperty("settings", out var full))
        {
            string? runName = null;
            foreach (var p in body.EnumerateObject())
            {
                if (p.Name == "name") runName = StringField(p.Value, "name");
                else if (p.Name != "settings") throw new ArgumentException($"unknown field '{p.Name}' (expected settings, name).");
            }
            if (full.ValueKind != JsonValueKind.Object) throw new ArgumentException("settings: expected a JSON object.");
            return (RunSettings.FromJson(full.GetRawText(), "settings").Validate(), runName);
        }
        if (!body.TryGetProperty("preset", out var presetName))
            return (RunSettings.FromJson(body.GetRawText(), "settings").Validate(), null);
        string? name = StringField(presetName, "preset");
        var settings = (preset ?? Presets.Get)(name ?? "");
        foreach (var p in body.EnumerateObject())
        {
            switch (p.Name)
            {
                case "preset": break;
                case "name": name = StringField(p.Value, "name"); break;
                case "set":
                    if (p.Value.ValueKind != JsonValueKind.Object) throw new ArgumentException("set: expected an object {key: value}.");
                    foreach (var kv in p.Value.EnumerateObject()) settings = settings.With(kv.Name, Text(kv.Value));
                    break;
                default: throw new ArgumentException($"unknown field '{p.Name}' (expected preset, set, name).");
            }
        }
        return (settings.Validate(), name);
    }

    /// <summary>{"step": N, "settings": {key: value, ...}, "name": "..."}: settings and name are optional.</summary>
    public static (int Step, IReadOnlyList<(string Key, string Value)> Changes, string? Name) ParseFork(JsonElement body) => ParseBody(() =>
    {
        if (body.ValueKind != JsonValueKind.Object) throw new ArgumentException("expected a JSON object {\"step\": N, \"settings\": {key: value, ...}}.");
        int? step = null;
        string? name = null;
        var changes = new List<(string, string)>();
        foreach (var p in body.EnumerateObject())
        {
            switch (p.Name)
            {
                case "step":
                    step = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var n) ? n : throw new ArgumentException($"step: {p.Value.GetRawText()} is not an integer step.");
                    break;
                case "settings":
                    if (p.Value.ValueKind != JsonValueKind.Object) throw new ArgumentException("settings: expected an object {key: value}.");
                    foreach (var kv in p.Value.EnumerateObject())
                    {
                        if (changes.Any(c => c.Item1 == kv.Name)) throw new ArgumentException($"{kv.Name}: given twice; give each setting once. Nothing was done.");
                        changes.Add((kv.Name, Text(kv.Value)));
                    }
                    break;
                case "name": name = StringField(p.Value, "name"); break;
                default: throw new ArgumentException($"unknown field '{p.Name}' (expected step, settings, name).");
            }
        }
        return (step ?? throw new ArgumentException("step: required (the parent's step with a kept checkpoint)."), changes, name);
    });

    /// <summary>
    /// A body that cannot be read as its fields (a name of the wrong type, text that is not valid UTF-8:
    /// JsonElement says so with InvalidOperationException) is the client's error, 400, not a state conflict.
    /// </summary>
    internal static T ParseBody<T>(Func<T> parse)
    {
        try { return parse(); }
        catch (InvalidOperationException e) { throw new ArgumentException($"request body: {e.Message}"); }
    }

    /// <summary>A string field, or null for JSON null; anything else is refused naming the field.</summary>
    internal static string? StringField(JsonElement v, string field) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString(),
        JsonValueKind.Null => null,
        _ => throw new ArgumentException($"{field}: expected a string, not a JSON {v.ValueKind.ToString().ToLowerInvariant()}."),
    };

    internal static string Text(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null => "",
        _ => v.GetRawText(),
    };

    /// <summary>The run table as CSV (RFC 4180 quoting, by Sep): the run's fields, tags, note, then the asked columns.</summary>
    public static string TableCsv(IReadOnlyList<RunRecord> runs, IReadOnlyList<RunColumn> columns)
    {
        var sb = new StringBuilder();
        using (var csv = CsvWriter(sb))
        {
            using (var header = csv.NewRow())
            {
                string[] names = ["id", "name", "status", "method", "dataset", "step", "total_steps", "created", "tags", "note"];
                for (int i = 0; i < names.Length; i++) header[i].Set(names[i]);
                for (int i = 0; i < columns.Count; i++) header[names.Length + i].Set(columns[i].Label);
            }
            foreach (var r in runs)
            {
                var view = RunView.From(r, columns);
                using var row = csv.NewRow();
                row[0].Set(r.Id);
                row[1].Set(r.Name);
                row[2].Set(view.Status);
                row[3].Set(r.Method);
                row[4].Set(r.Dataset);
                row[5].Format(r.Step);
                row[6].Format(r.TotalSteps);
                row[7].Format(r.CreatedUtc, "o");
                row[8].Set(string.Join(' ', r.Tags));
                row[9].Set(r.Note);
                for (int i = 0; i < columns.Count; i++)
                {
                    var col = row[10 + i];
                    switch (view.Columns![columns[i].Label])
                    {
                        case double d: col.Format(d, "R"); break;
                        case null: col.Set(""); break;
                        case var o: col.Set(o.ToString()); break;
                    }
                }
            }
        }
        return sb.ToString();
    }

    /// <summary>One row per logged step, one column per metric (sorted), empty where a step did not log it.</summary>
    public static string MetricsCsv(IReadOnlyList<MetricPoint> points)
    {
        var keys = points.SelectMany(p => p.Values.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var sb = new StringBuilder();
        using (var csv = CsvWriter(sb))
        {
            using (var header = csv.NewRow())
            {
                header[0].Set("step");
                for (int i = 0; i < keys.Count; i++) header[1 + i].Set(keys[i]);
            }
            foreach (var p in points)
            {
                using var row = csv.NewRow();
                row[0].Format(p.Step);
                for (int i = 0; i < keys.Count; i++)
                {
                    if (p.Values.TryGetValue(keys[i], out var v)) row[1 + i].Format(v, "R");
                    else row[1 + i].Set("");
                }
            }
        }
        return sb.ToString();
    }

    /// <summary>
    /// CSV with Sep: comma-separated, a field holding a comma, quote or line break quoted with its quotes
    /// doubled (RFC 4180), numbers in the invariant culture. Rows end with "\n" on every platform (Sep ends
    /// them with its TextWriter's NewLine, which is "\r\n" on Windows). The header is written as the first
    /// row (column labels need not be unique names).
    /// </summary>
    private static SepWriter CsvWriter(StringBuilder sb) =>
        Sep.New(',').Writer(o => o with { WriteHeader = false, Escape = true, CultureInfo = CultureInfo.InvariantCulture })
            .To(new StringWriter(sb, CultureInfo.InvariantCulture) { NewLine = "\n" });

    private static readonly JsonSerializerOptions Line = new(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static string SamplesJsonl(IReadOnlyList<SampleDoc> samples)
    {
        var sb = new StringBuilder();
        foreach (var s in samples)
            sb.Append(JsonSerializer.Serialize(new
            {
                step = s.Step, prompt_index = s.PromptIndex, prompt = s.Prompt, completion = s.Completion,
                disc_score = s.DiscScore, reward = s.Reward, verdict = s.Verdict,
            }, Line)).Append('\n');
        return sb.ToString();
    }

    private static IResult Accepted(TrainingHost host, string id) =>
        Results.Accepted($"/api/runs/{id}", host.Store.Get(id) is { } r ? RunView.From(r) : null);

    private static IResult NotFound(string id) => Results.NotFound(new { error = $"run '{id}' does not exist." });

    internal const string ShuttingDown = "the workbench is shutting down: nothing was done (try again once it has restarted).";

    /// <summary>Maps refusals to status codes with the reason: unknown 404, invalid 400, wrong state 409 (every API group).</summary>
    internal static IResult Guard(Func<IResult> action)
    {
        try { return action(); }
        catch (KeyNotFoundException e) { return Results.NotFound(new { error = e.Message }); }
        // The store or a run went away under a request while the app shuts down: say so, not "disposed object".
        catch (ObjectDisposedException) { return Results.Conflict(new { error = ShuttingDown }); }
        catch (ArgumentException e) { return Results.BadRequest(new { error = e.Message }); }
        catch (InvalidOperationException e) { return Results.Conflict(new { error = e.Message }); }
    }
}
