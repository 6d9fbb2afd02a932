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
    /// <summary>
    /// Only in a fork's first checkpoint (a copy of its parent's): the fork's origin and settings, in force from
    /// this step on. The rest of the state stays the parent's, so the parts restore as after a live change here.
    /// </summary>
    [JsonPropertyName("fork"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public ForkOrigin? Fork { get; init; }

    /// <summary>The update's state as numbers (a key written as "NaN" reads back as NaN).</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, double> UpdateState
    {
        get => UpdateStateJson.ToDictionary(kv => kv.Key, kv => kv.Value.Deserialize<double>(RunSettings.Json));
        init => UpdateStateJson = value.ToDictionary(kv => kv.Key, kv => JsonSerializer.SerializeToElement(kv.Value, RunSettings.Json));
    }
}

/// <summary>Where a fork comes from: the parent run (its id), the step of the parent's checkpoint, and the fork's settings.</summary>
public sealed record ForkOrigin(
    [property: JsonPropertyName("parent")] string Parent,
    [property: JsonPropertyName("step")] int Step,
    [property: JsonPropertyName("settings")] RunSettings Settings);

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
        try
        {
            System.IO.Directory.CreateDirectory(tmp);
            foreach (var (file, module) in trainer.Modules()) WriteModule(Path.Combine(tmp, file), module);
            foreach (var (file, optimizer) in trainer.Optimizers()) optimizer.save_state_dict(Path.Combine(tmp, file));
            File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, Json));

            var hashes = System.IO.Directory.GetFiles(tmp).Order(StringComparer.Ordinal)
                .ToDictionary(f => Path.GetFileName(f), f => Hash(f));
            File.WriteAllText(Path.Combine(tmp, Manifest), JsonSerializer.Serialize(hashes));
            foreach (var f in System.IO.Directory.GetFiles(tmp)) Flush(f);
        }
        catch
        {
            // A full disk, say: give back what the partial write took; the last good checkpoint is untouched.
            try { System.IO.Directory.Delete(tmp, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }

        // The same step written again (a pause right after a scheduled checkpoint): the complete one stays
        // until the new one is in place, as "NAME.old", which List() takes when NAME is missing.
        string replaced = final + OldSuffix;
        if (System.IO.Directory.Exists(final))
        {
            if (System.IO.Directory.Exists(replaced)) System.IO.Directory.Delete(replaced, true); // stale: final is complete
            System.IO.Directory.Move(final, replaced);
        }
        System.IO.Directory.Move(tmp, final);
        // The rename is durable only once the folder holding it is: before pruning deletes the older ones.
        Runtime.DurableFiles.FsyncDirectory(root);
        if (System.IO.Directory.Exists(replaced)) System.IO.Directory.Delete(replaced, true);

        foreach (var old in Prunable(List(runDir), state.Step, keep)) System.IO.Directory.Delete(old.Path, true);
        return final;
    }

    /// <summary>
    /// What pruning deletes after writing the checkpoint at <paramref name="written"/>: never that one.
    /// Checkpoints of later steps are superseded (the run continued from an earlier one because they
    /// did not verify, or rolled back past them); of the earlier ones the newest keep - 1 stay.
    /// </summary>
    internal static IEnumerable<(int Step, string Path)> Prunable(IReadOnlyList<(int Step, string Path)> checkpoints, int written, int keep) =>
        checkpoints.Where(c => c.Step > written)
            .Concat(checkpoints.Where(c => c.Step < written).SkipLast(Math.Max(0, keep - 1)));
    private const string OldSuffix = ".old";

    /// <summary>Checkpoint directories of a run, oldest first (complete or not).</summary>
    public static IReadOnlyList<(int Step, string Path)> List(string runDir)
    {
        var root = Directory(runDir);
        if (!System.IO.Directory.Exists(root)) return [];
        var dirs = System.IO.Directory.GetDirectories(root, "ckpt-*");
        return dirs
            .Where(d => !d.EndsWith(".tmp", StringComparison.Ordinal))
            // A replaced checkpoint kept while its successor was renamed in: only when that rename never happened.
            .Where(d => !d.EndsWith(OldSuffix, StringComparison.Ordinal) || !dirs.Contains(d[..^OldSuffix.Length]))
            .Select(d => (Step: int.TryParse(Path.GetFileName(d)["ckpt-".Length..].Replace(OldSuffix, ""), out var s) ? s : -1, Path: d))
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

    /// <summary>
    /// Copies a verified checkpoint into <paramref name="runDir"/> (a fork's folder) with <paramref name="fork"/>
    /// recorded in its state; the manifest is rewritten for the new state, so the copy verifies as any checkpoint.
    /// </summary>
    internal static string CopyForFork(string checkpointDir, string runDir, ForkOrigin fork)
    {
        if (Verify(checkpointDir) is { } why) throw new InvalidDataException($"{checkpointDir}: {why}.");
        var state = ReadState(checkpointDir) with { Fork = fork };
        var root = Directory(runDir);
        string final = Path.Combine(root, Path.GetFileName(checkpointDir)), tmp = final + ".tmp";
        if (System.IO.Directory.Exists(tmp)) System.IO.Directory.Delete(tmp, true);
        System.IO.Directory.CreateDirectory(tmp);
        foreach (var f in System.IO.Directory.GetFiles(checkpointDir))
            if (Path.GetFileName(f) is not (Manifest or StateFile)) File.Copy(f, Path.Combine(tmp, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, Json));
        var hashes = System.IO.Directory.GetFiles(tmp).Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f), f => Hash(f));
        File.WriteAllText(Path.Combine(tmp, Manifest), JsonSerializer.Serialize(hashes));
        foreach (var f in System.IO.Directory.GetFiles(tmp)) Flush(f);
        System.IO.Directory.Move(tmp, final);
        Runtime.DurableFiles.FsyncDirectory(root);
        return final;
    }

    /// <summary>Most bytes a state.json may have: it holds scalars and small buffers, so anything bigger is not ours.</summary>
    public const long MaxStateBytes = 256L << 20;

    /// <summary>A checkpoint's scalar state; a file too big or not a state gives an error naming it, never a crash or a huge allocation.</summary>
    public static RunState ReadState(string checkpointDir)
    {
        var path = Path.Combine(checkpointDir, StateFile);
        long size = new FileInfo(path).Length;
        if (size > MaxStateBytes)
            throw new InvalidDataException($"{path}: {size:N0} bytes, more than a checkpoint state can have ({MaxStateBytes >> 20} MB); not a checkpoint this workbench wrote.");
        try
        {
            using var stream = File.OpenRead(path);
            return JsonSerializer.Deserialize<RunState>(stream, Json) ?? throw new InvalidDataException($"{path}: empty state.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a checkpoint state (line {e.LineNumber + 1}: {e.Message.Split('.')[0]}).");
        }
    }

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
        try
        {
            disc.to(device);
            ReadModule(path, disc);
            disc.eval();
            return disc;
        }
        catch
        {
            disc.Dispose();
            throw;
        }
    }

    internal static void WriteModule(string path, nn.Module module)
    {
        var tensors = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu());
        Safetensors.Write(path, tensors);
    }

    /// <summary>
    /// Streams each of the module's tensors from the file; a missing tensor or one whose shape differs
    /// from the module's is refused by name before anything is copied (copy_ would broadcast it).
    /// </summary>
    internal static void ReadModule(string path, nn.Module module)
    {
        using var file = SafetensorsFile.Open(path);
        var own = module.state_dict();
        foreach (var (name, t) in own)
        {
            if (!file.Tensors.TryGetValue(name, out var saved)) throw new InvalidDataException($"{path}: tensor '{name}' is missing.");
            if (!saved.Shape.SequenceEqual(t.shape))
                throw new InvalidDataException($"{path}: tensor '{name}' has shape {SafetensorsFile.ShapeText(saved.Shape)}, expected {SafetensorsFile.ShapeText(t.shape)}.");
        }
        using var _ = no_grad();
        foreach (var (name, t) in own) file.ReadInto(name, t);
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
