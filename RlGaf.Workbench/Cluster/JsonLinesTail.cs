using System.Text;

namespace RlGaf.Workbench.Cluster;

/// <summary>
/// Reads the lines appended to a file since the last call. A last line without its newline is being
/// written (or is still on its way over NFS): it is left for the next call, never half-read. A file that
/// became shorter was started over (the trial ran again): <see cref="Restarted"/> says so once.
/// </summary>
public sealed class JsonLinesTail(string path)
{
    private long _offset;

    public string Path { get; } = path;
    public bool Restarted { get; private set; }

    public IReadOnlyList<string> ReadNew()
    {
        Restarted = false;
        if (!File.Exists(Path)) return [];
        byte[] bytes;
        try
        {
            using var f = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (f.Length < _offset) { _offset = 0; Restarted = true; }
            if (f.Length == _offset) return [];
            f.Seek(_offset, SeekOrigin.Begin);
            bytes = new byte[f.Length - _offset];
            int read = 0;
            while (read < bytes.Length)
            {
                int n = f.Read(bytes, read, bytes.Length - read);
                if (n == 0) break;
                read += n;
            }
            if (read < bytes.Length) Array.Resize(ref bytes, read);
        }
        catch (IOException) { return []; } // replaced or unreachable for a moment: the next poll retries
        int end = Array.LastIndexOf(bytes, (byte)'\n');
        if (end < 0) return [];
        _offset += end + 1;
        return Encoding.UTF8.GetString(bytes, 0, end).Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();
    }
}
