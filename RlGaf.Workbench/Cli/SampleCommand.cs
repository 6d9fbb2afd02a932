using System.Text.Json;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Models;

namespace RlGaf.Workbench.Cli;

/// <summary>sample: completes a prompt with a model directory (trained here or Hugging Face GPT-2).</summary>
internal static class SampleCommand
{
    public const string Summary = "complete a prompt: sample --model DIR --prompt TEXT [--greedy | --temperature T --top-k K --top-p P] [--num N] [--json]";

    public static int Run(ArgParser args)
    {
        string modelDir = args.Required("--model");
        string prompt = args.String("--prompt") ?? "";
        int maxNew = args.Int("--max-new-tokens", 1) ?? 40;
        bool greedy = args.Flag("--greedy");
        double? temperature = args.Double("--temperature", 0);
        int? topK = args.Int("--top-k", 0);
        double? topP = args.Double("--top-p", 0, 1);
        if (greedy && (temperature is not null || topK is not null || topP is not null))
            throw new UsageException("--greedy cannot be combined with --temperature, --top-k or --top-p.");
        if (temperature is <= 0) throw new UsageException("--temperature must be positive (use --greedy for argmax decoding).");
        if (topP is <= 0) throw new UsageException("--top-p must be in (0, 1].");
        int seed = args.Int("--seed") ?? 0;
        int num = args.Int("--num", 1, 10_000) ?? 1;
        bool json = args.Flag("--json");
        var device = CliCommon.SetUpTorch(args);
        args.EnsureAllUsed();

        var loaded = ModelDirectory.Load(modelDir, device);
        var vocab = loaded.Vocabulary;
        int[] promptIds = vocab.Encode(prompt);
        int[] modelPrompt = loaded.PrependBos(promptIds.Length) ? [vocab.EndOfTextId, .. promptIds] : promptIds;
        if (modelPrompt.Length + maxNew > loaded.Config.NPositions)
            throw new UsageException($"--max-new-tokens: prompt ({modelPrompt.Length} tokens) + {maxNew} new tokens exceed the model's window of {loaded.Config.NPositions}.");

        var options = new GenerationOptions
        {
            MaxNewTokens = maxNew,
            DoSample = !greedy,
            Temperature = temperature ?? 1.0,
            TopK = topK ?? 0,
            TopP = topP ?? 1.0,
            Seed = seed,
            EosId = vocab.EndOfTextId,
            BosId = vocab.EndOfTextId,
            PadId = vocab.EndOfTextId,
        };
        var results = TextGenerator.Generate(loaded.Model, Enumerable.Repeat((IReadOnlyList<int>)modelPrompt, num).ToList(), options).Sequences;
        int[] promptGpt2 = vocab.ToGpt2(promptIds);
        foreach (var r in results)
        {
            // The completion stops before end-of-text; log-probabilities are of the raw model distribution.
            int n = Array.IndexOf(r.Tokens, vocab.EndOfTextId) is var eos and >= 0 ? eos : r.Tokens.Length;
            var ids = r.Tokens[..n];
            string completion = vocab.Decode(ids);
            if (json)
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    prompt_ids = promptGpt2,
                    completion_ids = vocab.ToGpt2(ids),
                    completion,
                    token_logprobs = r.LogProbs[..n].Select(x => (double)x).ToArray(),
                }, CliCommon.JsonLine));
            else
                Console.WriteLine(prompt + completion);
        }
        return 0;
    }
}
