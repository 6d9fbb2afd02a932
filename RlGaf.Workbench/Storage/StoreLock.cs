using System.Text.Json;
using System.Text.Json.Serialization;

namespace RlGaf.Workbench.Storage;

/// <summary>
/// Who holds a data root's store lock, as the holder wrote it down (DATA/store.holder.json) right
/// after taking the lock. Only the lock says whether anyone holds it: this file is left behind by a
/// holder killed with kill -9, and the next holder overwrites it.
/// </summary>
/// <param name="Pid">The holder's process id.</param>
/// <param name="Command">"workbench", or the command-line verb (train, resume, runs, export, ...).</param>
/// <param name="RunId">The run a train or resume verb trains, once known.</param>
/// <param name="Brief">True for verbs that hold the lock for a moment (runs, export): others wait for them instead of refusing.</param>
/// <param name="SinceUtc">When the lock was taken.</param>
public sealed record StoreHolder(int Pid, string Command, string? RunId, bool Brief, DateTime SinceUtc)
{
    /// <summary>The command of the web workbench.</summary>
    public const string Workbench = "workbench";

    [JsonIgnore] public bool IsWorkbench => Command == Workbench;
}

/// <summary>The data root is held by another process (or this one), or the lock cannot be taken here; the message says by whom and what to do.</summary>
public sealed class StoreLockException(string message, StoreHolder? holder) : InvalidOperationException(message)
{
    /// <summary>Who holds the data root, when it said so (null: unknown, or the lock could not be taken at all).</summary>
    public StoreHolder? Holder { get; } = holder;
}

/// <summary>
/// The one-writer lock of a data root. LiteDB's direct mode allows one writer process, so every
/// process that opens DATA/rlgaf.db (the workbench, and each command-line verb that opens the store)
/// first takes an exclusive OS lock on DATA/store.lock and holds it for as long as it has the store
/// open: a FileStream opened with FileShare.None, which .NET takes as flock(LOCK_EX) on Linux and macOS
/// and as a share-mode lock on Windows. The kernel drops the lock when the process dies, however it
/// dies (kill -9 included), so nothing stale is ever left to clean up and a reused process id fools
/// nothing. The lock file is never deleted (deleting it would let two processes lock two different
/// files of the same name); who holds it is written beside it in <see cref="HolderFile"/>.
/// </summary>
public sealed class StoreLock : IDisposable
{
    /// <summary>The file whose lock is the truth.</summary>
    public const string LockFile = "store.lock";
    /// <summary>Who holds the lock (JSON <see cref="StoreHolder"/>), written atomically after taking it.</summary>
    public const string HolderFile = "store.holder.json";

    /// <summary>How long an acquirer waits for a brief holder (or one that has not written its name yet) before refusing.</summary>
    public static readonly TimeSpan BriefWait = TimeSpan.FromSeconds(5);

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    private readonly FileStream _lock;
    private bool _disposed;

    public string DataRoot { get; }
    public StoreHolder Holder { get; private set; }

    private StoreLock(string dataRoot, FileStream held, StoreHolder holder)
    {
        DataRoot = dataRoot;
        _lock = held;
        Holder = holder;
        WriteHolder(holder);
    }

    /// <summary>
    /// Takes the lock of <paramref name="dataRoot"/> for this process, or throws
    /// <see cref="StoreLockException"/> naming the holder: at once when the holder is a workbench or a
    /// training verb, after up to <see cref="BriefWait"/> when it is a brief verb or has not said who it is.
    /// </summary>
    public static StoreLock Acquire(string dataRoot, string command, bool brief = false, string? runId = null)
    {
        dataRoot = Path.GetFullPath(dataRoot);
        EnsureLockingWorks(dataRoot);
        Directory.CreateDirectory(dataRoot);
        var deadline = DateTime.UtcNow + BriefWait;
        while (true)
        {
            if (TryOpen(dataRoot, exclusive: true) is { } held)
            {
                try { return new StoreLock(dataRoot, held, new StoreHolder(Environment.ProcessId, command, runId, brief, DateTime.UtcNow)); }
                catch { held.Dispose(); throw; }
            }
            var holder = ReadHolder(dataRoot);
            // A holder file from a dead process is a stale one: the live holder has not written its own yet.
            bool known = holder is not null && IsAlive(holder.Pid);
            if ((known && !holder!.Brief) || DateTime.UtcNow > deadline)
                throw new StoreLockException(Describe(dataRoot, known ? holder : null), known ? holder : null);
            Thread.Sleep(100);
        }
    }

