namespace RlGaf.Workbench.Training;

/// <summary>
/// A component's end of the notifier: reads its channel on the thread pool and hands each batch of
/// updates (everything queued since the last batch) to <paramref name="onBatch"/>, which the component
/// runs through InvokeAsync. Dispose cancels without waiting for the loop (awaiting it stalls shutdown).
/// </summary>
public sealed class LiveFeed : IDisposable
{
    private readonly RunNotifier.Subscription _sub;
    private readonly CancellationTokenSource _cts = new();

    public LiveFeed(RunNotifier notifier, string? runId, Func<IReadOnlyList<RunUpdate>, Task> onBatch)
    {
        _sub = notifier.Subscribe(runId);
        _ = Task.Run(() => LoopAsync(onBatch));
    }

    private async Task LoopAsync(Func<IReadOnlyList<RunUpdate>, Task> onBatch)
    {
        var reader = _sub.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_cts.Token))
            {
                var batch = new List<RunUpdate>();
                while (batch.Count < 512 && reader.TryRead(out var u)) batch.Add(u);
                try { await onBatch(batch); }
                catch (ObjectDisposedException) { return; } // the circuit went away
                catch (Exception) when (!_cts.IsCancellationRequested) { } // one bad batch must not end the feed
            }
        }
        catch (OperationCanceledException) { }
        catch (System.Threading.Channels.ChannelClosedException) { }
    }

    public void Dispose()
    {
        _cts.Cancel();
        _sub.Dispose();
    }
}
