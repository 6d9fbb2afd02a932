using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Api;

[Collection(HostedCollection.Name)]
public class CompareApiTests
{
    private static readonly JsonSerializerOptions Named = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    [Fact]
    public async Task Post_compare_completes_the_same_prompts_with_a_runs_start_and_its_last_checkpoint()
    {
        await using var app = await TestApp.StartAsync();
        using var http = app.Client();
        var id = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 6), "api run").Id;
        await TestApp.WaitFor(() => app.Store.Get(id)?.Status is RunStatus.Completed or RunStatus.Failed, "run completes");

        var sources = await http.GetFromJsonAsync<JsonElement>("/api/compare/sources");
        Assert.Contains(sources.EnumerateArray(), s => s.GetProperty("key").GetString() == $"{id}@6" && s.GetProperty("hasDiscriminator").GetBoolean());
        Assert.Contains(sources.EnumerateArray(), s => s.GetProperty("key").GetString() == $"{id}@sft");

        var response = await http.PostAsJsonAsync("/api/compare", new { sources = new[] { $"{id}@sft", $"{id}@6" }, prompts = 4 });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var result = JsonSerializer.Deserialize<JsonElement>(text, Named);
        Assert.Equal("synthetic-reviews", result.GetProperty("dataset").GetString());
        Assert.Equal("api run · step 6", result.GetProperty("judge").GetString()); // the default: the first checkpoint with a discriminator
        Assert.Equal(["api run · sft", "api run · step 6"], result.GetProperty("sources").EnumerateArray().Select(s => s.GetProperty("label").GetString()));
        var rows = result.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(4, rows.Count);
        foreach (var row in rows)
        {
            var completions = row.GetProperty("completions").EnumerateArray().ToList();
            Assert.Equal(2, completions.Count);
            Assert.All(completions, c => Assert.InRange(c.GetProperty("judge_score").GetDouble(), 0, 1));
            Assert.All(completions, c => Assert.False(string.IsNullOrEmpty(c.GetProperty("verdict").GetString())));
        }

        // The same request gives the same completions (seeded).
        var again = JsonSerializer.Deserialize<JsonElement>(await (await http.PostAsJsonAsync("/api/compare", new { sources = new[] { $"{id}@sft", $"{id}@6" }, prompts = 4 })).Content.ReadAsStringAsync(), Named);
        Assert.Equal(Completions(result), Completions(again));

        var noJudge = JsonSerializer.Deserialize<JsonElement>(await (await http.PostAsJsonAsync("/api/compare", new { sources = new[] { $"{id}@sft", $"{id}@6" }, prompts = 2, judge = (string?)null })).Content.ReadAsStringAsync(), Named);
        Assert.Equal(JsonValueKind.Null, noJudge.GetProperty("judge").ValueKind);
        Assert.All(noJudge.GetProperty("rows").EnumerateArray().SelectMany(r => r.GetProperty("completions").EnumerateArray()),
            c => Assert.Equal(JsonValueKind.Null, c.GetProperty("judge_score").ValueKind));

        var missing = await http.PostAsJsonAsync("/api/compare", new { sources = new[] { $"{id}@sft", $"{id}@99" } });
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("api run · step 99: the run has no checkpoint at step 99", await missing.Content.ReadAsStringAsync());
        var one = await http.PostAsJsonAsync("/api/compare", new { sources = new[] { $"{id}@6" } });
        Assert.Contains("sources: pick 2 to 4", await one.Content.ReadAsStringAsync());
        var outside = await http.PostAsJsonAsync("/api/compare", new { sources = new[] { $"{id}@6", "path:/etc" } });
        Assert.Equal(HttpStatusCode.BadRequest, outside.StatusCode);
        Assert.Contains("outside the data roots", await outside.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsJsonAsync("/api/compare", new { sources = new[] { $"{id}@6", "nope@3" } })).StatusCode);
        var unknown = await http.PostAsJsonAsync("/api/compare", new { sources = new[] { $"{id}@sft", $"{id}@6" }, nonsense = 1 });
        Assert.Contains("unknown field 'nonsense'", await unknown.Content.ReadAsStringAsync());
    }

    private static List<string> Completions(JsonElement result) =>
        result.GetProperty("rows").EnumerateArray().SelectMany(r => r.GetProperty("completions").EnumerateArray())
            .Select(c => c.GetProperty("completion").GetString()!).ToList();
}
