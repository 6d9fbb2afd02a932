using RlGaf.Engine.Runs;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// One generator update (SFT, REINFORCE, PPO, Gumbel-Softmax) over the shared <see cref="TrainerCore"/>.
/// It owns its state (baselines, KL controller, value head, rollout policy) and saves and restores
/// it itself; nothing outside sets it.
/// </summary>
public interface IGeneratorUpdate : IDisposable
{
    /// <summary>The name that non-finite errors and logs use.</summary>
    string Name { get; }

    /// <summary>Trainable parameters besides the policy's (they join the generator optimizer).</summary>
    IEnumerable<Parameter> ExtraParameters { get; }

    /// <summary>The update's modules a checkpoint stores, with their file names.</summary>
    IEnumerable<(string File, nn.Module Module)> Modules { get; }

    /// <summary>One generator update at the core's step; writes its metrics.</summary>
    void Step(Dictionary<string, double> metrics);

    /// <summary>Figures of the update's own state for an evaluation row (e.g. gumbel/tau).</summary>
    IEnumerable<KeyValuePair<string, double>> StateMetrics();

    /// <summary>The update's scalar state for a checkpoint (checkpoint keys, e.g. baseline_ema).</summary>
    IReadOnlyDictionary<string, double> SaveState();

    /// <summary>Restores <see cref="SaveState"/>'s values, written under <paramref name="savedWith"/>; the settings in force may differ (live changes).</summary>
    void RestoreState(IReadOnlyDictionary<string, double> state, RunSettings savedWith);

    /// <summary>A live setting change has been applied to the core's settings.</summary>
    void SettingChanged(string key, RunSettings before);
}
