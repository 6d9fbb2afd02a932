using System.Text.Json;
using RlGaf.Engine.Training;

namespace RlGaf.Workbench.Cli;

/// <summary>pretrain: trains a tiny GPT-2 from scratch (MLE / SFT) and writes a model directory.</summary>
internal static class PretrainCommand
{
    public const string Summary = "train a tiny GPT-2 from scratch on a corpus: pretrain --corpus synthetic-reviews --out DIR";

    public static int Run(ArgParser args)
    {
        var d = new PretrainSettings();
        var m = d.Mle;
        string outDir = args.Required("--out");
        var settings = d with
        {
            Corpus = args.String("--corpus") ?? d.Corpus,
            TrainDocuments = args.Int("--train-docs", 1) ?? d.TrainDocuments,
            HeldOutDocuments = args.Int("--heldout-docs", 1) ?? d.HeldOutDocuments,
            NEmbd = args.Int("--n-embd", 1) ?? d.NEmbd,
            NLayer = args.Int("--n-layer", 1) ?? d.NLayer,
            NHead = args.Int("--n-head", 1) ?? d.NHead,
            NPositions = args.Int("--n-positions", 2) ?? d.NPositions,
            EvalSamples = args.Int("--eval-samples", 0) ?? d.EvalSamples,
            MaxVocabulary = args.Int("--max-vocab", 512) ?? d.MaxVocabulary,
            Mle = m with
            {
                Steps = args.Int("--steps", 1) ?? m.Steps,
                Seed = args.Int("--seed") ?? m.Seed,
                BatchSize = args.Int("--batch-size", 1) ?? m.BatchSize,
                LearningRate = args.Double("--lr", 0) ?? m.LearningRate,
                WarmupSteps = args.Int("--warmup", 0) ?? m.WarmupSteps,
                WeightDecay = args.Double("--weight-decay", 0) ?? m.WeightDecay,
                GradClip = args.Double("--grad-clip", 0) ?? m.GradClip,
                EvalEvery = args.Int("--eval-every", 1) ?? m.EvalEvery,
            },
        };
        bool json = args.Flag("--json");
        var device = CliCommon.SetUpTorch(args);
        args.EnsureAllUsed();
        settings.Validate();

        Console.Error.WriteLine($"pretrain: corpus {settings.Corpus}, {settings.Mle.Steps} steps, batch {settings.Mle.BatchSize}, " +
                                $"GPT-2 {settings.NLayer} layers x {settings.NEmbd} dims, {settings.NHead} heads, window {settings.NPositions}, device {device}");
        PretrainResult result;
        using (var progress = new PretrainProgress(settings.Mle.Steps, Terminal.Error()))
            result = Pretraining.Run(settings, outDir, device, onStep: progress.Step, onEval: progress.Evaluation);

        var figures = new Dictionary<string, object?>
        {
            ["out"] = Path.GetFullPath(outDir),
            ["steps"] = settings.Mle.Steps,
            ["seconds"] = Math.Round(result.Seconds, 1),
            ["tokens_per_second"] = Math.Round(result.TokensPerSecond),
            ["heldout_loss"] = result.HeldOutLoss,
            ["vocab_size"] = result.Model.Vocabulary.Size,
        };
        if (result.Oracle is { } o)
        {
            figures["samples"] = o.Samples;
            figures["valid_rate"] = o.ValidRate;
            figures["oracle_nll_per_token"] = o.OracleNllPerToken;
            figures["grammar_entropy_per_token"] = o.GrammarEntropyPerToken;
            figures["nll_ratio"] = o.NllRatio;
            figures["positive_rate"] = o.PositiveRate;
            figures["distinct_valid"] = o.DistinctValid;
        }
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(figures, CliCommon.JsonLine));
            return 0;
        }
        Console.WriteLine($"wrote {figures["out"]} in {CliCommon.Duration(result.Seconds)} ({result.TokensPerSecond / 1000:0.0}k tokens/s)");
        Console.WriteLine($"held-out loss          {result.HeldOutLoss:0.0000} nats/token");
        if (result.Oracle is { } r)
        {
            Console.WriteLine($"valid under grammar    {r.ValidRate:P1} of {r.Samples} samples (target >= 90%)");
            Console.WriteLine($"oracle NLL / token     {r.OracleNllPerToken:0.0000} nats (grammar entropy {r.GrammarEntropyPerToken:0.0000}; ratio {r.NllRatio:0.000}, target <= 1.25)");
            Console.WriteLine($"positive reviews       {r.PositiveRate:P1}");
            Console.WriteLine($"distinct valid samples {r.DistinctValid}");
        }
        return 0;
    }
}
