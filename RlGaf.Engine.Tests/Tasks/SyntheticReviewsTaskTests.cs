using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Tests.Runs;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Tasks;

/// <summary>Real completions must not differ from generated ones by a cue the discriminator can read off (their length).</summary>
[Collection("runs")]
public class SyntheticReviewsTaskTests
{
    [Fact]
    public void Synthetic_review_completions_are_capped_at_max_new_tokens()
    {
        var sft = ModelDirectory.Load(TinySft.Path_, CPU);
        var uncapped = new SyntheticReviewsTask(sft.Vocabulary).SampleReal(200, 11);
        Assert.Contains(uncapped, e => e.Completion.Length > 8); // the cap below really cuts
        var capped = new SyntheticReviewsTask(sft.Vocabulary, maxNewTokens: 8).SampleReal(200, 11);
        Assert.All(capped, e => Assert.InRange(e.Completion.Length, 1, 8));
        Assert.Contains(capped, e => e.Completion[^1] == sft.Vocabulary.EndOfTextId); // short ones keep their end
    }
}
