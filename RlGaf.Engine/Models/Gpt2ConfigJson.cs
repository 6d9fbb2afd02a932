using System.Text.Json;
using System.Text.Json.Nodes;

namespace RlGaf.Engine.Models;

/// <summary>
/// Reads and writes Hugging Face's GPT-2 <c>config.json</c>. Keys that would change the
/// network (activation, inner width, attention scaling variants) are checked, not ignored,
/// so a checkpoint this engine cannot reproduce fails loudly instead of giving wrong logits.
/// </summary>
public static class Gpt2ConfigJson
{
    /// <summary>Largest config.json read (GPT-2's is under 1 KB; a huge file is not a config).</summary>
    public const long MaxFileBytes = 1 << 20;

    /// <summary>
    /// Parses a config.json file; errors name the file and the key (and the bound it broke) but quote
    /// no text from the file, only numbers.
    /// </summary>
    public static Gpt2Config Read(string path)
    {
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes)
            throw new InvalidDataException($"{path}: config is {length} bytes, more than the limit of {MaxFileBytes}.");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new InvalidDataException($"{path}: config is not a JSON object.");
        }
        catch (JsonException e)
        {
            // The parser's message quotes the offending text; its position is enough.
            throw new InvalidDataException($"{path}: line {e.LineNumber + 1}: not valid JSON.", e);
        }
        try
        {
            return Parse(root, path);
        }
        catch (ArgumentException e)
        {
            // JsonObject reports a repeated key only when it is first looked up.
            throw new InvalidDataException($"{path}: a key appears twice.", e);
        }
    }

    /// <summary>Parses a config already loaded as JSON; <paramref name="source"/> names it in errors.</summary>
    public static Gpt2Config Parse(JsonObject root, string source)
    {
        string? modelType = OptString(root, "model_type", source);
        if (modelType is not null && modelType != "gpt2")
            throw new InvalidDataException($"{source}: model_type is not supported (only 'gpt2').");
        string? act = OptString(root, "activation_function", source);
        if (act is not null && act != "gelu_new")
            throw new InvalidDataException($"{source}: activation_function is not supported (only 'gelu_new').");

        // Every size is bounded here, key by key, before the config can reach a model constructor.
        int nEmbd = Int(root, "n_embd", source, Gpt2Config.MaxEmbd);
        if (root["n_inner"] is JsonNode inner && inner.GetValueKind() != JsonValueKind.Null
            && Int(root, "n_inner", source, 4 * Gpt2Config.MaxEmbd) is var nInner && nInner != 4 * nEmbd)
            throw new InvalidDataException($"{source}: n_inner {nInner} is not supported (only null or 4 * n_embd = {4 * nEmbd}).");
        RequireBool(root, "scale_attn_weights", true, source);
        RequireBool(root, "scale_attn_by_inverse_layer_idx", false, source);
        RequireBool(root, "reorder_and_upcast_attn", false, source);
        RequireBool(root, "tie_word_embeddings", true, source);

        var config = new Gpt2Config(
            VocabSize: Int(root, "vocab_size", source, Gpt2Config.MaxVocabSize),
            NPositions: Int(root, "n_positions", source, Gpt2Config.MaxPositions),
            NEmbd: nEmbd,
            NLayer: Int(root, "n_layer", source, Gpt2Config.MaxLayers),
            NHead: Int(root, "n_head", source, Gpt2Config.MaxEmbd),
            LayerNormEpsilon: OptDouble(root, "layer_norm_epsilon", source) ?? 1e-5,
            ResidPdrop: OptDouble(root, "resid_pdrop", source) ?? 0.0,
            EmbdPdrop: OptDouble(root, "embd_pdrop", source) ?? 0.0,
            AttnPdrop: OptDouble(root, "attn_pdrop", source) ?? 0.0);
        try
        {
            return config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
    }

    /// <summary>The JSON that <c>transformers.GPT2LMHeadModel.from_pretrained</c> expects.</summary>
    public static JsonObject ToJson(Gpt2Config c)
    {
        var o = new JsonObject
        {
            ["model_type"] = "gpt2",
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["activation_function"] = "gelu_new",
            ["vocab_size"] = c.VocabSize,
            ["n_positions"] = c.NPositions,
            ["n_ctx"] = c.NPositions,
            ["n_embd"] = c.NEmbd,
            ["n_layer"] = c.NLayer,
            ["n_head"] = c.NHead,
            ["n_inner"] = null,
            ["layer_norm_epsilon"] = c.LayerNormEpsilon,
            ["resid_pdrop"] = c.ResidPdrop,
            ["embd_pdrop"] = c.EmbdPdrop,
            ["attn_pdrop"] = c.AttnPdrop,
            ["initializer_range"] = 0.02,
            ["scale_attn_weights"] = true,
            ["tie_word_embeddings"] = true,
            ["torch_dtype"] = "float32",
        };
        // Only the real vocabulary has GPT-2's end-of-text token; a compact one maps it elsewhere.
        if (c.VocabSize == 50257)
        {
            o["bos_token_id"] = Gpt2Config.Gpt2EndOfText;
            o["eos_token_id"] = Gpt2Config.Gpt2EndOfText;
        }
        return o;
    }

    /// <summary>Writes config.json atomically (temp file, then rename).</summary>
    public static void Write(Gpt2Config config, string path)
    {
        var json = ToJson(config).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllText(path, json + "\n");
    }

    /// <summary>A required integer in 1..<paramref name="max"/>; 16.0, 1e3, "16" and out-of-range values are refused by key and bound.</summary>
    private static int Int(JsonObject root, string key, string source, int max)
    {
        var node = root[key] ?? throw new InvalidDataException($"{source}: required key '{key}' is missing.");
        if (node.GetValueKind() != JsonValueKind.Number)
            throw new InvalidDataException($"{source}: key '{key}' must be an integer in 1..{max}, found {Kind(node)}.");
        // Through the JSON text: the same for a parsed file and for nodes built in memory (which hold an int).
        using var doc = JsonDocument.Parse(node.ToJsonString());
        if (!doc.RootElement.TryGetInt64(out long value))
            throw new InvalidDataException($"{source}: key '{key}' must be an integer in 1..{max}, found a number that is not a 64-bit integer.");
        if (value < 1 || value > max)
            throw new InvalidDataException($"{source}: key '{key}' = {value} is outside its bound 1..{max}.");
        return (int)value;
    }

    private static double? OptDouble(JsonObject root, string key, string source)
    {
        if (root[key] is not JsonNode node || node.GetValueKind() == JsonValueKind.Null) return null;
        if (node.GetValueKind() != JsonValueKind.Number)
            throw new InvalidDataException($"{source}: key '{key}' must be a number, found {Kind(node)}.");
        using var doc = JsonDocument.Parse(node.ToJsonString());
        if (!doc.RootElement.TryGetDouble(out double value) || !double.IsFinite(value))
            throw new InvalidDataException($"{source}: key '{key}' must be a finite number.");
        return value;
    }

    private static string? OptString(JsonObject root, string key, string source)
    {
        if (root[key] is not JsonNode node || node.GetValueKind() == JsonValueKind.Null) return null;
        if (node.GetValueKind() != JsonValueKind.String)
            throw new InvalidDataException($"{source}: key '{key}' must be a string, found {Kind(node)}.");
        return node.GetValue<string>();
    }

    /// <summary>A value's JSON kind, for messages that must not quote the file.</summary>
    private static string Kind(JsonNode node) => node.GetValueKind() switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private static void RequireBool(JsonObject root, string key, bool supported, string source)
    {
        if (root[key] is not JsonNode node || node.GetValueKind() == JsonValueKind.Null) return;
        bool ok = node.GetValueKind() is JsonValueKind.True or JsonValueKind.False && node.GetValue<bool>() == supported;
        if (!ok)
            throw new InvalidDataException($"{source}: {key} = {(node.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? node.ToJsonString() : Kind(node))} is not supported (only {(supported ? "true" : "false")}).");
    }
}
