using System.Diagnostics;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

public sealed partial class AdversarialTrainer
{
    /// <summary>
    /// One discriminator update: real pairs from the task against fresh negatives that the current
    /// generator writes for the same prompts, for d_epochs epochs over that batch.
    /// </summary>
    private void DiscriminatorUpdate(Dictionary<string, double> metrics, int step, int k)
    {
        var disc = Disc!;
        var reals = RealExamples(step, Purpose.DiscReal, k);
        var real = RealBatch(reals);
        var (fake, _) = Generate(Policy, reals.Select(e => e.Prompt).ToList(), Settings.SampleTemperature, SeedFor(step, Purpose.DiscFake, k));
        disc.train();
        for (int epoch = 0; epoch < Settings.DEpochs; epoch++)
        {
            using var scope = NewDisposeScope();
            var sReal = disc.Score(real);
            var sFake = disc.Score(fake);
            var loss = AdversarialLosses.Discriminator(sReal, sFake, Settings.DiscLoss, Settings.LabelSmoothing);
            DiscOptimizer!.zero_grad();
            loss.backward();
            double norm = nn.utils.clip_grad_norm_(disc.parameters(), 1.0);
            double value = loss.item<float>();
            if (!double.IsFinite(value) || !double.IsFinite(norm))
            {
                DiscOptimizer.zero_grad();
                throw new NonFiniteException($"discriminator: non-finite loss ({value}) or gradient norm ({norm}) at step {Step}; the update was not applied.");
            }
            DiscOptimizer.step();
            metrics["disc/loss"] = value;
            metrics["disc/acc"] = AdversarialLosses.Accuracy(sReal, sFake, Settings.DiscLoss);
            metrics["disc/real_score"] = sReal.sigmoid().mean().item<float>();
            metrics["disc/fake_score"] = sFake.sigmoid().mean().item<float>();
            metrics["disc/grad_norm"] = norm;
        }
    }
}
