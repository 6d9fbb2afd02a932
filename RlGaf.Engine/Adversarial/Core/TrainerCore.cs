using RlGaf.Engine.Runtime;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>A training step that produced a non-finite loss or gradient: nothing was applied.</summary>
public sealed class NonFiniteException(string message) : Exception(message);

/// <summary>Purposes of random draws: each gets its own stream per step.</summary>
internal enum Purpose { Init = 1, Prompts, Sample, DiscReal, DiscFake, Rollout, Gumbel, PpoShuffle, Eval, DiscReplay, DiscNoise, DiscDropout, DiscNegatives, DiscMix }

/// <summary>
/// What every generator update shares: the policy and the frozen SFT reference, the generator's
/// optimizer, the settings in force and the step, seeded draws, generation, scoring and
/// <see cref="ApplyGenerator"/>. Every random draw uses a generator seeded from (run seed, step,
/// purpose), so a resumed run draws exactly what a straight run would.
/// </summary>
public sealed class TrainerCore : IDisposable
{
    public IAlignmentTask Task { get; }
    public Gpt2Model Policy { get; }
    public Gpt2Model Reference { get; }
    /// <summary>Adam over the policy and the update's own trainable modules (PPO's value head).</summary>
    public AdamW GenOptimizer => _optimizer ?? throw new InvalidOperationException("the generator optimizer is built once the update is.");
    /// <summary>Settings in force; the trainer replaces them between steps (live changes).</summary>
    public RunSettings Settings { get; internal set; }
    /// <summary>Generator updates done.</summary>
    public int Step { get; internal set; }
    public Device Device { get; }
    public int Eot { get; }

    private AdamW? _optimizer;
    private List<Parameter> _genParameters = [];

    internal TrainerCore(IAlignmentTask task, Gpt2Model sft, RunSettings settings, Device device)
    {
        Task = task;
        Settings = settings;
        Device = device;
        Eot = task.Vocabulary.EndOfTextId;
        Policy = Clone(sft, device);
        Reference = Clone(sft, device);
        Reference.eval();
        foreach (var p in Reference.parameters()) p.requires_grad = false;
    }

    /// <summary>Builds the generator optimizer over the policy and <paramref name="extra"/> (after the update made its modules).</summary>
    internal void BuildOptimizer(IEnumerable<Parameter> extra)
    {
        _genParameters = Policy.parameters().Concat(extra).ToList();
        _optimizer = new Optim.AdamW(_genParameters, Settings.GenLr, 0.9, 0.999, 1e-8, 0.0);
    }

    internal void SetLearningRate()
    {
        foreach (var g in GenOptimizer.ParamGroups) g.LearningRate = Settings.GenLr;
    }

    // ---- Seeded draws -------------------------------------------------------------------------

    internal ulong SeedFor(int step, Purpose purpose, int k = 0)
    {
        // SplitMix64 finaliser over (seed, step, purpose, k): independent-looking streams, no shared state.
        ulong z = (ulong)Settings.Seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)step * 0xBF58476D1CE4E5B9UL
                  ^ (ulong)purpose * 0x94D049BB133111EBUL ^ (ulong)(uint)k * 0xD6E8FEB86659FD93UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    internal Generator GeneratorFor(int step, Purpose purpose, int k = 0) =>
        new((ulong)(SeedFor(step, purpose, k) >> 1), Device);

    internal IReadOnlyList<TaskExample> RealExamples(int step, Purpose purpose, int k = 0, int? count = null) =>
        Task.SampleReal(count ?? Settings.BatchSize, SeedFor(step, purpose, k));

    /// <summary>
    /// The generated texts of the current step (the update's own samples), which the discriminator
    /// trains on instead of a fresh generation (disc_fresh_fakes = false). Set by the update each step.
    /// </summary>
    internal (IReadOnlyList<int[]> Prompts, IReadOnlyList<int[]> Completions)? StepFakes { get; set; }

    internal SequenceBatch RealBatch(IReadOnlyList<TaskExample> examples) =>
        new(examples.Select(e => e.Prompt).ToList(), examples.Select(e => e.Completion).ToList(), Eot, Device, Policy.Config.NPositions);

    // ---- Generation and scoring ------------------------------------------------------------------

    /// <summary>Samples completions of <paramref name="prompts"/> from <paramref name="model"/> (no gradient).</summary>
    internal (SequenceBatch Batch, bool[] Ended) Generate(Gpt2Model model, IReadOnlyList<int[]> prompts, double temperature, ulong seed, int? maxNew = null)
    {
        var result = TextGenerator.SampleCompletions(model, prompts, Eot, temperature, seed, maxNew ?? Settings.MaxNewTokens);
        var completions = result.Sequences.Select(s => s.Tokens).ToList();
        return (new SequenceBatch(prompts, completions, Eot, Device), result.Sequences.Select(s => s.EndedWithEos).ToArray());
    }

    /// <summary>
    /// The step's policy samples for this step's prompts (REINFORCE and PPO), timed as time/generate,
    /// with the real examples of those prompts (a relativistic reward's reference).
    /// </summary>
    internal (SequenceBatch Batch, IReadOnlyList<TaskExample> Reals) SampleTrainingBatch(Dictionary<string, double> metrics)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        // group_size k: batch_size / k prompts, each repeated k times in consecutive rows (RLOO's groups).
        int k = Settings.GroupSize;
        var drawn = RealExamples(Step, Purpose.Prompts, count: Settings.BatchSize / k);
        var reals = k == 1 ? drawn : drawn.SelectMany(e => Enumerable.Repeat(e, k)).ToList();
        var (batch, _) = Generate(Policy, reals.Select(e => e.Prompt).ToList(), Settings.SampleTemperature, SeedFor(Step, Purpose.Sample));
        StepFakes = (batch.Prompts, batch.Completions);
        metrics["time/generate"] = sw.Elapsed.TotalMilliseconds;
        return (batch, reals);
    }

    /// <summary>Scores of a batch by the discriminator or reward model, without gradient.</summary>
    internal static Tensor ScoreNoGrad(IRewardScorer scorer, SequenceBatch batch)
    {
        using var _ = no_grad();
        if (scorer is not Discriminator d) return scorer.Score(batch);
        bool was = d.training;
        d.eval();
        var s = d.Score(batch);
        d.train(was);
        return s;
    }

    /// <summary>Per-token log-probabilities [B, L] of the batch's completion tokens under the frozen reference.</summary>
    internal Tensor ReferenceLogProbs(SequenceBatch batch) =>
        PolicyMath.CompletionTerms(Reference, batch, Settings.SampleTemperature).LogProbs;

    // ---- Applying a generator loss -----------------------------------------------------------------

    /// <summary>Backward, clip, check, step. A non-finite loss or gradient norm is never applied.</summary>
    internal double ApplyGenerator(Tensor loss, string what)
    {
        GenOptimizer.zero_grad();
        loss.backward();
        double norm = Settings.GenGradClip > 0
            ? nn.utils.clip_grad_norm_(_genParameters, Settings.GenGradClip)
            : GradNorm(_genParameters);
        double value = loss.item<float>();
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
            if (p.grad is { } g) sq += g.Squared().sum().item<float>();
        return Math.Sqrt(sq);
    }

    internal static Gpt2Model Clone(Gpt2Model source, Device device)
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
        _optimizer?.Dispose();
        Policy.Dispose();
        Reference.Dispose();
    }
}
