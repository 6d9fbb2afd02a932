using System.Globalization;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Tests.Runs;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Adversarial;

/// <summary>
/// The form shows a setting for a method exactly when that method's parts read it ([Setting] attributes).
/// For each method, two generator steps (three where a setting acts only then) on the tiny model are run with the defaults and with one
/// setting changed: every method-specific setting shown must change the weights or metrics, every
/// setting hidden must leave them bit-identical. REINFORCE runs twice: with the sequence reward and with per-token rewards. Run-wide settings (seed, lr, ...) and those read only
/// at set-up (disc_init, reward_model_steps, ...) are outside this check.
/// </summary>
[Collection("runs")]
public class SettingVisibilityTests
{
    /// <summary>A valid different value for each setting, and the context in which it can have an effect.</summary>
    private static readonly Dictionary<string, (string Value, (string Key, string Value)[] Context)> Perturb = new()
    {
        ["sample_temperature"] = ("0.7", []), ["disc_lr"] = ("0.005", []), ["disc_loss"] = ("rsgan", []),
        ["label_smoothing"] = ("0.3", []), ["d_steps"] = ("2", []), ["d_every"] = ("2", []), ["d_epochs"] = ("3", []),
        ["reward"] = ("logit", []), ["baseline"] = ("none", []), ["baseline_decay"] = ("0.3", [("baseline", "ema"), ("steps", "3")]),
        ["whiten_rewards"] = ("false", []), ["kl_coef"] = ("1.5", []), ["entropy_coef"] = ("0.5", []),
        ["rollouts"] = ("3", []), ["rollout_update_rate"] = ("0.1", []),
        ["ppo_epochs"] = ("1", []), ["ppo_minibatches"] = ("4", []), ["clip_range"] = ("0.01", []), ["value_clip_range"] = ("0.001", []),
        ["vf_coef"] = ("2", []), ["gamma"] = ("0.5", []), ["lam"] = ("0.3", []), ["adaptive_kl"] = ("true", []),
        ["kl_target"] = ("0.000001", [("adaptive_kl", "true"), ("gen_lr", "0.01"), ("steps", "3")]), ["kl_horizon"] = ("5", [("adaptive_kl", "true")]),
        ["rlhf_algorithm"] = ("reinforce", []),
        ["gumbel_schedule"] = ("linear", []), ["gumbel_beta_max"] = ("50", []), ["gumbel_schedule_steps"] = ("7", []),
        ["gumbel_tau"] = ("0.3", []), ["gumbel_hard"] = ("false", []), ["mle_coef"] = ("0.5", []),
        ["group_size"] = ("2", []), ["reward_clip"] = ("0.3", []), ["reward_norm"] = ("true", []), ["reward_estimator"] = ("per-token|sequence", []),
        ["disc_fresh_fakes"] = ("true", []), ["disc_replay"] = ("64", []), ["disc_replay_fraction"] = ("0.25", [("disc_replay", "64")]),
        ["disc_r1"] = ("1", []), ["disc_noise"] = ("0.5", []), ["disc_dropout"] = ("0.5", []), ["disc_weight_decay"] = ("0.1", []),
        ["disc_warmup"] = ("1", []), ["disc_acc_band"] = ("0.9,0.95", []), ["real_negatives"] = ("0.5", []),
        ["gumbel_feature_matching"] = ("1", []),
    };

    private static bool InScope(SettingMetadata m) => !m.AtSetup && (m.ReadBy & (SettingReaders.Run | SettingReaders.Pretrain)) == 0;

    [Fact]
    public void Every_method_specific_setting_has_a_perturbation()
    {
        var missing = RunSettings.Metadata.Where(InScope).Select(m => m.Key).Except(Perturb.Keys).ToList();
        Assert.True(missing.Count == 0, $"no perturbation for: {string.Join(", ", missing)}");
    }

    [Theory]
    [InlineData(TrainingMethod.Sft)]
    [InlineData(TrainingMethod.Reinforce)]
    [InlineData(TrainingMethod.SeqganRollout)]
    [InlineData(TrainingMethod.Ppo)]
    [InlineData(TrainingMethod.Gumbel)]
    [InlineData(TrainingMethod.RlhfProxy)]
    [InlineData(TrainingMethod.Reinforce, "per-token")]
    public void Shown_settings_change_what_the_method_computes_and_hidden_ones_do_not(TrainingMethod method, string estimator = "sequence")
    {
        var sft = ModelDirectory.Load(TinySft.Path_, CPU);
        var task = new SyntheticReviewsTask(sft.Vocabulary);
        var baseSettings = (TinySft.Settings(method) with { Steps = 2, BatchSize = 4, MaxNewTokens = 6, DSteps = 1, PpoEpochs = 2, Rollouts = 2 })
            .With("reward_estimator", estimator);
        var cache = new Dictionary<string, string>();
        var failures = new List<string>();
        foreach (var m in RunSettings.Metadata.Where(InScope))
        {
            var (values, context) = Perturb[m.Key];
            var start = context.Aggregate(baseSettings, (s, kv) => s.With(kv.Key, kv.Value));
            // "a|b": the first alternative that differs from the start (the per-token case starts at per-token).
            var value = values.Split('|').FirstOrDefault(v => start.With(m.Key, v).Get(m.Key) != start.Get(m.Key)) ?? values;
            var changed = start.With(m.Key, value);
            if (changed.Get(m.Key) == start.Get(m.Key)) { failures.Add($"{m.Key}: the perturbation {value} is its value already"); continue; }
            string key = start.ToJson();
            if (!cache.TryGetValue(key, out var before)) cache[key] = before = Fingerprint(sft, task, start);
            bool differs = Fingerprint(sft, task, changed) != before;
            bool shown = baseSettings.Reads(m.Key);
            if (shown && !differs) failures.Add($"{m.Key} is shown for {method} but changing it to {value} changed nothing");
            if (!shown && differs) failures.Add($"{m.Key} is hidden for {method} but changing it to {value} changed the result");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Every trainable weight and every non-timing metric after the run's steps, as text (bit-exact).</summary>
    private static string Fingerprint(LoadedModel sft, IAlignmentTask task, RunSettings s)
    {
        using var _ = NewDisposeScope();
        Discriminator? disc = null;
        IRewardScorer? rm = null;
        if (s.Method == TrainingMethod.RlhfProxy) rm = ScoringDiscriminator(sft.Model);
        else if (s.Method != TrainingMethod.Sft) disc = ScoringDiscriminator(sft.Model);
        using var trainer = new AdversarialTrainer(task, sft.Model, s, CPU, disc, rm);
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < s.Steps; i++)
            foreach (var (k, v) in trainer.TrainStep().Where(kv => !kv.Key.StartsWith("time/", StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal))
                text.Append(k).Append('=').Append(v.ToString("R", CultureInfo.InvariantCulture)).Append(';');
        foreach (var (_, module) in trainer.Modules())
            foreach (var p in module.parameters())
                foreach (var x in p.detach().cpu().flatten().data<float>().ToArray()) text.Append(BitConverter.SingleToInt32Bits(x)).Append(',');
        return text.ToString();
    }

    /// <summary>A discriminator with a random head, so scores differ between samples from the first step.</summary>
    private static Discriminator ScoringDiscriminator(Engine.Models.Gpt2Model sft)
    {
        var d = Discriminator.FromGenerator(sft, 3);
        using var gen = new Generator(7);
        using (no_grad())
            foreach (var (name, p) in d.named_parameters())
                if (name.StartsWith("head.", StringComparison.Ordinal)) p.normal_(0, 1, gen);
        return d;
    }
}
