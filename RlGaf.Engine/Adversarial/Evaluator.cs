using System.Diagnostics;
using RlGaf.Engine.Evaluation;
using RlGaf.Engine.Metrics;
using RlGaf.Engine.Tasks;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>One stored sample: the completion of a held-out prompt at an evaluation step.</summary>
public sealed record SampleRecord(int Step, int PromptIndex, string Prompt, string Completion, double DiscScore, double Reward, string? Verdict);

/// <summary>
/// Completes the fixed held-out prompts with the current policy (temperature 1, fixed seed) and
/// measures diversity, the task's judge (oracle/*, align/*), and the scorer's view of the samples.
/// </summary>
public sealed class Evaluator(TrainerCore core, RewardFunction? reward)
{
    /// <summary>Seed of evaluation sampling: the same for every run and step, so curves compare.</summary>
    public const ulong EvalSeed = 0xE7A1_5EED;
    /// <summary>The evaluation's KL to the run's SFT start, nats per completion.</summary>
    public const string KlToStartName = "eval/kl-to-start";
    private IReadOnlyList<TaskExample>? _heldOut;

    /// <summary>
    /// Completes the fixed held-out prompts with the current policy (temperature 1, fixed seed) and
    /// measures diversity, the task's judge (oracle/*, align/*), and the scorer's view of the samples.
    /// </summary>
    /// <param name="samplesToKeep">Samples returned for storage.</param>
    /// <param name="cancellationToken">Observed between the phases (generation, judging, scoring): a stop lands within one.</param>
    public (Dictionary<string, double> Metrics, List<SampleRecord> Samples) Evaluate(int samplesToKeep, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        var task = core.Task;
        _heldOut ??= task.HeldOut(core.Settings.EvalPrompts);
        var prompts = _heldOut.Select(e => e.Prompt).ToList();
        var (batch, ended) = core.Generate(core.Policy, prompts, 1.0, EvalSeed);
        cancellationToken.ThrowIfCancellationRequested();
        var judged = CompletionMetrics.Judged(task, _heldOut, batch.Completions, ended);
        var metrics = CompletionMetrics.Of(task, judged);
        // KL(pi || SFT start) along the evaluation samples (exact per position, summed over each completion):
        // the same yardstick for every method, SFT on positives included, unlike each update's objective/kl.
        // In eval mode, as the reference: a policy with dropout would otherwise read a biased KL (not 0 at
        // step 0) and draw from the global RNG, which breaks bit-identical resume.
        bool wasTraining = core.Policy.training;
        core.Policy.eval();
        try
        {
            using (no_grad())
            {
                var kl = PolicyMath.CompletionTerms(core.Policy, batch, 1.0, reference: core.Reference).Kl!;
                metrics[KlToStartName] = (kl * batch.CompletionMask).sum(1).mean().item<float>();
            }
        }
        finally { if (wasTraining) core.Policy.train(); }

        float[] scores = new float[batch.Count], rewards = new float[batch.Count];
        cancellationToken.ThrowIfCancellationRequested();
        if (reward is not null)
        {
            // Relative scores (RSGAN) are taken against the held-out prompts' own real completions.
            var z = reward.Relative(batch, reward.Reference(_heldOut));
            scores = z.cpu().data<float>().ToArray();
            rewards = AdversarialLosses.Reward(z, core.Settings.Reward).cpu().data<float>().ToArray();
            metrics["eval/score_mean"] = z.sigmoid().mean().item<float>();
            metrics["eval/reward_mean"] = rewards.Average();
            // Near zero: the scorer ranks samples by something other than what the task's judge rewards (style, length).
            metrics["disc/judge_corr"] = RankCorrelation.Spearman(scores.Select(v => (double)v).ToArray(), judged.Select(task.JudgeScore).ToArray());
        }
        var samples = judged.Take(samplesToKeep).Select((j, i) => new SampleRecord(core.Step, i, j.PromptText, j.CompletionText,
            reward is null ? double.NaN : 1 / (1 + Math.Exp(-scores[i])), reward is null ? double.NaN : rewards[i], task.Verdict(j))).ToList();
        metrics["time/metrics"] = sw.Elapsed.TotalMilliseconds;
        return (metrics, samples);
    }
}