    /// <summary>
    /// Who holds the lock of <paramref name="dataRoot"/> now (this process included), or null when nobody
    /// does; a holder that has not written its name yet reads as process 0, command "unknown". Probes
    /// with a shared lock for a moment, so two probes never stand in each other's way.
    /// </summary>
    public static StoreHolder? HolderOf(string dataRoot)
    {
        dataRoot = Path.GetFullPath(dataRoot);
        if (!File.Exists(Path.Combine(dataRoot, LockFile))) return null;
        using (var probe = TryOpen(dataRoot, exclusive: false))
            if (probe is not null) return null;
        return ReadHolder(dataRoot) is { } h && IsAlive(h.Pid) ? h : new StoreHolder(0, "unknown", null, false, default);
    }

    /// <summary>Names the run this process trains (train learns its id only once the store is open), so a refusal can name it.</summary>
    public void SetRun(string runId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Holder = Holder with { RunId = runId };
        WriteHolder(Holder);
    }

    /// <summary>Removes the holder file (while still holding the lock, so it removes its own) and releases the lock.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { File.Delete(Path.Combine(DataRoot, HolderFile)); }
        catch (IOException) { } // the lock goes anyway; the next holder overwrites the file
        catch (UnauthorizedAccessException) { }
        _lock.Dispose();
    }

    /// <summary>One sentence: who holds the data root, and what to do about it.</summary>
    private static string Describe(string dataRoot, StoreHolder? h)
    {
        const string why = "one process at a time writes a data root (LiteDB direct mode)";
        if (h is null)
            return $"data root {dataRoot} is locked by another process that has not said who it is ({HolderFile}); {why}. Try again in a moment.";
        if (h.IsWorkbench)
        {
            var url = RunStore.ReadClaim(dataRoot) is { } c && c.Pid == h.Pid ? c.Url : null;
            return url is null
                ? $"data root {dataRoot} is served by a workbench (process {h.Pid}) that does not listen yet; {why}. Try again in a moment, or give this one another data root."
                : $"data root {dataRoot} is served by the workbench at {url} (process {h.Pid}); {why}. Use that workbench, or give this one another data root.";
        }
        var what = h.RunId is null ? $"the command-line '{h.Command}'" : $"command-line run {h.RunId} ('{h.Command}')";
        var stop = h.RunId is null ? "Wait for it to end" : $"Wait for it to end, or stop it (Ctrl+C checkpoints it; 'resume {h.RunId}' continues it later)";
        return $"data root {dataRoot} is held by {what}, process {h.Pid}; {why}. {stop}.";
    }

    /// <summary>Opens the lock file with an exclusive (or, to probe, shared) lock; null when another open file holds a conflicting one.</summary>
    private static FileStream? TryOpen(string dataRoot, bool exclusive)
    {
        var path = Path.Combine(dataRoot, LockFile);
        try
        {
            return exclusive
                ? new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
                : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (FileNotFoundException) when (!exclusive) { return null; }
        catch (IOException e) when (IsLockConflict(e)) { return null; }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            // Not another holder: the lock file cannot be opened at all (a folder in its place, no permission, a read-only disk).
            throw new StoreLockException($"cannot open the lock file {path} of data root {dataRoot}: {e.Message} " +
                                         "Check that it is a file this user may read and write (delete it if nothing runs on this root).", null);
        }
    }

    // .NET reports a lock conflict as an IOException whose HResult is the OS error: EWOULDBLOCK from
    // flock (11 on Linux, 35 on macOS), or a sharing/lock violation on Windows.
    private static bool IsLockConflict(IOException e) =>
        OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) is 32 or 33
        : OperatingSystem.IsMacOS() ? e.HResult == 35
        : e.HResult == 11;

    /// <summary>
    /// .NET can be told not to lock files at all (for file systems without flock): then FileShare.None
    /// locks nothing and two writers would open one database. Refuse rather than pretend.
    /// </summary>
    private static void EnsureLockingWorks(string dataRoot)
    {
        bool off = AppContext.TryGetSwitch("System.IO.DisableFileLocking", out bool on) && on;
        var env = Environment.GetEnvironmentVariable("DOTNET_SYSTEM_IO_DISABLEFILELOCKING");
        off |= env is not null && (env == "1" || env.Equals("true", StringComparison.OrdinalIgnoreCase));
        if (off)
            throw new StoreLockException($"file locking is turned off in this process (DOTNET_SYSTEM_IO_DISABLEFILELOCKING or System.IO.DisableFileLocking), " +
                                         $"so the one-writer lock {Path.Combine(dataRoot, LockFile)} cannot be taken; unset it to open this data root.", null);
    }

    private void WriteHolder(StoreHolder holder)
    {
        // Atomic: a reader sees the previous holder's file or this one, never half of one.
        var path = Path.Combine(DataRoot, HolderFile);
        var tmp = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(holder, Json));
        File.Move(tmp, path, overwrite: true);
    }

    private static StoreHolder? ReadHolder(string dataRoot)
    {
        try { return JsonSerializer.Deserialize<StoreHolder>(File.ReadAllText(Path.Combine(dataRoot, HolderFile)), Json); }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Only a hint, for the holder file's name: the lock decides who holds the store.</summary>
    private static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }
}
