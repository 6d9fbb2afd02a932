using System.Diagnostics;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>A training step that produced a non-finite loss or gradient: nothing was applied.</summary>
public sealed class NonFiniteException(string message) : Exception(message);

/// <summary>
/// The adversarial game of one run: a generator (policy), the frozen SFT reference, and either a
/// discriminator trained alongside (RLGAF) or a frozen reward model (RLHF proxy). <see cref="TrainStep"/>
/// performs one generator update (REINFORCE, SeqGAN rollouts, PPO, Gumbel-Softmax or SFT) and the
/// discriminator updates the update ratio asks for. Every random draw uses a generator seeded from
/// (run seed, step, purpose), so a resumed run draws exactly what a straight run would.
/// Runs on one thread (grad mode and dispose scopes are thread-local).
/// </summary>
public sealed partial class AdversarialTrainer : IDisposable
{
    public IAlignmentTask Task { get; }
    public Gpt2Model Policy { get; }
    public Gpt2Model Reference { get; }
    /// <summary>The discriminator (RLGAF methods), else null.</summary>
    public Discriminator? Disc { get; }
    /// <summary>The frozen reward model (rlhf-proxy), else null.</summary>
    public IRewardScorer? RewardModel { get; }
    /// <summary>PPO's value head on the policy's hidden states, else null.</summary>
    public Linear? ValueHead { get; }
    /// <summary>SeqGAN's lagged rollout policy, else null.</summary>
    public Gpt2Model? RolloutPolicy { get; }
    public AdamW GenOptimizer { get; }
    public AdamW? DiscOptimizer { get; }

    /// <summary>Settings in force; live changes replace it between steps.</summary>
    public RunSettings Settings { get; set; }
    /// <summary>Generator updates done.</summary>
    public int Step { get; set; }
    /// <summary>REINFORCE's moving-average baseline (NaN until the first batch).</summary>
    public double BaselineEma { get; set; } = double.NaN;
    /// <summary>The KL coefficient in force (PPO's adaptive controller moves it).</summary>
    public double KlCoef { get; set; }
    /// <summary>Test hook: makes the generator loss NaN at this step (checks the non-finite guard).</summary>
    internal int? InjectNanAtStep { get; set; }

    private readonly Device _device;
    private readonly int _eot;

    public AdversarialTrainer(IAlignmentTask task, Gpt2Model sft, RunSettings settings, Device device,
        Discriminator? discriminator = null, IRewardScorer? rewardModel = null)
    {
        Task = task;
        Settings = settings.Validate();
        _device = device;
        _eot = task.Vocabulary.EndOfTextId;
        KlCoef = settings.KlCoef;
        Policy = Clone(sft, device);
        Reference = Clone(sft, device);
        Reference.eval();
        foreach (var p in Reference.parameters()) p.requires_grad = false;

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
        {
            Disc = discriminator ?? throw new ArgumentException($"{method} needs a discriminator.");
            DiscOptimizer = new AdamW(Disc.parameters(), settings.DiscLr, 0.9, 0.999, 1e-8, 0.0);
        }
        if (UsesPpo)
        {
            ValueHead = nn.Linear(sft.Config.NEmbd, 1);
            ValueHead.to(device);
            using (no_grad()) { ValueHead.weight!.normal_(0, 1.0 / Math.Sqrt(sft.Config.NEmbd + 1), GeneratorFor(0, Purpose.Init)); ValueHead.bias!.zero_(); }
        }
        if (method == TrainingMethod.SeqganRollout)
        {
            RolloutPolicy = Clone(sft, device);
            foreach (var p in RolloutPolicy.parameters()) p.requires_grad = false;
        }
        var genParams = Policy.parameters().Concat(ValueHead?.parameters() ?? []).ToList();
        GenOptimizer = new AdamW(genParams, settings.GenLr, 0.9, 0.999, 1e-8, 0.0);
    }

    private bool UsesPpo => Settings.Method == TrainingMethod.Ppo ||
                            (Settings.Method == TrainingMethod.RlhfProxy && Settings.RlhfAlgorithm == RlhfAlgorithm.Ppo);

    /// <summary>One generator update, plus the discriminator updates due at this step. Returns the step's metrics.</summary>
    public Dictionary<string, double> TrainStep()
    {
        var metrics = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        SetLearningRates();
        Policy.train();
        switch (Settings.Method)
        {
            case TrainingMethod.Sft: SftStep(metrics); break;
            case TrainingMethod.Reinforce:
            case TrainingMethod.SeqganRollout: ReinforceStep(metrics, Disc!); break;
            case TrainingMethod.Ppo: PpoStep(metrics, Disc!); break;
            case TrainingMethod.Gumbel: GumbelStep(metrics); break;
            case TrainingMethod.RlhfProxy:
                if (Settings.RlhfAlgorithm == RlhfAlgorithm.Ppo) PpoStep(metrics, RewardModel!);
                else ReinforceStep(metrics, RewardModel!);
                break;
        }
        if (RolloutPolicy is not null) UpdateRolloutPolicy();
        if (Disc is not null && Settings.DSteps > 0 && Step % Settings.DEvery == 0)
        {
            var sw = Stopwatch.StartNew();
            for (int k = 0; k < Settings.DSteps; k++) DiscriminatorUpdate(metrics, Step, k);
            metrics["time/disc_update"] = sw.Elapsed.TotalMilliseconds;
        }
        Step++;
        metrics["time/step"] = clock.Elapsed.TotalMilliseconds;
        return metrics;
    }

