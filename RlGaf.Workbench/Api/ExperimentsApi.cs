using System.Text.Json;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Api;

/// <summary>An experiment as GET /api/experiments shows it, with the addresses of its table and plots.</summary>
public sealed record ExperimentView(string Id, string Status, string Suite, int Seeds, int StepsBudget, IReadOnlyList<string> Methods,
    string? Data, int RunsDone, int RunsTotal, DateTimeOffset? Started, DateTimeOffset? Ended, string? Error, string Folder,
    string? ResultsMd, IReadOnlyList<string> Plots)
{
    public static ExperimentView From(ExperimentInfo i) => new(i.Id, ExperimentService.Kebab(i.Status), i.Suite, i.Seeds, i.StepsBudget, i.Methods,
        i.DataPath, i.RunsDone, i.RunsTotal, i.Started, i.Ended, i.Error, i.Folder,
        i.Status == ExperimentStatus.Completed ? ExperimentsApi.FileUrl(i.Id, ExperimentService.ResultsFile) : null,
        i.Status == ExperimentStatus.Completed && Directory.Exists(i.Folder)
            ? Directory.EnumerateFiles(i.Folder, "*.png").Select(p => ExperimentsApi.FileUrl(i.Id, Path.GetFileName(p))).Order(StringComparer.Ordinal).ToList()
            : []);
}

/// <summary>
/// /api/experiments: list, launch (the page's validation: 400 with the reason naming the field, 409
/// when a suite already runs or no training slot is free), cancel, delete, and the files of an
/// experiment folder (its plots, results.md and log.txt only, never a path outside it).
/// </summary>
public static class ExperimentsApi
{
    public const string Prefix = "/api/experiments";

    /// <summary>Where a page or a client fetches a file of an experiment.</summary>
    public static string FileUrl(string id, string name) => $"{Prefix}/{Uri.EscapeDataString(id)}/files/{Uri.EscapeDataString(name)}";

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(Prefix);
        api.MapGet("", (ExperimentService s) => s.List().Select(ExperimentView.From));
        api.MapGet("/{id}", (string id, ExperimentService s) =>
            s.Get(id) is { } i ? Results.Ok(new { experiment = ExperimentView.From(i), log = s.Log(id, 50) }) : NotFound(id));
        api.MapPost("", (JsonElement body, ExperimentService s) => Guard(() =>
        {
            var job = s.Start(ParseRequest(body));
            return Results.Created($"{Prefix}/{job.Id}", ExperimentView.From(job.Snapshot()));
        }));
        api.MapPost("/{id}/cancel", (string id, ExperimentService s) => Guard(() =>
        {
            s.Cancel(id);
            return Results.Accepted($"{Prefix}/{id}", s.Get(id) is { } i ? ExperimentView.From(i) : null);
        }));
        api.MapPost("/{id}/resume", (string id, ExperimentService s) => Guard(() =>
        {
            var job = s.Resume(id);
            return Results.Accepted($"{Prefix}/{id}", ExperimentView.From(job.Snapshot()));
        }));
        api.MapDelete("/{id}", (string id, ExperimentService s) => Guard(() => { s.Delete(id); return Results.NoContent(); }));
        // A catch-all segment so that encoded separators and ".." reach the check instead of the router.
        api.MapGet("/{id}/files/{**name}", (string id, string name, ExperimentService s) =>
            s.FilePath(id, name) is { } path
                ? Results.File(path, ContentType(path), enableRangeProcessing: false)
                : Results.NotFound(new { error = $"no file '{name}' in experiment '{id}'." }));
    }

    /// <summary>{"suite", "seeds", "steps_budget", "methods": [...] or "a,b", "data"}; unknown fields are refused.</summary>
    public static ExperimentRequest ParseRequest(JsonElement body) => RunsApi.ParseBody(() => ParseRequestCore(body));

    private static ExperimentRequest ParseRequestCore(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object) throw new ArgumentException("expected a JSON object {\"suite\": ..., \"seeds\": ..., \"steps_budget\": ..., \"methods\": [...], \"data\": ...}.");
        var r = new ExperimentRequest();
        foreach (var p in body.EnumerateObject())
        {
            r = p.Name switch
            {
                "suite" => r with { Suite = RunsApi.Text(p.Value) },
                "seeds" => r with { Seeds = Int(p, "--seeds") },
                "steps_budget" => r with { StepsBudget = Int(p, "--steps-budget") },
                "methods" => r with
                {
                    Methods = p.Value.ValueKind == JsonValueKind.Array
                        ? p.Value.EnumerateArray().Select(RunsApi.Text).ToList()
                        : RunsApi.Text(p.Value).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                },
                "data" => r with { DataPath = RunsApi.Text(p.Value) },
                _ => throw new ArgumentException($"unknown field '{p.Name}' (expected suite, seeds, steps_budget, methods, data)."),
            };
        }
        return r;
    }

    private static int Int(JsonProperty p, string option) =>
        p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var n) ? n
        : int.TryParse(RunsApi.Text(p.Value), out n) ? n
        : throw new ArgumentException($"{option}: '{RunsApi.Text(p.Value)}' is not a whole number.");

    private static string ContentType(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".png" => "image/png",
        ".md" => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };

    private static IResult NotFound(string id) => Results.NotFound(new { error = $"experiment '{id}' does not exist." });

    private static IResult Guard(Func<IResult> action) => RunsApi.Guard(action);
}
