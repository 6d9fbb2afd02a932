using RlGaf.Engine.Runtime;
using RlGaf.Engine.Training;

namespace RlGaf.Engine.Tests.Runs;

/// <summary>
/// A tiny SFT generator trained once per test process on the built-in corpus (seconds), written as
/// a model directory that runs can start from (generator = its path).
/// </summary>
public static class TinySft
{
    private static readonly Lazy<string> Dir = new(() =>
    {
        TorchRuntime.EnsureLoaded();
        var dir = Path.Combine(Path.GetTempPath(), $"rlgaf-tiny-sft-{Environment.ProcessId}");
        var settings = new PretrainSettings
        {
            NEmbd = 32, NLayer = 1, NHead = 2, NPositions = 64, TrainDocuments = 3000, HeldOutDocuments = 50, EvalSamples = 0,
            Mle = new MleOptions { Steps = 80, BatchSize = 16, LearningRate = 3e-3, WarmupSteps = 10, EvalEvery = 1000 },
        };
        Pretraining.Run(settings, dir, TorchSharp.torch.CPU);
        return dir;
    });

    public static string Path_ => Dir.Value;

    /// <summary>Settings for fast tests: small batches, short completions, frequent checkpoints.</summary>
    public static Engine.Runs.RunSettings Settings(Engine.Runs.TrainingMethod method) => new()
    {
        Method = method, Generator = Path_, Steps = 6, BatchSize = 6, MaxNewTokens = 12, EvalEvery = 3, EvalPrompts = 8,
        SamplesPerEval = 4, CheckpointEvery = 2, DiscPretrainSteps = 1, Rollouts = 2, PpoEpochs = 2, PpoMinibatches = 2,
        RewardModelSteps = 3, Device = "cpu", GumbelBetaMax = 5,
    };
}
