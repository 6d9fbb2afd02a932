using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Models;

/// <summary>Per-token figures of the LM head: log p(target), and on request the entropy and KL(pi || ref) of the full next-token distribution.</summary>
public sealed record HeadTerms(Tensor LogProbs, Tensor? Entropy, Tensor? Kl);

/// <summary>
/// The tied LM head's per-token quantities (log-softmax + gather, entropy, KL to a reference) computed
/// from hidden states without keeping a [rows, vocab] tensor per row alive: rows go through the head
/// in chunks of <see cref="ChunkElements"/> logits. When every row fits in one chunk (compact
/// vocabularies) it is plain autograd, as before. Otherwise a custom autograd function keeps only
/// the hidden states and recomputes each chunk's logits in backward, with the gradients written out
/// by hand (d log p_y / dz = onehot(y) - p; dH/dz = -p (log p + H); dKL/dz = p (log p - log q - KL)),
/// so peak memory is one chunk's logits, not the batch's.
/// </summary>
public static class ChunkedHead
{
    /// <summary>Logits per chunk by default: 2^23 floats = 32 MB per [rows, vocab] buffer (a few live at once).</summary>
    public const long DefaultChunkElements = 1L << 23;

    [ThreadStatic] private static long t_chunkElements;

    /// <summary>Logits per chunk on this thread (runs train on one thread each; tests and the benchmark override it there).</summary>
    public static long ChunkElements => t_chunkElements > 0 ? t_chunkElements : DefaultChunkElements;

