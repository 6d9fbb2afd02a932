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

    /// <summary>
    /// Loads config and weights from <paramref name="dir"/>, optionally moving the model to <paramref name="device"/>.
    /// Both files are treated as hostile: config.json is bounded (<see cref="Gpt2ConfigJson"/>) and
    /// <paramref name="checkConfig"/> (throw to refuse) runs before anything is allocated; the weights'
    /// header is checked against the file (<see cref="SafetensorsFile"/>) and must hold at least as many
    /// bytes as the config's parameters need before the model is allocated; each tensor must have its
    /// parameter's exact shape and is streamed into it. On any failure the model is disposed.
    /// </summary>
    public static (Gpt2Config Config, Gpt2Model Model) Load(string dir, Device? device = null, Action<Gpt2Config>? checkConfig = null)
    {
        var configPath = Path.Combine(dir, ConfigFile);
        var weightsPath = Path.Combine(dir, WeightsFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: no config.json in the checkpoint folder.", configPath);
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException($"{weightsPath}: no model.safetensors in the checkpoint folder (only safetensors checkpoints are read).", weightsPath);

        var config = Gpt2ConfigJson.Read(configPath);
        checkConfig?.Invoke(config);
        using var file = SafetensorsFile.Open(weightsPath);
        // The smallest float dtype read is 2 bytes: a file with fewer bytes cannot fill the model,
        // so a tiny file with a large (in-bounds) config never gets its model allocated.
        long needed = config.ParameterCount * 2;
        if (file.DataLength < needed)
            throw new InvalidDataException($"{weightsPath}: holds {file.DataLength} bytes of tensors, fewer than the {needed} "
                + $"that the {config.ParameterCount} parameters of {configPath} need even at 2 bytes each.");
        var model = new Gpt2Model(config);
        try
        {
            CopyInto(model, file);
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

    private static void CopyInto(Gpt2Model model, SafetensorsFile file)
    {
        // HF's GPT2LMHeadModel prefixes "transformer."; the original gpt2 repo stores bare names.
        var tensors = file.Tensors;
        bool prefixed = tensors.Keys.Any(k => k.StartsWith(Prefix, StringComparison.Ordinal));
        string Key(string name) => prefixed ? Prefix + name : name;
        string path = file.Path;

        var expected = model.named_parameters().ToList();
        var used = new HashSet<string>();
        using var noGrad = no_grad();
        foreach (var (name, p) in expected)
        {
            var key = Key(name);
            var shape = Shape(p.shape);
            if (!tensors.TryGetValue(key, out var t))
                throw new InvalidDataException($"{path}: tensor '{key}' is missing (expected shape {shape}).");
            // Checked here, before any byte is copied: copy_ would broadcast a [1, n] tensor into [m, n].
            if (!t.Shape.SequenceEqual(p.shape))
                throw new InvalidDataException($"{path}: tensor '{key}' has shape {Shape(t.Shape)}, expected {shape}.");
            if (!t.IsFloat)
                throw new InvalidDataException($"{path}: tensor '{key}' has dtype {t.Dtype}, expected a float type.");
            file.ReadInto(key, p);
            used.Add(key);
        }

        if (tensors.TryGetValue("lm_head.weight", out var headEntry))
        {
            // The head must be the tied embedding; an untied head would be silently ignored otherwise.
            using var wte = model.TokenEmbedding.detach().cpu();
            if (!headEntry.Shape.SequenceEqual(wte.shape) || !headEntry.IsFloat)
                throw new InvalidDataException($"{path}: tensor 'lm_head.weight' differs from the token embedding "
                    + $"'{Key("wte.weight")}'; untied LM heads are not supported.");
            using var head = file.Read("lm_head.weight");
            if (!head.allclose(wte, 0, 0))
                throw new InvalidDataException($"{path}: tensor 'lm_head.weight' differs from the token embedding "
                    + $"'{Key("wte.weight")}'; untied LM heads are not supported.");
            used.Add("lm_head.weight");
        }

        // Causal-mask buffers of older HF versions carry no weights.
        var unexpected = tensors.Keys.Where(k => !used.Contains(k)
            && !k.EndsWith(".attn.bias", StringComparison.Ordinal) && !k.EndsWith(".attn.masked_bias", StringComparison.Ordinal)).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"{path}: unexpected tensors {string.Join(", ", unexpected.Take(5).Select(SafetensorsFile.Quote))}"
                + (unexpected.Count > 5 ? $" and {unexpected.Count - 5} more" : "") + " (is this a GPT-2 checkpoint with the config's n_layer?).");
    }

    private static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
