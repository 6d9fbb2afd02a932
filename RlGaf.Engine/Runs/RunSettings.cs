using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using RlGaf.Engine.Adversarial;

namespace RlGaf.Engine.Runs;

/// <summary>How the generator is trained in a run.</summary>
public enum TrainingMethod
{
    /// <summary>Supervised fine-tuning on the real completions only (the paper's SFT baseline).</summary>
    Sft,
    /// <summary>REINFORCE against the discriminator's score (one reward per sequence).</summary>
    Reinforce,
    /// <summary>REINFORCE with SeqGAN's Monte-Carlo rollouts: a reward per token from a lagged rollout policy.</summary>
    SeqganRollout,
    /// <summary>PPO with a KL penalty to the frozen SFT model (InstructGPT / TRL), discriminator as reward.</summary>
    Ppo,
    /// <summary>Gumbel-Softmax (RelGAN): discriminator gradients flow into the generator.</summary>
    Gumbel,
    /// <summary>The RLHF comparison: PPO or REINFORCE against a frozen reward model trained once on labels.</summary>
    RlhfProxy,
}

public enum BaselineKind { Ema, Batch, None, Rloo }
/// <summary>REINFORCE's Q_t for method reinforce: the sequence reward on every token, or ScratchGAN's dense per-prefix rewards.</summary>
public enum RewardEstimatorKind { Sequence, PerToken }
public enum DiscriminatorInit { Sft, Fresh, Checkpoint }
public enum CollapseAction { Warn, Pause }
public enum RlhfAlgorithm { Ppo, Reinforce }

/// <summary>
/// Every setting of a run, with its default. Names are the JSON keys (and the keys of
/// <c>--set key=value</c>); <see cref="Validate"/> refuses bad values before a run starts, naming the key.
/// Settings marked live can also change while the run trains (applied at the next step).
/// </summary>
public sealed partial record RunSettings
{
    // --- What is trained on what ---
    [Setting(SettingSections.Run, SettingReaders.Run, "Generator update: sft, reinforce, seqgan-rollout, ppo, gumbel, rlhf-proxy.")]
    [JsonPropertyName("method")] public TrainingMethod Method { get; init; } = TrainingMethod.Reinforce;
    [Setting(SettingSections.Run, SettingReaders.Run, "Task / dataset; \"synthetic-reviews\" is built in (write positive reviews).")]
    [JsonPropertyName("dataset")] public string Dataset { get; init; } = "synthetic-reviews";
    [Setting(SettingSections.Run, SettingReaders.Run, "Generator start: \"pretrain\" trains (or reuses) a tiny SFT model here; otherwise a model directory.", AtSetup = true)]
    [JsonPropertyName("generator")] public string Generator { get; init; } = "pretrain";
    [Setting(SettingSections.Run, SettingReaders.Pretrain, "Pretraining steps when generator = pretrain.", AtSetup = true)]
    [JsonPropertyName("pretrain_steps")] public int PretrainSteps { get; init; } = 1500;
    [Setting(SettingSections.Run, SettingReaders.Run, "Generator updates in the adversarial (or SFT) phase.")]
    [JsonPropertyName("steps")] public int Steps { get; init; } = 300;
    [Setting(SettingSections.Run, SettingReaders.Run, "Seed of everything random in the run (each draw is derived from it and the step).")]
    [JsonPropertyName("seed")] public int Seed { get; init; } = 1;
    [Setting(SettingSections.Run, SettingReaders.Run, "Prompts per generator update.")]
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 32;
    [Setting(SettingSections.Run, SettingReaders.Run, "Most tokens a completion may have.")]
    [JsonPropertyName("max_new_tokens")] public int MaxNewTokens { get; init; } = 48;
    [Setting(SettingSections.Run, SettingReaders.Reinforce | SettingReaders.Ppo | SettingReaders.Gumbel | SettingReaders.Discriminator, "Sampling temperature of the generator's training samples (live). The policy trained is softmax(logits / T).", Live = true)]
    [JsonPropertyName("sample_temperature")] public double SampleTemperature { get; init; } = 1.0;
    [Setting(SettingSections.Run, SettingReaders.Run, "Generator learning rate (Adam, live).", Live = true)]
    [JsonPropertyName("gen_lr")] public double GenLr { get; init; } = 1e-4;
    [Setting(SettingSections.Run, SettingReaders.Run, "Generator gradient-norm clip (0 = off).")]
    [JsonPropertyName("gen_grad_clip")] public double GenGradClip { get; init; } = 1.0;

