using System.Buffers.Binary;

namespace RlGaf.Workbench.Security;

/// <summary>
/// The failed-attempt limit: an address that presents <see cref="Limit"/> different wrong tokens within
/// <see cref="Window"/> is locked out for a window, every token it presents (the right one too, or a
/// lock-out would tell a guesser when it guessed right) answered 429. Distinct values are counted so
/// that a browser tab repeating a stale cookie after a restart does not lock its user out. Memory is
/// bounded: at most <see cref="Capacity"/> addresses, beyond which new addresses share one more entry.
/// Thread-safe.
/// </summary>
public sealed class FailedAttempts(int limit = 10, TimeSpan? window = null, int capacity = 1024, Func<DateTime>? clock = null)
{
    private const string Overflow = "(overflow)";

    public int Limit { get; } = limit;
    public TimeSpan Window { get; } = window ?? TimeSpan.FromMinutes(1);
    public int Capacity { get; } = capacity;

    private readonly Func<DateTime> _now = clock ?? (() => DateTime.UtcNow);
    private readonly Dictionary<string, Entry> _byAddress = [];
    private readonly Lock _gate = new();

    private sealed class Entry
    {
        public DateTime Start;
        public DateTime LockedUntil;
        public readonly HashSet<ulong> Wrong = [];
    }

    /// <summary>Addresses tracked now (tests check the bound).</summary>
    public int Tracked { get { lock (_gate) return _byAddress.Count; } }

    /// <summary>Whether <paramref name="address"/> is locked out, and for how much longer.</summary>
    public bool IsLocked(string address, out TimeSpan retryAfter)
    {
        var now = _now();
        lock (_gate)
        {
            // An address without its own entry was counted in the shared one once the table was full.
            if (!_byAddress.TryGetValue(address, out var e) && _byAddress.Count >= Capacity) _byAddress.TryGetValue(Overflow, out e);
            if (e is not null && e.LockedUntil > now)
            {
                retryAfter = e.LockedUntil - now;
                return true;
            }
        }
        retryAfter = TimeSpan.Zero;
        return false;
    }

    /// <summary>Records a wrong token from <paramref name="address"/>; true when this attempt locked it out.</summary>
    public bool Fail(string address, string given)
    {
        var now = _now();
        var digest = BinaryPrimitives.ReadUInt64LittleEndian(AccessToken.Digest(given));
        lock (_gate)
        {
            if (!_byAddress.TryGetValue(address, out var e))
            {
                if (_byAddress.Count >= Capacity) Purge(now);
                if (_byAddress.Count >= Capacity) address = Overflow;
                if (!_byAddress.TryGetValue(address, out e)) _byAddress[address] = e = new Entry { Start = now };
            }
            if (e.LockedUntil > now) return false;
            if (now - e.Start > Window) { e.Start = now; e.Wrong.Clear(); }
            if (!e.Wrong.Add(digest) || e.Wrong.Count < Limit) return false;
            e.LockedUntil = now + Window;
            e.Wrong.Clear();
            e.Start = e.LockedUntil;
            return true;
        }
    }

    /// <summary>Drops entries whose window and lock-out are over.</summary>
    private void Purge(DateTime now)
    {
        foreach (var (k, e) in _byAddress.ToList())
            if (e.LockedUntil <= now && now - e.Start > Window) _byAddress.Remove(k);
    }
}
