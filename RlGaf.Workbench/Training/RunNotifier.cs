using System.Threading.Channels;

namespace RlGaf.Workbench.Training;

/// <summary>
/// Fans out what runs publish to every subscriber (pages, the SignalR bridge). Each subscriber gets
/// its own bounded drop-oldest channel, so a slow or vanished reader can never hold up a training
/// thread: publishing is a non-blocking TryWrite. Thread-safe.
/// </summary>
public sealed class RunNotifier
{
    public const int DefaultCapacity = 4096;
    private readonly Lock _gate = new();
    private Subscription[] _subscribers = [];

    /// <summary>Updates of one run (<paramref name="runId"/>) or of every run (null). Dispose to unsubscribe.</summary>
    public Subscription Subscribe(string? runId, int capacity = DefaultCapacity)
    {
        var sub = new Subscription(this, runId, Channel.CreateBounded<RunUpdate>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = false,
        }));
        lock (_gate) _subscribers = [.. _subscribers, sub];
        return sub;
    }

    public int SubscriberCount => Volatile.Read(ref _subscribers).Length;

    public void Publish(RunUpdate update)
    {
        foreach (var s in Volatile.Read(ref _subscribers))
            if (s.RunId is null || s.RunId == update.RunId) s.Writer.TryWrite(update);
    }

    private void Remove(Subscription sub)
    {
        lock (_gate) _subscribers = _subscribers.Where(s => s != sub).ToArray();
        sub.Writer.TryComplete();
    }

    public sealed class Subscription : IDisposable
    {
        private readonly RunNotifier _owner;
        private readonly Channel<RunUpdate> _channel;
        internal Subscription(RunNotifier owner, string? runId, Channel<RunUpdate> channel) { _owner = owner; RunId = runId; _channel = channel; }
        public string? RunId { get; }
        public ChannelReader<RunUpdate> Reader => _channel.Reader;
        internal ChannelWriter<RunUpdate> Writer => _channel.Writer;
        public void Dispose() => _owner.Remove(this);
    }
}
