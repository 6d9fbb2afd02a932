using System.Reflection;
using System.Text.Json.Serialization;

namespace RlGaf.Engine.Runs;

/// <summary>
/// The parts of a run that read settings. A setting matters for a run when one of the parts it is
/// read by is in use (<see cref="RunSettings.PartsInUse()"/>); the New run form hides the others.
/// </summary>
[Flags]
public enum SettingReaders
{
    None = 0,
    /// <summary>The run itself (set-up, loop, evaluation, checkpoints, device), whatever the method.</summary>
    Run = 1,
    /// <summary>Pretraining of the tiny SFT model (generator = pretrain).</summary>
    Pretrain = 2,
    /// <summary>SftUpdate.</summary>
    Sft = 4,
    /// <summary>ReinforceUpdate (reinforce, seqgan-rollout, rlhf-proxy with rlhf_algorithm = reinforce).</summary>
    Reinforce = 8,
    /// <summary>SeqGAN's rollout reward estimator.</summary>
    Rollout = 16,
    /// <summary>PpoUpdate (ppo, rlhf-proxy with rlhf_algorithm = ppo).</summary>
    Ppo = 32,
    /// <summary>GumbelUpdate.</summary>
    Gumbel = 64,
    /// <summary>DiscriminatorTrainer (the RLGAF methods: reinforce, seqgan-rollout, ppo, gumbel).</summary>
    Discriminator = 128,
    /// <summary>The frozen reward model of rlhf-proxy.</summary>
    RewardModel = 256,
    /// <summary>The choice of REINFORCE's reward estimator (method reinforce; seqgan-rollout always rolls out).</summary>
    RewardEstimator = 512,
    /// <summary>ScratchGAN's dense per-token rewards (method reinforce with reward_estimator = per-token).</summary>
    PerToken = 1024,
}

/// <summary>
/// Metadata of one <see cref="RunSettings"/> property, the single source from which the New run form
/// (sections, visibility, help), the live panel (editable keys) and docs derive.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SettingAttribute(string section, SettingReaders readBy, string help) : Attribute
{
    /// <summary>The form section it is shown in (<see cref="SettingSections"/>).</summary>
    public string Section => section;
    /// <summary>The parts that read it.</summary>
    public SettingReaders ReadBy => readBy;
    /// <summary>What it means, in a sentence or two (the form's help text).</summary>
    public string Help => help;
    /// <summary>May change while the run trains (applied at the next step).</summary>
    public bool Live { get; init; }
    /// <summary>Read once, when the run is set up (before the first generator update), not by the updates.</summary>
    public bool AtSetup { get; init; }
}

/// <summary>The form sections, in the order the form shows them.</summary>
public static class SettingSections
{
    public const string Run = "Run", Discriminator = "Discriminator", PolicyGradient = "Reward and policy gradient",
        Rollouts = "SeqGAN rollouts", Ppo = "PPO", Rlhf = "RLHF proxy", Gumbel = "Gumbel-Softmax",
        Evaluation = "Evaluation, checkpoints, device";
}

/// <summary>One setting's metadata with its key.</summary>
public sealed record SettingMetadata(string Key, string Section, SettingReaders ReadBy, string Help, bool Live, bool AtSetup, Type Type);

public sealed partial record RunSettings
{
    /// <summary>Every setting's metadata, in declaration order, read from its <see cref="SettingAttribute"/>.</summary>
    public static readonly IReadOnlyList<SettingMetadata> Metadata = typeof(RunSettings).GetProperties()
        .Where(p => p.GetCustomAttribute<JsonPropertyNameAttribute>() is not null)
        .OrderBy(p => p.MetadataToken)
        .Select(p =>
        {
            var key = p.GetCustomAttribute<JsonPropertyNameAttribute>()!.Name;
            var a = p.GetCustomAttribute<SettingAttribute>() ?? throw new InvalidOperationException($"RunSettings.{p.Name} ({key}) has no [Setting] attribute.");
            return new SettingMetadata(key, a.Section, a.ReadBy, a.Help, a.Live, a.AtSetup, Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType);
        }).ToList();

    private static readonly Dictionary<string, SettingMetadata> MetadataByKey = Metadata.ToDictionary(m => m.Key);

    /// <summary>The keys that may change while a run trains (those marked live).</summary>
    public static readonly IReadOnlySet<string> LiveKeys = Metadata.Where(m => m.Live).Select(m => m.Key).ToHashSet();

    /// <summary>The metadata of <paramref name="key"/>; an unknown key is an error naming it.</summary>
    public static SettingMetadata MetadataOf(string key) =>
        MetadataByKey.TryGetValue(key, out var m) ? m : throw new ArgumentException($"unknown setting '{key}'.");

    /// <summary>The parts a run with these settings uses: its method's update, discriminator or reward model, pretraining.</summary>
    public SettingReaders PartsInUse() => PartsInUse(Method, Generator, RlhfAlgorithm, RewardEstimator);

    /// <summary>The parts a run of <paramref name="method"/> uses (see <see cref="PartsInUse()"/>).</summary>
    public static SettingReaders PartsInUse(TrainingMethod method, string generator = "pretrain", RlhfAlgorithm rlhf = RlhfAlgorithm.Ppo,
        RewardEstimatorKind estimator = RewardEstimatorKind.Sequence)
    {
        var parts = SettingReaders.Run | (generator == "pretrain" ? SettingReaders.Pretrain : 0);
        return parts | method switch
        {
            TrainingMethod.Sft => SettingReaders.Sft,
            TrainingMethod.Reinforce => SettingReaders.Reinforce | SettingReaders.Discriminator | SettingReaders.RewardEstimator
                                        | (estimator == RewardEstimatorKind.PerToken ? SettingReaders.PerToken : 0),
            TrainingMethod.SeqganRollout => SettingReaders.Reinforce | SettingReaders.Rollout | SettingReaders.Discriminator,
            TrainingMethod.Ppo => SettingReaders.Ppo | SettingReaders.Discriminator,
            TrainingMethod.Gumbel => SettingReaders.Gumbel | SettingReaders.Discriminator,
            TrainingMethod.RlhfProxy => SettingReaders.RewardModel | (rlhf == RlhfAlgorithm.Ppo ? SettingReaders.Ppo : SettingReaders.Reinforce),
            _ => SettingReaders.None,
        };
    }

    /// <summary>Whether <paramref name="key"/> is read by any part these settings use.</summary>
    public bool Reads(string key) => (MetadataOf(key).ReadBy & PartsInUse()) != 0;
}
