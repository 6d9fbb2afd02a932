using RlGaf.Engine.Runs;

namespace RlGaf.Engine.Tests.Runs;

/// <summary>Runs that stop and continue in fresh objects must produce exactly the metrics of a straight run.</summary>
[Collection("runs")]
public class ResumeTests
{
    private static List<(int Step, string Key, double Value)> Collect(AdversarialRun run)
    {
        var list = new List<(int, string, double)>();
        run.MetricsLogged += (step, m) =>
        {
            foreach (var (k, v) in m.Where(kv => !kv.Key.StartsWith("time/", StringComparison.Ordinal)).OrderBy(kv => kv.Key))
                list.Add((step, k, v));
        };
        return list;
    }

    [Theory]
    [InlineData(TrainingMethod.Reinforce)]
    [InlineData(TrainingMethod.SeqganRollout)]
    [InlineData(TrainingMethod.Ppo)]
    [InlineData(TrainingMethod.Gumbel)]
    [InlineData(TrainingMethod.RlhfProxy)]
    public void Resume_is_bit_identical_to_a_straight_run(TrainingMethod method) => AssertResumeIsIdentical(TinySft.Settings(method));

    /// <summary>A Hugging Face-style checkpoint brings 0.1 dropout; its draws must not reach the adversarial phase.</summary>
    [Fact]
    public void Resume_is_bit_identical_from_a_checkpoint_with_dropout() =>
        AssertResumeIsIdentical(TinySft.Settings(TrainingMethod.Ppo) with { Generator = Adversarial.CorrectnessTests.DropoutModel.Value });

    /// <summary>The techniques of issue 11 section 3 keep their state (replay buffer, noise horizon) across a resume.</summary>
    [Fact]
    public void Resume_is_bit_identical_with_rloo_per_token_rewards_and_a_disciplined_discriminator() =>
        AssertResumeIsIdentical(TinySft.Settings(TrainingMethod.Reinforce) with
        {
            GroupSize = 2, Baseline = BaselineKind.Rloo, RewardClip = 0.8, RewardNorm = true, RewardEstimator = RewardEstimatorKind.PerToken,
            DiscReplay = 16, DiscR1 = 0.5, DiscNoise = 0.3, DiscDropout = 0.2, DiscWeightDecay = 0.01, DiscWarmup = 1,
            DiscAccBand = "0.3,0.9", RealNegatives = 0.2,
        });

    [Fact]
    public void Resume_is_bit_identical_for_gumbel_with_feature_matching_and_replay() =>
        AssertResumeIsIdentical(TinySft.Settings(TrainingMethod.Gumbel) with { GumbelFeatureMatching = 1, DiscReplay = 8, DiscNoise = 0.2, DSteps = 2 });

    private static void AssertResumeIsIdentical(RunSettings settings)
    {
        var method = settings.Method;
        var root = Directory.CreateTempSubdirectory("rlgaf-resume-").FullName;
        try
        {
            List<(int, string, double)> straight, first, second;
            using (var a = AdversarialRun.Create(Path.Combine(root, "a"), settings, root))
            {
                straight = Collect(a);
                a.Execute();
                Assert.Equal(RunStatus.Completed, a.Status);
            }
            using (var b = AdversarialRun.Create(Path.Combine(root, "b"), settings, root))
            {
                first = Collect(b);
                b.Execute(stopAtStep: 3);
                Assert.Equal(RunStatus.Paused, b.Status);
            }
            using (var c = AdversarialRun.Open(Path.Combine(root, "b"), root))
            {
                Assert.Equal(3, c.Step);
                second = Collect(c);
                c.Execute();
                Assert.Equal(RunStatus.Completed, c.Status);
            }
            // What the first leg logged after its checkpoint at step 3 is void (the store drops it);
            // the evaluation at step 3 happened before the checkpoint, so it belongs to the first leg.
            var resumed = first.Where(x => x.Item1 <= 3).Concat(second).ToList();
            Assert.Equal(straight.Count, resumed.Count);
            for (int i = 0; i < straight.Count; i++)
                Assert.True(straight[i].Equals(resumed[i]) || (straight[i].Item1 == resumed[i].Item1 && straight[i].Item2 == resumed[i].Item2 && double.IsNaN(straight[i].Item3) && double.IsNaN(resumed[i].Item3)),
                    $"{method}: entry {i} differs: straight {straight[i]} vs resumed {resumed[i]}");
            Assert.Contains(straight, x => x.Item1 == 6 && x.Item2.StartsWith("div/", StringComparison.Ordinal));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Corrupt_newest_checkpoint_falls_back_to_the_previous_one()
    {
        var settings = TinySft.Settings(TrainingMethod.Reinforce);
        var root = Directory.CreateTempSubdirectory("rlgaf-corrupt-").FullName;
        try
        {
            var dir = Path.Combine(root, "r");
            using (var run = AdversarialRun.Create(dir, settings, root)) run.Execute(stopAtStep: 4);
            var checkpoints = RunCheckpoint.List(dir);
            Assert.Equal(4, checkpoints[^1].Step);
            // Flip bytes in the newest checkpoint's weights: its hash no longer matches.
            var weights = Path.Combine(checkpoints[^1].Path, "policy.safetensors");
            var bytes = File.ReadAllBytes(weights);
            bytes[^10] ^= 0xFF;
            File.WriteAllBytes(weights, bytes);
            Assert.Contains("does not match", RunCheckpoint.Verify(checkpoints[^1].Path));

            var events = new List<RunEvent>();
            using var reopened = AdversarialRun.Open(dir, root);
            reopened.EventRaised += events.Add;
            Assert.Equal(2, reopened.Step);
            reopened.Execute();
            Assert.Equal(RunStatus.Completed, reopened.Status);
            Assert.Contains(events, e => e.Kind == RunEventKinds.Restart && e.Message.Contains("ckpt-0000004"));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Partial_checkpoint_without_manifest_is_not_used()
    {
        var settings = TinySft.Settings(TrainingMethod.Sft);
        var root = Directory.CreateTempSubdirectory("rlgaf-partial-").FullName;
        try
        {
            var dir = Path.Combine(root, "r");
            using (var run = AdversarialRun.Create(dir, settings, root)) run.Execute(stopAtStep: 2);
            var newest = RunCheckpoint.List(dir)[^1];
            File.Delete(Path.Combine(newest.Path, "manifest.json"));
            var skipped = new List<string>();
            var good = RunCheckpoint.LatestGood(dir, skipped);
            Assert.NotNull(good);
            Assert.True(good!.Value.Step < newest.Step);
            Assert.Contains(skipped, s => s.Contains("no manifest"));
        }
        finally { Directory.Delete(root, true); }
    }
}
