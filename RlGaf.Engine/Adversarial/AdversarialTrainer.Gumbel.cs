using TorchSharp;
using System.Diagnostics;
using RlGaf.Engine.Models;
using RlGaf.Engine.Tasks;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace RlGaf.Engine.Adversarial;

public sealed partial class AdversarialTrainer
{
    /// <summary>The inverse temperature beta in force: 1 / gumbel_tau when fixed, else RelGAN's schedule.</summary>
    public double GumbelBeta()
    {
        if (Settings.GumbelTau > 0) return 1.0 / Settings.GumbelTau;
        int n = Settings.GumbelScheduleSteps > 0 ? Settings.GumbelScheduleSteps : Settings.Steps;
        return TemperatureSchedule.InverseTemperature(TemperatureSchedule.Parse(Settings.GumbelSchedule), Step, n, Settings.GumbelBetaMax);
    }

    /// <summary>
    /// Gumbel-Softmax (RelGAN): tokens are sampled as y_t = argmax(o_t + g_t) with Gumbel noise g;
    /// a teacher-forced pass over the sampled sequence gives the logits o_t with gradient, and the
    /// discriminator reads softmax(beta (o_t + g_t)) — hard straight-through one-hots (forward: the
    /// token; backward: the soft sample's gradient) or the soft samples themselves. The generator
    /// minimises the adversarial loss (non-saturating or relativistic), plus mle_coef x MLE on real data.
    /// The gradient flows through each position's logits, not through earlier soft inputs (the
    /// sampled prefix is fed as hard tokens), which keeps one forward pass per step.
    /// </summary>
    private void GumbelStep(Dictionary<string, double> metrics)
    {
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        var (batch, noise, examples) = DrawGumbelBatch();
        metrics["time/generate"] = sw.Elapsed.TotalMilliseconds;
        sw.Restart();

        var (loss, logits, fakeScore, mle) = GumbelObjective(batch, noise, examples);
        if (mle is not null) metrics["gen/mle_loss"] = mle.item<float>();
        double beta = GumbelBeta();
        metrics["gen/grad_norm"] = ApplyGenerator(loss, "gumbel");
        metrics["time/gen_update"] = sw.Elapsed.TotalMilliseconds;
        using (no_grad())
        {
            var mask = batch.CompletionMask;
            metrics["gen/loss"] = loss.item<float>();
            metrics["gumbel/tau"] = 1.0 / beta;
            metrics["gumbel/beta"] = beta;
            var prob = fakeScore.detach().sigmoid();
            metrics["reward/mean"] = prob.mean().item<float>();
            metrics["reward/std"] = prob.std().item<float>();
            metrics["objective/entropy"] = PolicyMath.MaskedMean(PolicyMath.TokenEntropy(logits.detach()), mask).item<float>();
            var refLogp = PolicyMath.TokenLogProbs(PolicyMath.CompletionLogits(Reference.Forward(batch.Tokens, batch.AttentionMask), batch, Settings.SampleTemperature), batch);
            metrics["objective/kl"] = ((PolicyMath.TokenLogProbs(logits.detach(), batch) - refLogp) * mask).sum(1).mean().item<float>();
            metrics["tokens/completion_len"] = mask.sum(1).mean().item<float>();
        }
    }

    /// <summary>
    /// The generator's adversarial loss for sampled sequences and their Gumbel noise: a teacher-forced
    /// pass gives the logits with gradient; the discriminator (frozen for this pass) reads the
    /// (straight-through) Gumbel-Softmax samples; plus kl_coef x the exact per-token KL to the SFT
    /// model, plus mle_coef x MLE on the real completions.
    /// </summary>
    internal (Tensor Loss, Tensor Logits, Tensor FakeScore, Tensor? Mle) GumbelObjective(SequenceBatch batch, Tensor noise, IReadOnlyList<TaskExample> examples)
    {
        var disc = Disc!;
        double beta = GumbelBeta();
        var logits = PolicyMath.CompletionLogits(Policy.Forward(batch.Tokens, batch.AttentionMask), batch, Settings.SampleTemperature);
        var soft = (beta * (logits + noise)).softmax(-1);
        var sample = Settings.GumbelHard
            ? F.one_hot(batch.CompletionTokens, logits.shape[^1]).to_type(soft.dtype) - soft.detach() + soft
            : soft;
        var real = RealBatch(examples);
        foreach (var p in disc.parameters()) p.requires_grad = false;
        Tensor fakeScore, realScore;
        try
        {
            fakeScore = disc.ScoreSoft(batch, sample);
            using (no_grad()) realScore = disc.Score(real);
        }
        finally
        {
            foreach (var p in disc.parameters()) p.requires_grad = true;
        }
        var loss = AdversarialLosses.Generator(fakeScore, realScore, Settings.DiscLoss);
        if (KlCoef > 0)
        {
            // Exact per-token KL(pi || pi_ref) of the full next-token distributions, differentiable: the
            // same anchor to the SFT model that PPO's penalty gives, which keeps the texts well formed
            // while the discriminator's gradient pulls at every position.
            Tensor refLogits;
            using (no_grad()) refLogits = PolicyMath.CompletionLogits(Reference.Forward(batch.Tokens, batch.AttentionMask), batch, Settings.SampleTemperature);
            var logp = logits.log_softmax(-1);
            var kl = (logp.exp() * (logp - refLogits.log_softmax(-1))).sum(-1);
            loss = loss + KlCoef * PolicyMath.MaskedMean(kl, batch.CompletionMask);
        }
        Tensor? mle = null;
        if (Settings.MleCoef > 0)
        {
            var realLogits = PolicyMath.CompletionLogits(Policy.Forward(real.Tokens, real.AttentionMask), real);
            mle = -PolicyMath.MaskedMean(PolicyMath.TokenLogProbs(realLogits, real), real.CompletionMask);
            loss = loss + Settings.MleCoef * mle;
        }
        return (loss, logits, fakeScore, mle);
    }

