namespace RlGaf.Workbench.Training;

/// <summary>
/// A page's end of <see cref="ExperimentService.Changed"/>: a log line and a progress tick arrive in
/// bursts on the suite's thread, so changes are coalesced into one <paramref name="onChange"/> call at
/// most every <see cref="Delay"/> (the latest state is always delivered) on the thread pool, never on
/// the suite's thread. The component runs the callback through InvokeAsync. Dispose unsubscribes.
/// </summary>
public sealed class ExperimentFeed : IDisposable
{
    public static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(250);

    private readonly ExperimentService _service;
    private readonly string? _id;
    private readonly Func<Task> _onChange;
    private int _pending;
    private volatile bool _disposed;

    /// <param name="id">Only this experiment's changes; null: every experiment's.</param>
    public ExperimentFeed(ExperimentService service, string? id, Func<Task> onChange)
    {
        _service = service;
        _id = id;
        _onChange = onChange;
        service.Changed += OnChanged;
    }

    private void OnChanged(ExperimentJob job)
    {
        if (_disposed || (_id is not null && job.Id != _id)) return;
        // A delivery already scheduled will read the state this change left.
        if (Interlocked.Exchange(ref _pending, 1) == 1) return;
        _ = DeliverAsync();
    }

    private async Task DeliverAsync()
    {
        await Task.Delay(Delay);
        // Cleared before reading the state: a change from here on schedules the next delivery.
        Interlocked.Exchange(ref _pending, 0);
        if (_disposed) return;
        try { await _onChange(); }
        catch (Exception) when (_disposed) { } // the circuit went away meanwhile
        catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        _disposed = true;
        _service.Changed -= OnChanged;
    }
}
