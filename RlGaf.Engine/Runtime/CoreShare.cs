using System.Diagnostics;
using TorchSharp;

namespace RlGaf.Engine.Runtime;

/// <summary>
/// Trainings on one machine share its cores instead of fighting over them. Two trainings that each
/// start libtorch's default pool (one OpenMP thread per core) put twice as many spinning threads as
/// cores on the machine; measured here on 2 cores, each then ran at 0.30-0.44x of its solo speed,
/// while two runs of one thread each kept 0.99x of a one-thread solo run. So a training whose thread
/// count is automatic (threads = 0, no RlGaf:Threads, no --threads) registers here and, before its
/// steps, takes cores / (trainings registered) threads, at least one; it re-reads the count every
/// second, so a training that ends gives its cores back to the others.
/// The registry is a folder of claim files, each held open with an exclusive lock for the life of its
/// training: the OS drops the lock when a process dies (even by kill -9), so a file that can be locked
/// is stale and is removed. Trainings with a fixed thread count neither register nor change.
/// A run's numbers are reproducible at a fixed thread count; an automatic count follows the machine.
/// </summary>
public sealed class CoreShare : IDisposable
{
    public static readonly TimeSpan Recheck = TimeSpan.FromSeconds(1);
    private static readonly object Gate = new();
    private static int _inProcess;
    private static int _baseline;
    [ThreadStatic] private static CoreShare? _current;

    private readonly FileStream _claim;
    private readonly string _path;
    private readonly Stopwatch _sinceCheck = new();
    private int _disposed;

    /// <summary>The registry (one per machine and user: the temp folder).</summary>
    public static string Folder => Path.Combine(Path.GetTempPath(), "rlgaf-core-share");

    /// <summary>The threads this training uses now (0 until its first step).</summary>
    public int Threads { get; private set; }

    private CoreShare(string path, FileStream claim)
    {
        _path = path;
        _claim = claim;
    }

    /// <summary>
    /// Registers a training whose thread count is automatic; null when the count is fixed, when this
    /// thread's training already registered (pretraining inside a run), or when the registry cannot be written.
    /// </summary>
    public static CoreShare? Join()
    {
        if (TorchRuntime.ThreadsFixed || _current is not null) return null;
        try
        {
            Directory.CreateDirectory(Folder);
            var path = Path.Combine(Folder, $"{Environment.ProcessId}-{Guid.NewGuid():N}.claim");
            var claim = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
            var share = new CoreShare(path, claim);
            lock (Gate)
                if (_inProcess++ == 0) _baseline = torch.get_num_threads();
            _current = share;
            return share;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Trainings registered on this machine now (stale claims of dead processes are removed).</summary>
    public static int Active()
    {
        int alive = 0;
        string[] files;
        try { files = Directory.GetFiles(Folder, "*.claim"); }
        catch (DirectoryNotFoundException) { return 0; }
        foreach (var f in files)
        {
            try
            {
                using (new FileStream(f, FileMode.Open, FileAccess.ReadWrite, FileShare.None)) { }
                File.Delete(f); // nobody holds it: its process is gone
            }
            catch (FileNotFoundException) { }
            catch (IOException) { alive++; } // held: a training is running
            catch (UnauthorizedAccessException) { alive++; } // another user's training: it uses the cores too
        }
        return alive;
    }

    /// <summary>Before a step: cores / trainings threads, at least one (read again every <see cref="Recheck"/>).</summary>
    public void BeforeStep()
    {
        if (Threads > 0 && _sinceCheck.Elapsed < Recheck) return;
        _sinceCheck.Restart();
        int threads = Math.Max(1, Environment.ProcessorCount / Math.Max(1, Active()));
        if (threads == Threads) return;
        torch.set_num_threads(threads);
        Threads = threads;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        if (ReferenceEquals(_current, this)) _current = null;
        _claim.Dispose();
        try { File.Delete(_path); } catch (IOException) { }
        lock (Gate)
            if (--_inProcess == 0) torch.set_num_threads(_baseline); // the process default again once no training shares
    }
}
