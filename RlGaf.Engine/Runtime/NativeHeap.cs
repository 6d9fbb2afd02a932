using System.Runtime.InteropServices;

namespace RlGaf.Engine.Runtime;

/// <summary>
/// glibc malloc policy for libtorch's CPU tensors, set in the engine so that no user needs
/// environment variables. libtorch allocates every CPU tensor with posix_memalign and frees it at
/// once; glibc keeps freed heap memory resident (after the first large free its mmap threshold
/// rises to 32 MB, so tensors of a few MB come from the heap, whose free pages in the middle are
/// never given back), and each allocating thread may get its own arena (8 per core). So: a fixed
/// mmap threshold of <see cref="MmapThresholdBytes"/> (larger tensors are mapped and unmapped on
/// free; smaller ones are reused from the heap without page faults), at most two arenas, and the
/// trainers return the heaps' free pages every <see cref="TrimEverySteps"/> steps (malloc_trim).
/// The trim is what keeps resident memory flat; the threshold only decides which tensors pay a
/// fresh mapping (and a kernel page-zeroing) on every step (docs/performance.md, heap policy).
/// No effect off glibc.
/// </summary>
public static class NativeHeap
{
    private const int M_MMAP_THRESHOLD = -3;
    private const int M_ARENA_MAX = -8;

    /// <summary>Allocations from this size up are mmapped (fixed: glibc's dynamic rise to 32 MB is off).
    /// 16 MB, not 4: at 4 MB the tiny model's 9.4 MB logits and 4 MB MLP activations were fresh
    /// mappings every step and the tiny MLE run lost ~40% of its speed to page zeroing; at 16 MB the
    /// end RSS with the trim was the same (258 MB).</summary>
    public const int MmapThresholdBytes = 16 * 1024 * 1024;

    /// <summary>Arenas glibc may create (its default is 8 per core).</summary>
    public const int MaxArenas = 2;

    /// <summary>Trainers call <see cref="Trim"/> every this many steps: a trim costs milliseconds; without one a quick bench's heap grew to 313 MB in under 60 steps, and a trim took it to 118 MB (docs/performance.md).</summary>
    public const int TrimEverySteps = 10;

    private static bool _configured;

    /// <summary>True when the policy was applied (glibc on Linux).</summary>
    public static bool Configured => _configured;

    /// <summary>Applies the policy once, before libtorch allocates; later calls do nothing. Never throws.</summary>
    public static void Configure()
    {
        if (_configured || !OperatingSystem.IsLinux()) return;
        try { _configured = (Mallopt(M_ARENA_MAX, MaxArenas) == 1) & (Mallopt(M_MMAP_THRESHOLD, MmapThresholdBytes) == 1); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { } // not glibc
    }

    /// <summary>Trims after every <see cref="TrimEverySteps"/>-th step.</summary>
    public static void AfterStep(int step)
    {
        if (step % TrimEverySteps == 0) Trim();
    }

    /// <summary>Returns the free pages of every heap to the system (glibc's malloc_trim); false off glibc.</summary>
    public static bool Trim()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { MallocTrim(0); return true; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }

    /// <summary>glibc's view of its heaps (mallinfo2): bytes in use, free but still held, and mmapped; null off glibc or before 2.33.</summary>
    public static HeapStats? Stats()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            var m = MallInfo2();
            return new HeapStats((long)m.uordblks, (long)m.fordblks, (long)m.hblkhd);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2Struct
    {
        public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
    }

    [DllImport("libc.so.6", EntryPoint = "mallinfo2")]
    private static extern MallInfo2Struct MallInfo2();

    [DllImport("libc.so.6", EntryPoint = "mallopt")]
    private static extern int Mallopt(int param, int value);

    [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}

/// <summary>
/// glibc heap figures. <see cref="InUse"/> is the bytes allocated from its heaps, <see cref="Free"/> the free bytes they still hold (resident if touched, until a
/// trim) and <see cref="Mmapped"/> the bytes in separate mappings (allocations over the mmap threshold).
/// </summary>
public sealed record HeapStats(long InUse, long Free, long Mmapped);
