using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Runtime;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Adversarial;

public class PolicyMathTests
{
    public PolicyMathTests() => TorchRuntime.EnsureLoaded();

    [Fact]
    public void Gae_matches_a_hand_computation()
    {
        // Row 0 has 3 tokens, row 1 has 2 (third position is padding).
        var r = tensor(new float[] { 0, 0, 1, 0, 2, 9 }, [2, 3]);
        var v = tensor(new float[] { 0.5f, 0.2f, 0.1f, 1, 1, 9 }, [2, 3]);
        var m = tensor(new float[] { 1, 1, 1, 1, 1, 0 }, [2, 3]);
        var (adv, ret) = PolicyMath.Gae(r, v, m, gamma: 0.9, lambda: 0.5);
        // Row 0: d2 = 1 - 0.1 = 0.9; d1 = 0 + 0.9*0.1 - 0.2 = -0.11; d0 = 0 + 0.9*0.2 - 0.5 = -0.32
        // A2 = 0.9; A1 = -0.11 + 0.45*0.9 = 0.295; A0 = -0.32 + 0.45*0.295 = -0.18725
        // Row 1: d1 = 2 - 1 = 1; d0 = 0 + 0.9*1 - 1 = -0.1; A1 = 1; A0 = -0.1 + 0.45 = 0.35
        var a = adv.data<float>().ToArray();
        Assert.Equal([-0.18725f, 0.295f, 0.9f, 0.35f, 1f, 0f], a.Select(x => MathF.Round(x, 5)).ToArray());
        Assert.Equal(MathF.Round(-0.18725f + 0.5f, 5), MathF.Round(ret.data<float>()[0], 5));
        Assert.Equal(0f, ret.data<float>()[5]);
    }

    [Fact]
    public void Whiten_gives_zero_mean_unit_variance_over_the_mask_only()
    {
        var x = tensor(new float[] { 1, 2, 3, 100 }, [1, 4]);
        var m = tensor(new float[] { 1, 1, 1, 0 }, [1, 4]);
        var w = PolicyMath.Whiten(x, m).data<float>().ToArray();
        Assert.Equal(0, w[..3].Average(), 5);
        Assert.Equal(1, w[..3].Select(v => v * v).Average(), 3); // biased variance, as TRL
        Assert.Equal(0, w[3]);
    }

    [Fact]
    public void Reward_to_go_sums_the_future_within_each_row()
    {
        var x = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var m = tensor(new float[] { 1, 1, 1, 1, 1, 0 }, [2, 3]);
        Assert.Equal([6f, 5f, 3f, 9f, 5f, 0f], PolicyMath.RewardToGo(x, m).data<float>().ToArray());
    }

    [Fact]
    public void A_batch_whose_rows_fit_alone_is_cut_to_fit_the_window_as_a_rectangle()
    {
        // Row 0: long prompt, short completion; row 1: short prompt, long completion. Each fits in 64,
        // the padded rectangle (40 + 30) would not.
        int[] longPrompt = [.. Enumerable.Repeat(1, 40)], shortPrompt = [1];
        var batch = new SequenceBatch([longPrompt, shortPrompt], [[2, 2, 2, 2, 2], [.. Enumerable.Repeat(3, 30)]], padId: 0, CPU, maxLength: 64);
        Assert.Equal(64, batch.PromptWidth + batch.CompletionWidth);
        Assert.Equal(24, batch.Completions[1].Length);
        Assert.Equal(5, batch.Completions[0].Length);
        Assert.Throws<ArgumentException>(() => new SequenceBatch([[.. Enumerable.Repeat(1, 64)]], [[2]], 0, CPU, maxLength: 64));
    }

    [Fact]
    public void Adversarial_losses_match_their_formulas()
    {
        var real = tensor(new float[] { 2f, -1f });
        var fake = tensor(new float[] { 0f, 1f });
        static double Sp(double z) => Math.Log(1 + Math.Exp(z)); // softplus: -log sigmoid(-z)
        double bce = (Sp(-2) + Sp(1)) / 2 + (Sp(0) + Sp(1)) / 2;
        Assert.Equal(bce, AdversarialLosses.Discriminator(real, fake, DiscriminatorLossKind.Bce, 0).item<float>(), 5);
        double rsgan = (Sp(-(2 - 0)) + Sp(-(-1 - 1))) / 2;
        Assert.Equal(rsgan, AdversarialLosses.Discriminator(real, fake, DiscriminatorLossKind.Rsgan, 0).item<float>(), 5);
        double gen = (Sp(-(0 - 2)) + Sp(-(1 + 1))) / 2;
        Assert.Equal(gen, AdversarialLosses.Generator(fake, real, DiscriminatorLossKind.Rsgan).item<float>(), 5);
        Assert.Equal(0.25, AdversarialLosses.Accuracy(real, fake, DiscriminatorLossKind.Bce), 5); // (1 of 2 real > 0 + 0 of 2 fake < 0) / 2
        Assert.Equal(0.5, AdversarialLosses.Accuracy(real, fake, DiscriminatorLossKind.Rsgan), 5);
        Assert.Equal(Sp(1), AdversarialLosses.Reward(tensor(new float[] { 1f }), RewardKind.NegLogOneMinusD).item<float>(), 5);
        // Label smoothing lowers the real target: loss on a confident real grows.
        Assert.True(AdversarialLosses.Discriminator(real, fake, DiscriminatorLossKind.Bce, 0.1).item<float>() > bce);
    }
}
