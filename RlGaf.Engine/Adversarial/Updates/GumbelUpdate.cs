using RlGaf.Engine.Runtime;
using System.Diagnostics;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// Gumbel-Softmax (RelGAN): tokens are sampled as y_t = argmax(o_t + g_t) with Gumbel noise g;
/// a teacher-forced pass over the sampled sequence gives the logits o_t with gradient, and the
/// discriminator reads softmax(beta (o_t + g_t)) — hard straight-through one-hots (forward: the
/// token; backward: the soft sample's gradient) or the soft samples themselves. The generator
/// minimises the adversarial loss (non-saturating or relativistic), plus kl_coef x the exact KL to
/// the SFT model, plus mle_coef x MLE on real data. The gradient flows through each position's
/// logits, not through earlier soft inputs (the sampled prefix is fed as hard tokens), which keeps
/// one forward pass per step. State: the schedule's horizon, fixed when the run starts (so extending
/// a run does not re-stretch the temperature).
/// </summary>
public sealed class GumbelUpdate(TrainerCore core, Discriminator disc) : IGeneratorUpdate
{
    private const string HorizonKey = "gumbel_horizon";

    /// <summary>The schedule's length N: gumbel_schedule_steps, or the run's steps when it started.</summary>
    public int Horizon { get; private set; } = HorizonOf(core.Settings);

    private static int HorizonOf(RunSettings s) => s.GumbelScheduleSteps > 0 ? s.GumbelScheduleSteps : s.Steps;

    public string Name => "gumbel";
    public IEnumerable<Parameter> ExtraParameters => [];
    public IEnumerable<(string File, nn.Module Module)> Modules => [];

    /// <summary>The inverse temperature beta in force: 1 / gumbel_tau when fixed, else RelGAN's schedule.</summary>
    public double Beta()
    {
        var s = core.Settings;
        if (s.GumbelTau > 0) return 1.0 / s.GumbelTau;
        return TemperatureSchedule.InverseTemperature(TemperatureSchedule.Parse(s.GumbelSchedule), core.Step, Horizon, s.GumbelBetaMax);
    }

    public void Step(Dictionary<string, double> metrics)
    {
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        var (batch, noise, examples) = DrawBatch();
        metrics["time/generate"] = sw.Elapsed.TotalMilliseconds;
        sw.Restart();

        var (loss, terms, fakeScore, realScore, mle) = Objective(batch, noise, examples);
        if (mle is not null) metrics["gen/mle_loss"] = mle.item<float>();
        double beta = Beta();
        metrics["gen/grad_norm"] = core.ApplyGenerator(loss, Name);
        metrics["time/gen_update"] = sw.Elapsed.TotalMilliseconds;
        using (no_grad())
        {
            var mask = batch.CompletionMask;
            metrics["gen/loss"] = loss.item<float>();
            metrics["gumbel/tau"] = 1.0 / beta;
            metrics["gumbel/beta"] = beta;
            // The probability the discriminator gives the sample (BCE), or that it beats its real pair (RSGAN).
            var prob = (core.Settings.DiscLoss == DiscriminatorLossKind.Bce ? fakeScore.detach() : fakeScore.detach() - realScore).sigmoid();
            metrics["reward/mean"] = prob.mean().item<float>();
            metrics["reward/std"] = prob.std().item<float>();
            metrics["objective/entropy"] = PolicyMath.MaskedMean(terms.Entropy!.detach(), mask).item<float>();
            var refLogp = core.ReferenceLogProbs(batch);
            metrics["objective/kl"] = ((terms.LogProbs.detach() - refLogp) * mask).sum(1).mean().item<float>();
            metrics["tokens/completion_len"] = mask.sum(1).mean().item<float>();
        }
    }

    /// <summary>
    /// The generator's loss for sampled sequences and their Gumbel noise: a teacher-forced pass gives
    /// the logits with gradient; the discriminator (frozen for this pass) reads the (straight-through)
    /// Gumbel-Softmax samples; plus kl_coef x the exact per-token KL to the SFT model, plus mle_coef x
    /// MLE on the real completions.
    /// </summary>
    internal (Tensor Loss, HeadTerms Terms, Tensor FakeScore, Tensor RealScore, Tensor? Mle) Objective(SequenceBatch batch, GumbelNoise noise, IReadOnlyList<TaskExample> examples)
    {
        var s = core.Settings;
        // Held scalars (Runtime/Scalars.cs): an implicit temporary may be finalized while the op reads it.
        using var klCoef = s.KlCoef.ToScalar();
        using var mleCoef = s.MleCoef.ToScalar();
        var policy = core.Policy;
        var hidden = PolicyMath.CompletionHidden(policy.ForwardHidden(batch.Tokens, batch.AttentionMask), batch);
        // Log-probs, entropy and (with kl_coef) the exact KL to the SFT model, through the chunked head.
        Tensor? refHidden = null;
        if (s.KlCoef > 0)
            using (no_grad()) refHidden = PolicyMath.CompletionHidden(core.Reference.ForwardHidden(batch.Tokens, batch.AttentionMask), batch);
        var terms = ChunkedHead.Compute(hidden, policy.TokenEmbedding, batch.CompletionTokens, s.SampleTemperature, entropy: true,
            refHidden, refHidden is null ? null : core.Reference.TokenEmbedding);
        var real = core.RealBatch(examples);
        foreach (var p in disc.parameters()) p.requires_grad = false;
        Tensor fakeScore, realScore, fakeFeatures, realFeatures;
        try
        {
            var embedded = GumbelSoftEmbedding.Compute(hidden, policy.TokenEmbedding, disc.TokenEmbedding, batch.CompletionTokens, noise,
                s.SampleTemperature, Beta(), s.GumbelHard);
            (fakeScore, fakeFeatures) = disc.ScoreEmbeddedWithFeatures(batch, embedded);
            using (no_grad()) (realScore, realFeatures) = disc.ScoreEmbeds(disc.Embed(real), real);
        }
        finally
        {
            foreach (var p in disc.parameters()) p.requires_grad = true;
        }
        var loss = AdversarialLosses.Generator(fakeScore, realScore, s.DiscLoss);
        if (s.GumbelFeatureMatching > 0)
        {
            // Feature matching (Salimans et al. 2016, TextGAN): the mean discriminator feature of the
            // generated texts pulled towards that of the real ones; a signal that does not saturate when D wins.
            using var fm = s.GumbelFeatureMatching.ToScalar();
            loss = loss.Plus((fakeFeatures.mean([0]) - realFeatures.mean([0])).Squared().sum().mul(fm));
        }
        if (s.KlCoef > 0)
        {
            // Exact per-token KL(pi || pi_ref) of the full next-token distributions, differentiable: the
            // same anchor to the SFT model that PPO's penalty gives, which keeps the texts well formed
            // while the discriminator's gradient pulls at every position.
            loss = loss.Plus(PolicyMath.MaskedMean(terms.Kl!, batch.CompletionMask).mul(klCoef));
        }
        Tensor? mle = null;
        if (s.MleCoef > 0)
        {
            mle = -PolicyMath.MaskedMean(PolicyMath.CompletionTerms(policy, real).LogProbs, real.CompletionMask);
            loss = loss.Plus(mle.mul(mleCoef));
        }
        return (loss, terms, fakeScore, realScore, mle);
    }

