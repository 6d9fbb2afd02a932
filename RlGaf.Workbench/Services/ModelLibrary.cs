using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runtime;
using static TorchSharp.torch;

namespace RlGaf.Workbench.Services;

/// <summary>A model directory found under the data root.</summary>
public sealed record ModelEntry(string Name, string Path, ModelInfo? Info, int? VocabSize, string? Error);

/// <summary>One completion with how the built-in grammar judges it (when the model was trained on it).</summary>
public sealed record SampleRow(string Prompt, string Completion, int Tokens, double MeanLogProb, bool? Valid, string? Sentiment);

/// <summary>
/// The models under {DataRoot}/models: lists them and samples from them. Loaded models are cached;
/// generation runs synchronously on a pool thread (no await inside torch code: grad mode and dispose
/// scopes are thread-local), one request at a time.
/// </summary>
public sealed class ModelLibrary(IOptions<WorkbenchOptions> options)
{
    private readonly ConcurrentDictionary<string, LoadedModel> _cache = new();
    private readonly SemaphoreSlim _gate = new(1, 1);

    // The same rule as the command line and the training host (next to the app), so every face sees the same models.
    public string ModelsRoot => Path.Combine(WorkbenchPaths.DataRoot(options.Value.DataRoot), "models");

    public IReadOnlyList<ModelEntry> List()
    {
        if (!Directory.Exists(ModelsRoot)) return [];
        var entries = new List<ModelEntry>();
        foreach (var dir in Directory.GetDirectories(ModelsRoot).Order(StringComparer.Ordinal))
        {
            if (!File.Exists(System.IO.Path.Combine(dir, "config.json"))) continue;
            try
            {
                var infoPath = System.IO.Path.Combine(dir, ModelInfo.FileName);
                var info = File.Exists(infoPath) ? System.Text.Json.JsonSerializer.Deserialize<ModelInfo>(File.ReadAllText(infoPath)) : null;
                var config = Gpt2ConfigJson.Read(System.IO.Path.Combine(dir, "config.json"));
                entries.Add(new ModelEntry(System.IO.Path.GetFileName(dir), dir, info, config.VocabSize, null));
            }
            catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException or ArgumentException or IOException)
            {
                entries.Add(new ModelEntry(System.IO.Path.GetFileName(dir), dir, null, null, e.Message));
            }
        }
        return entries;
    }

    public async Task<IReadOnlyList<SampleRow>> SampleAsync(ModelEntry entry, string prompt, int count, int maxNewTokens,
        double temperature, int topK, double topP, int seed)
    {
        await _gate.WaitAsync();
        try
        {
            return await Task.Run(() => Sample(entry, prompt, count, maxNewTokens, temperature, topK, topP, seed));
        }
        finally { _gate.Release(); }
    }

    private IReadOnlyList<SampleRow> Sample(ModelEntry entry, string prompt, int count, int maxNewTokens,
        double temperature, int topK, double topP, int seed)
    {
        var device = TorchRuntime.ResolveDevice(TorchRuntime.ParsePreference(options.Value.Device, "RlGaf:Device"));
        var loaded = _cache.GetOrAdd(entry.Path, p => ModelDirectory.Load(p, device));
        var vocab = loaded.Vocabulary;
        int[] promptIds = vocab.Encode(prompt);
        int[] modelPrompt = loaded.PrependBos(promptIds.Length) ? [vocab.EndOfTextId, .. promptIds] : promptIds;
        int room = loaded.Config.NPositions - modelPrompt.Length;
        if (room < 1) throw new ArgumentException($"Prompt: {modelPrompt.Length} tokens leave no room in the model's window of {loaded.Config.NPositions}.");
        var results = TextGenerator.Generate(loaded.Model, Enumerable.Repeat((IReadOnlyList<int>)modelPrompt, count).ToList(), new GenerationOptions
        {
            MaxNewTokens = Math.Min(maxNewTokens, room), DoSample = true, Temperature = temperature, TopK = topK, TopP = topP, Seed = seed,
            EosId = vocab.EndOfTextId, BosId = vocab.EndOfTextId, PadId = vocab.EndOfTextId,
        }).Sequences;
        bool graded = loaded.Info?.Corpus == Engine.Training.PretrainSettings.SyntheticReviewsName;
        return results.Select(r =>
        {
            int n = Array.IndexOf(r.Tokens, vocab.EndOfTextId) is var e and >= 0 ? e : r.Tokens.Length;
            string completion = vocab.Decode(r.Tokens[..n]);
            double meanLp = n > 0 ? r.LogProbs[..n].Average(x => (double)x) : double.NaN;
            if (!graded) return new SampleRow(prompt, completion, n, meanLp, null, null);
            var a = ReviewGrammar.Default.Analyze(prompt + completion);
            return new SampleRow(prompt, completion, n, meanLp, a.IsValid, a.Sentiment?.ToString().ToLowerInvariant());
        }).ToList();
    }
}
