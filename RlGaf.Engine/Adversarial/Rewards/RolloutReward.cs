using RlGaf.Engine.Models;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// SeqGAN's Monte-Carlo rewards from a lagged rollout policy it owns: Q[i, t-1] = mean over N rollouts
/// of the reward of completing y_1..t, for t below the row's length; at the last token, the reward of
/// the whole sequence. After each generator update the rollout policy follows: beta &lt;- rate beta +
/// (1 - rate) theta, embeddings copied outright.
/// </summary>
public sealed class RolloutReward : IRewardEstimator
{
    /// <summary>Checkpoint file of the rollout policy.</summary>
    public const string File = "rollout.safetensors";

    private readonly TrainerCore _core;

    /// <summary>The lagged rollout policy (no gradient).</summary>
    public Gpt2Model RolloutPolicy { get; }

    public RolloutReward(TrainerCore core, Gpt2Model sft)
    {
        _core = core;
        RolloutPolicy = TrainerCore.Clone(sft, core.Device);
        foreach (var p in RolloutPolicy.parameters()) p.requires_grad = false;
    }

    public bool PerPosition => true;
    public IEnumerable<(string File, nn.Module Module)> Modules => [(File, RolloutPolicy)];

    /// <summary>
    /// All prefixes of all rows are rolled out together in large left-padded batches (a rollout from
    /// y_1..t may add at most max_new_tokens - t tokens; longer ones are cut).
    /// </summary>
    public Tensor Returns(SequenceBatch batch, Tensor sequenceReward, Func<SequenceBatch, Tensor> rewardOf, double reference)
    {
        var s = _core.Settings;
        int b = batch.Count, l = batch.CompletionWidth, n = s.Rollouts;
        var q = new float[b * l];
        var full = sequenceReward.cpu().data<float>().ToArray();
        var jobs = new List<(int Row, int T)>();
        for (int r = 0; r < b; r++)
        {
            int len = batch.Completions[r].Length;
            if (len > 0) q[r * l + len - 1] = full[r];
            for (int t = 1; t < len; t++) jobs.Add((r, t));
        }
        const int chunk = 256; // prefixes per generation call (x N rollouts)
        for (int start = 0; start < jobs.Count; start += chunk)
        {
            using var scope = NewDisposeScope();
            var part = jobs.Skip(start).Take(chunk).ToList();
            var prefixes = part.SelectMany(j => Enumerable.Repeat<int[]>([.. batch.Prompts[j.Row], .. batch.Completions[j.Row][..j.T]], n)).ToList();
            var (rolled, _) = _core.Generate(RolloutPolicy, prefixes, s.SampleTemperature, _core.SeedFor(_core.Step, Purpose.Rollout, start), s.MaxNewTokens - 1);
            // Cut each rollout to its own budget so every prefix completes to at most max_new_tokens.
            var completions = rolled.Completions.Select((c, k) => c[..Math.Min(c.Length, s.MaxNewTokens - part[k / n].T)]).ToList();
            var cut = new SequenceBatch(prefixes, completions, _core.Eot, _core.Device);
            var scores = rewardOf(cut).cpu().data<float>().ToArray();
            for (int k = 0; k < part.Count; k++)
            {
                float sum = 0;
                for (int m = 0; m < n; m++) sum += scores[k * n + m];
                q[part[k].Row * l + part[k].T - 1] = sum / n;
            }
        }
        return tensor(q, [b, l], device: _core.Device);
    }

    public void AfterUpdate()
    {
        using var _ = no_grad();
        var theta = _core.Policy.state_dict();
        double rate = _core.Settings.RolloutUpdateRate;
        foreach (var (name, p) in RolloutPolicy.named_parameters())
        {
            if (name.StartsWith("wte", StringComparison.Ordinal) || name.StartsWith("wpe", StringComparison.Ordinal)) p.copy_(theta[name]);
            else p.mul_(rate).add_(theta[name], alpha: 1 - rate);
        }
    }

    public void Dispose() => RolloutPolicy.Dispose();
}
