using Microsoft.AspNetCore.SignalR;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Hubs;

/// <summary>
/// SignalR hub at /hubs/runs: a client joins a run's group (or "all runs") and receives the stream
/// the pages see: "metrics" (MetricsUpdate), "samples" (SamplesUpdate), "event" (EventUpdate),
/// "status" (StatusUpdate).
/// </summary>
public sealed class RunsHub : Hub
{
    public const string Path = "/hubs/runs";
    public const string AllRuns = "*";

    public Task JoinRun(string runId) => Groups.AddToGroupAsync(Context.ConnectionId, GroupOf(runId));
    public Task LeaveRun(string runId) => Groups.RemoveFromGroupAsync(Context.ConnectionId, GroupOf(runId));
    /// <summary>Every run's updates (a run list).</summary>
    public Task JoinAll() => Groups.AddToGroupAsync(Context.ConnectionId, AllRuns);

    internal static string GroupOf(string runId) => "run:" + runId;
}

/// <summary>Forwards the notifier's stream to the hub's groups (one subscriber for all clients).</summary>
public sealed class RunsHubBridge(RunNotifier notifier, IHubContext<RunsHub> hub, ILogger<RunsHubBridge> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var sub = notifier.Subscribe(null);
        try
        {
            await foreach (var u in sub.Reader.ReadAllAsync(stoppingToken))
            {
                var (method, payload) = u switch
                {
                    MetricsUpdate m => ("metrics", (object)m),
                    SamplesUpdate s => ("samples", s),
                    EventUpdate e => ("event", e),
                    StatusUpdate st => ("status", st),
                    RolledBackUpdate r => ("rolledback", r),
                    _ => ("update", u),
                };
                try
                {
                    await hub.Clients.Groups(RunsHub.GroupOf(u.RunId), RunsHub.AllRuns).SendAsync(method, payload, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A failed send must not stop the bridge (an unhandled exception here would stop the app).
                    log.LogWarning(e, "hub send of {Method} for run {Id} failed", method, u.RunId);
                }
            }
        }
        catch (OperationCanceledException) { }
    }
}
