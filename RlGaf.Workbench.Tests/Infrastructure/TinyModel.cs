using RlGaf.Engine.Runs;
using RlGaf.Engine.Runtime;
using RlGaf.Engine.Training;

namespace RlGaf.Workbench.Tests.Infrastructure;

/// <summary>
/// A tiny SFT generator trained once per test process on the built-in corpus (seconds), so runs
/// start at once instead of pretraining the real one for minutes.
/// </summary>
public static class TinyModel
{
    private static readonly Lazy<string> Dir = new(() =>
    {
        TorchRuntime.EnsureLoaded();
        var dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"rlgaf-wb-tiny-{Environment.ProcessId}", "tiny");
        if (File.Exists(System.IO.Path.Combine(dir, "model.safetensors"))) return dir;
        var settings = new PretrainSettings
        {
            NEmbd = 32, NLayer = 1, NHead = 2, NPositions = 64, TrainDocuments = 2000, HeldOutDocuments = 50, EvalSamples = 0,
            Mle = new MleOptions { Steps = 60, BatchSize = 16, LearningRate = 3e-3, WarmupSteps = 10, EvalEvery = 1000 },
        };
        Pretraining.Run(settings, dir, TorchSharp.torch.CPU);
        return dir;
    });

    public static string Path => Dir.Value;

    /// <summary>Small, fast run settings over the tiny generator (one thread: the box has two cores).</summary>
    public static Dictionary<string, string> Overrides(int steps = 30) => new()
    {
        ["generator"] = Path, ["steps"] = steps.ToString(), ["batch_size"] = "6", ["max_new_tokens"] = "12", ["eval_every"] = "2",
        ["eval_prompts"] = "8", ["samples_per_eval"] = "4", ["disc_pretrain_steps"] = "1", ["checkpoint_every"] = "5",
        ["device"] = "cpu", ["threads"] = "1",
    };

    public static RunSettings Settings(TrainingMethod method, int steps = 30)
    {
        var s = new RunSettings { Method = method };
        foreach (var (k, v) in Overrides(steps)) s = s.With(k, v);
        return s.Validate();
    }

    /// <summary>"RlGaf:PresetOverrides:key=value" arguments: presets (the quickstart) use the tiny generator.</summary>
    public static string[] PresetOverrideArgs(int steps) =>
        Overrides(steps).Select(kv => $"RlGaf:PresetOverrides:{kv.Key}={kv.Value}").ToArray();
}
