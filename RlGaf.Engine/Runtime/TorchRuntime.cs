using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Runtime;

/// <summary>Which device the user asked for in settings.</summary>
public enum DevicePreference { Auto, Cpu, Cuda }

/// <summary>libtorch could not be loaded or the requested device is not there: a message a user can act on.</summary>
public sealed class TorchRuntimeException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// One place that loads libtorch, picks the device and sets the thread count, so that every entry
/// point (command line, web host, tests) fails the same clear way instead of with TorchSharp's
/// misleading "doesn't contain a reference to libtorch" message.
/// </summary>
public static class TorchRuntime
{
    private static readonly object Gate = new();
    private static bool _loaded;

    /// <summary>Loads libtorch once; throws <see cref="TorchRuntimeException"/> with the likely cause.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_loaded) return;
            try
            {
                NativeHeap.Configure(); // before libtorch allocates: freed tensors go back to the system
                InitializeDeviceType(DeviceType.CPU);
                _loaded = true;
            }
            catch (Exception e)
            {
                throw new TorchRuntimeException(
                    "libtorch failed to load. On Debian 12 / Ubuntu 22.04 the build patches libLibTorchSharp.so " +
                    "(GLIBCXX_3.4.32 marked weak, see build/LibTorchSharpPatch.targets); if you copied the binaries " +
                    "by hand, rebuild with 'dotnet build' so the patch runs. Check with: ldd <bin>/libLibTorchSharp.so. " +
                    "Underlying error: " + FirstLine(e), e);
            }
        }
    }

    /// <summary>Parses "auto", "cpu" or "cuda" (case-insensitive); anything else names the setting.</summary>
    public static DevicePreference ParsePreference(string value, string settingName = "device") =>
        value.Trim().ToLowerInvariant() switch
        {
            "auto" => DevicePreference.Auto,
            "cpu" => DevicePreference.Cpu,
            "cuda" => DevicePreference.Cuda,
            _ => throw new ArgumentException($"{settingName}: '{value}' is not one of auto, cpu, cuda."),
        };

    /// <summary>
    /// The device for a preference: auto takes CUDA when this build and machine have it; cuda
    /// without CUDA is an error that says how to get it, never a crash deep in a kernel.
    /// </summary>
    public static Device ResolveDevice(DevicePreference preference)
    {
        EnsureLoaded();
        bool cuda = CudaAvailable();
        return preference switch
        {
            DevicePreference.Cpu => CPU,
            DevicePreference.Auto => cuda ? CUDA : CPU,
            DevicePreference.Cuda when cuda => CUDA,
            _ => throw new TorchRuntimeException(
                "device: 'cuda' was requested but CUDA is not available. This build uses the CPU libtorch package; " +
                "build with 'dotnet build -p:RlGafCuda=true' on a machine with an NVIDIA driver and CUDA 12.8 " +
                "(see README, 'CUDA'), or set device to 'auto' or 'cpu'."),
        };
    }

    /// <summary>True when libtorch has a CUDA backend and a GPU answers.</summary>
    public static bool CudaAvailable()
    {
        try
        {
#if RLGAF_CUDA
            InitializeDeviceType(DeviceType.CUDA);
#endif
            // On the CPU build only ask: initialising the CUDA backend there makes TorchSharp
            // search for CUDA packages and copy hundreds of megabytes before failing.
            return cuda.is_available();
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>Sets libtorch's intra-op thread count (process-wide); 0 keeps libtorch's default.</summary>
    public static void SetThreads(int threads)
    {
        if (threads < 0) throw new ArgumentException($"threads: {threads} must be 0 (libtorch default) or positive.");
        EnsureLoaded();
        if (threads > 0) { torch.set_num_threads(threads); _fixedByProcess = true; }
    }

    private static bool _fixedByProcess;

    /// <summary>True when the thread count was given (--threads, RlGaf:Threads, a run's threads setting): then <see cref="CoreShare"/> leaves it alone.</summary>
    public static bool ThreadsFixed { get { lock (Gate) return _fixedByProcess || _threadUsers > 0; } }

    private static int _threadUsers;
    private static int _threadBaseline;

    /// <summary>
    /// Sets the thread count for one run and gives the process's count back when the last such run
    /// ends. libtorch has no per-thread count: at::set_num_threads stores one process-wide value that
    /// every OpenMP worker and autograd thread adopts, and TorchSharp exposes only that
    /// (torch.set_num_threads / get_num_threads). So runs that overlap share the last count set, and
    /// the count in force before the first of them (the process default or RlGaf:Threads) is restored
    /// once none is left: a run's count never leaks into later runs. 0 changes nothing.
    /// </summary>
    public static IDisposable UseThreads(int threads)
    {
        if (threads < 0) throw new ArgumentException($"threads: {threads} must be 0 (libtorch default) or positive.");
        if (threads == 0) return new ThreadLease(false);
        EnsureLoaded();
        lock (Gate)
        {
            if (_threadUsers++ == 0) _threadBaseline = torch.get_num_threads();
            torch.set_num_threads(threads);
        }
        return new ThreadLease(true);
    }

    private sealed class ThreadLease(bool counted) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (!counted || Interlocked.Exchange(ref _done, 1) == 1) return;
            lock (Gate)
            {
                if (--_threadUsers == 0) torch.set_num_threads(_threadBaseline);
            }
        }
    }

    private static string FirstLine(Exception e)
    {
        var msg = e is TypeInitializationException { InnerException: { } inner } ? inner.Message : e.Message;
        int nl = msg.IndexOf('\n');
        return nl < 0 ? msg : msg[..nl];
    }
}
