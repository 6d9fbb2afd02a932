namespace RlGaf.Workbench.Sweeps;

/// <summary>
/// SplitMix64: a small generator whose sequence is fixed by this code, not by the runtime's
/// System.Random, so a random sweep samples the same configurations on every machine and version.
/// Configuration i draws from its own stream (sweep seed, i): a resumed sweep re-derives them exactly.
/// </summary>
public sealed class SweepRandom(ulong seed)
{
    private ulong _state = seed;

    public static SweepRandom For(int sweepSeed, int configIndex) =>
        new(unchecked((ulong)(uint)sweepSeed * 0x9E3779B97F4A7C15UL ^ ((ulong)(uint)configIndex + 1) * 0xD1B54A32D192ED03UL));

    public ulong NextUInt64()
    {
        ulong z = unchecked(_state += 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, n).</summary>
    public long NextLong(long n) => n <= 0 ? throw new ArgumentOutOfRangeException(nameof(n)) : (long)(NextUInt64() % (ulong)n);

    public int NextInt(int n) => (int)NextLong(n);
}
