namespace RlGaf.Engine.Corpora.SyntheticReviews;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny 64-bit generator whose output is fixed by
/// its definition, so a seed gives the same corpus on every .NET version and platform
/// (System.Random makes no such promise).
/// </summary>
public struct SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>The internal state; a generator created from it continues the same stream.</summary>
    public readonly ulong State => _state;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
