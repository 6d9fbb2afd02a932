using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runtime;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace RlGaf.Engine.Tests.Models;

/// <summary>
/// The chunked LM head and the chunked Gumbel-Softmax embedding against the direct computation
/// (full [rows, vocab] logits through plain autograd, written out here): values and gradients to 1e-5.
/// </summary>
public class ChunkedHeadTests
{
    private const double Tol = 1e-5;

    public ChunkedHeadTests() => TorchRuntime.EnsureLoaded();

    private static (Tensor H, Tensor W, Tensor RefH, Tensor RefW, Tensor Targets) Problem(long b, long l, long e, long v, ulong seed)
    {
        using var gen = new Generator(seed);
        var h = randn([b, l, e], generator: gen).requires_grad_(true);
        var w = (randn([v, e], generator: gen) * 0.5).requires_grad_(true);
        var rh = randn([b, l, e], generator: gen);
        var rw = randn([v, e], generator: gen) * 0.5;
        var t = randint(0, v, [b, l], generator: gen, dtype: ScalarType.Int64);
        return (h, w, rh, rw, t);
    }

    private static void Close(Tensor expected, Tensor actual, string what)
    {
        double diff = (expected.detach() - actual.detach()).abs().max().item<float>();
        Assert.True(diff <= Tol, $"{what}: max |diff| {diff:E2} > {Tol:E0}");
    }

    /// <summary>Loss weights that give every output and position its own gradient.</summary>
    private static Tensor Weights(long b, long l, ulong seed)
    {
        using var gen = new Generator(seed);
        return randn([b, l], generator: gen);
    }

    [Theory]
    [InlineData(1.0, 3)]    // chunks of 3 rows over 26: 9 chunks, the last short
    [InlineData(0.7, 5)]    // with a sampling temperature
    [InlineData(1.3, 1)]    // one row per chunk
    public void Log_probs_entropy_and_kl_match_the_direct_computation_in_value_and_gradient(double temperature, int rowsPerChunk)
    {
        const long b = 2, l = 13, e = 8, v = 301;
        var (h, w, rh, rw, t) = Problem(b, l, e, v, 11);
        var (a, c, k) = (Weights(b, l, 1), Weights(b, l, 2), Weights(b, l, 3));

        // Direct: full logits, plain autograd.
        var z = h.matmul(w.t()) / temperature;
        var logp = z.log_softmax(-1);
        var refLogp = (rh.matmul(rw.t()) / temperature).log_softmax(-1);
        var expLogp = logp.gather(-1, t.unsqueeze(-1)).squeeze(-1);
        var expEnt = -(logp.exp() * logp).sum(-1);
        var expKl = (logp.exp() * (logp - refLogp)).sum(-1);
        ((expLogp * a).sum() + (expEnt * c).sum() + (expKl * k).sum()).backward();
        var (expGh, expGw) = (h.grad!.clone(), w.grad!.clone());
        h.grad!.zero_();
        w.grad!.zero_();

        HeadTerms terms;
        using (ChunkedHead.WithChunkElements(rowsPerChunk * v))
            terms = ChunkedHead.Compute(h, w, t, temperature, entropy: true, refHidden: rh, refWeight: rw);
        Assert.True(ChunkedHead.RowsPerChunk(v) > 1000, "the override ends with its scope");
        ((terms.LogProbs * a).sum() + (terms.Entropy! * c).sum() + (terms.Kl! * k).sum()).backward();

        Close(expLogp, terms.LogProbs, "log p");
        Close(expEnt, terms.Entropy!, "entropy");
        Close(expKl, terms.Kl!, "KL");
        Close(expGh, h.grad!, "d/d hidden");
        Close(expGw, w.grad!, "d/d weight");
    }

    [Fact]
    public void An_output_the_loss_does_not_read_adds_no_gradient()
    {
        const long b = 3, l = 4, e = 6, v = 50;
        var (h, w, _, _, t) = Problem(b, l, e, v, 5);
        var a = Weights(b, l, 9);
        (h.matmul(w.t()).log_softmax(-1).gather(-1, t.unsqueeze(-1)).squeeze(-1) * a).sum().backward();
        var (expGh, expGw) = (h.grad!.clone(), w.grad!.clone());
        h.grad!.zero_();
        w.grad!.zero_();
        using (ChunkedHead.WithChunkElements(2 * v))
        {
            var terms = ChunkedHead.Compute(h, w, t, entropy: true);
            (terms.LogProbs * a).sum().backward(); // entropy computed (as PPO's metric) but not in the loss
        }
        Close(expGh, h.grad!, "d/d hidden");
        Close(expGw, w.grad!, "d/d weight");
    }

