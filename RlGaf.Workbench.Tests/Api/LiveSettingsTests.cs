using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Api;

[Collection(HostedCollection.Name)]
public class LiveSettingsTests
{
    [Fact]
    public async Task A_key_given_twice_is_a_400_and_nothing_is_applied()
    {
        await using var app = await TestApp.StartAsync();
        using var http = app.Client();
        var created = await http.PostAsJsonAsync("/api/runs", new { preset = "reinforce", set = TinyModel.Overrides(5000) });
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await TestApp.WaitFor(() => app.Store.Get(id)?.Step >= 1, "run trains");
        string before = app.Store.Get(id)!.SettingsJson;

        // Valid values each, and a valid key besides: the duplicate alone refuses the whole body.
        var body = new StringContent("""{"kl_coef": 0.2, "gen_lr": 0.001, "gen_lr": 0.002}""", Encoding.UTF8, "application/json");
        var response = await http.PostAsync($"/api/runs/{id}/settings", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString()!;
        Assert.StartsWith("gen_lr: given 2 times", error);
        Assert.Contains("Nothing was applied", error);

        int step = app.Store.Get(id)!.Step;
        await TestApp.WaitFor(() => app.Store.Get(id)?.Step >= step + 2, "two more steps");
        Assert.Equal(before, app.Store.Get(id)!.SettingsJson);
        Assert.DoesNotContain(app.Store.GetEvents(id), e => e.Kind == RunEventKinds.Setting);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/runs/{id}")).StatusCode);
        await TestApp.WaitFor(() => app.Store.Get(id) is null, "the run is deleted");
    }
}
