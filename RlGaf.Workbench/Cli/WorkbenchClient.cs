using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Api;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Cli;

/// <summary>
/// The command line's way into a data root that a running workbench serves. LiteDB's direct mode
/// allows one writer process, so instead of opening the database the verbs go through the
/// workbench's HTTP API: the run trains in the workbench (its charts show it live) and the command
/// line follows it. The access token comes from the workbench's claim file (DATA/workbench.pid, readable
/// by its owner only), so nothing needs typing; a claim without one (an older workbench) falls back to
/// the configuration (RlGaf:AccessToken, e.g. the RlGaf__AccessToken environment variable).
/// </summary>
internal sealed class WorkbenchClient : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static readonly JsonSerializerOptions SnakeJson = new(Json) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly HttpClient _http;
    public WorkbenchClaim Claim { get; }
    public string BaseUrl { get; }

    /// <summary>How long one request may take before the command line gives up on the workbench (RlGaf:CliTimeoutSeconds).</summary>
    public TimeSpan Timeout { get; }

    internal WorkbenchClient(WorkbenchClaim claim, string? token, TimeSpan timeout)
    {
        Claim = claim;
        BaseUrl = claim.Url!;
        Timeout = timeout;
        // The client's own timeout stays infinite: Call bounds each request, so a timeout is told apart from other cancellations.
        _http = new HttpClient { BaseAddress = new Uri(BaseUrl + "/"), Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        if (!string.IsNullOrWhiteSpace(token)) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>A client for the workbench serving <paramref name="dataRoot"/>, or null when none does.</summary>
    public static WorkbenchClient? For(string dataRoot)
    {
        if (RunStore.RunningWorkbench(dataRoot) is not { } claim) return null;
        if (claim.Url is null)
            throw new UsageException($"the workbench (process {claim.Pid}) is serving {dataRoot} but has not said where it listens yet " +
                                     "(it may still be starting; try again, or use its API: POST /api/runs). Nothing was started.");
        var config = WorkbenchPaths.CommandLineConfiguration();
        var seconds = config["RlGaf:CliTimeoutSeconds"] is { } t
            ? double.TryParse(t, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) && v is > 0 and <= 3600
                ? v : throw new UsageException($"RlGaf:CliTimeoutSeconds: '{t}' must be a number of seconds in (0, 3600].")
            : 30;
        return new WorkbenchClient(claim, claim.Token ?? config[Security.AccessToken.ConfigKey], TimeSpan.FromSeconds(seconds));
    }

    public string Describe() => $"the workbench at {BaseUrl} (process {Claim.Pid})";

    public RunView Create(RunSettings settings, string? name) =>
        Send<RunView>(HttpMethod.Post, "api/runs", new { settings = JsonDocument.Parse(settings.ToJson()).RootElement, name });

    public RunView Get(string id)
    {
        using var doc = Send<JsonDocument>(HttpMethod.Get, $"api/runs/{Uri.EscapeDataString(id)}");
        return doc.RootElement.GetProperty("run").Deserialize<RunView>(Json)!;
    }

    public IReadOnlyList<RunView> List() => Send<List<RunView>>(HttpMethod.Get, "api/runs");

    /// <summary>The run table's rows for a query (GET /api/runs?filter=...&amp;sort=...&amp;columns=...).</summary>
    public IReadOnlyList<RunView> List(string? filter, string? sort, string? columns)
    {
        var q = new List<string>();
        if (filter is not null) q.Add("filter=" + Uri.EscapeDataString(filter));
        if (sort is not null) q.Add("sort=" + Uri.EscapeDataString(sort));
        if (columns is not null) q.Add("columns=" + Uri.EscapeDataString(columns));
        return Send<List<RunView>>(HttpMethod.Get, q.Count == 0 ? "api/runs" : "api/runs?" + string.Join('&', q));
    }

    /// <summary>PATCH /api/runs/ID: tags and note.</summary>
    public RunView Label(string id, IReadOnlyList<string> add, IReadOnlyList<string> remove, string? note)
    {
        var body = new Dictionary<string, object>();
        if (add.Count > 0) body["add_tags"] = add;
        if (remove.Count > 0) body["remove_tags"] = remove;
        if (note is not null) body["note"] = note;
        return Send<RunView>(HttpMethod.Patch, $"api/runs/{Uri.EscapeDataString(id)}", body);
    }

    public RunView Resume(string id) => Send<RunView>(HttpMethod.Post, $"api/runs/{Uri.EscapeDataString(id)}/resume");

    public IReadOnlyList<EventView> Events(string id) => Send<List<EventView>>(HttpMethod.Get, $"api/runs/{Uri.EscapeDataString(id)}/events");

    public string SettingsJson(string id)
    {
        using var doc = Send<JsonDocument>(HttpMethod.Get, $"api/runs/{Uri.EscapeDataString(id)}");
        return doc.RootElement.GetProperty("settings").GetRawText();
    }

    /// <summary>The run's files as <see cref="RunExport"/> writes them, read over the API; checkpoint and model from the run folder.</summary>
    public void Export(string id, string runDir, string outDir)
    {
        var e = Uri.EscapeDataString(id);
        var metrics = Send<List<MetricRow>>(HttpMethod.Get, $"api/runs/{e}/metrics.json")
            .Select(m => new MetricPoint { RunId = id, Step = m.Step, Values = m.Metrics }).ToList();
        var samples = Text($"api/runs/{e}/samples.jsonl").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonSerializer.Deserialize<SampleDoc>(l, SnakeJson)!).ToList();
        RunExport.Write(SettingsJson(id), metrics, samples, Events(id), runDir, outDir);
    }

    /// <summary>A fork made by the workbench (POST /api/runs/ID/fork).</summary>
    public RunView Fork(string id, int step, IReadOnlyList<(string Key, string Value)> changes, string? name) =>
        Send<RunView>(HttpMethod.Post, $"api/runs/{Uri.EscapeDataString(id)}/fork",
            new { step, settings = changes.ToDictionary(c => c.Key, c => c.Value), name });

    /// <summary>The run's TensorBoard event file as the workbench writes it (GET /api/runs/ID/tensorboard), saved into <paramref name="outDir"/>.</summary>
    public string ExportTensorboard(string id, string outDir)
    {
        RunExport.CheckTarget(outDir);
        var (name, bytes) = Exchange(new HttpRequestMessage(HttpMethod.Get, $"api/runs/{Uri.EscapeDataString(id)}/tensorboard"), (response, ct) =>
            (response.Content.Headers.ContentDisposition?.FileName?.Trim('"') ?? $"events.out.tfevents.{DateTimeOffset.UtcNow.ToUnixTimeSeconds():D10}.rlgaf",
             response.Content.ReadAsByteArrayAsync(ct).GetAwaiter().GetResult()));
        if (!name.StartsWith("events.out.tfevents.", StringComparison.Ordinal) || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains(".."))
            throw new UsageException($"{Describe()} named the event file '{name}', which is not an event file's name.");
        Directory.CreateDirectory(outDir);
        RunExport.Mark(outDir);
        var path = Path.Combine(outDir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private sealed record MetricRow(int Step, Dictionary<string, double> Metrics);

    private string Text(string path) =>
        Exchange(new HttpRequestMessage(HttpMethod.Get, path), (response, ct) => response.Content.ReadAsStringAsync(ct).GetAwaiter().GetResult());

    private T Send<T>(HttpMethod method, string path, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = JsonContent.Create(body, options: Json);
        return Exchange(request, (response, ct) => response.Content.ReadFromJsonAsync<T>(Json, ct).GetAwaiter().GetResult())
               ?? throw new UsageException($"{Describe()} answered {path} with nothing.");
    }

    /// <summary>
    /// One request and the reading of its answer, within <see cref="Timeout"/>. A workbench that is gone
    /// (connection refused or reset), slow (no answer in time) or answers garbage is one UsageException
    /// with a line a user can act on, never a stack trace.
    /// </summary>
    private T Exchange<T>(HttpRequestMessage request, Func<HttpResponseMessage, CancellationToken, T> read)
    {
        string what = $"{request.Method} /{request.RequestUri}";
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            using var response = Call(request, cts.Token);
            return read(response, cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new UsageException($"{Describe()} did not answer {what} within {Timeout.TotalSeconds:0.#} s (RlGaf:CliTimeoutSeconds). " +
                                     $"It may be busy or hung; check it in the browser at {BaseUrl}. {(request.Method == HttpMethod.Get ? "" : "The request may or may not have been applied.")}".TrimEnd());
        }
        catch (HttpRequestException e)
        {
            throw new UsageException($"could not reach {Describe()}: {Reason(e)}. Is it still running? Start it again, or stop it so that this command uses the data root directly.");
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            throw new UsageException($"{Describe()} broke off or garbled its answer to {what}: {e.Message}");
        }
    }

    private static string Reason(HttpRequestException e) =>
        e.InnerException is System.Net.Sockets.SocketException se ? $"{se.SocketErrorCode switch
        {
            System.Net.Sockets.SocketError.ConnectionRefused => "connection refused (nothing listens there)",
            System.Net.Sockets.SocketError.ConnectionReset => "the connection was reset",
            _ => se.Message,
        }}" : e.Message;

    /// <summary>Sends; a refusal (400/404/409) becomes a UsageException with the workbench's reason.</summary>
    private HttpResponseMessage Call(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = _http.Send(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.IsSuccessStatusCode) return response;
        var text = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        string reason = text;
        try { using var doc = JsonDocument.Parse(text); if (doc.RootElement.TryGetProperty("error", out var err)) reason = err.GetString() ?? text; }
        catch (JsonException) { }
        if (response.StatusCode == System.Net.HttpStatusCode.Unauthorized)
            reason += " (the claim file's token was refused: set RlGaf__AccessToken to the workbench's token)";
        response.Dispose();
        throw new UsageException($"{Describe()} refused {request.Method} /{request.RequestUri}: {reason}");
    }

    public void Dispose() => _http.Dispose();
}