    /// <summary>Sets <see cref="ChunkElements"/> on this thread until the result is disposed (long.MaxValue: never chunk).</summary>
    public static IDisposable WithChunkElements(long elements)
    {
        if (elements < 1) throw new ArgumentOutOfRangeException(nameof(elements), elements, "chunk elements must be at least 1.");
        long before = t_chunkElements;
        t_chunkElements = elements;
        return new Restore(() => t_chunkElements = before);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>Rows per chunk at vocabulary size <paramref name="vocab"/> (at least one).</summary>
    public static int RowsPerChunk(long vocab) => (int)Math.Clamp(ChunkElements / Math.Max(1, vocab), 1, int.MaxValue);

    /// <summary>
    /// Head terms of hidden states [..., E] against the output matrix <paramref name="weight"/> [V, E]
    /// for targets [...] (int64; a negative target reads token 0: mask those rows). Logits are
    /// scaled by 1/<paramref name="temperature"/>. With <paramref name="refHidden"/> and
    /// <paramref name="refWeight"/> (no gradient), KL(pi || pi_ref) per row at the same temperature.
    /// Outputs have the shape of <paramref name="targets"/>.
    /// </summary>
    public static HeadTerms Compute(Tensor hidden, Tensor weight, Tensor targets, double temperature = 1.0, bool entropy = false,
        Tensor? refHidden = null, Tensor? refWeight = null)
    {
        if (temperature <= 0 || !double.IsFinite(temperature)) throw new ArgumentException($"temperature must be positive, got {temperature}.");
        long e = weight.shape[1], v = weight.shape[0];
        if (hidden.shape[^1] != e) throw new ArgumentException($"hidden must end in {e} (the head's width), got [{string.Join(", ", hidden.shape)}].");
        if (!targets.shape.SequenceEqual(hidden.shape[..^1]))
            throw new ArgumentException($"targets [{string.Join(", ", targets.shape)}] must match hidden's leading dims [{string.Join(", ", hidden.shape[..^1])}].");
        bool kl = refHidden is not null;
        if (kl && (refWeight is null || !refHidden!.shape.SequenceEqual(hidden.shape)))
            throw new ArgumentException("refHidden needs refWeight and the shape of hidden.");
        var shape = targets.shape;
        long n = targets.numel();
        int rows = RowsPerChunk(v);
        if (n > rows)
        {
            // Not inside a dispose scope of ours: the autograd node keeps tensors (its output cache) that
            // must live until backward, which the caller runs inside its own scope.
            var outs = HeadFunction.apply(hidden.reshape(-1, e), weight, targets.reshape(-1).clamp_min(Scalars.IntZero),
                refHidden?.reshape(-1, e).detach(), refWeight?.detach(), 1.0 / temperature, entropy, rows);
            return new HeadTerms(outs[0].view(shape), entropy ? outs[1].view(shape) : null, kl ? outs[2].view(shape) : null);
        }
        using var scope = NewDisposeScope();
        var h = hidden.reshape(-1, e);
        var t = targets.reshape(-1).clamp_min(Scalars.IntZero);
        Tensor logp, ent, div;
        {
            var z = Scaled(h.matmul(weight.t()), temperature);
            var all = z.log_softmax(-1);
            logp = all.gather(-1, t.unsqueeze(-1)).squeeze(-1);
            ent = entropy ? -(all.exp() * all).sum(-1) : zeros(n, device: h.device);
            if (kl)
            {
                Tensor refAll;
                using (no_grad()) refAll = Scaled(refHidden!.reshape(-1, e).matmul(refWeight!.t()), temperature).log_softmax(-1);
                div = (all.exp() * (all - refAll)).sum(-1);
            }
            else div = zeros(n, device: h.device);
        }
        return new HeadTerms(
            logp.view(shape).MoveToOuterDisposeScope(),
            entropy ? ent.view(shape).MoveToOuterDisposeScope() : null,
            kl ? div.view(shape).MoveToOuterDisposeScope() : null);
    }

    /// <summary>
    /// Cross-entropy of next-token targets [...] (negative = ignored, as ignore_index -100) from hidden
    /// states [..., E]: the mean over counted tokens, or their sum. Within one chunk it is exactly
    /// <c>cross_entropy</c> on the logits, as MLE training always computed it.
    /// </summary>
    public static Tensor CrossEntropy(Tensor hidden, Tensor weight, Tensor targets, bool sum = false)
    {
        var flat = targets.reshape(-1);
        if (flat.shape[0] <= RowsPerChunk(weight.shape[0]))
        {
            using var scope = NewDisposeScope();
            var logits = hidden.reshape(-1, weight.shape[1]).matmul(weight.t());
            return nn.functional.cross_entropy(logits, flat, ignore_index: -100, reduction: sum ? nn.Reduction.Sum : nn.Reduction.Mean).MoveToOuterDisposeScope();
        }
        // No scope of ours around the chunked path (see Compute).
        var counted = flat.ge(Scalars.IntZero).to_type(ScalarType.Float32);
        var total = (Compute(hidden, weight, targets).LogProbs.reshape(-1) * counted).sum().neg();
        return sum ? total : total / counted.sum().clamp_min(Scalars.IntOne);
    }

    private static Tensor Scaled(Tensor z, double temperature)
    {
        if (temperature == 1.0) return z;
        using var s = temperature.ToScalar(); // held: an implicit temporary may be finalized mid-op
        return z.div(s);
    }

    /// <summary>One chunk's log-softmax (and reference log-softmax), scaled by invT.</summary>
    private static Tensor ChunkLogSoftmax(Tensor h, Tensor w, double invT)
    {
        var z = h.matmul(w.t());
        if (invT != 1.0) { using var s = invT.ToScalar(); z.mul_(s); }
        return z.log_softmax(-1);
    }

    /// <summary>Inputs: h [N,E], W [V,E], targets [N], refH [N,E]?, refW [V,E]?, 1/T, entropy?, rows per chunk. Outputs: log p, entropy, KL, each [N].</summary>
    private sealed class HeadFunction : autograd.MultiTensorFunction<HeadFunction>
    {
        public override string Name => "ChunkedHead";

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (h, w, t) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2]);
            var (rh, rw) = (vars[3] as Tensor, vars[4] as Tensor);
            double invT = (double)vars[5];
            bool wantEntropy = (bool)vars[6];
            int rows = (int)vars[7];
            ctx.save_for_backward([h, w, t, rh!, rw!]);
            ctx.save_data("invT", invT);
            ctx.save_data("entropy", wantEntropy);
            ctx.save_data("rows", rows);
            long n = h.shape[0];
            var logp = empty(n, device: h.device);
            var ent = zeros(n, device: h.device);
            var kl = zeros(n, device: h.device);
            for (long start = 0; start < n; start += rows)
            {
                using var scope = NewDisposeScope();
                long len = Math.Min(rows, n - start);
                var lp = ChunkLogSoftmax(h.narrow(0, start, len), w, invT);
                logp.narrow(0, start, len).copy_(lp.gather(1, t.narrow(0, start, len).unsqueeze(1)).squeeze(1));
                if (wantEntropy) ent.narrow(0, start, len).copy_((lp.exp() * lp).sum(1).neg());
                if (rh is not null)
                {
                    var lq = ChunkLogSoftmax(rh.narrow(0, start, len), rw!, invT);
                    kl.narrow(0, start, len).copy_((lp.exp() * (lp - lq)).sum(1));
                }
            }
            return [logp, ent, kl];
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> grads)
        {
            var saved = ctx.get_saved_variables();
            var (h, w, t, rh, rw) = (saved[0], saved[1], saved[2], saved[3], saved[4]);
            double invT = (double)ctx.get_data("invT");
            bool wantEntropy = (bool)ctx.get_data("entropy");
            int rows = (int)ctx.get_data("rows");
            var (gLogp, gEnt, gKl) = (grads[0], grads[1], grads[2]);
            using var _ = no_grad();
            // An output the loss does not read arrives as zeros: skip its term (PPO reads entropy only as a metric).
            bool entGrad = wantEntropy && gEnt.ne(Scalars.IntZero).any().item<bool>();
            bool klGrad = rh is not null && gKl.ne(Scalars.IntZero).any().item<bool>();
            long n = h.shape[0];
            var gh = empty_like(h);
            var gw = zeros_like(w);
            for (long start = 0; start < n; start += rows)
            {
                using var scope = NewDisposeScope();
                long len = Math.Min(rows, n - start);
                var hc = h.narrow(0, start, len);
                var lp = ChunkLogSoftmax(hc, w, invT);
                var p = lp.exp();
                var g = gLogp.narrow(0, start, len).unsqueeze(1);
                // d log p_y / dz = onehot(y) - p
                var gz = p.mul(g.neg());
                gz.scatter_add_(1, t.narrow(0, start, len).unsqueeze(1), g);
                if (entGrad)
                {
                    // dH/dz = -p (log p + H), H = -sum p log p
                    var hrow = (p * lp).sum(1, keepdim: true).neg();
                    gz.sub_(lp.Plus(hrow).mul_(p).mul_(gEnt.narrow(0, start, len).unsqueeze(1)));
                }
                if (klGrad)
                {
                    // dKL/dz = p (log p - log q - KL)
                    var d = lp - ChunkLogSoftmax(rh!.narrow(0, start, len), rw!, invT);
                    var klRow = (p * d).sum(1, keepdim: true);
                    gz.PlusInPlace(d.sub_(klRow).mul_(p).mul_(gKl.narrow(0, start, len).unsqueeze(1)));
                }
                if (invT != 1.0) { using var s = invT.ToScalar(); gz.mul_(s); }
                gh.narrow(0, start, len).copy_(gz.matmul(w));
                gw.addmm_(gz.t(), hc);
            }
            return [gh, gw, null!, null!, null!, null!, null!, null!];
        }
    }
}
