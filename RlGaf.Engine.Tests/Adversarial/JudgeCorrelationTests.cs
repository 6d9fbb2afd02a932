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
        // A judge that grades every sample (by the length of its completion), so the ranks have something to agree on.
        var task = new LengthJudgedTask(new SyntheticReviewsTask(sft.Vocabulary));
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { EvalPrompts = 64, MaxNewTokens = 40 };
        using var trainer = new AdversarialTrainer(task, sft.Model, settings, CPU, Discriminator.FromGenerator(sft.Model, 3));
        trainer.PretrainDiscriminator(4); // its head starts at zero: every score would tie
        var (metrics, samples) = trainer.Evaluate(64);
        Assert.Equal(64, samples.Count);
        // Recomputed here from what the samples table shows: the discriminator's probability (monotone in its
        // score, so the same ranks) and the completion's length.
        var disc = samples.Select(s => s.DiscScore).ToArray();
        var judge = samples.Select(s => (double)s.Completion.Length).ToArray();
        Assert.True(judge.Distinct().Count() > 2, $"{judge.Distinct().Count()} distinct completion lengths");
        Assert.True(disc.Distinct().Count() > 2, $"{disc.Distinct().Count()} distinct discriminator scores");
        double expected = RankCorrelationTests.Reference(disc, judge);
        Assert.True(double.IsFinite(expected));
        Assert.Equal(expected, metrics["disc/judge_corr"], 6);
    }

    /// <summary>The synthetic task with a per-sample judge score of its own: the completion's length in characters.</summary>
    private sealed class LengthJudgedTask(SyntheticReviewsTask inner) : IAlignmentTask
    {
        public string Name => inner.Name;
        public Engine.Text.Vocabulary Vocabulary => inner.Vocabulary;
        public IReadOnlyList<TaskExample> SampleReal(int count, ulong seed) => inner.SampleReal(count, seed);
        public IReadOnlyList<LabelledExample> SampleLabelled(int count, ulong seed) => inner.SampleLabelled(count, seed);
        public IReadOnlyList<TaskExample> HeldOut(int count) => inner.HeldOut(count);
        public IReadOnlyDictionary<string, double> Judge(IReadOnlyList<JudgedSample> samples) => inner.Judge(samples);
        public string? Verdict(JudgedSample sample) => inner.Verdict(sample);
        public double JudgeScore(JudgedSample sample) => sample.CompletionText.Length;
    }
}
