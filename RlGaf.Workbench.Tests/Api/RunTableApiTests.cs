using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Tests.Cli;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Api;

/// <summary>The run table over HTTP (GET /api/runs?filter=..., PATCH tags and note) and on the command line (runs --filter, runs tag, runs note).</summary>
[Collection(HostedCollection.Name)]
public class RunTableApiTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Six runs in the store (not queued: nothing trains): ppo/gumbel, tau 0.25..1.5, positive rate rising with the index.</summary>
    private static List<RunRecord> Seed(RunStore store)
    {
        var runs = new List<RunRecord>();
        for (int i = 0; i < 6; i++)
        {
            var r = store.Create(new RunSettings { Method = i % 2 == 0 ? TrainingMethod.Ppo : TrainingMethod.Gumbel, GumbelTau = 0.25 * (i + 1) }, $"table {i}");
            store.AddMetrics(r.Id, 0, new Dictionary<string, double> { ["align/positive-rate"] = 0.1 * i });
            store.AddMetrics(r.Id, 10, new Dictionary<string, double> { ["align/positive-rate"] = 0.05 * i });
            runs.Add(r);
        }
        return runs;
    }

    [Fact]
    public async Task Query_filters_sorts_pages_and_names_a_bad_token()
    {
        await using var app = await TestApp.StartAsync();
        using var http = app.Client();
        var runs = Seed(app.Store);

        var response = await http.GetAsync("/api/runs?filter=" + Uri.EscapeDataString("method:ppo gumbel_tau>0.5") + "&sort=-max(align/positive-rate)&columns=max(align/positive-rate),gumbel_tau");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var list = await response.Content.ReadFromJsonAsync<JsonElement>(Json);
        // ppo are the even indices; tau > 0.5 leaves 2 and 4; max rate 0.4 beats 0.2.
        Assert.Equal([runs[4].Id, runs[2].Id], list.EnumerateArray().Select(r => r.GetProperty("id").GetString()));
        Assert.Equal(0.4, list[0].GetProperty("columns").GetProperty("max(align/positive-rate)").GetDouble(), 12);
        Assert.Equal(1.25, list[0].GetProperty("columns").GetProperty("gumbel_tau").GetDouble());
        Assert.Equal("2", response.Headers.GetValues("X-Total-Count").Single());

        var page = await http.GetFromJsonAsync<JsonElement>("/api/runs?sort=gumbel_tau&page=1&page_size=4", Json);
        Assert.Equal([runs[4].Id, runs[5].Id], page.EnumerateArray().Select(r => r.GetProperty("id").GetString()));

        var bad = await http.GetAsync("/api/runs?filter=" + Uri.EscapeDataString("method:ppo gumbel_tau>>1"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("filter: 'gumbel_tau>>1' at position 12: '>1' is not a number", (await bad.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());
        bad = await http.GetAsync("/api/runs?sort=nope");
        Assert.Contains("sort: 'nope' at position 1", await bad.Content.ReadAsStringAsync());
        bad = await http.GetAsync("/api/runs?page=two");
        Assert.Contains("page: 'two' is not an integer", await bad.Content.ReadAsStringAsync());
        bad = await http.GetAsync("/api/runs?pagesize=2");
        Assert.Contains("unknown parameter 'pagesize'", await bad.Content.ReadAsStringAsync());

        var csv = await http.GetStringAsync($"/api/runs?format=csv&ids={runs[1].Id},{runs[3].Id}&columns=align/positive-rate&sort=name");
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("id,name,status,method,dataset,step,total_steps,created,tags,note,align/positive-rate", lines[0]);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith($"{runs[1].Id},table 1,queued,gumbel,", lines[1]);
        Assert.EndsWith(",0.05", lines[1]);
    }

    /// <summary>A name, tag and note holding a comma, a quote and line breaks come back whole from the CSV export (RFC 4180 quoting).</summary>
    [Fact]
    public async Task Csv_export_quotes_commas_quotes_and_newlines_so_they_round_trip()
    {
        await using var app = await TestApp.StartAsync();
        using var http = app.Client();
        const string name = "tau 0.5, \"warm\"\nstart";
        const string note = "first, \"best\" try\r\nsecond line";
        var r = app.Store.Create(new RunSettings { Method = TrainingMethod.Ppo }, name);
        var stored = app.Store.Get(r.Id)!;
        // The API refuses such a tag; the store holds whatever it is given, and the export must not break on it.
        stored.Tags = ["a,b", "say\"hi\"", "two\nlines"];
        stored.Note = note;
        app.Store.Update(stored);

        var csv = await http.GetStringAsync($"/api/runs?format=csv&ids={r.Id}");
        Assert.Contains(",\"tau 0.5, \"\"warm\"\"\nstart\",", csv);
        var records = RlGaf.Engine.Data.Csv.Parse(csv, "export.csv");
        Assert.Equal(2, records.Count);
        Assert.Equal(10, records[0].Fields.Length);
        var row = records[1].Fields;
        Assert.Equal(10, row.Length);
        Assert.Equal(r.Id, row[0]);
        Assert.Equal(name, row[1]);
        Assert.Equal("a,b say\"hi\" two\nlines", row[8]);
        Assert.Equal(note, row[9]);
    }

    [Fact]
    public async Task Tags_and_note_by_patch_and_command_line_with_errors_naming_the_field()
    {
        await using var app = await TestApp.StartAsync();
        using var http = app.Client();
        var runs = Seed(app.Store);
        var id = runs[0].Id;

        var ok = await http.PatchAsJsonAsync($"/api/runs/{id}", new { add_tags = new[] { "baseline", "v1" }, note = "first try" });
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var view = await ok.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["baseline", "v1"], view.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal("first try", app.Store.Get(id)!.Note);

        async Task<string> Refused(object body, HttpStatusCode code = HttpStatusCode.BadRequest)
        {
            var r = await http.PatchAsJsonAsync($"/api/runs/{id}", body);
            Assert.Equal(code, r.StatusCode);
            return (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString()!;
        }
        Assert.Contains("add_tags: tag 'no spaces' is not one word", await Refused(new { add_tags = new[] { "no spaces" } }));
        Assert.Contains("unknown field 'tag'", await Refused(new { tag = "x" }));
        Assert.Contains("note: 4001 characters", await Refused(new { note = new string('n', 4001) }));
        Assert.Contains("tags: expected an array of strings", await Refused(new { tags = "x" }));
        Assert.Contains("either tags", await Refused(new { tags = new[] { "a" }, add_tags = new[] { "b" } }));
        var missing = await http.PatchAsJsonAsync("/api/runs/nope", new { note = "x" });
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(["baseline", "v1"], app.Store.Get(id)!.Tags); // nothing refused was applied

        // The command line goes through the workbench that serves the data root.
        var (code, @out, err) = await Task.Run(() => CommandLineTests.Run("runs", "tag", id, "+sweep", "-v1", "--data-root", app.DataRoot));
        Assert.True(code == 0, err);
        Assert.Contains("tags [baseline sweep]", @out);
        (code, _, err) = await Task.Run(() => CommandLineTests.Run("runs", "note", id, "lowered tau at 100", "--data-root", app.DataRoot));
        Assert.True(code == 0, err);
        Assert.Equal("lowered tau at 100", app.Store.Get(id)!.Note);
        (code, _, err) = await Task.Run(() => CommandLineTests.Run("runs", "tag", id, "sweep", "--data-root", app.DataRoot));
        Assert.Equal(2, code);
        Assert.Contains("'sweep' must start with + (add the tag) or - (remove it)", err);

        (code, @out, err) = await Task.Run(() => CommandLineTests.Run("runs", "--json", "--filter", "tag:sweep", "--columns", "max(align/positive-rate)", "--data-root", app.DataRoot));
        Assert.True(code == 0, err);
        var line = JsonDocument.Parse(@out.Trim().Split('\n').Single()).RootElement;
        Assert.Equal(id, line.GetProperty("run_id").GetString());
        Assert.Equal("lowered tau at 100", line.GetProperty("note").GetString());
        Assert.Equal(0.0, line.GetProperty("columns").GetProperty("max(align/positive-rate)").GetDouble());
        (code, _, err) = await Task.Run(() => CommandLineTests.Run("runs", "--filter", "tag:", "--data-root", app.DataRoot));
        Assert.Equal(2, code);
        Assert.Contains("--filter: 'tag:' at position 1: ':' needs a value", err);
    }

    [Fact]
    public void Command_line_lists_and_labels_a_store_no_workbench_serves()
    {
        var root = TestApp.NewDataRoot();
        try
        {
            List<RunRecord> runs;
            using (var store = new RunStore(root)) runs = Seed(store);
            var (code, @out, err) = CommandLineTests.Run("runs", "tag", runs[3].Id, "+best", "--data-root", root);
            Assert.True(code == 0, err);
            (code, @out, err) = CommandLineTests.Run("runs", "--filter", "tag:best", "--sort", "-gumbel_tau", "--columns", "align/positive-rate", "--data-root", root);
            Assert.True(code == 0, err);
            var rows = @out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, rows.Length); // header and the one run
            Assert.StartsWith(runs[3].Id, rows[1]);
            Assert.Contains("0.15", rows[1]); // its last positive rate
            Assert.Contains("align/positiv~", rows[0]); // a long column name is cut to the column's width
        }
        finally { TestApp.TryDelete(root); }
    }
}
