using System.Text.Json;
using System.Text.Json.Serialization;
using RlGaf.Engine.Models;
using RlGaf.Engine.Text;
using static TorchSharp.torch;

namespace RlGaf.Engine.Checkpoints;

/// <summary>What a model directory trained here records about itself (rlgaf-model.json).</summary>
public sealed record ModelInfo
{
    public const string FileName = "rlgaf-model.json";
    /// <summary>True when training sequences start with end-of-text, so prompts must too.</summary>
    [JsonPropertyName("bos_prefix")] public bool BosPrefix { get; init; } = true;
    [JsonPropertyName("corpus")] public string? Corpus { get; init; }
    [JsonPropertyName("steps")] public int Steps { get; init; }
    [JsonPropertyName("seed")] public int Seed { get; init; }
    [JsonPropertyName("created")] public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;
    /// <summary>Evaluation figures at the end of training (name → value).</summary>
    [JsonPropertyName("metrics")] public Dictionary<string, double> Metrics { get; init; } = [];
}

/// <summary>A generator loaded from a directory: weights, config, vocabulary and, if trained here, its info.</summary>
public sealed record LoadedModel(Gpt2Model Model, Gpt2Config Config, Vocabulary Vocabulary, ModelInfo? Info)
{
    /// <summary>Whether prompts get end-of-text in front: always for models trained here, for others only when the prompt is empty.</summary>
    public bool PrependBos(int promptLength) => Info?.BosPrefix ?? promptLength == 0;
}

/// <summary>
/// A model directory: Hugging Face's config.json + model.safetensors, plus, for models trained
/// here, the compact vocabulary and rlgaf-model.json beside them. A Hugging Face GPT-2 directory
/// (e.g. a downloaded "gpt2") opens with the full vocabulary; a directory written here opens in
/// transformers (which ignores the extra files).
/// </summary>
public static class ModelDirectory
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>
    /// Loads the directory's model, vocabulary and info. The vocabulary check runs on config.json before
    /// the model is allocated, and a model whose directory fails a later check (rlgaf-model.json) is disposed.
    /// </summary>
    public static LoadedModel Load(string directory, Device? device = null)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"model directory '{directory}' does not exist.");
        var vocab = Vocabulary.Load(directory);
        var (config, model) = HfCheckpoint.Load(directory, device, checkConfig: c =>
        {
            if (c.VocabSize != vocab.Size)
                throw new InvalidDataException($"{Path.Combine(directory, HfCheckpoint.ConfigFile)}: vocab_size {c.VocabSize} does not match the vocabulary ({vocab.Size} tokens{(vocab.IsFull ? ", full GPT-2" : $", {Vocabulary.FileName}")}).");
        });
        try
        {
            return new LoadedModel(model, config, vocab, ReadInfo(directory));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The directory's rlgaf-model.json, or null when it has none (a Hugging Face download).</summary>
    public static ModelInfo? ReadInfo(string directory)
    {
        var infoPath = Path.Combine(directory, ModelInfo.FileName);
        if (!File.Exists(infoPath)) return null;
        long length = new FileInfo(infoPath).Length;
        if (length > Gpt2ConfigJson.MaxFileBytes)
            throw new InvalidDataException($"{infoPath}: {length} bytes, more than the limit of {Gpt2ConfigJson.MaxFileBytes}.");
        try { return JsonSerializer.Deserialize<ModelInfo>(File.ReadAllText(infoPath), Json); }
        // The serializer's message can quote the offending text; the line and JSON path are enough.
        catch (JsonException e) { throw new InvalidDataException($"{infoPath}: line {e.LineNumber + 1}: not valid ({e.Path ?? "$"})."); }
    }

    public static void Save(string directory, Gpt2Model model, Gpt2Config config, Vocabulary vocabulary, ModelInfo? info)
    {
        Directory.CreateDirectory(directory);
        HfCheckpoint.Save(model, config, directory);
        vocabulary.Save(directory);
        if (!vocabulary.IsFull)
        {
            // transformers defaults bos/eos to 50256, outside a compact vocabulary: name the compact id.
            var configPath = Path.Combine(directory, HfCheckpoint.ConfigFile);
            var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            json["bos_token_id"] = vocabulary.EndOfTextId;
            json["eos_token_id"] = vocabulary.EndOfTextId;
            File.WriteAllText(configPath + ".tmp", json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            File.Move(configPath + ".tmp", configPath, overwrite: true);
        }
        if (info is null) return;
        var path = Path.Combine(directory, ModelInfo.FileName);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(info, Json));
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
