namespace RlGaf.Engine.Runs;

/// <summary>
/// Named starting points. The synthetic-reviews presets run on a 2-core CPU in minutes, pretraining
/// included (the SFT model is cached after the first run), and show each method's effect.
/// </summary>
public static class Presets
{
    private static readonly RunSettings Base = new() { Dataset = "synthetic-reviews", Generator = "pretrain" };

    public static readonly IReadOnlyDictionary<string, (string Description, RunSettings Settings)> All =
        new Dictionary<string, (string, RunSettings)>
        {
            ["sft"] = ("Supervised fine-tuning on positive reviews: the paper's SFT baseline.",
                Base with { Method = TrainingMethod.Sft, Steps = 150, GenLr = 3e-4, EvalEvery = 25 }),
            ["reinforce"] = ("RLGAF with REINFORCE: the discriminator's probability as reward, batch baseline, KL penalty.",
                Base with { Method = TrainingMethod.Reinforce, Steps = 200, GenLr = 2e-4, DiscLr = 1e-4, KlCoef = 0.02 }),
            ["seqgan-rollout"] = ("RLGAF with SeqGAN's Monte-Carlo rollouts: a reward per token from a lagged rollout policy.",
                Base with { Method = TrainingMethod.SeqganRollout, Steps = 120, Rollouts = 2, GenLr = 2e-4, KlCoef = 0.02, BatchSize = 24 }),
            ["ppo"] = ("RLGAF with PPO (InstructGPT / TRL): KL-penalised per-token reward, value head, GAE, clipped updates.",
                Base with { Method = TrainingMethod.Ppo, Steps = 120, GenLr = 1e-4, KlCoef = 0.05, Reward = Adversarial.RewardKind.Logit }),
            ["gumbel"] = ("RLGAF with Gumbel-Softmax (RelGAN): straight-through samples, RSGAN loss, exponential temperature annealing.",
                Base with { Method = TrainingMethod.Gumbel, Steps = 200, GenLr = 1e-4, DiscLoss = Adversarial.DiscriminatorLossKind.Rsgan, GumbelBetaMax = 10, GumbelSchedule = "exp" }),
            ["rlhf-proxy"] = ("The RLHF comparison: PPO against a frozen sentiment classifier trained once on labelled reviews.",
                Base with { Method = TrainingMethod.RlhfProxy, Steps = 120, GenLr = 1e-4, KlCoef = 0.05, Reward = Adversarial.RewardKind.Logit }),
        };

    public static RunSettings Get(string name) =>
        All.TryGetValue(name, out var p) ? p.Settings
            : throw new ArgumentException($"preset: '{name}' is not one of {string.Join(", ", All.Keys)}.");
}
