using RlGaf.Engine.Runtime;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Runs;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// Trains the discriminator of an RLGAF run: real pairs from the task against negatives, for d_epochs
/// epochs over each batch. The negatives are the step's own generated samples (no extra generation;
/// disc_fresh_fakes = true generates a fresh batch per update instead, as pretraining always does), a
/// disc_replay_fraction share swapped for past fakes from the replay buffer, and a real_negatives share
/// swapped for the task's real negatives. The discipline of issue 11: a zero-centred R1 penalty on the
/// real input embeddings (disc_r1), annealed instance noise on every input embedding (disc_noise),
/// seeded dropout before the head (disc_dropout), AdamW weight decay, warm-up (the trainer runs
/// disc-only steps), and an accuracy band (disc_acc_band). Owns the discriminator, its optimizer and
/// the replay buffer (all in the checkpoint), and the noise schedule's horizon (scalar state).
/// Every draw is seeded by (step, update, purpose), so resume is bit-identical.
/// </summary>
public sealed class DiscriminatorTrainer : IDisposable
{
    /// <summary>Checkpoint files of the discriminator and its optimizer.</summary>
    public const string File = "disc.safetensors", OptimizerFile = "disc_optimizer.bin";
    private const string NoiseHorizonKey = "disc_noise_horizon";

    private readonly TrainerCore _core;

    public Discriminator Disc { get; }
    public AdamW Optimizer { get; }
    /// <summary>Past generated pairs (disc_replay &gt; 0), else null.</summary>
    public ReplayBuffer? Replay { get; }
    /// <summary>Steps over which the instance noise anneals to 0: the run's steps when it started (extending a run does not re-stretch it).</summary>
    public int NoiseHorizon { get; private set; }

    public DiscriminatorTrainer(TrainerCore core, Discriminator disc)
    {
        _core = core;
        Disc = disc;
        var s = core.Settings;
        Optimizer = new Optim.AdamW(disc.parameters(), s.DiscLr, 0.9, 0.999, 1e-8, s.DiscWeightDecay);
        if (s.DiscReplay > 0) Replay = new ReplayBuffer(s.DiscReplay, disc.Config.NPositions);
        NoiseHorizon = s.Steps;
        if (s.RealNegatives > 0 && core.Task.SampleNegatives(1, 0) is null)
            throw new ArgumentException($"real_negatives: the task {core.Task.Name} has no real negative examples.");
    }

    /// <summary>The replay buffer as a checkpoint module, when there is one.</summary>
    public IEnumerable<(string File, nn.Module Module)> Modules => Replay is null ? [] : [(ReplayBuffer.File, Replay)];

    internal void SetLearningRate()
    {
        foreach (var g in Optimizer.ParamGroups) g.LearningRate = _core.Settings.DiscLr;
    }

