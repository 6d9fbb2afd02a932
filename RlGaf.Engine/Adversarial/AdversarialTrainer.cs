using System.Diagnostics;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Runtime;
using RlGaf.Engine.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// The adversarial game of one run, assembled from its parts: the shared <see cref="TrainerCore"/>
/// (policy, SFT reference, generator optimizer, seeded draws), the method's <see cref="IGeneratorUpdate"/>,
/// the <see cref="DiscriminatorTrainer"/> (RLGAF methods) or a frozen reward model (RLHF proxy), and
/// the <see cref="Evaluator"/>. <see cref="TrainStep"/> performs one generator update and the
/// discriminator updates the update ratio asks for. Each part saves and restores its own state;
/// the run changes settings only through <see cref="ChangeSetting"/>.
/// Runs on one thread (grad mode and dispose scopes are thread-local).
/// </summary>
public sealed class AdversarialTrainer : IDisposable
{
    /// <summary>Checkpoint files of the policy and the generator's optimizer.</summary>
    public const string PolicyFile = "policy.safetensors", GenOptimizerFile = "gen_optimizer.bin";

    /// <summary>Seed of evaluation sampling (see <see cref="Evaluator.EvalSeed"/>).</summary>
    public const ulong EvalSeed = Evaluator.EvalSeed;

    private readonly TrainerCore _core;
    private readonly Evaluator _evaluator;

    public TrainerCore Core => _core;
    public IAlignmentTask Task => _core.Task;
    public Gpt2Model Policy => _core.Policy;
    public Gpt2Model Reference => _core.Reference;
    /// <summary>The method's generator update.</summary>
    public IGeneratorUpdate Update { get; }
    /// <summary>The discriminator's trainer (RLGAF methods), else null.</summary>
    public DiscriminatorTrainer? DiscTrainer { get; }
    /// <summary>The discriminator (RLGAF methods), else null.</summary>
    public Discriminator? Disc => DiscTrainer?.Disc;
    /// <summary>The frozen reward model (rlhf-proxy), else null.</summary>
    public IRewardScorer? RewardModel { get; }
    /// <summary>Settings in force; change them with <see cref="ChangeSetting"/>.</summary>
    public RunSettings Settings => _core.Settings;
    /// <summary>Generator updates done.</summary>
    public int Step => _core.Step;

    public AdversarialTrainer(IAlignmentTask task, Gpt2Model sft, RunSettings settings, Device device,
        Discriminator? discriminator = null, IRewardScorer? rewardModel = null)
    {
        _core = new TrainerCore(task, sft, settings.Validate(), device);
        var method = settings.Method;
        if (method == TrainingMethod.RlhfProxy)
        {
            RewardModel = rewardModel ?? throw new ArgumentException("rlhf-proxy needs a trained reward model.");
            if (RewardModel is Discriminator frozen)
            {
                frozen.eval();
                foreach (var p in frozen.parameters()) p.requires_grad = false;
            }
        }
        else if (method != TrainingMethod.Sft)
            DiscTrainer = new DiscriminatorTrainer(_core, discriminator ?? throw new ArgumentException($"{method} needs a discriminator."));

        // The discriminator's scores are read per its loss (relative for RSGAN); a reward model's are absolute.
        RewardFunction? reward = Disc is not null ? new RewardFunction(_core, Disc, settings.DiscLoss)
            : RewardModel is not null ? new RewardFunction(_core, RewardModel, DiscriminatorLossKind.Bce) : null;
        Update = method switch
        {
            TrainingMethod.Sft => new SftUpdate(_core),
            TrainingMethod.Reinforce => new ReinforceUpdate(_core, reward!,
                settings.RewardEstimator == RewardEstimatorKind.PerToken ? new PerTokenReward(_core, Disc!, settings.DiscLoss) : new SequenceReward(), "reinforce"),
            TrainingMethod.SeqganRollout => new ReinforceUpdate(_core, reward!, new RolloutReward(_core, sft), "seqgan-rollout"),
            TrainingMethod.Ppo => new PpoUpdate(_core, reward!, sft.Config),
            TrainingMethod.Gumbel => new GumbelUpdate(_core, Disc!),
            TrainingMethod.RlhfProxy when settings.RlhfAlgorithm == RlhfAlgorithm.Ppo => new PpoUpdate(_core, reward!, sft.Config),
            TrainingMethod.RlhfProxy => new ReinforceUpdate(_core, reward!, new SequenceReward(), "reinforce"),
            _ => throw new ArgumentOutOfRangeException(nameof(settings), method, "unknown method"),
        };
        _core.BuildOptimizer(Update.ExtraParameters);
        _evaluator = new Evaluator(_core, reward);
    }

