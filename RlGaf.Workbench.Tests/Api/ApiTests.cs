using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Api;

[Collection(HostedCollection.Name)]
public class ApiTests
{
    private static object TinyPreset(string preset, int steps, object? extra = null) => new
    {
        preset,
        set = extra is null ? TinyModel.Overrides(steps) : TinyModel.Overrides(steps).Concat(
            ((Dictionary<string, string>)extra)).ToDictionary(kv => kv.Key, kv => kv.Value),
    };

    [Fact]
    public async Task A_run_created_over_http_trains_and_exports_metrics_and_samples()
    {
        await using var app = await TestApp.StartAsync();
        using var http = app.Client();
        var created = await http.PostAsJsonAsync("/api/runs", TinyPreset("reinforce", 6));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        await TestApp.WaitFor(() => app.Store.Get(id)?.Status is RunStatus.Completed or RunStatus.Failed, "run completes");
        var run = await http.GetFromJsonAsync<JsonElement>($"/api/runs/{id}");
        Assert.Equal("completed", run.GetProperty("run").GetProperty("status").GetString());
        Assert.Equal(6, run.GetProperty("run").GetProperty("step").GetInt32());
        Assert.Equal("reinforce", run.GetProperty("settings").GetProperty("method").GetString());

        var list = await http.GetFromJsonAsync<JsonElement>("/api/runs");
        Assert.Contains(list.EnumerateArray(), r => r.GetProperty("id").GetString() == id);

        // NaN metrics (oracle/nll of a model outside the grammar) serialise as named literals.
        var metricsText = await http.GetStringAsync($"/api/runs/{id}/metrics.json");
        var metrics = JsonSerializer.Deserialize<JsonElement>(metricsText, new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
        Assert.Equal(Enumerable.Range(0, 7), metrics.EnumerateArray().Select(p => p.GetProperty("step").GetInt32()).Distinct());

        var csv = await http.GetStringAsync($"/api/runs/{id}/metrics.csv");
        Assert.StartsWith("step,", csv);
        Assert.Contains("reward/mean", csv.Split('\n')[0]);

        var jsonl = (await http.GetStringAsync($"/api/runs/{id}/samples.jsonl")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(jsonl);
        Assert.All(jsonl, l => Assert.True(JsonDocument.Parse(l).RootElement.TryGetProperty("completion", out _)));
    }

    [Fact]
    public async Task Invalid_requests_are_refused_with_the_reason()
    {
        await using var app = await TestApp.StartAsync();
        using var http = app.Client();

        var bad = await http.PostAsJsonAsync("/api/runs", new { preset = "gumbel", set = new { gen_lr = "2" } });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("gen_lr: 2 must be in (0, 1)", await bad.Content.ReadAsStringAsync());

        var unknown = await http.PostAsJsonAsync("/api/runs", new { method = "ppo", nonsense = 1 });
        Assert.Contains("unknown setting 'nonsense'", await unknown.Content.ReadAsStringAsync());

        var outside = await http.PostAsJsonAsync("/api/runs", new { generator = "/etc" });
        Assert.Equal(HttpStatusCode.BadRequest, outside.StatusCode);
        Assert.Contains("outside the data roots", await outside.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/runs/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync("/api/runs/nope/pause", null)).StatusCode);
        Assert.Empty(app.Store.List());
    }

    [Fact]
    public async Task Live_changes_pause_resume_and_stop_go_through_the_api()
    {
        await using var app = await TestApp.StartAsync();
        using var http = app.Client();
        var created = await http.PostAsJsonAsync("/api/runs", TinyPreset("gumbel", 5000));
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await TestApp.WaitFor(() => app.Store.Get(id)?.Step >= 3, "run trains");

        var refused = await http.PostAsJsonAsync($"/api/runs/{id}/settings", new Dictionary<string, object> { ["gumbel_tau"] = -1 });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("gumbel_tau", await refused.Content.ReadAsStringAsync());
        var notLive = await http.PostAsJsonAsync($"/api/runs/{id}/settings", new Dictionary<string, object> { ["batch_size"] = 8 });
        Assert.Contains("cannot change while a run trains", await notLive.Content.ReadAsStringAsync());

        var ok = await http.PostAsJsonAsync($"/api/runs/{id}/settings", new Dictionary<string, object> { ["gumbel_tau"] = 0.5 });
        Assert.Equal(HttpStatusCode.Accepted, ok.StatusCode);
        await TestApp.WaitFor(() => app.Store.GetEvents(id).Any(e => e.Setting == "gumbel_tau" && e.NewValue == "0.5"), "setting event");
        int changedAt = app.Store.GetEvents(id).First(e => e.Setting == "gumbel_tau").Step;
        await TestApp.WaitFor(() => app.Store.GetMetrics(id).Any(p => p.Step > changedAt && p.Values.TryGetValue("gumbel/tau", out var t) && t == 0.5), "tau 0.5 in the metrics");

        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync($"/api/runs/{id}/pause", null)).StatusCode);
        await TestApp.WaitFor(() => app.Store.Get(id)?.Status == RunStatus.Paused, "paused");
        int pausedAt = app.Store.Get(id)!.Step;
        await Task.Delay(800);
        Assert.Equal(pausedAt, app.Store.Get(id)!.Step);
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync($"/api/runs/{id}/resume", null)).StatusCode);
        await TestApp.WaitFor(() => app.Store.Get(id)?.Step > pausedAt + 2, "trains again after resume");

        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync($"/api/runs/{id}/stop", null)).StatusCode);
        await TestApp.WaitFor(() => app.Store.Get(id)?.Status == RunStatus.Stopped, "stopped");
        var afterStop = await http.PostAsJsonAsync($"/api/runs/{id}/settings", new Dictionary<string, object> { ["gumbel_tau"] = 0.4 });
        Assert.Equal(HttpStatusCode.Conflict, afterStop.StatusCode);
    }

    private const string Token = "s3cret-configured-token";

    [Fact]
    public async Task With_an_access_token_the_api_requires_it_by_header_or_query_then_cookie()
    {
        await using var app = await TestApp.StartAsync(null, $"RlGaf:AccessToken={Token}");
        // No cookie jar: every request stands on its own credentials.
        using var http = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = app.BaseAddress };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/runs")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/")).StatusCode);

        using var bearer = new HttpRequestMessage(HttpMethod.Get, "/api/runs");
        bearer.Headers.Authorization = new("Bearer", Token);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(bearer)).StatusCode);

        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/runs");
        wrong.Headers.Authorization = new("Bearer", "guess");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);

        // ?access_token= once sets a cookie; the same client then needs nothing more.
        var cookies = new CookieContainer();
        using var browserLike = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = app.BaseAddress };
        Assert.Equal(HttpStatusCode.OK, (await browserLike.GetAsync($"/api/runs?access_token={Token}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browserLike.GetAsync("/api/runs")).StatusCode);
    }

    [Fact]
    public void Listening_on_all_addresses_without_a_token_refuses_to_start()
    {
        var e = Assert.Throws<RlGaf.Workbench.Security.StartupRefusedException>(() => WorkbenchHost.Build([$"--RlGaf:DataRoot={TestApp.NewDataRoot()}", "--urls=http://0.0.0.0:0"]));
        Assert.Contains("refusing to listen on http://0.0.0.0:0 without an access token", e.Message);
    }
}