    // --- Discriminator ---
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Discriminator learning rate (Adam, live).", Live = true)]
    [JsonPropertyName("disc_lr")] public double DiscLr { get; init; } = 5e-4;
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "bce (standard GAN) or rsgan (relativistic standard, RelGAN); also the Gumbel generator's adversarial loss and how scores become rewards (docs/metrics.md).")]
    [JsonPropertyName("disc_loss")] public DiscriminatorLossKind DiscLoss { get; init; } = DiscriminatorLossKind.Bce;
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "One-sided label smoothing of the real target (0 = off).")]
    [JsonPropertyName("label_smoothing")] public double LabelSmoothing { get; init; }
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "sft (copy of the SFT generator, as InstructGPT), fresh (random), checkpoint (disc_checkpoint).", AtSetup = true)]
    [JsonPropertyName("disc_init")] public DiscriminatorInit DiscInit { get; init; } = DiscriminatorInit.Sft;
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Model directory the discriminator starts from when disc_init = checkpoint (under a data root).", AtSetup = true)]
    [JsonPropertyName("disc_checkpoint")] public string? DiscCheckpoint { get; init; }
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Discriminator updates before the adversarial phase.", AtSetup = true)]
    [JsonPropertyName("disc_pretrain_steps")] public int DiscPretrainSteps { get; init; } = 50;
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Discriminator updates each time it trains (live): the \"d\" of the update ratio.", Live = true)]
    [JsonPropertyName("d_steps")] public int DSteps { get; init; } = 2;
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "The discriminator trains once every this many generator updates (live): the \"m\" of the ratio.", Live = true)]
    [JsonPropertyName("d_every")] public int DEvery { get; init; } = 1;
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Epochs over each fresh batch of negatives.")]
    [JsonPropertyName("d_epochs")] public int DEpochs { get; init; } = 1;
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Also generate fresh negatives for every discriminator update (the old behaviour; costs a generation each). Off: it trains on the step's own samples plus the replay buffer.")]
    [JsonPropertyName("disc_fresh_fakes")] public bool DiscFreshFakes { get; init; }
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Replay buffer of past generated texts (capacity; 0 = off): a share of each fake batch is drawn from it, so D does not forget old modes.")]
    [JsonPropertyName("disc_replay")] public int DiscReplay { get; init; }
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Share of the fake batch drawn from the replay buffer (disc_replay > 0).")]
    [JsonPropertyName("disc_replay_fraction")] public double DiscReplayFraction { get; init; } = 0.5;
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Weight gamma of the zero-centred R1 penalty gamma/2 E||dD(real)/d embedding||^2 (0 = off).")]
    [JsonPropertyName("disc_r1")] public double DiscR1 { get; init; }
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Instance noise: std of Gaussian noise on the discriminator's input embeddings, annealed linearly to 0 over the run (0 = off).")]
    [JsonPropertyName("disc_noise")] public double DiscNoise { get; init; }
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Dropout rate on the discriminator's pooled feature before its head, in its updates only (seeded draws).")]
    [JsonPropertyName("disc_dropout")] public double DiscDropout { get; init; }
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Decoupled (AdamW) weight decay of the discriminator.")]
    [JsonPropertyName("disc_weight_decay")] public double DiscWeightDecay { get; init; }
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Warm-up: the first this many steps train only the discriminator, on the frozen generator's samples.")]
    [JsonPropertyName("disc_warmup")] public int DiscWarmup { get; init; }
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Accuracy band \"lo,hi\" (e.g. 0.6,0.8; empty = off): an update whose batch D already gets right above hi is skipped, below lo one extra update follows.")]
    [JsonPropertyName("disc_acc_band")] public string DiscAccBand { get; init; } = "";
    [Setting(SettingSections.Discriminator, SettingReaders.Discriminator, "Share of the fake batch replaced by the task's real negatives (IMDB negative reviews, SQuAD wrong answers, synthetic negative reviews), so D must learn the property.")]
    [JsonPropertyName("real_negatives")] public double RealNegatives { get; init; }

    // --- REINFORCE / SeqGAN ---
    [Setting(SettingSections.PolicyGradient, SettingReaders.Reinforce | SettingReaders.Ppo, "logit, prob or neg-log-one-minus-d: the reward from the discriminator's (or reward model's) score.")]
    [JsonPropertyName("reward")] public RewardKind Reward { get; init; } = RewardKind.Prob;
    [Setting(SettingSections.PolicyGradient, SettingReaders.Reinforce, "REINFORCE's baseline: ema (moving average), batch (batch mean) or none.")]
    [JsonPropertyName("baseline")] public BaselineKind Baseline { get; init; } = BaselineKind.Batch;
    [Setting(SettingSections.PolicyGradient, SettingReaders.Reinforce, "Decay of the EMA reward baseline (baseline = ema).")]
    [JsonPropertyName("baseline_decay")] public double BaselineDecay { get; init; } = 0.9;
    [Setting(SettingSections.PolicyGradient, SettingReaders.Reinforce, "Normalise REINFORCE's advantages to zero mean and unit variance within each batch.")]
    [JsonPropertyName("whiten_rewards")] public bool WhitenRewards { get; init; } = true;
    [Setting(SettingSections.PolicyGradient, SettingReaders.Reinforce | SettingReaders.Ppo | SettingReaders.Gumbel, "Per-token KL penalty to the frozen SFT model (REINFORCE, Gumbel; PPO's initial coefficient) (live).", Live = true)]
    [JsonPropertyName("kl_coef")] public double KlCoef { get; init; } = 0.1;
    [Setting(SettingSections.PolicyGradient, SettingReaders.Reinforce, "Entropy bonus coefficient (REINFORCE).")]
    [JsonPropertyName("entropy_coef")] public double EntropyCoef { get; init; } = 0.0;
    [Setting(SettingSections.PolicyGradient, SettingReaders.Reinforce | SettingReaders.Ppo, "Completions per prompt: batch_size / group_size prompts, each sampled group_size times (RLOO's k; baseline = rloo needs >= 2).")]
    [JsonPropertyName("group_size")] public int GroupSize { get; init; } = 1;
    [Setting(SettingSections.PolicyGradient, SettingReaders.Reinforce | SettingReaders.Ppo, "Clip each sequence reward to [-c, c] before any normalisation (0 = off).")]
    [JsonPropertyName("reward_clip")] public double RewardClip { get; init; }
    [Setting(SettingSections.PolicyGradient, SettingReaders.Reinforce | SettingReaders.Ppo, "Normalise the step's sequence rewards to zero mean and unit variance (after reward_clip).")]
    [JsonPropertyName("reward_norm")] public bool RewardNorm { get; init; }
    [Setting(SettingSections.PolicyGradient, SettingReaders.RewardEstimator, "REINFORCE's return: sequence (the sequence reward on every token) or per-token (ScratchGAN: D scores every prefix in one pass, discounted by gamma).")]
    [JsonPropertyName("reward_estimator")] public RewardEstimatorKind RewardEstimator { get; init; } = RewardEstimatorKind.Sequence;
    [Setting(SettingSections.Rollouts, SettingReaders.Rollout, "Monte-Carlo rollouts per token (seqgan-rollout).")]
    [JsonPropertyName("rollouts")] public int Rollouts { get; init; } = 4;
    [Setting(SettingSections.Rollouts, SettingReaders.Rollout, "Rollout policy lag: beta <- rate beta + (1 - rate) theta (SeqGAN: 0.8).")]
    [JsonPropertyName("rollout_update_rate")] public double RolloutUpdateRate { get; init; } = 0.8;

    // --- PPO ---
    [Setting(SettingSections.Ppo, SettingReaders.Ppo, "PPO optimisation epochs over each batch of rollouts.")]
    [JsonPropertyName("ppo_epochs")] public int PpoEpochs { get; init; } = 4;
    [Setting(SettingSections.Ppo, SettingReaders.Ppo, "Minibatches each PPO epoch is split into.")]
    [JsonPropertyName("ppo_minibatches")] public int PpoMinibatches { get; init; } = 2;
    [Setting(SettingSections.Ppo, SettingReaders.Ppo, "PPO policy ratio clip (epsilon).")]
    [JsonPropertyName("clip_range")] public double ClipRange { get; init; } = 0.2;
    [Setting(SettingSections.Ppo, SettingReaders.Ppo, "Clip of the value-head update around the old values.")]
    [JsonPropertyName("value_clip_range")] public double ValueClipRange { get; init; } = 0.2;
    [Setting(SettingSections.Ppo, SettingReaders.Ppo, "Weight of the value loss in the PPO objective.")]
    [JsonPropertyName("vf_coef")] public double VfCoef { get; init; } = 0.1;
    [Setting(SettingSections.Ppo, SettingReaders.Ppo | SettingReaders.PerToken, "Discount of the per-token rewards (PPO's GAE; REINFORCE's per-token returns).")]
    [JsonPropertyName("gamma")] public double Gamma { get; init; } = 1.0;
    [Setting(SettingSections.Ppo, SettingReaders.Ppo, "GAE lambda: bias/variance trade-off of the advantages.")]
    [JsonPropertyName("lam")] public double Lambda { get; init; } = 0.95;
    [Setting(SettingSections.Ppo, SettingReaders.Ppo, "Adaptive KL controller (Ziegler et al.) instead of a fixed kl_coef.")]
    [JsonPropertyName("adaptive_kl")] public bool AdaptiveKl { get; init; }
    [Setting(SettingSections.Ppo, SettingReaders.Ppo, "Target KL of the adaptive controller (live).", Live = true)]
    [JsonPropertyName("kl_target")] public double KlTarget { get; init; } = 6.0;
    [Setting(SettingSections.Ppo, SettingReaders.Ppo, "Horizon of the adaptive KL controller (steps).")]
    [JsonPropertyName("kl_horizon")] public double KlHorizon { get; init; } = 10000;
    [Setting(SettingSections.Rlhf, SettingReaders.RewardModel, "The update of the rlhf-proxy method.")]
    [JsonPropertyName("rlhf_algorithm")] public RlhfAlgorithm RlhfAlgorithm { get; init; } = RlhfAlgorithm.Ppo;
    [Setting(SettingSections.Rlhf, SettingReaders.RewardModel, "Training steps of the rlhf-proxy reward model (a sentiment classifier).", AtSetup = true)]
    [JsonPropertyName("reward_model_steps")] public int RewardModelSteps { get; init; } = 150;

    // --- Gumbel-Softmax ---
    [Setting(SettingSections.Gumbel, SettingReaders.Gumbel, "Annealing of the inverse temperature beta: none, linear, exp, log, sigmoid, quad, sqrt (live).", Live = true)]
    [JsonPropertyName("gumbel_schedule")] public string GumbelSchedule { get; init; } = "exp";
    [Setting(SettingSections.Gumbel, SettingReaders.Gumbel, "Largest inverse temperature (tau = 1 / beta) (live).", Live = true)]
    [JsonPropertyName("gumbel_beta_max")] public double GumbelBetaMax { get; init; } = 10;
    [Setting(SettingSections.Gumbel, SettingReaders.Gumbel, "Schedule length in steps; 0 = the run's steps (RelGAN fixes 5000 whatever the run length: a trap).")]
    [JsonPropertyName("gumbel_schedule_steps")] public int GumbelScheduleSteps { get; init; }
    [Setting(SettingSections.Gumbel, SettingReaders.Gumbel, "A fixed tau overriding the schedule; 0 = follow the schedule (live).", Live = true)]
    [JsonPropertyName("gumbel_tau")] public double GumbelTau { get; init; }
    [Setting(SettingSections.Gumbel, SettingReaders.Gumbel, "Straight-through hard one-hot (true) or soft samples (false) into the discriminator.")]
    [JsonPropertyName("gumbel_hard")] public bool GumbelHard { get; init; } = true;
    [Setting(SettingSections.Gumbel, SettingReaders.Gumbel, "Weight of an MLE term on real completions mixed into the Gumbel generator loss.")]
    [JsonPropertyName("mle_coef")] public double MleCoef { get; init; }
    [Setting(SettingSections.Gumbel, SettingReaders.Gumbel, "Weight of the feature-matching term: squared distance between the mean discriminator features of real and generated texts.")]
    [JsonPropertyName("gumbel_feature_matching")] public double GumbelFeatureMatching { get; init; }

    // --- Evaluation, checkpoints, safety ---
    [Setting(SettingSections.Evaluation, SettingReaders.Run, "Evaluate every this many steps (live).", Live = true)]
    [JsonPropertyName("eval_every")] public int EvalEvery { get; init; } = 25;
    [Setting(SettingSections.Evaluation, SettingReaders.Run, "Held-out prompts per evaluation (fixed set, fixed seed).")]
    [JsonPropertyName("eval_prompts")] public int EvalPrompts { get; init; } = 200;
    [Setting(SettingSections.Evaluation, SettingReaders.Run, "Samples stored per evaluation (shown in the workbench).")]
    [JsonPropertyName("samples_per_eval")] public int SamplesPerEval { get; init; } = 16;
    [Setting(SettingSections.Evaluation, SettingReaders.Run, "Write a checkpoint every this many steps.")]
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; init; } = 50;
    [Setting(SettingSections.Evaluation, SettingReaders.Run, "Checkpoints kept on disk (older ones are deleted).")]
    [JsonPropertyName("keep_checkpoints")] public int KeepCheckpoints { get; init; } = 3;
    [Setting(SettingSections.Evaluation, SettingReaders.Run, "What the mode-collapse detector does: warn or pause.")]
    [JsonPropertyName("collapse_action")] public CollapseAction CollapseAction { get; init; } = CollapseAction.Warn;
    [Setting(SettingSections.Evaluation, SettingReaders.Run, "auto, cpu or cuda.")]
    [JsonPropertyName("device")] public string Device { get; init; } = "auto";
    [Setting(SettingSections.Evaluation, SettingReaders.Run, "libtorch threads; 0 = automatic: the machine's cores shared with its other trainings (Runtime/CoreShare.cs). Resume is bit-identical only with the same fixed count.")]
    [JsonPropertyName("threads")] public int Threads { get; init; }
    [Setting(SettingSections.Evaluation, SettingReaders.Run, "Write TensorBoard event files live into the run's tensorboard/ folder (metrics, samples, events, settings as HParams; a new file per process start).")]
    [JsonPropertyName("tensorboard")] public bool Tensorboard { get; init; }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses settings JSON; unknown keys and wrong types are errors naming the key.</summary>
    public static RunSettings FromJson(string json, string source = "settings")
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ArgumentException($"{source}: expected a JSON object.");
            var known = Properties.Keys.ToHashSet();
            foreach (var p in doc.RootElement.EnumerateObject())
                if (!known.Contains(p.Name)) throw new ArgumentException($"{source}: unknown setting '{p.Name}'.");
            var s = new RunSettings();
            foreach (var p in doc.RootElement.EnumerateObject())
                s = s.WithJsonValue(p.Name, p.Value, source);
            return s;
        }
        catch (JsonException e) { throw new ArgumentException($"{source}: not valid JSON ({e.Message})."); }
    }

    private static readonly Dictionary<string, PropertyInfo> Properties = typeof(RunSettings).GetProperties()
        .Where(p => p.GetCustomAttribute<JsonPropertyNameAttribute>() is not null)
        .ToDictionary(p => p.GetCustomAttribute<JsonPropertyNameAttribute>()!.Name);

    public static IReadOnlyCollection<string> Keys => Properties.Keys;

    /// <summary>A copy with <paramref name="key"/> set from text (the --set and live-change path).</summary>
    public RunSettings With(string key, string value)
    {
        if (!Properties.TryGetValue(key, out var prop)) throw new ArgumentException($"unknown setting '{key}'.");
        object? parsed = ParseValue(prop, value, key);
        return WithValue(prop, parsed);
    }

    /// <summary>The setting's current value as text.</summary>
    public string Get(string key)
    {
        if (!Properties.TryGetValue(key, out var prop)) throw new ArgumentException($"unknown setting '{key}'.");
        var v = prop.GetValue(this);
        return v switch
        {
            null => "",
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            Enum e => JsonNamingPolicy.KebabCaseLower.ConvertName(e.ToString()),
            bool b => b ? "true" : "false",
            _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
        };
    }

    private RunSettings WithJsonValue(string key, JsonElement value, string source)
    {
        var prop = Properties[key];
        if (value.ValueKind == JsonValueKind.Null)
        {
            if (prop.PropertyType.IsValueType && Nullable.GetUnderlyingType(prop.PropertyType) is null)
                throw new ArgumentException($"{source}: {key}: null is not allowed.");
            return WithValue(prop, null);
        }
        string text = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Null => "",
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => value.GetRawText(),
        };
        try { return WithValue(prop, ParseValue(prop, text, key)); }
        catch (ArgumentException e) { throw new ArgumentException($"{source}: {e.Message}"); }
    }

    private RunSettings WithValue(PropertyInfo prop, object? value)
    {
        // Records are immutable: clone, then set the init-only property on the clone (settings only).
        var clone = this with { };
        prop.SetValue(clone, value);
        return clone;
    }

    private static readonly NullabilityInfoContext Nullability = new();

    private static object? ParseValue(PropertyInfo prop, string text, string key)
    {
        var type = prop.PropertyType;
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        // An optional text left empty (a form field) means unset, as in the JSON.
        if (underlying == typeof(string)) return text.Length == 0 && IsOptional(prop) ? null : text;
        if (underlying == typeof(int))
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : throw new ArgumentException($"{key}: '{text}' is not an integer.");
        if (underlying == typeof(double))
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : throw new ArgumentException($"{key}: '{text}' is not a finite number.");
        if (underlying == typeof(bool))
            return text.ToLowerInvariant() switch { "true" or "1" or "yes" => true, "false" or "0" or "no" => false, _ => throw new ArgumentException($"{key}: '{text}' is not true or false.") };
        if (underlying.IsEnum)
        {
            foreach (var name in Enum.GetNames(underlying))
                if (string.Equals(JsonNamingPolicy.KebabCaseLower.ConvertName(name), text, StringComparison.OrdinalIgnoreCase) || string.Equals(name, text, StringComparison.OrdinalIgnoreCase))
                    return Enum.Parse(underlying, name);
            throw new ArgumentException($"{key}: '{text}' is not one of {string.Join(", ", Enum.GetNames(underlying).Select(JsonNamingPolicy.KebabCaseLower.ConvertName))}.");
        }
        throw new ArgumentException($"{key}: unsupported setting type {type.Name}.");
    }

    private static bool IsOptional(PropertyInfo prop)
    {
        lock (Nullability) return Nullability.Create(prop).WriteState == NullabilityState.Nullable;
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid setting and why.</summary>
    public RunSettings Validate()
    {
        Require(Steps is >= 1 and <= MaxSteps, "steps", Steps, $"must be in [1, {MaxSteps}]");
        Require(PretrainSteps is >= 1 and <= MaxSteps, "pretrain_steps", PretrainSteps, $"must be in [1, {MaxSteps}]");
        Require(BatchSize is >= 2 and <= 4096, "batch_size", BatchSize, "must be in [2, 4096]");
        Require(MaxNewTokens is >= 1 and <= 1024, "max_new_tokens", MaxNewTokens, "must be in [1, 1024]");
        Require(SampleTemperature is > 0.05 and <= 10, "sample_temperature", SampleTemperature, "must be in (0.05, 10]");
        Require(GenLr is > 0 and < 1, "gen_lr", GenLr, "must be in (0, 1)");
        Require(DiscLr is > 0 and < 1, "disc_lr", DiscLr, "must be in (0, 1)");
        Require(GenGradClip is >= 0 and <= 1e6, "gen_grad_clip", GenGradClip, "must be in [0, 1000000] (0 = off)");
        Require(LabelSmoothing is >= 0 and < 0.5, "label_smoothing", LabelSmoothing, "must be in [0, 0.5)");
        Require(DiscInit != DiscriminatorInit.Checkpoint || !string.IsNullOrWhiteSpace(DiscCheckpoint), "disc_checkpoint", DiscCheckpoint ?? "", "is required when disc_init is checkpoint");
        Require(DiscPretrainSteps is >= 0 and <= MaxSteps, "disc_pretrain_steps", DiscPretrainSteps, $"must be in [0, {MaxSteps}]");
        Require(DSteps is >= 0 and <= 100, "d_steps", DSteps, "must be in [0, 100]");
        Require(DEvery is >= 1 and <= 10000, "d_every", DEvery, "must be in [1, 10000]");
        Require(DEpochs is >= 1 and <= 100, "d_epochs", DEpochs, "must be in [1, 100]");
        Require(BaselineDecay is >= 0 and < 1, "baseline_decay", BaselineDecay, "must be in [0, 1)");
        Require(KlCoef is >= 0 and <= 100, "kl_coef", KlCoef, "must be in [0, 100]");
        Require(EntropyCoef is >= 0 and <= 10, "entropy_coef", EntropyCoef, "must be in [0, 10]");
        Require(GroupSize >= 1 && GroupSize <= BatchSize && BatchSize % GroupSize == 0, "group_size", GroupSize, $"must divide batch_size = {BatchSize}");
        Require(Baseline != BaselineKind.Rloo || GroupSize >= 2, "baseline", "rloo", "needs group_size >= 2 (the other completions of a prompt are its baseline)");
        Require(RewardClip is >= 0 and <= 1e6, "reward_clip", RewardClip, "must be in [0, 1000000] (0 = off)");
        Require(DiscReplay is >= 0 and <= 100_000, "disc_replay", DiscReplay, "must be in [0, 100000] (0 = off)");
        Require(DiscReplayFraction is >= 0 and < 1, "disc_replay_fraction", DiscReplayFraction, "must be in [0, 1)");
        Require(DiscR1 is >= 0 and <= 1e4, "disc_r1", DiscR1, "must be in [0, 10000]");
        Require(DiscNoise is >= 0 and <= 10, "disc_noise", DiscNoise, "must be in [0, 10]");
        Require(DiscDropout is >= 0 and <= 0.9, "disc_dropout", DiscDropout, "must be in [0, 0.9]");
        Require(DiscWeightDecay is >= 0 and <= 1, "disc_weight_decay", DiscWeightDecay, "must be in [0, 1]");
        Require(DiscWarmup is >= 0 and <= MaxSteps, "disc_warmup", DiscWarmup, $"must be in [0, {MaxSteps}]");
        Require(AccuracyBand.TryParse(DiscAccBand, out _), "disc_acc_band", $"'{DiscAccBand}'", "must be empty or \"lo,hi\" with 0 <= lo < hi <= 1");
        Require(RealNegatives is >= 0 and < 1, "real_negatives", RealNegatives, "must be in [0, 1)");
        Require(DiscReplayFraction + RealNegatives < 1 || DiscReplay == 0, "real_negatives", RealNegatives, $"plus disc_replay_fraction = {DiscReplayFraction} must stay below 1 (some of the step's own samples stay)");
        Require(GumbelFeatureMatching is >= 0 and <= 1000, "gumbel_feature_matching", GumbelFeatureMatching, "must be in [0, 1000]");
        Require(Rollouts is >= 1 and <= 64, "rollouts", Rollouts, "must be in [1, 64]");
        Require(RolloutUpdateRate is >= 0 and <= 1, "rollout_update_rate", RolloutUpdateRate, "must be in [0, 1]");
        Require(PpoEpochs is >= 1 and <= 64, "ppo_epochs", PpoEpochs, "must be in [1, 64]");
        Require(PpoMinibatches >= 1 && PpoMinibatches <= BatchSize, "ppo_minibatches", PpoMinibatches, $"must be in [1, batch_size = {BatchSize}]");
        Require(ClipRange is > 0 and < 1, "clip_range", ClipRange, "must be in (0, 1)");
        Require(ValueClipRange is > 0 and <= 1e6, "value_clip_range", ValueClipRange, "must be in (0, 1000000]");
        Require(VfCoef is >= 0 and <= 1000, "vf_coef", VfCoef, "must be in [0, 1000]");
        Require(Gamma is > 0 and <= 1, "gamma", Gamma, "must be in (0, 1]");
        Require(Lambda is >= 0 and <= 1, "lam", Lambda, "must be in [0, 1]");
        Require(KlTarget is > 0 and <= 1e6, "kl_target", KlTarget, "must be in (0, 1000000]");
        Require(KlHorizon is >= 1 and <= 1e9, "kl_horizon", KlHorizon, "must be in [1, 1000000000]");
        Require(RewardModelSteps is >= 1 and <= MaxSteps, "reward_model_steps", RewardModelSteps, $"must be in [1, {MaxSteps}]");
        try { TemperatureSchedule.Parse(GumbelSchedule); }
        catch (ArgumentException) { throw new ArgumentException($"gumbel_schedule: '{GumbelSchedule}' is not one of none, linear, exp, log, sigmoid, quad, sqrt."); }
        Require(GumbelBetaMax is >= 1 and <= 1e5, "gumbel_beta_max", GumbelBetaMax, "must be in [1, 100000]");
        Require(GumbelScheduleSteps is >= 0 and <= MaxSteps, "gumbel_schedule_steps", GumbelScheduleSteps, $"must be in [0, {MaxSteps}] (0 = the run's steps)");
        Require(GumbelTau == 0 || GumbelTau is >= 1e-5 and <= 100, "gumbel_tau", GumbelTau, "must be 0 (follow the schedule) or in [1e-5, 100]");
        Require(MleCoef is >= 0 and <= 1000, "mle_coef", MleCoef, "must be in [0, 1000]");
        Require(EvalEvery is >= 1 and <= MaxSteps, "eval_every", EvalEvery, $"must be in [1, {MaxSteps}]");
        Require(EvalPrompts is >= 2 and <= 10000, "eval_prompts", EvalPrompts, "must be in [2, 10000]");
        Require(SamplesPerEval >= 0 && SamplesPerEval <= Math.Min(EvalPrompts, MaxSamplesPerEval), "samples_per_eval", SamplesPerEval, $"must be in [0, {Math.Min(EvalPrompts, MaxSamplesPerEval)}] (at most eval_prompts = {EvalPrompts} and {MaxSamplesPerEval})");
        Require(CheckpointEvery is >= 1 and <= MaxSteps, "checkpoint_every", CheckpointEvery, $"must be in [1, {MaxSteps}]");
        Require(KeepCheckpoints is >= 1 and <= MaxKeepCheckpoints, "keep_checkpoints", KeepCheckpoints, $"must be in [1, {MaxKeepCheckpoints}]");
        Require(Device is "auto" or "cpu" or "cuda", "device", Device, "must be auto, cpu or cuda");
        Require(Threads >= 0 && Threads <= Environment.ProcessorCount, "threads", Threads, $"must be 0 (default) or in [1, {Environment.ProcessorCount}] (this machine's cores)");
        Require(!string.IsNullOrWhiteSpace(Dataset), "dataset", Dataset, "must name a dataset");
        Require(!string.IsNullOrWhiteSpace(Generator), "generator", Generator, "must be 'pretrain' or a model directory");
        foreach (var (key, path) in new[] { ("dataset", Dataset), ("generator", Generator), ("disc_checkpoint", DiscCheckpoint) })
            Require(path is null || path.Length <= MaxPathLength, key, path is null ? "" : $"'{path[..Math.Min(path.Length, 40)]}...' ({path.Length} characters)", $"must be at most {MaxPathLength} characters");
        return this;
    }

    /// <summary>Upper bound of every step count (steps, pretrain_steps, disc_pretrain_steps, reward_model_steps, ...).</summary>
    public const int MaxSteps = 1_000_000;
    /// <summary>Upper bound of keep_checkpoints (each checkpoint holds the models and optimizer moments).</summary>
    public const int MaxKeepCheckpoints = 100;
    /// <summary>Upper bound of samples_per_eval (stored rows per evaluation).</summary>
    public const int MaxSamplesPerEval = 1000;
    /// <summary>Upper bound of a path-like setting's length (dataset, generator, disc_checkpoint).</summary>
    public const int MaxPathLength = 4096;

    private static void Require(bool ok, string key, object value, string rule)
    {
        if (!ok) throw new ArgumentException($"{key}: {Convert.ToString(value, CultureInfo.InvariantCulture)} {rule}.");
    }
}