    [Fact]
    public void Cross_entropy_with_ignored_targets_matches_torch_cross_entropy()
    {
        const long b = 3, l = 7, e = 5, v = 97;
        var (h, w, _, _, t) = Problem(b, l, e, v, 21);
        var targets = t.clone();
        targets[0, 5] = tensor(-100L);
        targets[2, 0] = tensor(-100L);
        var expected = F.cross_entropy(h.matmul(w.t()).view(-1, v), targets.view(-1), ignore_index: -100);
        expected.backward();
        var (expGh, expGw) = (h.grad!.clone(), w.grad!.clone());
        h.grad!.zero_();
        w.grad!.zero_();
        Tensor chunked, summed;
        using (ChunkedHead.WithChunkElements(4 * v))
        {
            chunked = ChunkedHead.CrossEntropy(h, w, targets);
            using (no_grad()) summed = ChunkedHead.CrossEntropy(h, w, targets, sum: true);
        }
        chunked.backward();
        Close(expected, chunked, "mean loss");
        Close(expected * 19, summed, "summed loss (19 counted tokens)");
        Close(expGh, h.grad!, "d/d hidden");
        Close(expGw, w.grad!, "d/d weight");
    }

    [Fact]
    public void Gumbel_noise_replays_the_steps_it_drew()
    {
        var noise = new GumbelNoise(77, 3, 40, CPU);
        var drawn = Enumerable.Range(0, 5).Select(_ => noise.Next()).ToArray();
        Assert.Equal(5, noise.Steps);
        var again = noise.Replay(1, 3);
        for (int i = 0; i < 3; i++) Assert.True(drawn[1 + i].allclose(again[i], 0, 0), $"step {1 + i} differs on replay");
        Assert.False(drawn[0].allclose(drawn[1], 0, 0), "steps must differ");
        var fresh = new GumbelNoise(77, 3, 40, CPU);
        Assert.True(fresh.Next().allclose(drawn[0], 0, 0), "same seed, same stream");
        Assert.Throws<ArgumentOutOfRangeException>(() => noise.Replay(4, 2));
    }

    [Theory]
    [InlineData(false, 0.8, 2.0)]
    [InlineData(true, 1.0, 5.0)]
    public void Gumbel_soft_embeddings_match_the_direct_soft_samples_in_value_and_gradient(bool hard, double temperature, double beta)
    {
        const long b = 3, l = 5, e = 6, v = 37, ed = 4;
        var (h, w, _, _, t) = Problem(b, l, e, v, 31);
        using var gen = new Generator(3);
        var d = randn([v, ed], generator: gen).requires_grad_(true);
        var noise = new GumbelNoise(99, b, v, CPU);
        for (int i = 0; i < l; i++) noise.Next();
        var weights = randn([b, l, ed], generator: gen);

        // Direct, as GumbelUpdate computed it before chunking: the [B, L, V] soft samples, then into D.
        var g = stack(Enumerable.Range(0, (int)l).Select(j => noise.Replay(j, 1).squeeze(0)).ToArray(), 1);
        var soft = ((h.matmul(w.t()) / temperature + g) * beta).softmax(-1);
        var sample = hard ? F.one_hot(t, v).to_type(soft.dtype) - soft.detach() + soft : soft;
        var expected = sample.matmul(d);
        (expected * weights).sum().backward();
        var (expGh, expGw, expGd) = (h.grad!.clone(), w.grad!.clone(), d.grad!.clone());
        foreach (var p in new[] { h, w, d }) p.grad!.zero_();

        Tensor chunked;
        using (ChunkedHead.WithChunkElements(2 * b * v)) // two steps per chunk, the last one short
            chunked = GumbelSoftEmbedding.Compute(h, w, d, t, noise, temperature, beta, hard);
        (chunked * weights).sum().backward();
        Close(expected, chunked, "embeddings");
        Close(expGh, h.grad!, "d/d hidden");
        Close(expGw, w.grad!, "d/d policy head");
        Close(expGd, d.grad!, "d/d discriminator embedding");
    }
}