    /// <summary>One generator update, plus the discriminator updates due at this step. Returns the step's metrics.</summary>
    public Dictionary<string, double> TrainStep()
    {
        var metrics = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        _core.SetLearningRate();
        DiscTrainer?.SetLearningRate();
        // RL phases run without dropout (as TRL does): PPO's old and new log-probs then come from the same
        // function (first ratio exactly 1), the KL to the reference is unbiased, and no dropout draw
        // touches the global RNG, which bit-identical resume relies on. Gradients flow in eval mode.
        Policy.eval();
        _core.StepFakes = null;
        if (DiscTrainer is not null && Step < Settings.DiscWarmup)
        {
            // Warm-up (disc_warmup): the generator only samples; the discriminator trains on those samples.
            using (NewDisposeScope()) _core.SampleTrainingBatch(metrics);
            metrics["disc/warmup"] = 1;
        }
        else Update.Step(metrics);
        DiscTrainer?.AfterGeneratorStep(metrics, Step);
        _core.Step++;
        NativeHeap.AfterStep(_core.Step);
        metrics["time/step"] = clock.Elapsed.TotalMilliseconds;
        return metrics;
    }

    /// <summary>Discriminator updates before the adversarial phase (disc_pretrain_steps).</summary>
    /// <param name="onStep">After each update: updates done and their figures (disc/loss...), for progress reports.</param>
    public Dictionary<string, double> PretrainDiscriminator(int steps, CancellationToken cancellationToken = default,
        Action<int, IReadOnlyDictionary<string, double>>? onStep = null)
    {
        var metrics = new Dictionary<string, double>();
        if (DiscTrainer is null) return metrics;
        for (int k = 0; k < steps; k++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            DiscTrainer.Update(metrics, -1 - k, 0);
            onStep?.Invoke(k + 1, metrics);
        }
        return metrics;
    }

    /// <summary>The evaluation at the current step, with the update's state figures (gumbel/tau).</summary>
    /// <param name="cancellationToken">Observed between the evaluation's phases (generation, judging, scoring).</param>
    public (Dictionary<string, double> Metrics, List<SampleRecord> Samples) Evaluate(int samplesToKeep, CancellationToken cancellationToken = default)
    {
        var (metrics, samples) = _evaluator.Evaluate(samplesToKeep, cancellationToken);
        foreach (var (k, v) in Update.StateMetrics()) metrics[k] = v;
        return (metrics, samples);
    }

    /// <summary>Applies a live setting change (validated; throws naming the key), lets the update react, and returns the settings before.</summary>
    public RunSettings ChangeSetting(string key, string value)
    {
        var before = Settings;
        _core.Settings = before.With(key, value).Validate();
        Update.SettingChanged(key, before);
        return before;
    }

    /// <summary>The modules a checkpoint stores, with their file names: one list for writing and for reading.</summary>
    public IEnumerable<(string File, nn.Module Module)> Modules()
    {
        yield return (PolicyFile, Policy);
        if (Disc is not null) yield return (DiscriminatorTrainer.File, Disc);
        foreach (var m in Update.Modules) yield return m;
        if (DiscTrainer is not null) foreach (var m in DiscTrainer.Modules) yield return m;
    }

    /// <summary>The optimizers a checkpoint stores, with their file names.</summary>
    public IEnumerable<(string File, AdamW Optimizer)> Optimizers()
    {
        yield return (GenOptimizerFile, _core.GenOptimizer);
        if (DiscTrainer is not null) yield return (DiscriminatorTrainer.OptimizerFile, DiscTrainer.Optimizer);
    }

    /// <summary>The scalar state of the parts (the update's baseline, KL coefficient, ...), for a checkpoint.</summary>
    public IReadOnlyDictionary<string, double> SaveState()
    {
        var state = new Dictionary<string, double>(Update.SaveState());
        if (DiscTrainer is not null) foreach (var (k, v) in DiscTrainer.SaveState()) state[k] = v;
        return state;
    }

    /// <summary>
    /// After the modules were read back: the step and the parts' scalar state as saved under
    /// <paramref name="savedWith"/>. The settings in force stay (a rollback keeps live changes).
    /// </summary>
    public void RestoreState(int step, IReadOnlyDictionary<string, double> state, RunSettings savedWith)
    {
        _core.Step = step;
        Update.RestoreState(state, savedWith);
        DiscTrainer?.RestoreState(state, savedWith);
    }

    public void Dispose()
    {
        Update.Dispose();
        DiscTrainer?.Dispose();
        (RewardModel as IDisposable)?.Dispose();
        _core.Dispose();
    }
}
