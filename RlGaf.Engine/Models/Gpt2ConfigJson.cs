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
    /// <summary>Parses a config.json file; errors name the file and the key.</summary>
    public static Gpt2Config Read(string path)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new InvalidDataException($"{path}: config is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }
        return Parse(root, path);
    }

    /// <summary>Parses a config already loaded as JSON; <paramref name="source"/> names it in errors.</summary>
    public static Gpt2Config Parse(JsonObject root, string source)
    {
        string? modelType = OptString(root, "model_type", source);
        if (modelType is not null && modelType != "gpt2")
            throw new InvalidDataException($"{source}: model_type '{modelType}' is not supported (only 'gpt2').");
        string? act = OptString(root, "activation_function", source);
        if (act is not null && act != "gelu_new")
            throw new InvalidDataException($"{source}: activation_function '{act}' is not supported (only 'gelu_new').");

        int nEmbd = Int(root, "n_embd", source);
        if (root["n_inner"] is JsonNode inner && inner.GetValueKind() != JsonValueKind.Null
            && Int(root, "n_inner", source) != 4 * nEmbd)
            throw new InvalidDataException($"{source}: n_inner {inner} is not supported (only null or 4 * n_embd = {4 * nEmbd}).");
        RequireBool(root, "scale_attn_weights", true, source);
        RequireBool(root, "scale_attn_by_inverse_layer_idx", false, source);
        RequireBool(root, "reorder_and_upcast_attn", false, source);
        RequireBool(root, "tie_word_embeddings", true, source);

        var config = new Gpt2Config(
            VocabSize: Int(root, "vocab_size", source),
            NPositions: Int(root, "n_positions", source),
            NEmbd: nEmbd,
            NLayer: Int(root, "n_layer", source),
            NHead: Int(root, "n_head", source),
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

    private static int Int(JsonObject root, string key, string source)
    {
        var node = root[key] ?? throw new InvalidDataException($"{source}: required key '{key}' is missing.");
        try { return node.GetValue<int>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{source}: key '{key}' must be an integer, found {node.ToJsonString()}.", e);
        }
    }

    private static double? OptDouble(JsonObject root, string key, string source)
    {
        if (root[key] is not JsonNode node || node.GetValueKind() == JsonValueKind.Null) return null;
        try { return node.GetValue<double>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{source}: key '{key}' must be a number, found {node.ToJsonString()}.", e);
        }
    }

    private static string? OptString(JsonObject root, string key, string source)
    {
        if (root[key] is not JsonNode node || node.GetValueKind() == JsonValueKind.Null) return null;
        if (node.GetValueKind() != JsonValueKind.String)
            throw new InvalidDataException($"{source}: key '{key}' must be a string, found {node.ToJsonString()}.");
        return node.GetValue<string>();
    }

    private static void RequireBool(JsonObject root, string key, bool supported, string source)
    {
        if (root[key] is not JsonNode node || node.GetValueKind() == JsonValueKind.Null) return;
        bool ok = node.GetValueKind() is JsonValueKind.True or JsonValueKind.False && node.GetValue<bool>() == supported;
        if (!ok)
            throw new InvalidDataException($"{source}: {key} = {node.ToJsonString()} is not supported (only {(supported ? "true" : "false")}).");
    }
}