    /// <summary>The step's Gumbel batch: this step's prompts, the sequences sampled from them and their noise.</summary>
    internal (SequenceBatch Batch, GumbelNoise Noise, IReadOnlyList<TaskExample> Examples) DrawBatch()
    {
        var examples = core.RealExamples(core.Step, Purpose.Prompts);
        var (batch, noise) = Sample(examples.Select(e => e.Prompt).ToList(), core.SeedFor(core.Step, Purpose.Gumbel));
        core.StepFakes = (batch.Prompts, batch.Completions);
        return (batch, noise, examples);
    }

    /// <summary>
    /// Samples completions by the Gumbel-max trick with explicit noise g, drawn one step [B, V] at a
    /// time (<see cref="GumbelNoise"/> replays it to build the soft samples later); with a KV cache, no gradient.
    /// </summary>
    private (SequenceBatch Batch, GumbelNoise Noise) Sample(IReadOnlyList<int[]> prompts, ulong seed)
    {
        var policy = core.Policy;
        int eot = core.Eot;
        var device = core.Device;
        int b = prompts.Count, p = prompts.Max(x => x.Length);
        int budget = Math.Min(core.Settings.MaxNewTokens, policy.Config.NPositions - p);
        long v = policy.Config.VocabSize;
        var noise = new GumbelNoise(seed >> 1, b, v, device);
        var completions = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var finished = new bool[b];
        var ids = new long[b * p];
        var maskData = new List<long>[b];
        for (int r = 0; r < b; r++)
        {
            int pad = p - prompts[r].Length;
            Array.Fill(ids, eot, r * p, pad);
            for (int i = 0; i < prompts[r].Length; i++) ids[r * p + pad + i] = prompts[r][i];
            maskData[r] = [.. Enumerable.Repeat(0L, pad), .. Enumerable.Repeat(1L, prompts[r].Length)];
        }
        bool wasTraining = policy.training;
        policy.eval();
        try
        {
            using var _ = no_grad();
            using var cache = new KvCache(policy.Config.NLayer);
            using var temperature = core.Settings.SampleTemperature.ToScalar();
            var input = tensor(ids, [b, p], device: device);
            for (int j = 0; j < budget && !finished.All(f => f); j++)
            {
                using var stepScope = NewDisposeScope();
                var mask = tensor(maskData.SelectMany(m => m).ToArray(), [b, maskData[0].Count], device: device);
                var hidden = policy.ForwardHidden(input, mask, cache);
                var logits = policy.Logits(hidden.select(1, -1)).div(temperature);
                var next = logits.Plus(noise.Next()).argmax(-1).cpu().data<long>().ToArray();
                var nextIds = new long[b];
                for (int r = 0; r < b; r++)
                {
                    // Finished rows keep feeding padding (masked out) so the batch stays rectangular.
                    nextIds[r] = finished[r] ? eot : next[r];
                    maskData[r].Add(finished[r] ? 0 : 1);
                    if (finished[r]) continue;
                    completions[r].Add((int)next[r]);
                    if (next[r] == eot) finished[r] = true;
                }
                input = tensor(nextIds, [b, 1], device: device).MoveToOuterDisposeScope();
            }
        }
        finally { policy.train(wasTraining); }
        var batch = new SequenceBatch(prompts, completions.Select(c => c.ToArray()).ToList(), eot, device);
        return (batch, noise);
    }

    public IEnumerable<KeyValuePair<string, double>> StateMetrics() => [new("gumbel/tau", 1.0 / Beta())];
    public IReadOnlyDictionary<string, double> SaveState() => new Dictionary<string, double> { [HorizonKey] = Horizon };

    /// <summary>The saved horizon; a checkpoint from before it was saved falls back to its own settings' length.</summary>
    public void RestoreState(IReadOnlyDictionary<string, double> state, RunSettings savedWith) =>
        Horizon = state.TryGetValue(HorizonKey, out var n) ? (int)n : HorizonOf(savedWith);
    public void SettingChanged(string key, RunSettings before) { }
    public void Dispose() { }
}
