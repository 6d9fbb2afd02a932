using RlGaf.Engine.Models;
using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// The discriminator's input embeddings of Gumbel-Softmax samples: s = softmax(beta (z + g)) with
/// z = h W^T / T the policy's completion logits and g the sampling run's noise, embedded as s D
/// (soft) or, straight through, as D[y] forward with the soft sample's gradient backward (hard).
/// When every row fits one chunk (<see cref="ChunkedHead.ChunkElements"/>) it is plain autograd;
/// otherwise chunks of steps go through a custom autograd function that keeps only the hidden
/// states, replays each chunk's noise and recomputes its logits in backward
/// (ds = dE D^T; du = s (ds - sum s ds); dz = beta du / T), so no [B, L, V] tensor is kept.
/// </summary>
public static class GumbelSoftEmbedding
{
    /// <summary>
    /// Embeddings [B, L, Ed] for completion hidden states <paramref name="hidden"/> [B, L, E], the
    /// policy's output matrix <paramref name="weight"/> [V, E], the discriminator's token embedding
    /// <paramref name="embedding"/> [V, Ed], the sampled tokens [B, L] and their noise.
    /// </summary>
    public static Tensor Compute(Tensor hidden, Tensor weight, Tensor embedding, Tensor tokens, GumbelNoise noise,
        double temperature, double beta, bool hard)
    {
        long b = hidden.shape[0], l = hidden.shape[1], e = hidden.shape[2], v = weight.shape[0];
        if (embedding.shape[0] != v) throw new ArgumentException($"the discriminator's vocabulary ({embedding.shape[0]}) differs from the policy's ({v}).");
        if (noise.Rows != b || noise.Vocab != v || noise.Steps < l)
            throw new ArgumentException($"noise is {noise.Steps} steps of [{noise.Rows}, {noise.Vocab}], the batch needs {l} of [{b}, {v}].");
        if (!tokens.shape.SequenceEqual(new[] { b, l })) throw new ArgumentException($"tokens must be [{b}, {l}], got [{string.Join(", ", tokens.shape)}].");
        int rows = ChunkedHead.RowsPerChunk(v);
        if (b * l <= rows)
        {
            using var scope = NewDisposeScope();
            using var invT = (1.0 / temperature).ToScalar(); // held scalars (Runtime/Scalars.cs)
            using var betaS = beta.ToScalar();
            var z = hidden.matmul(weight.t()).mul(invT);
            var g = noise.Replay(0, (int)l).permute(1, 0, 2);
            var soft = z.Plus(g).mul(betaS).softmax(-1);
            var sample = hard ? (F.one_hot(tokens, v).to_type(soft.dtype) - soft.detach()).Plus(soft) : soft;
            return sample.matmul(embedding).MoveToOuterDisposeScope();
        }
        // Step-major rows (step, row) so that a chunk is a run of whole sampling steps, whose noise replays.
        // Not inside a dispose scope of ours: the autograd node keeps tensors that must live until backward.
        var hT = hidden.transpose(0, 1).reshape(-1, e);
        var tT = tokens.t().reshape(-1);
        int stepsPerChunk = (int)Math.Max(1, rows / b);
        var outT = SoftFunction.apply(hT, weight, embedding, tT, noise, 1.0 / temperature, beta, hard, stepsPerChunk, embedding.requires_grad);
        return outT.view(l, b, -1).transpose(0, 1);
    }

    /// <summary>Inputs: h [L*B, E] step-major, W [V, E], D [V, Ed], tokens [L*B], noise, 1/T, beta, hard, steps per chunk, D needs grad.</summary>
    private sealed class SoftFunction : autograd.SingleTensorFunction<SoftFunction>
    {
        public override string Name => "GumbelSoftEmbedding";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (h, w, d, t) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3]);
            var noise = (GumbelNoise)vars[4];
            double invT = (double)vars[5], beta = (double)vars[6];
            bool hard = (bool)vars[7];
            int steps = (int)vars[8];
            ctx.save_for_backward([h, w, d, t]);
            foreach (var (k, o) in new (string, object)[] { ("noise", noise), ("invT", invT), ("beta", beta), ("hard", hard), ("steps", steps), ("dgrad", vars[9]) })
                ctx.save_data(k, o);
            var result = empty(h.shape[0], d.shape[1], device: h.device);
            foreach (var (from, count, start, len) in Chunks(noise, h.shape[0], steps))
            {
                using var scope = NewDisposeScope();
                var tc = t.narrow(0, start, len);
                var emb = hard ? d.index_select(0, tc) : Soft(h.narrow(0, start, len), w, noise, from, count, invT, beta).matmul(d);
                result.narrow(0, start, len).copy_(emb);
            }
            return result;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
        {
            var saved = ctx.get_saved_variables();
            var (h, w, d, t) = (saved[0], saved[1], saved[2], saved[3]);
            var noise = (GumbelNoise)ctx.get_data("noise");
            double invT = (double)ctx.get_data("invT"), beta = (double)ctx.get_data("beta");
            bool hard = (bool)ctx.get_data("hard"), dGrad = (bool)ctx.get_data("dgrad");
            int steps = (int)ctx.get_data("steps");
            using var _ = no_grad();
            var gh = empty_like(h);
            var gw = zeros_like(w);
            Tensor? gd = dGrad ? zeros_like(d) : null;
            using var scaleS = (beta * invT).ToScalar();
            foreach (var (from, count, start, len) in Chunks(noise, h.shape[0], steps))
            {
                using var scope = NewDisposeScope();
                var hc = h.narrow(0, start, len);
                var ge = grad.narrow(0, start, len);
                var s = Soft(hc, w, noise, from, count, invT, beta);
                var ds = ge.matmul(d.t());
                // Softmax backward: du = s (ds - sum_j s_j ds_j), then through u = beta (z + g), z = h W^T / T.
                var gz = ds.sub_((s * ds).sum(1, keepdim: true)).mul_(s).mul_(scaleS);
                gh.narrow(0, start, len).copy_(gz.matmul(w));
                gw.addmm_(gz.t(), hc);
                if (gd is not null)
                {
                    if (hard) gd.index_add_(0, t.narrow(0, start, len), ge, Scalars.One);
                    else gd.addmm_(s.t(), ge);
                }
            }
            return [gh, gw, gd!, null!, null!, null!, null!, null!, null!, null!];
        }

        private static Tensor Soft(Tensor hc, Tensor w, GumbelNoise noise, int from, int count, double invT, double beta)
        {
            using var invTS = invT.ToScalar();
            using var betaS = beta.ToScalar();
            var z = hc.matmul(w.t()).mul_(invTS);
            z.PlusInPlace(noise.Replay(from, count).view(z.shape[0], -1));
            return z.mul_(betaS).softmax(-1);
        }

        /// <summary>Chunks of whole steps: (first step, steps, first row, rows).</summary>
        private static IEnumerable<(int From, int Count, long Start, long Len)> Chunks(GumbelNoise noise, long n, int steps)
        {
            long b = noise.Rows, l = n / b;
            for (int from = 0; from < l; from += steps)
            {
                int count = (int)Math.Min(steps, l - from);
                yield return (from, count, from * b, count * b);
            }
        }
    }
}