    /// <summary>
    /// The updates due after generator step <paramref name="step"/> (d_steps every d_every steps, within
    /// the accuracy band), then the step's own samples join the replay buffer.
    /// </summary>
    internal void AfterGeneratorStep(Dictionary<string, double> metrics, int step)
    {
        var s = _core.Settings;
        if (s.DSteps > 0 && step % s.DEvery == 0)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            AccuracyBand.TryParse(s.DiscAccBand, out var band);
            int skipped = 0;
            double acc = double.NaN;
            for (int k = 0; k < s.DSteps; k++)
            {
                acc = Update(metrics, step, k, band?.High);
                if (band is { } b && acc > b.High) skipped++;
            }
            // Below the band: D is losing, one extra update (its own draws: k = d_steps).
            if (band is { } lo && acc < lo.Low) Update(metrics, step, s.DSteps, null);
            metrics["disc/skipped"] = skipped;
            metrics["time/disc_update"] = sw.Elapsed.TotalMilliseconds;
        }
        if (Replay is not null && _core.StepFakes is { } own) Replay.Add(own.Prompts, own.Completions);
    }

    /// <summary>
    /// One update, its draws seeded by (<paramref name="step"/>, <paramref name="k"/>); pretraining uses
    /// negative steps and always generates its negatives. Returns the accuracy on the batch before the
    /// update; when it is above <paramref name="skipAbove"/> nothing is applied.
    /// </summary>
    internal double Update(Dictionary<string, double> metrics, int step, int k, double? skipAbove = null)
    {
        var s = _core.Settings;
        using var outer = NewDisposeScope();
        var reals = _core.RealExamples(step, Purpose.DiscReal, k);
        var real = _core.RealBatch(reals);
        var fake = Negatives(reals, step, k);
        // No dropout module in the adversarial phase: its draws come from the global RNG (breaking
        // bit-identical resume); disc_dropout draws its own seeded mask instead.
        Disc.eval();
        double noiseStd = NoiseStd(step);
        double accBefore = double.NaN;
        for (int epoch = 0; epoch < s.DEpochs; epoch++)
        {
            using var scope = NewDisposeScope();
            var realEmb = Disc.Embed(real);
            var fakeEmb = Disc.Embed(fake);
            if (noiseStd > 0)
            {
                using var gen = _core.GeneratorFor(step, Purpose.DiscNoise, k * 1000 + epoch);
                using var std = noiseStd.ToScalar();
                realEmb = realEmb.Plus(randn(realEmb.shape, generator: gen, device: realEmb.device).mul(std));
                fakeEmb = fakeEmb.Plus(randn(fakeEmb.shape, generator: gen, device: fakeEmb.device).mul(std));
            }
            Tensor sReal;
            Models.Gpt2Attention.ExplicitAttention = s.DiscR1 > 0; // R1 differentiates the real pass twice
            try { (sReal, _) = Disc.ScoreEmbeds(realEmb, real, DropoutMask(real.Count, step, k * 1000 + epoch, 0)); }
            finally { Models.Gpt2Attention.ExplicitAttention = false; }
            var (sFake, _) = Disc.ScoreEmbeds(fakeEmb, fake, DropoutMask(fake.Count, step, k * 1000 + epoch, 1));
            double acc = AdversarialLosses.Accuracy(sReal.detach(), sFake.detach(), s.DiscLoss);
            if (epoch == 0)
            {
                accBefore = acc;
                if (skipAbove is double hi && acc > hi) { metrics["disc/acc"] = acc; return acc; }
            }
            var loss = AdversarialLosses.Discriminator(sReal, sFake, s.DiscLoss, s.LabelSmoothing);
            if (s.DiscR1 > 0)
            {
                // Zero-centred R1 (Mescheder et al. 2018): gamma/2 E ||d s(real) / d embedding||^2, on the
                // input embeddings, so the same penalty applies whatever the input (hard ids or soft Gumbel mixtures).
                var grad = autograd.grad([sReal.sum()], [realEmb], retain_graph: true, create_graph: true)[0];
                var r1 = grad.Squared().sum([1, 2]).mean();
                using var half = (s.DiscR1 / 2).ToScalar();
                loss = loss.Plus(r1.mul(half));
                metrics["disc/r1"] = r1.item<float>();
            }
            Optimizer.zero_grad();
            loss.backward();
            double norm = nn.utils.clip_grad_norm_(Disc.parameters(), 1.0);
            double value = loss.item<float>();
            if (!double.IsFinite(value) || !double.IsFinite(norm))
            {
                Optimizer.zero_grad();
                throw new NonFiniteException($"discriminator: non-finite loss ({value}) or gradient norm ({norm}) at step {_core.Step}; the update was not applied.");
            }
            Optimizer.step();
            metrics["disc/loss"] = value;
            metrics["disc/acc"] = acc;
            (metrics["disc/real_score"], metrics["disc/fake_score"]) = AdversarialLosses.Scores(sReal.detach(), sFake.detach(), s.DiscLoss);
            metrics["disc/grad_norm"] = norm;
        }
        return accBefore;
    }

    /// <summary>
    /// The update's negatives, one per real pair: the step's own samples (or a fresh generation), with a
    /// seeded choice of rows swapped for replayed past fakes and for the task's real negatives.
    /// </summary>
    private SequenceBatch Negatives(IReadOnlyList<Tasks.TaskExample> reals, int step, int k)
    {
        var s = _core.Settings;
        int b = reals.Count;
        List<int[]> prompts, completions;
        if (step < 0 || s.DiscFreshFakes || _core.StepFakes is null || _core.StepFakes.Value.Prompts.Count != b)
        {
            var (fresh, _) = _core.Generate(_core.Policy, reals.Select(e => e.Prompt).ToList(), s.SampleTemperature, _core.SeedFor(step, Purpose.DiscFake, k));
            (prompts, completions) = ([.. fresh.Prompts], [.. fresh.Completions]);
        }
        else (prompts, completions) = ([.. _core.StepFakes.Value.Prompts], [.. _core.StepFakes.Value.Completions]);

        int nReplay = Replay is { Count: > 0 } ? (int)Math.Round(s.DiscReplayFraction * b) : 0;
        int nNegative = Math.Min(b - nReplay, (int)Math.Round(s.RealNegatives * b));
        if (nReplay + nNegative > 0)
        {
            // A seeded shuffle picks the rows: the first nReplay get replays, the next nNegative real negatives.
            var order = Enumerable.Range(0, b).ToArray();
            var rng = new SplitMix64(_core.SeedFor(step, Purpose.DiscMix, k));
            for (int i = b - 1; i > 0; i--) { int j = (int)(rng.NextUInt64() % (ulong)(i + 1)); (order[i], order[j]) = (order[j], order[i]); }
            if (nReplay > 0)
            {
                var (rp, rc) = Replay!.Sample(nReplay, _core.SeedFor(step, Purpose.DiscReplay, k));
                for (int i = 0; i < nReplay; i++) (prompts[order[i]], completions[order[i]]) = (rp[i], rc[i]);
            }
            if (nNegative > 0)
            {
                var negatives = _core.Task.SampleNegatives(nNegative, _core.SeedFor(step, Purpose.DiscNegatives, k))
                    ?? throw new InvalidOperationException($"real_negatives: the task {_core.Task.Name} gave no negatives.");
                for (int i = 0; i < nNegative; i++) (prompts[order[nReplay + i]], completions[order[nReplay + i]]) = (negatives[i].Prompt, negatives[i].Completion);
            }
        }
        return new SequenceBatch(prompts, completions, _core.Eot, _core.Device, Disc.Config.NPositions);
    }

    /// <summary>Instance noise std at <paramref name="step"/>: disc_noise, linearly to 0 at the horizon (full during pretraining).</summary>
    internal double NoiseStd(int step) =>
        _core.Settings.DiscNoise * Math.Clamp(1.0 - Math.Max(step, 0) / (double)Math.Max(1, NoiseHorizon), 0, 1);

    /// <summary>Inverted-dropout mask [B, E] for the pooled features (disc_dropout), seeded; null when off.</summary>
    private Tensor? DropoutMask(int rows, int step, int k, int side)
    {
        double p = _core.Settings.DiscDropout;
        if (p <= 0) return null;
        using var gen = _core.GeneratorFor(step, Purpose.DiscDropout, 2 * k + side);
        using var keep = (1 - p).ToScalar();
        return rand([rows, Disc.Config.NEmbd], generator: gen, device: _core.Device).lt(keep).to_type(ScalarType.Float32).div(keep);
    }

    /// <summary>The trainer's scalar state for a checkpoint.</summary>
    public IReadOnlyDictionary<string, double> SaveState() => new Dictionary<string, double> { [NoiseHorizonKey] = NoiseHorizon };

    /// <summary>Restores <see cref="SaveState"/>; an older checkpoint falls back to its own settings' steps.</summary>
    public void RestoreState(IReadOnlyDictionary<string, double> state, RunSettings savedWith) =>
        NoiseHorizon = state.TryGetValue(NoiseHorizonKey, out var n) ? (int)n : savedWith.Steps;

    public void Dispose()
    {
        Replay?.Dispose();
        Optimizer.Dispose();
        Disc.Dispose();
    }
}
