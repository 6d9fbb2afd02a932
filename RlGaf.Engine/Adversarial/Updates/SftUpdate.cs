using RlGaf.Engine.Runs;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>Supervised fine-tuning on real completions: the paper's SFT baseline. No state of its own.</summary>
public sealed class SftUpdate(TrainerCore core) : IGeneratorUpdate
{
    public string Name => "sft";
    public IEnumerable<Parameter> ExtraParameters => [];
    public IEnumerable<(string File, nn.Module Module)> Modules => [];

    public void Step(Dictionary<string, double> metrics)
    {
        using var scope = NewDisposeScope();
        var batch = core.RealBatch(core.RealExamples(core.Step, Purpose.Prompts));
        var loss = -PolicyMath.MaskedMean(PolicyMath.CompletionTerms(core.Policy, batch).LogProbs, batch.CompletionMask);
        metrics["gen/grad_norm"] = core.ApplyGenerator(loss, Name);
        metrics["gen/loss"] = loss.item<float>();
    }

    public IEnumerable<KeyValuePair<string, double>> StateMetrics() => [];
    public IReadOnlyDictionary<string, double> SaveState() => new Dictionary<string, double>();
    public void RestoreState(IReadOnlyDictionary<string, double> state, RunSettings savedWith) { }
    public void SettingChanged(string key, RunSettings before) { }
    public void Dispose() { }
}
