using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Api;

/// <summary>/api/experiments against the hosted app, over experiment folders the test writes (nothing trains).</summary>
[Collection(HostedCollection.Name)]
public class ExperimentsApiTests
{
    private const string Id = "20250101-100000-aaaaaa";
    private const string Secret = "secret-content-7f3a";

    [Fact]
    public async Task The_file_endpoint_serves_plots_and_the_table_but_nothing_outside_the_experiment_folder()
    {
        await using var app = await TestApp.StartAsync();
        var root = Path.Combine(app.DataRoot, "experiments");
        var dir = ExperimentFixture.Completed(root, Id);
        File.WriteAllText(Path.Combine(app.DataRoot, "secret.txt"), Secret);
        File.WriteAllText(Path.Combine(root, "secret.txt"), Secret);
        Directory.CreateDirectory(Path.Combine(dir, "runs", "sft-seed1"));
        File.WriteAllText(Path.Combine(dir, "runs", "sft-seed1", "secret.txt"), Secret);
        using var http = app.Client();

        var png = await http.GetAsync($"/api/experiments/{Id}/files/quality-diversity.png");
        Assert.Equal(HttpStatusCode.OK, png.StatusCode);
        Assert.Equal("image/png", png.Content.Headers.ContentType?.MediaType);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "quality-diversity.png")), await png.Content.ReadAsByteArrayAsync());
        Assert.Contains("## Per method", await http.GetStringAsync($"/api/experiments/{Id}/files/results.md"));

        foreach (var path in new[]
        {
            $"/api/experiments/{Id}/files/..%2Fsecret.txt",
            $"/api/experiments/{Id}/files/..%2F..%2Fsecret.txt",
            $"/api/experiments/{Id}/files/%2E%2E%2F%2E%2E%2Fsecret.txt",
            $"/api/experiments/{Id}/files/..%5C..%5Csecret.txt",
            $"/api/experiments/{Id}/files/runs/sft-seed1/secret.txt",
            $"/api/experiments/{Id}/files/%2Fetc%2Fpasswd",
            $"/api/experiments/{Id}/files/experiment.json",
            "/api/experiments/..%2F/files/secret.txt",
            "/api/experiments/%2E%2E/files/secret.txt",
            "/api/experiments/.../files/secret.txt",
        })
        {
            using var response = await http.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{path}: {(int)response.StatusCode}");
            Assert.DoesNotContain(Secret, body);
            Assert.DoesNotContain("root:", body);
            // Kestrel leaves %2F (and a decoded backslash) in the value: these reach the endpoint's own check, which refuses them.
            if (path.StartsWith($"/api/experiments/{Id}/", StringComparison.Ordinal)) Assert.Contains("no file", body);
        }
        // The same request by hand, so no client normalises the dots away before the server sees them.
        foreach (var raw in new[] { $"/api/experiments/{Id}/files/../../secret.txt", $"/api/experiments/{Id}/files/%2e%2e/%2e%2e/secret.txt" })
            {
            var answer = await RawGet(app, raw);
            Assert.StartsWith("HTTP/1.1 404", answer); // got past the token check, refused by the endpoint
            Assert.DoesNotContain(Secret, answer);
        }
    }

    [Fact]
    public async Task Experiments_are_listed_with_their_files_and_bad_launches_are_refused_with_the_reason()
    {
        await using var app = await TestApp.StartAsync();
        var root = Path.Combine(app.DataRoot, "experiments");
        ExperimentFixture.Completed(root, Id);
        ExperimentFixture.Interrupted(root, "20250102-100000-bbbbbb");
        using var http = app.Client();

        var list = await http.GetFromJsonAsync<JsonElement>("/api/experiments");
        var byId = list.EnumerateArray().ToDictionary(e => e.GetProperty("id").GetString()!);
        Assert.Equal("completed", byId[Id].GetProperty("status").GetString());
        Assert.Equal($"/api/experiments/{Id}/files/results.md", byId[Id].GetProperty("resultsMd").GetString());
        Assert.Contains($"/api/experiments/{Id}/files/quality-diversity.png", byId[Id].GetProperty("plots").EnumerateArray().Select(p => p.GetString()));
        var cut = byId["20250102-100000-bbbbbb"];
        Assert.Equal(("interrupted", 1, 4), (cut.GetProperty("status").GetString(), cut.GetProperty("runsDone").GetInt32(), cut.GetProperty("runsTotal").GetInt32()));
        var one = await http.GetFromJsonAsync<JsonElement>("/api/experiments/20250102-100000-bbbbbb");
        Assert.Equal(2, one.GetProperty("log").GetArrayLength());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/experiments/nope")).StatusCode);

        async Task<string> Refused(object body, HttpStatusCode expected = HttpStatusCode.BadRequest)
        {
            var r = await http.PostAsJsonAsync("/api/experiments", body);
            Assert.Equal(expected, r.StatusCode);
            return (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString()!;
        }
        Assert.StartsWith("--seeds: 0 must be at least 1", await Refused(new { seeds = 0 }));
        Assert.StartsWith("--methods: 'dpo'", await Refused(new { methods = new[] { "sft", "dpo" } }));
        Assert.StartsWith("--data: suite 'imdb' needs the dataset path", await Refused(new { suite = "imdb" }));
        Assert.Contains("outside the data roots", await Refused(new { suite = "squad", data = "/etc/passwd" }));
        Assert.StartsWith("--steps-budget: 'many'", await Refused(new { steps_budget = "many" }));
        Assert.Contains("unknown field 'steps'", await Refused(new { steps = 5 }));
        Assert.Equal(2, (await http.GetFromJsonAsync<JsonElement>("/api/experiments")).GetArrayLength()); // nothing started

        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync("/api/experiments/nope/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsync($"/api/experiments/{Id}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync("/api/experiments/20250102-100000-bbbbbb")).StatusCode);
        Assert.False(Directory.Exists(Path.Combine(root, "20250102-100000-bbbbbb")));
    }

    /// <summary>An HTTP/1.1 GET written to the socket as given (HttpClient would resolve "..").</summary>
    private static async Task<string> RawGet(TestApp app, string path)
    {
        var baseAddress = app.BaseAddress;
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(baseAddress.Host, baseAddress.Port);
        await using var stream = tcp.GetStream();
        var request = System.Text.Encoding.ASCII.GetBytes(
            $"GET {path} HTTP/1.1\r\nHost: {baseAddress.Authority}\r\nAuthorization: Bearer {app.Token}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(request);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }
}
