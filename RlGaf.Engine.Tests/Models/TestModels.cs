using RlGaf.Engine.Models;
using RlGaf.Engine.Runtime;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Models;

/// <summary>Small models for tests, with weights large enough that tokens and logits differ clearly.</summary>
internal static class TestModels
{
    /// <summary>The tiny random HF checkpoint (vocab 37, 16 positions), loaded through <see cref="HfCheckpoint"/>.</summary>
    public static Gpt2Model Tiny(int seed = 11)
    {
        TorchRuntime.EnsureLoaded();
        var dir = Path.Combine(Path.GetTempPath(), "rlgaf-tiny-" + Guid.NewGuid().ToString("N"));
        try
        {
            return HfCheckpoint.Load(TinyHfCheckpoint.Random(seed).WriteTo(dir)).Model;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    public static Tensor Ids(params long[][] rows) =>
        tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);

    public static float[] Floats(Tensor t) => t.detach().cpu().to_type(ScalarType.Float32).data<float>().ToArray();

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var d = (a - b).abs().max();
        return d.to_type(ScalarType.Float64).item<double>();
    }
}
