using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Tests.Metrics;
using RlGaf.Engine.Tests.Runs;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Adversarial;

/// <summary>disc/judge_corr: the evaluation's rank correlation of the discriminator's score with the task's judge.</summary>
[Collection("runs")]
public class JudgeCorrelationTests
{
    [Fact]
    public void Every_evaluation_logs_the_rank_correlation_of_discriminator_and_judge()
    {
        var sft = ModelDirectory.Load(TinySft.Path_, CPU);
        var task = new SyntheticReviewsTask(sft.Vocabulary);
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { EvalPrompts = 64, MaxNewTokens = 40 };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, Discriminator.FromGenerator(sft.Model, 3));
        var (metrics, samples) = trainer.Evaluate(64);
        Assert.Equal(64, samples.Count);
        // Recomputed here from what the samples table shows: the discriminator's probability (monotone in its
        // score, so the same ranks) and the synthetic judge's verdict (1 = a valid positive review).
        var disc = samples.Select(s => s.DiscScore).ToArray();
        var judge = samples.Select(s => s.Verdict == "valid, positive" ? 1.0 : 0.0).ToArray();
        Assert.True(judge.Distinct().Count() == 2, "the tiny generator writes both valid positive reviews and others");
        double expected = RankCorrelationTests.Reference(disc, judge);
        Assert.True(double.IsFinite(expected));
        Assert.Equal(expected, metrics["disc/judge_corr"], 6);
    }
}
