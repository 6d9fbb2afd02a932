using System.Runtime.InteropServices;

namespace RlGaf.Engine.Runtime;

/// <summary>
/// Writes that survive a crash or power cut half-way: a file is written to a temporary name in the
/// same folder, flushed to disk, then renamed over the target (a reader sees the old file or the new
/// one, never half of it); a rename is made durable by fsyncing the folder that holds it.
/// </summary>
public static class DurableFiles
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="text"/> atomically (temp file, fsync, rename, folder fsync).</summary>
    public static void WriteAllTextAtomic(string path, string text)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var s = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            using (var w = new StreamWriter(s))
            {
                w.Write(text);
                w.Flush();
                s.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        FsyncDirectory(dir);
    }

    /// <summary>
    /// Makes the entries of <paramref name="dir"/> durable (a rename into it, a deletion). POSIX only:
    /// Windows has no folder fsync, and NTFS journals renames itself.
    /// </summary>
    public static void FsyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = open(dir, 0 /* O_RDONLY */);
        if (fd < 0) throw new IOException($"{dir}: cannot open the folder to fsync it (errno {Marshal.GetLastPInvokeError()}).");
        try
        {
            if (fsync(fd) != 0) throw new IOException($"{dir}: fsync of the folder failed (errno {Marshal.GetLastPInvokeError()}).");
        }
        finally { _ = close(fd); }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}
