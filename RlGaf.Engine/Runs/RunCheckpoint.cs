using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Runs;

/// <summary>The scalar state of a run at a checkpoint (everything besides weights and optimizer moments).</summary>
public sealed record RunState
{
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("settings")] public required RunSettings Settings { get; init; }
    /// <summary>
    /// The generator update's own scalar state (REINFORCE's baseline_ema, PPO's kl_coef), kept at the top
    /// level of state.json under the update's keys, as checkpoints have always written them.
    /// </summary>
    [JsonExtensionData] public Dictionary<string, JsonElement> UpdateStateJson { get; init; } = [];
    [JsonPropertyName("threads")] public int Threads { get; init; }
    [JsonPropertyName("events")] public List<RunEvent> Events { get; init; } = [];
    /// <summary>The evaluation metrics so far (step → metrics): replayed into the collapse detector on resume.</summary>
    [JsonPropertyName("evaluations")] public SortedDictionary<int, Dictionary<string, double>> Evaluations { get; init; } = [];

    /// <summary>The update's state as numbers (a key written as "NaN" reads back as NaN).</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, double> UpdateState
    {
        get => UpdateStateJson.ToDictionary(kv => kv.Key, kv => kv.Value.Deserialize<double>(RunSettings.Json));
        init => UpdateStateJson = value.ToDictionary(kv => kv.Key, kv => JsonSerializer.SerializeToElement(kv.Value, RunSettings.Json));
    }
}

/// <summary>
/// A checkpoint holds everything needed to continue a run: generator, discriminator, value head,
/// rollout policy, both optimizers (Adam moments and step counts), step, settings in force, events,
/// baselines and the KL coefficient. Random draws are seeded from (seed, step, purpose), so there is
/// no RNG state to carry. Written into "NAME.tmp", fsynced, then renamed; a manifest with SHA-256 of
/// every file is written last, so a partial or corrupt checkpoint is detected and the previous one used.
/// The reference (SFT) model and the vocabulary live once in the run directory (they never change).
/// </summary>
public static class RunCheckpoint
{
    private const string Manifest = "manifest.json";
    private const string StateFile = "state.json";
    private static readonly JsonSerializerOptions Json = new(RunSettings.Json) { WriteIndented = false };

    public static string Directory(string runDir) => Path.Combine(runDir, "checkpoints");