    /// <summary>Test hook: one Gumbel batch (prompts, sequences, noise) as the step would draw it.</summary>
    internal (SequenceBatch Batch, Tensor Noise, IReadOnlyList<TaskExample> Examples) DrawGumbelBatch()
    {
        var examples = RealExamples(Step, Purpose.Prompts);
        var (batch, noise) = GumbelSample(examples.Select(e => e.Prompt).ToList(), SeedFor(Step, Purpose.Gumbel));
        return (batch, noise, examples);
    }

    /// <summary>Test hook: applies a generator loss the way a step does.</summary>
    internal double ApplyGeneratorLoss(Tensor loss) => ApplyGenerator(loss, "test");

    /// <summary>
    /// Samples completions by the Gumbel-max trick with explicit noise g [B, L, V] (so the same g can
    /// build the soft samples later); with a KV cache, no gradient.
    /// </summary>
    private (SequenceBatch Batch, Tensor Noise) GumbelSample(IReadOnlyList<int[]> prompts, ulong seed)
    {
        int b = prompts.Count, p = prompts.Max(x => x.Length);
        int budget = Math.Min(Settings.MaxNewTokens, Policy.Config.NPositions - p);
        long v = Policy.Config.VocabSize;
        using var gen = new Generator(seed >> 1, _device);
        var u = rand([b, budget, v], generator: gen, device: _device).clamp(1e-10, 1 - 1e-7);
        var noise = -(-u.log()).log();
        var completions = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var finished = new bool[b];
        var ids = new long[b * p];
        var maskData = new List<long>[b];
        for (int r = 0; r < b; r++)
        {
            int pad = p - prompts[r].Length;
            Array.Fill(ids, _eot, r * p, pad);
            for (int i = 0; i < prompts[r].Length; i++) ids[r * p + pad + i] = prompts[r][i];
            maskData[r] = [.. Enumerable.Repeat(0L, pad), .. Enumerable.Repeat(1L, prompts[r].Length)];
        }
        bool wasTraining = Policy.training;
        Policy.eval();
        try
        {
            using var _ = no_grad();
            using var cache = new KvCache(Policy.Config.NLayer);
            using var temperature = Settings.SampleTemperature.ToScalar();
            var input = tensor(ids, [b, p], device: _device);
            for (int j = 0; j < budget && !finished.All(f => f); j++)
            {
                using var stepScope = NewDisposeScope();
                var mask = tensor(maskData.SelectMany(m => m).ToArray(), [b, maskData[0].Count], device: _device);
                var hidden = Policy.ForwardHidden(input, mask, cache);
                var logits = Policy.Logits(hidden.select(1, -1)).div(temperature);
                var next = (logits + noise.select(1, j)).argmax(-1).cpu().data<long>().ToArray();
                var nextIds = new long[b];
                for (int r = 0; r < b; r++)
                {
                    // Finished rows keep feeding padding (masked out) so the batch stays rectangular.
                    nextIds[r] = finished[r] ? _eot : next[r];
                    maskData[r].Add(finished[r] ? 0 : 1);
                    if (finished[r]) continue;
                    completions[r].Add((int)next[r]);
                    if (next[r] == _eot) finished[r] = true;
                }
                input = tensor(nextIds, [b, 1], device: _device).MoveToOuterDisposeScope();
            }
        }
        finally { Policy.train(wasTraining); }
        var batch = new SequenceBatch(prompts, completions.Select(c => c.ToArray()).ToList(), _eot, _device);
        return (batch, noise.narrow(1, 0, batch.CompletionWidth));
    }
}
