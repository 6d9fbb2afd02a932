using System.Text;
using System.Text.Json;
using RlGaf.Workbench.Sweeps;

namespace RlGaf.Workbench.Api;

/// <summary>A sweep in lists: where it stands, counted over its trials.</summary>
public sealed record SweepView(string Id, string Name, string Status, string? Message, string Executor, int MaxParallel, string Method,
    string Metric, string Goal, int Trials, int Ended, int Running, int StoppedEarly, DateTime CreatedUtc, DateTime UpdatedUtc)
{
    public static SweepView From(SweepRecord s, IReadOnlyList<TrialRecord> t) => new(s.Id, s.Name, Kebab(s.Status), s.Message, s.Executor, s.MaxParallel,
        Kebab(s.Method), s.MetricName, Kebab(s.Goal), t.Count, t.Count(x => x.Ended), t.Count(x => x.State == TrialState.Running),
        t.Count(x => x.StoppedAtRung is not null), s.CreatedUtc, s.UpdatedUtc);

    public static string Kebab(Enum e) => JsonNamingPolicy.KebabCaseLower.ConvertName(e.ToString());
}

/// <summary>A trial in the sweep's table.</summary>
public sealed record TrialView(int Index, int Config, int Seed, IReadOnlyDictionary<string, string> Parameters, string State, string? Reason,
    string? RunId, int Step, int TotalSteps, double? Best, double? Last, int? StoppedAtRung)
{
    public static TrialView From(TrialRecord t, MetricGoal goal) => new(t.Index, t.ConfigIndex, t.Seed, t.Parameters, SweepView.Kebab(t.State), t.Reason,
        t.RunId, t.Step, t.TotalSteps, t.Best(goal), t.Last, t.StoppedAtRung);
}

/// <summary>
/// /api/sweeps: list, create (a sweep file as YAML or JSON text: the raw body with a YAML/text content type,
/// or JSON {"config": TEXT or OBJECT, "executor", "max_parallel"}), get (trials, best configuration,
/// parameter importance), cancel, stop one trial. Refusals as every API group: 400 naming line and key, 404, 409.
/// </summary>
public static class SweepsApi
{
    public const string Prefix = "/api/sweeps";

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(Prefix);
        api.MapGet("", (SweepService s) => s.List().Select(r => s.Get(r.Id) is { } x ? SweepView.From(x.Sweep, x.Trials) : SweepView.From(r, [])));
        api.MapGet("/{id}", (string id, SweepService s) => s.Get(id) is { } x ? Results.Ok(Detail(x.Sweep, x.Trials)) : NotFound(id));
        api.MapPost("", async (HttpRequest request, SweepService s) =>
        {
            string body;
            using (var reader = new StreamReader(request.Body, Encoding.UTF8)) body = await reader.ReadToEndAsync();
            return RunsApi.Guard(() =>
            {
                var sweep = s.Create(ParseRequest(body, request.ContentType));
                var x = s.Get(sweep.Id)!.Value;
                return Results.Created($"{Prefix}/{sweep.Id}", SweepView.From(x.Sweep, x.Trials));
            });
        });
        api.MapPost("/{id}/cancel", (string id, SweepService s) => RunsApi.Guard(() =>
        {
            s.Cancel(id);
            return Results.Accepted($"{Prefix}/{id}");
        }));
        api.MapPost("/{id}/trials/{index:int}/stop", (string id, int index, SweepService s) => RunsApi.Guard(() =>
        {
            s.StopTrial(id, index);
            return Results.Accepted($"{Prefix}/{id}");
        }));
    }

    public static object Detail(SweepRecord s, IReadOnlyList<TrialRecord> t) => new
    {
        sweep = SweepView.From(s, t),
        parameters = s.ParameterKeys,
        seeds = s.Seeds,
        early_terminate = s.EarlyTerminate is { } e ? new { min_iter = e.MinIter, eta = e.Eta } : null,
        trials = t.Select(x => TrialView.From(x, s.Goal)),
        best = SweepResults.Best(s, t) is { } b ? new { config = b.ConfigIndex, parameters = b.Parameters, score = b.Score, seeds = b.Seeds } : null,
        importance = SweepResults.Importance(s.ParameterKeys, t).Select(i => new { key = i.Key, correlation = i.Correlation, importance = i.Importance }),
        source = s.Source,
    };

    /// <summary>The request body as a <see cref="SweepRequest"/>; YAML (or JSON sweep files) as they are, or the JSON envelope.</summary>
    public static SweepRequest ParseRequest(string body, string? contentType)
    {
        bool json = contentType?.Contains("json", StringComparison.OrdinalIgnoreCase) == true;
        if (!json) return new SweepRequest(body, "request body");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body); }
        catch (JsonException e) { throw new ArgumentException($"request body: not valid JSON ({e.Message})."); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ArgumentException("request body: expected {\"config\": sweep file text or object, \"executor\": ..., \"max_parallel\": ...}.");
            if (!root.TryGetProperty("config", out _)) return new SweepRequest(body, "request body"); // a sweep file sent as JSON
            string? text = null, executor = null; int? maxParallel = null;
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "config":
                        text = p.Value.ValueKind switch
                        {
                            JsonValueKind.String => p.Value.GetString(),
                            JsonValueKind.Object => p.Value.GetRawText(),
                            _ => throw new ArgumentException("config: expected the sweep file's text or a JSON object."),
                        };
                        break;
                    case "executor": executor = RunsApi.StringField(p.Value, "executor"); break;
                    case "max_parallel":
                        maxParallel = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var k) ? k : throw new ArgumentException("max_parallel: expected an integer.");
                        break;
                    default: throw new ArgumentException($"{p.Name}: unknown field (config, executor, max_parallel).");
                }
            }
            return new SweepRequest(text ?? "", "config", executor, maxParallel);
        }
    }

    private static IResult NotFound(string id) => Results.NotFound(new { error = $"sweep '{id}' does not exist." });
}
