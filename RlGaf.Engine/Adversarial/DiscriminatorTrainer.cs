using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// Trains the discriminator of an RLGAF run: real pairs from the task against fresh negatives that
/// the current generator writes for the same prompts, for d_epochs epochs over each batch. Owns the
/// discriminator and its optimizer (both in the checkpoint).
/// </summary>
public sealed class DiscriminatorTrainer : IDisposable
{
    /// <summary>Checkpoint files of the discriminator and its optimizer.</summary>
    public const string File = "disc.safetensors", OptimizerFile = "disc_optimizer.bin";

    private readonly TrainerCore _core;

    public Discriminator Disc { get; }
    public AdamW Optimizer { get; }

    public DiscriminatorTrainer(TrainerCore core, Discriminator disc)
    {
        _core = core;
        Disc = disc;
        Optimizer = new AdamW(disc.parameters(), core.Settings.DiscLr, 0.9, 0.999, 1e-8, 0.0);
    }

    internal void SetLearningRate()
    {
        foreach (var g in Optimizer.ParamGroups) g.LearningRate = _core.Settings.DiscLr;
    }

    /// <summary>The updates due after generator step <paramref name="step"/> (d_steps every d_every steps).</summary>
    internal void AfterGeneratorStep(Dictionary<string, double> metrics, int step)
    {
        var s = _core.Settings;
        if (s.DSteps <= 0 || step % s.DEvery != 0) return;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int k = 0; k < s.DSteps; k++) Update(metrics, step, k);
        metrics["time/disc_update"] = sw.Elapsed.TotalMilliseconds;
    }

    /// <summary>One update, its draws seeded by (<paramref name="step"/>, <paramref name="k"/>); pretraining uses negative steps.</summary>
    internal void Update(Dictionary<string, double> metrics, int step, int k)
    {
        var s = _core.Settings;
        var reals = _core.RealExamples(step, Purpose.DiscReal, k);
        var real = _core.RealBatch(reals);
        var (fake, _) = _core.Generate(_core.Policy, reals.Select(e => e.Prompt).ToList(), s.SampleTemperature, _core.SeedFor(step, Purpose.DiscFake, k));
        // No dropout in the adversarial phase: its draws come from the global RNG (breaking bit-identical resume).
        Disc.eval();
        for (int epoch = 0; epoch < s.DEpochs; epoch++)
        {
            using var scope = NewDisposeScope();
            var sReal = Disc.Score(real);
            var sFake = Disc.Score(fake);
            var loss = AdversarialLosses.Discriminator(sReal, sFake, s.DiscLoss, s.LabelSmoothing);
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
            metrics["disc/acc"] = AdversarialLosses.Accuracy(sReal, sFake, s.DiscLoss);
            (metrics["disc/real_score"], metrics["disc/fake_score"]) = AdversarialLosses.Scores(sReal, sFake, s.DiscLoss);
            metrics["disc/grad_norm"] = norm;
        }
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Disc.Dispose();
    }
}