    /// <summary>Writes the trainer's state as checkpoint "ckpt-{step}" and keeps the last <paramref name="keep"/>.</summary>
    public static string Save(string runDir, AdversarialTrainer trainer, RunState state, int keep)
    {
        var root = Directory(runDir);
        System.IO.Directory.CreateDirectory(root);
        string final = Path.Combine(root, $"ckpt-{state.Step:D7}");
        string tmp = final + ".tmp";
        if (System.IO.Directory.Exists(tmp)) System.IO.Directory.Delete(tmp, true);
        System.IO.Directory.CreateDirectory(tmp);

        foreach (var (file, module) in trainer.Modules()) WriteModule(Path.Combine(tmp, file), module);
        foreach (var (file, optimizer) in trainer.Optimizers()) optimizer.save_state_dict(Path.Combine(tmp, file));
        File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, Json));

        var hashes = System.IO.Directory.GetFiles(tmp).Order(StringComparer.Ordinal)
            .ToDictionary(f => Path.GetFileName(f), f => Hash(f));
        File.WriteAllText(Path.Combine(tmp, Manifest), JsonSerializer.Serialize(hashes));
        foreach (var f in System.IO.Directory.GetFiles(tmp)) Flush(f);

        if (System.IO.Directory.Exists(final)) System.IO.Directory.Delete(final, true);
        System.IO.Directory.Move(tmp, final);

        foreach (var old in List(runDir).SkipLast(keep)) System.IO.Directory.Delete(old.Path, true);
        return final;
    }

    /// <summary>Checkpoint directories of a run, oldest first (complete or not).</summary>
    public static IReadOnlyList<(int Step, string Path)> List(string runDir)
    {
        var root = Directory(runDir);
        if (!System.IO.Directory.Exists(root)) return [];
        return System.IO.Directory.GetDirectories(root, "ckpt-*")
            .Where(d => !d.EndsWith(".tmp", StringComparison.Ordinal))
            .Select(d => (Step: int.TryParse(Path.GetFileName(d)["ckpt-".Length..], out var s) ? s : -1, Path: d))
            .Where(x => x.Step >= 0).OrderBy(x => x.Step).ToList();
    }

    /// <summary>Why a checkpoint is unusable, or null when every file is present and matches the manifest.</summary>
    public static string? Verify(string checkpointDir)
    {
        var manifest = Path.Combine(checkpointDir, Manifest);
        if (!File.Exists(manifest)) return "no manifest (partial write)";
        Dictionary<string, string>? hashes;
        try { hashes = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(manifest)); }
        catch (JsonException) { return "manifest is not valid JSON"; }
        if (hashes is null || !hashes.ContainsKey(StateFile)) return "manifest lists no state";
        foreach (var (file, hash) in hashes)
        {
            var path = Path.Combine(checkpointDir, file);
            if (!File.Exists(path)) return $"{file} is missing";
            if (Hash(path) != hash) return $"{file} does not match its hash (corrupt)";
        }
        return null;
    }

    /// <summary>The newest checkpoint that verifies; the reasons of any newer ones skipped go to <paramref name="skipped"/>.</summary>
    public static (int Step, string Path)? LatestGood(string runDir, List<string> skipped)
    {
        foreach (var c in List(runDir).Reverse())
        {
            var why = Verify(c.Path);
            if (why is null) return c;
            skipped.Add($"{Path.GetFileName(c.Path)}: {why}");
        }
        return null;
    }

    public static RunState ReadState(string checkpointDir) =>
        JsonSerializer.Deserialize<RunState>(File.ReadAllText(Path.Combine(checkpointDir, StateFile)), Json)
        ?? throw new InvalidDataException($"{checkpointDir}: empty state.");

    /// <summary>
    /// Restores a trainer built with the same settings: weights, optimizer state, then the step and each
    /// part's scalar state (the trainer's settings in force stay: a rollback keeps live changes).
    /// </summary>
    public static void Restore(string checkpointDir, AdversarialTrainer trainer, RunState state)
    {
        foreach (var (file, module) in trainer.Modules()) ReadModule(Path.Combine(checkpointDir, file), module);
        foreach (var (file, optimizer) in trainer.Optimizers()) optimizer.load_state_dict(Path.Combine(checkpointDir, file));
        trainer.RestoreState(state.Step, state.UpdateState, state.Settings);
    }

    private const string PolicyFile = AdversarialTrainer.PolicyFile, DiscFile = DiscriminatorTrainer.File;

    /// <summary>Writes the checkpoint's generator as a model directory (Hugging Face layout + vocabulary), usable by 'sample'.</summary>
    public static void ExportGenerator(string runDir, string checkpointDir, string outDir)
    {
        var loaded = LoadGenerator(runDir, checkpointDir, CPU);
        using var model = loaded.Model;
        var info = (loaded.Info ?? new Checkpoints.ModelInfo()) with { Metrics = [], Created = DateTimeOffset.UtcNow };
        Checkpoints.ModelDirectory.Save(outDir, model, loaded.Config, loaded.Vocabulary, info);
    }

    /// <summary>The checkpoint's generator: the run's SFT model (shape, vocabulary, info) with the checkpoint's policy weights.</summary>
    public static Checkpoints.LoadedModel LoadGenerator(string runDir, string checkpointDir, Device device)
    {
        var sft = Checkpoints.ModelDirectory.Load(Path.Combine(runDir, RunSetup.SftDir), device);
        ReadModule(Path.Combine(checkpointDir, PolicyFile), sft.Model);
        return sft;
    }

    /// <summary>Whether the checkpoint holds a discriminator (RLGAF methods; not sft or rlhf-proxy).</summary>
    public static bool HasDiscriminator(string checkpointDir) => File.Exists(Path.Combine(checkpointDir, DiscFile));

    /// <summary>The checkpoint's discriminator in eval mode, shaped like the run's SFT model.</summary>
    public static Discriminator LoadDiscriminator(string runDir, string checkpointDir, Device device)
    {
        var path = Path.Combine(checkpointDir, DiscFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{checkpointDir}: no discriminator ({DiscFile}); runs of methods sft and rlhf-proxy have none.");
        var config = Gpt2ConfigJson.Read(Path.Combine(runDir, RunSetup.SftDir, HfCheckpoint.ConfigFile));
        var disc = new Discriminator(config, seed: 0);
        disc.to(device);
        ReadModule(path, disc);
        disc.eval();
        return disc;
    }

    internal static void WriteModule(string path, nn.Module module)
    {
        var tensors = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu());
        Safetensors.Write(path, tensors);
    }

    internal static void ReadModule(string path, nn.Module module)
    {
        var tensors = Safetensors.Read(path);
        using var _ = no_grad();
        var own = module.state_dict();
        foreach (var (name, t) in own)
        {
            if (!tensors.TryGetValue(name, out var saved)) throw new InvalidDataException($"{path}: tensor '{name}' is missing.");
            t.copy_(saved);
        }
        foreach (var t in tensors.Values) t.Dispose();
    }

    private static string Hash(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(s));
    }

    private static void Flush(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        s.Flush(flushToDisk: true);
    }
}
