using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Api;

[Collection(HostedCollection.Name)]
public class HubTests
{
    private static HubConnection Connect(TestApp app, string? token = null) => new HubConnectionBuilder()
        .WithUrl(new Uri(app.BaseAddress, "/hubs/runs"), o => { if (token is not null) o.AccessTokenProvider = () => Task.FromResult<string?>(token); })
        .AddJsonProtocol(o =>
        {
            o.PayloadSerializerOptions.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
        })
        .Build();

    [Fact]
    public async Task A_signalr_client_in_a_run_group_receives_metrics_samples_events_and_status()
    {
        await using var app = await TestApp.StartAsync();
        var record = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, 3000));
        await using var hub = Connect(app, app.Token);
        var metrics = new ConcurrentQueue<JsonElement>();
        var samples = new ConcurrentQueue<JsonElement>();
        var events = new ConcurrentQueue<JsonElement>();
        var statuses = new ConcurrentQueue<JsonElement>();
        hub.On<JsonElement>("metrics", m => metrics.Enqueue(m));
        hub.On<JsonElement>("samples", m => samples.Enqueue(m));
        hub.On<JsonElement>("event", m => events.Enqueue(m));
        hub.On<JsonElement>("status", m => statuses.Enqueue(m));
        await hub.StartAsync();
        await hub.InvokeAsync("JoinRun", record.Id);

        await TestApp.WaitFor(() => metrics.Count >= 3 && !samples.IsEmpty, "metrics and samples over the hub");
        var m = metrics.First();
        Assert.Equal(record.Id, m.GetProperty("runId").GetString());
        Assert.True(m.GetProperty("values").EnumerateObject().Any());

        app.Host.Pause(record.Id);
        await TestApp.WaitFor(() => statuses.Any(s => s.GetProperty("status").GetString() == "paused"), "paused status over the hub");
        await TestApp.WaitFor(() => events.Any(e => e.GetProperty("event").GetProperty("kind").GetString() == "pause"), "pause event over the hub");
        app.Host.Stop(record.Id);
        await TestApp.WaitFor(() => statuses.Any(s => s.GetProperty("status").GetString() == "stopped"), "stopped");
    }

    [Fact]
    public async Task With_a_token_the_hub_requires_it()
    {
        await using var app = await TestApp.StartAsync(null, "RlGaf:AccessToken=configured-hub-token");
        await using var anonymous = Connect(app);
        await Assert.ThrowsAnyAsync<Exception>(() => anonymous.StartAsync());
        await using var authorised = Connect(app, "configured-hub-token");
        await authorised.StartAsync();
        Assert.Equal(HubConnectionState.Connected, authorised.State);
    }
}
