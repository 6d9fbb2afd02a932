using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Hubs;

/// <summary>
/// SignalR hub at /hubs/runs: a client joins a run (or "all runs") and receives the stream the pages
/// see: "metrics" (MetricsUpdate), "samples" (SamplesUpdate), "event" (EventUpdate), "status"
/// (StatusUpdate). Each carries <c>timeUtc</c>, when the server published it.
/// </summary>
public sealed class RunsHub(RunsHubFeeds feeds) : Hub
{
    public const string Path = "/hubs/runs";
    public const string AllRuns = "*";

    public void JoinRun(string runId) => feeds.Join(Context.ConnectionId, runId);
    public void LeaveRun(string runId) => feeds.Leave(Context.ConnectionId, runId);
    /// <summary>Every run's updates (a run list).</summary>
    public void JoinAll() => feeds.Join(Context.ConnectionId, AllRuns);

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        feeds.Drop(Context.ConnectionId);
        return base.OnDisconnectedAsync(exception);
    }
}

/// <summary>
/// Forwards the notifier's stream to hub clients, one feed per connection: its own bounded
/// drop-oldest subscription and its own send loop. A client that stops reading fills only its own
/// queue (and loses only its own oldest updates); every other client keeps receiving every update.
/// One shared loop sending to groups would wait on the slowest socket and stall them all.
/// </summary>
public sealed class RunsHubFeeds(RunNotifier notifier, IHubContext<RunsHub> hub, ILogger<RunsHubFeeds> log) : IDisposable
{
    private readonly RunNotifier _notifier = notifier;
    private readonly IHubContext<RunsHub> _hub = hub;
    private readonly ILogger _log = log;
    private readonly ConcurrentDictionary<string, Feed> _feeds = new();
    private readonly CancellationTokenSource _shutdown = new();

    /// <summary>Connections with a feed (joined something, not yet disconnected).</summary>
    public int Count => _feeds.Count;

    public void Join(string connectionId, string runId)
    {
        if (_shutdown.IsCancellationRequested) return;
        _feeds.GetOrAdd(connectionId, id => new Feed(this, id)).Join(runId);
    }

    public void Leave(string connectionId, string runId)
    {
        if (_feeds.TryGetValue(connectionId, out var f)) f.Leave(runId);
    }

    public void Drop(string connectionId)
    {
        if (_feeds.TryRemove(connectionId, out var f)) f.Dispose();
    }

    public void Dispose()
    {
        _shutdown.Cancel();
        foreach (var id in _feeds.Keys) Drop(id);
        _shutdown.Dispose();
    }

    private sealed class Feed : IDisposable
    {
        private readonly RunsHubFeeds _owner;
        private readonly string _connectionId;
        private readonly RunNotifier.Subscription _sub;
        private readonly CancellationTokenSource _cts;
        private readonly Lock _gate = new();
        private HashSet<string> _runs = [];

        public Feed(RunsHubFeeds owner, string connectionId)
        {
            _owner = owner;
            _connectionId = connectionId;
            _cts = CancellationTokenSource.CreateLinkedTokenSource(owner._shutdown.Token);
            _sub = owner._notifier.Subscribe(null);
            _ = Task.Run(PumpAsync);
        }

        public void Join(string runId) { lock (_gate) _runs = [.. _runs, runId]; }
        public void Leave(string runId) { lock (_gate) _runs = [.. _runs.Where(r => r != runId)]; }

        private bool Wants(string runId)
        {
            var runs = Volatile.Read(ref _runs);
            return runs.Contains(runId) || runs.Contains(AllRunsKey);
        }

        private const string AllRunsKey = RunsHub.AllRuns;

        private async Task PumpAsync()
        {
            var client = _owner._hub.Clients.Client(_connectionId);
            try
            {
                await foreach (var u in _sub.Reader.ReadAllAsync(_cts.Token))
                {
                    if (!Wants(u.RunId)) continue;
                    var (method, payload) = u switch
                    {
                        MetricsUpdate m => ("metrics", (object)m),
                        SamplesUpdate s => ("samples", s),
                        EventUpdate e => ("event", e),
                        StatusUpdate st => ("status", st),
                        RolledBackUpdate r => ("rolledback", r),
                        PhaseUpdate ph => ("phase", ph),
                        LabelsUpdate l => ("labels", l),
                        _ => ("update", u),
                    };
                    try { await client.SendAsync(method, payload, _cts.Token); }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        // A failed send must not end this client's feed (nor touch anyone else's).
                        _owner._log.LogWarning(e, "hub send of {Method} for run {Id} to {Connection} failed", method, u.RunId, _connectionId);
                    }
                }
            }
            catch (OperationCanceledException) { }
            finally { _cts.Dispose(); }
        }

        public void Dispose()
        {
            _cts.Cancel();
            _sub.Dispose();
        }
    }
}
