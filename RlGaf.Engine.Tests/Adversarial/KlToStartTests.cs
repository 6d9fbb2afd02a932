using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Tests.Runs;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Adversarial;

/// <summary>eval/kl-to-start: the evaluation samples' KL(pi || SFT start), the same yardstick for every method.</summary>
[Collection("runs")]
public class KlToStartTests
{
    [Fact]
    public void Is_zero_at_the_start_and_after_training_equals_the_KL_from_full_logits()
    {
        var sft = ModelDirectory.Load(TinySft.Path_, CPU);
        var task = new SyntheticReviewsTask(sft.Vocabulary);
        // SFT on positives: a method whose own update logs no KL, yet moves away from its start.
        var settings = TinySft.Settings(TrainingMethod.Sft) with { EvalPrompts = 24, GenLr = 3e-3, BatchSize = 16 };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU);
        var (start, _) = trainer.Evaluate(0);
        Assert.InRange(start[Evaluator.KlToStartName], -1e-5, 1e-5);

        for (int i = 0; i < 8; i++) trainer.TrainStep();
        var (after, _) = trainer.Evaluate(0);
        double kl = after[Evaluator.KlToStartName];
        Assert.True(kl > 0.05, $"kl-to-start {kl} after 8 SFT steps at lr 3e-3");

        // Independently: the same evaluation samples, full [B, L, V] logits of both models, sum_v p (log p - log q).
        using var scope = NewDisposeScope();
        var prompts = task.HeldOut(settings.EvalPrompts).Select(e => e.Prompt).ToList();
        var (batch, _) = trainer.Core.Generate(trainer.Core.Policy, prompts, 1.0, Evaluator.EvalSeed);
        using (no_grad())
        {
            var logp = PolicyMath.CompletionLogits(trainer.Core.Policy.Forward(batch.Tokens, batch.AttentionMask), batch).log_softmax(-1);
            var logq = PolicyMath.CompletionLogits(trainer.Core.Reference.Forward(batch.Tokens, batch.AttentionMask), batch).log_softmax(-1);
            var perPosition = (logp.exp() * (logp - logq)).sum(-1);
            double expected = (perPosition * batch.CompletionMask).sum(1).mean().item<float>();
            Assert.Equal(expected, kl, 4);
        }
    }
}
