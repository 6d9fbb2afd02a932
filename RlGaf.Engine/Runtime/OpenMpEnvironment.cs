using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RlGaf.Engine.Runtime;

/// <summary>
/// libtorch's OpenMP (its bundled libgomp) spins idle worker threads for a long time after every
/// parallel region (GOMP_SPINCOUNT defaults to 300,000 iterations when OMP_WAIT_POLICY is unset).
/// Alone on its cores that hides wake-up latency; with two trainings on the same cores each process's
/// spinning workers take the time slices the other one needs, and both collapse (issue 13: ~0.27x of
/// solo each). A short spin before sleeping keeps most of the solo speed and lets processes share.
/// libgomp reads its environment once, when it is loaded, so this must run before the first torch
/// call; .NET's Environment.SetEnvironmentVariable does not change the native environ on Unix, hence
/// libc setenv. A value the user set (either variable) is kept.
/// </summary>
public static class OpenMpEnvironment
{
    /// <summary>Spin iterations before an idle worker sleeps (libgomp's default is 300,000).</summary>
    public const string SpinCount = "10000";

    /// <summary>What was decided at start-up, for bench and logs.</summary>
    public static string Applied { get; private set; } = "not applied";

    // The earliest hook a library has: it runs before any engine type is touched, so before TorchSharp loads libtorch.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Apply()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) { Applied = "not needed on this OS"; return; }
        string? policy = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY"), spin = Environment.GetEnvironmentVariable("GOMP_SPINCOUNT");
        if (policy is not null || spin is not null)
        {
            Applied = $"kept the user's OMP_WAIT_POLICY={policy ?? "(unset)"} GOMP_SPINCOUNT={spin ?? "(unset)"}";
            return;
        }
        try
        {
            Applied = setenv("GOMP_SPINCOUNT", SpinCount, 0) == 0 ? $"GOMP_SPINCOUNT={SpinCount}" : "setenv failed";
            Environment.SetEnvironmentVariable("GOMP_SPINCOUNT", SpinCount); // keep the managed view in step
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            Applied = "libc setenv not found: " + e.Message;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setenv(string name, string value, int overwrite);
}
