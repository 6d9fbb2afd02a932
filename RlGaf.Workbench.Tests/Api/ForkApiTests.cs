using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Tests.Infrastructure;
using Reader = RlGaf.Engine.Tests.Tensorboard.EventFileReader;

namespace RlGaf.Workbench.Tests.Api;

/// <summary>POST /api/runs/ID/fork and GET /api/runs/ID/tensorboard on a run the workbench trained.</summary>
[Collection(HostedCollection.Name)]
public class ForkApiTests
{
    [Fact]
    public async Task A_fork_over_http_starts_from_the_parents_checkpoint_and_refusals_name_the_reason()
    {
        await using var app = await TestApp.StartAsync();
        using var http = app.Client();
        var set = TinyModel.Overrides(6);
        set["checkpoint_every"] = "2";
        var created = await http.PostAsJsonAsync("/api/runs", new { preset = "reinforce", set });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await TestApp.WaitFor(() => app.Store.Get(id)?.Status is RunStatus.Completed or RunStatus.Failed, "parent completes", 300);
        Assert.Equal(RunStatus.Completed, app.Store.Get(id)!.Status);

        // A step without a kept checkpoint: 400 naming the kept ones (keep_checkpoints = 3 of 0, 2, 4, 6).
        var noCheckpoint = await http.PostAsJsonAsync($"/api/runs/{id}/fork", new { step = 3 });
        Assert.Equal(HttpStatusCode.BadRequest, noCheckpoint.StatusCode);
        Assert.Contains($"run {id} has no kept checkpoint at step 3 (kept checkpoints are at steps 2, 4, 6)", await noCheckpoint.Content.ReadAsStringAsync());
        var fixedSetting = await http.PostAsJsonAsync($"/api/runs/{id}/fork", new { step = 4, settings = new { generator = "pretrain" } });
        Assert.Equal(HttpStatusCode.BadRequest, fixedSetting.StatusCode);
        Assert.Contains("generator: fixed when the parent run was set up", await fixedSetting.Content.ReadAsStringAsync());
        var badValue = await http.PostAsJsonAsync($"/api/runs/{id}/fork", new { step = 4, settings = new { gen_lr = 3 } });
        Assert.Contains("gen_lr: 3 must be in (0, 1)", await badValue.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsJsonAsync($"/api/runs/{id}/fork", new { settings = new { } })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsJsonAsync("/api/runs/nope/fork", new { step = 4 })).StatusCode);
        Assert.Single(app.Store.List()); // nothing was created by the refusals

        var forked = await http.PostAsJsonAsync($"/api/runs/{id}/fork", new { step = 4, settings = new { gen_lr = 0.0003, steps = 8 } });
        Assert.Equal(HttpStatusCode.Created, forked.StatusCode);
        var view = await forked.Content.ReadFromJsonAsync<JsonElement>();
        var forkId = view.GetProperty("id").GetString()!;
        Assert.Equal(id, view.GetProperty("parent").GetString());
        Assert.Equal(4, view.GetProperty("forkStep").GetInt32());
        await TestApp.WaitFor(() => app.Store.Get(forkId)?.Status is RunStatus.Completed or RunStatus.Failed, "fork completes", 300);
        var fork = app.Store.Get(forkId)!;
        Assert.Equal(RunStatus.Completed, fork.Status);
        Assert.Equal(8, fork.Step);
        Assert.Equal(0.0003, RunSettings.FromJson(fork.SettingsJson).GenLr);
        // The fork logs from the step after its checkpoint on; what came before is the parent's (drawn from the parent's store).
        Assert.Equal([5, 6, 7, 8], app.Store.GetMetrics(forkId).Select(m => m.Step).Distinct());
        var events = app.Store.GetEvents(forkId);
        Assert.Contains(events, e => e.Kind == RunEventKinds.Fork && e.Step == 4 && e.Message == $"forked from run {id} at step 4");
        string parentLr = RunSettings.FromJson(app.Store.Get(id)!.SettingsJson).Get("gen_lr"); // the preset's, whatever it is
        Assert.NotEqual("0.0003", parentLr);
        Assert.Contains(events, e => e is { Kind: RunEventKinds.Setting, Step: 4, Setting: "gen_lr", NewValue: "0.0003" } && e.OldValue == parentLr);
        var got = await http.GetFromJsonAsync<JsonElement>($"/api/runs/{forkId}");
        Assert.Equal(id, got.GetProperty("run").GetProperty("parent").GetString());

        // The parent as a TensorBoard event file: every stored metric at its step, samples, settings, status.
        var download = await http.GetAsync($"/api/runs/{id}/tensorboard");
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        var name = download.Content.Headers.ContentDisposition!.FileName!.Trim('"');
        Assert.StartsWith("events.out.tfevents.", name);
        var dir = Directory.CreateTempSubdirectory("rlgaf-tb-api-").FullName;
        try
        {
            await File.WriteAllBytesAsync(Path.Combine(dir, name), await download.Content.ReadAsByteArrayAsync());
            var read = Reader.ReadDirectory(dir).Select(r => r.Event).ToList();
            var scalars = read.SelectMany(e => e.Values.Where(v => v.SimpleValue is not null).Select(v => $"{e.Step}|{v.Tag}|{BitConverter.SingleToInt32Bits(v.SimpleValue!.Value)}")).Order().ToList();
            var stored = app.Store.GetMetrics(id).SelectMany(p => p.Values.Select(kv => $"{p.Step}|{kv.Key}|{BitConverter.SingleToInt32Bits((float)kv.Value)}")).Order().ToList();
            Assert.Equal(stored, scalars);
            var sampleSteps = read.Where(e => e.Values.Any(v => v.Tag == "samples")).Select(e => (int)e.Step).ToList();
            Assert.Equal(app.Store.GetSamples(id).Select(s => s.Step).Distinct().Order(), sampleSteps);
            var hp = read.SelectMany(e => e.Values.Where(v => v.PluginName == "hparams")).ToList();
            var start = Reader.SessionStartHParams(hp.Single(v => v.Tag == "_hparams_/session_start_info").PluginContent!);
            Assert.Equal(6.0, start["steps"]);
            Assert.Equal("reinforce", start["method"]);
            Assert.Equal(1, Reader.SessionEndStatus(hp.Single(v => v.Tag == "_hparams_/session_end_info").PluginContent!));
        }
        finally { Directory.Delete(dir, true); }
    }
}
