using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RlGaf.Workbench.Sweeps;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Sweeps;

/// <summary>/api/sweeps on the real app: create from YAML and JSON, refusals naming line and key, get, list, cancel.</summary>
[Collection(HostedCollection.Name)]
public sealed class SweepsApiTests
{
    private static string Yaml(string generator) => $$"""
        name: api-sweep
        method: grid
        metric: {name: gen/loss, goal: minimize}
        parameters:
          method: {value: sft}
          generator: {value: {{generator}}}
          steps: {value: 1000}
          device: {value: cpu}
          threads: {value: 1}
          gen_lr: {values: [0.001, 0.002]}
        seeds: [1, 2]
        """;

    [Fact]
    public async Task Create_get_list_and_cancel_a_sweep()
    {
        await using var app = await TestApp.StartAsync();
        using var http = app.Client();

        var bad = await http.PostAsync(SweepsApiPath, new StringContent("method: grid\nmetric: {name: x}\nparameters:\n  d_steps: {values: [-2]}\n", Encoding.UTF8, "application/yaml"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("line 4: parameters.d_steps: value '-2'", (await bad.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());
        var badField = await http.PostAsJsonAsync(SweepsApiPath, new { config = "x", parallel = 2 });
        Assert.Contains("parallel: unknown field", await badField.Content.ReadAsStringAsync());

        var created = await http.PostAsJsonAsync(SweepsApiPath, new { config = Yaml(TinyModel.Path), max_parallel = 1 });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var view = await created.Content.ReadFromJsonAsync<JsonElement>();
        var id = view.GetProperty("id").GetString()!;
        Assert.Equal(4, view.GetProperty("trials").GetInt32());
        Assert.Equal("running", view.GetProperty("status").GetString());

        var list = await http.GetFromJsonAsync<JsonElement>(SweepsApiPath);
        Assert.Equal(id, Assert.Single(list.EnumerateArray()).GetProperty("id").GetString());
        await TestApp.WaitFor(() => Get(http, id).GetProperty("trials")[0].GetProperty("state").GetString() == "running", "trial 0 trains", 120);

        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync($"{SweepsApiPath}/{id}/cancel", null)).StatusCode);
        await TestApp.WaitFor(() => Get(http, id).GetProperty("sweep").GetProperty("status").GetString() == "cancelled", "the sweep ends cancelled", 60);
        var detail = Get(http, id);
        Assert.All(detail.GetProperty("trials").EnumerateArray(), t => Assert.Equal("stopped", t.GetProperty("state").GetString()));
        Assert.Equal(new[] { "gen_lr", "generator", "method", "steps", "device", "threads" }.Order(), detail.GetProperty("parameters").EnumerateArray().Select(p => p.GetString()!).Order());
        Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsync($"{SweepsApiPath}/{id}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"{SweepsApiPath}/nope")).StatusCode);
        await TestApp.WaitFor(() => app.Store.List().All(r => r.Status is Engine.Runs.RunStatus.Stopped or Engine.Runs.RunStatus.Completed), "the trial's run stops", 60);
    }

    private const string SweepsApiPath = RlGaf.Workbench.Api.SweepsApi.Prefix;

    private static JsonElement Get(HttpClient http, string id) => http.GetFromJsonAsync<JsonElement>($"{SweepsApiPath}/{id}").GetAwaiter().GetResult();
}