    /// <summary>Discriminator updates before the adversarial phase (disc_pretrain_steps).</summary>
    public Dictionary<string, double> PretrainDiscriminator(int steps, CancellationToken cancellationToken = default)
    {
        var metrics = new Dictionary<string, double>();
        if (Disc is null) return metrics;
        for (int k = 0; k < steps; k++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            DiscriminatorUpdate(metrics, -1 - k, 0);
        }
        return metrics;
    }

    private void SetLearningRates()
    {
        foreach (var g in GenOptimizer.ParamGroups) g.LearningRate = Settings.GenLr;
        if (DiscOptimizer is not null) foreach (var g in DiscOptimizer.ParamGroups) g.LearningRate = Settings.DiscLr;
    }

    // ---- Sampling ----------------------------------------------------------------------------

    /// <summary>Purposes of random draws: each gets its own stream per step.</summary>
    internal enum Purpose { Init = 1, Prompts, Sample, DiscReal, DiscFake, Rollout, Gumbel, PpoShuffle, Eval }

    internal ulong SeedFor(int step, Purpose purpose, int k = 0)
    {
        // SplitMix64 finaliser over (seed, step, purpose, k): independent-looking streams, no shared state.
        ulong z = (ulong)Settings.Seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)step * 0xBF58476D1CE4E5B9UL
                  ^ (ulong)purpose * 0x94D049BB133111EBUL ^ (ulong)(uint)k * 0xD6E8FEB86659FD93UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private Generator GeneratorFor(int step, Purpose purpose, int k = 0) =>
        new((ulong)(SeedFor(step, purpose, k) >> 1), _device);

    /// <summary>Samples completions of <paramref name="prompts"/> from <paramref name="model"/> (no gradient).</summary>
    internal (SequenceBatch Batch, bool[] Ended) Generate(Gpt2Model model, IReadOnlyList<int[]> prompts, double temperature, ulong seed, int? maxNew = null)
    {
        var result = TextGenerator.SampleCompletions(model, prompts, _eot, temperature, seed, maxNew ?? Settings.MaxNewTokens);
        var completions = result.Sequences.Select(s => s.Tokens).ToList();
        return (new SequenceBatch(prompts, completions, _eot, _device), result.Sequences.Select(s => s.EndedWithEos).ToArray());
    }

    /// <summary>The step's policy samples for this step's prompts (REINFORCE and PPO), timed as time/generate.</summary>
    private SequenceBatch SampleTrainingBatch(Dictionary<string, double> metrics)
    {
        var sw = Stopwatch.StartNew();
        var prompts = RealExamples(Step, Purpose.Prompts).Select(e => e.Prompt).ToList();
        var (batch, _) = Generate(Policy, prompts, Settings.SampleTemperature, SeedFor(Step, Purpose.Sample));
        metrics["time/generate"] = sw.Elapsed.TotalMilliseconds;
        return batch;
    }

    private IReadOnlyList<TaskExample> RealExamples(int step, Purpose purpose, int k = 0) =>
        Task.SampleReal(Settings.BatchSize, SeedFor(step, purpose, k));

    private SequenceBatch RealBatch(IReadOnlyList<TaskExample> examples) =>
        new(examples.Select(e => e.Prompt).ToList(), examples.Select(e => e.Completion).ToList(), _eot, _device, Policy.Config.NPositions);

    // ---- Shared pieces -------------------------------------------------------------------------

    /// <summary>Backward, clip, check, step. A non-finite loss or gradient norm is never applied.</summary>
    private double ApplyGenerator(Tensor loss, string what)
    {
        GenOptimizer.zero_grad();
        loss.backward();
        var parameters = Policy.parameters().Concat(ValueHead?.parameters() ?? []);
        double norm = Settings.GenGradClip > 0
            ? nn.utils.clip_grad_norm_(parameters, Settings.GenGradClip)
            : GradNorm(parameters);
        double value = loss.item<float>();
        if (InjectNanAtStep == Step) { value = double.NaN; InjectNanAtStep = null; } // one-shot fault
        if (!double.IsFinite(value) || !double.IsFinite(norm))
        {
            GenOptimizer.zero_grad();
            throw new NonFiniteException($"{what}: non-finite loss ({value}) or gradient norm ({norm}) at step {Step}; the update was not applied.");
        }
        GenOptimizer.step();
        return norm;
    }

    private static double GradNorm(IEnumerable<Parameter> parameters)
    {
        double sq = 0;
        foreach (var p in parameters)
            if (p.grad is { } g) sq += g.square().sum().item<float>();
        return Math.Sqrt(sq);
    }

    /// <summary>Scores of a batch by the discriminator or reward model, without gradient.</summary>
    private static Tensor ScoreNoGrad(IRewardScorer scorer, SequenceBatch batch)
    {
        using var _ = no_grad();
        if (scorer is not Discriminator d) return scorer.Score(batch);
        bool was = d.training;
        d.eval();
        var s = d.Score(batch);
        d.train(was);
        return s;
    }

    private static Gpt2Model Clone(Gpt2Model source, Device device)
    {
        var copy = new Gpt2Model(source.Config, seed: 0);
        copy.to(device);
        using (no_grad())
        {
            var src = source.state_dict();
            foreach (var (name, p) in copy.named_parameters()) p.copy_(src[name]);
        }
        return copy;
    }

    public void Dispose()
    {
        GenOptimizer.Dispose();
        DiscOptimizer?.Dispose();
        Policy.Dispose();
        Reference.Dispose();
        RolloutPolicy?.Dispose();
        Disc?.Dispose();
        (RewardModel as IDisposable)?.Dispose();
        ValueHead?.Dispose();
    }
}
