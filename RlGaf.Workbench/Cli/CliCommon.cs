using System.Text.Json;
using System.Text.Json.Serialization;
using RlGaf.Engine.Runtime;
using TorchSharp;

namespace RlGaf.Workbench.Cli;

/// <summary>Options every training verb shares, and the JSON settings of machine-readable output.</summary>
internal static class CliCommon
{
    /// <summary>One line of JSON per object; NaN and infinities are written as strings rather than crashing.</summary>
    public static readonly JsonSerializerOptions JsonLine = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>Reads --device and --threads, loads libtorch and returns the device.</summary>
    public static torch.Device SetUpTorch(ArgParser args)
    {
        var pref = TorchRuntime.ParsePreference(args.String("--device") ?? "auto", "--device");
        int threads = args.Int("--threads", min: 0) ?? 0;
        TorchRuntime.SetThreads(threads);
        return TorchRuntime.ResolveDevice(pref);
    }

    public static string Duration(double seconds) =>
        seconds >= 60 ? $"{(int)(seconds / 60)}m{(int)(seconds % 60):00}s" : $"{seconds:0.0}s";
}
