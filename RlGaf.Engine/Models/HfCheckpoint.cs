using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Models;

/// <summary>
/// Hugging Face GPT-2 checkpoints: a folder with config.json and model.safetensors. Loads both
/// the GPT2LMHeadModel layout ("transformer.h.0...") and the bare GPT2Model layout ("h.0...").
/// Conv1D weights stay [in, out] as HF stores them (see <see cref="Conv1D"/>).
/// </summary>
public static class HfCheckpoint
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    private const string Prefix = "transformer.";

    /// <summary>Loads config and weights from <paramref name="dir"/>, optionally moving the model to <paramref name="device"/>.</summary>
    public static (Gpt2Config Config, Gpt2Model Model) Load(string dir, Device? device = null)
    {
        var configPath = Path.Combine(dir, ConfigFile);
        var weightsPath = Path.Combine(dir, WeightsFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: no config.json in the checkpoint folder.", configPath);
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException($"{weightsPath}: no model.safetensors in the checkpoint folder (only safetensors checkpoints are read).", weightsPath);

        var config = Gpt2ConfigJson.Read(configPath);
        var model = new Gpt2Model(config);
        try
        {
            var tensors = Safetensors.Read(weightsPath);
            try
            {
                CopyInto(model, tensors, weightsPath);
            }
            finally
            {
                foreach (var t in tensors.Values) t.Dispose();
            }
            if (device is not null) model.to(device);
            model.eval(); // as from_pretrained: dropout off until a trainer asks for train()
            return (config, model);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes config.json and model.safetensors in GPT2LMHeadModel's layout ("transformer."
    /// prefix, Conv1D [in, out], no lm_head because it is tied), each file atomically.
    /// </summary>
    public static void Save(Gpt2Model model, Gpt2Config config, string dir)
    {
        if (model.Config != config)
            throw new ArgumentException($"config {config} does not describe the model ({model.Config}).");
        Directory.CreateDirectory(dir);
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, p) in model.named_parameters()) tensors[Prefix + name] = p;
        Safetensors.Write(Path.Combine(dir, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        Gpt2ConfigJson.Write(config, Path.Combine(dir, ConfigFile));
    }

    private static void CopyInto(Gpt2Model model, Dictionary<string, Tensor> tensors, string file)
    {
        // HF's GPT2LMHeadModel prefixes "transformer."; the original gpt2 repo stores bare names.
        bool prefixed = tensors.Keys.Any(k => k.StartsWith(Prefix, StringComparison.Ordinal));
        string Key(string name) => prefixed ? Prefix + name : name;

        var expected = model.named_parameters().ToList();
        var used = new HashSet<string>();
        using var noGrad = no_grad();
        foreach (var (name, p) in expected)
        {
            var key = Key(name);
            var shape = Shape(p.shape);
            if (!tensors.TryGetValue(key, out var t))
                throw new InvalidDataException($"{file}: tensor '{key}' is missing (expected shape {shape}).");
            if (!t.shape.SequenceEqual(p.shape))
                throw new InvalidDataException($"{file}: tensor '{key}' has shape {Shape(t.shape)}, expected {shape}.");
            if (!t.is_floating_point())
                throw new InvalidDataException($"{file}: tensor '{key}' has dtype {t.dtype}, expected a float type.");
            p.copy_(t);
            used.Add(key);
        }

        if (tensors.TryGetValue("lm_head.weight", out var head))
        {
            // The head must be the tied embedding; an untied head would be silently ignored otherwise.
            using var wte = model.TokenEmbedding.detach().cpu();
            if (!head.shape.SequenceEqual(wte.shape) || !head.allclose(wte, 0, 0))
                throw new InvalidDataException($"{file}: tensor 'lm_head.weight' differs from the token embedding "
                    + $"'{Key("wte.weight")}'; untied LM heads are not supported.");
            used.Add("lm_head.weight");
        }

        // Causal-mask buffers of older HF versions carry no weights.
        var unexpected = tensors.Keys.Where(k => !used.Contains(k)
            && !k.EndsWith(".attn.bias", StringComparison.Ordinal) && !k.EndsWith(".attn.masked_bias", StringComparison.Ordinal)).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"{file}: unexpected tensors {string.Join(", ", unexpected.Take(5).Select(u => $"'{u}'"))}"
                + (unexpected.Count > 5 ? $" and {unexpected.Count - 5} more" : "") + " (is this a GPT-2 checkpoint with the config's n_layer?).");
    }

    private static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
