using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Runtime;
using RlGaf.Engine.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Models;

/// <summary>
/// Model directories and run checkpoints as hostile input: the vocabulary check runs before a model
/// exists, a model that fails a check is disposed (observed through TorchSharp's live-tensor count on
/// this thread), and our own checkpoint files cannot broadcast a tensor into a parameter.
/// </summary>
public sealed class UntrustedModelFilesTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("rlgaf-untrusted-").FullName;

    public UntrustedModelFilesTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static long LiveTensors => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    /// <summary>
    /// Live tensors left on this thread by <paramref name="action"/>. Building and disposing a model
    /// leaves a few handles TorchSharp itself keeps, so leaks are judged against <see cref="Control"/>.
    /// </summary>
    private static long LeftBy(Action action)
    {
        using var scope = NewDisposeScope();
        long before = LiveTensors;
        action();
        return LiveTensors - before;
    }

    /// <summary>What building and disposing models of <paramref name="configs"/> leaves: the most a load that disposes may leave.</summary>
    private static long Control(params Func<IDisposable>[] build) => LeftBy(() => { foreach (var b in build) b().Dispose(); });

    [Fact]
    public void Vocabulary_mismatch_is_refused_before_the_weights_are_opened()
    {
        // vocab_size 37 without rlgaf-vocab.json means the full GPT-2 vocabulary (50257): a mismatch.
        // The weights file is garbage: refusing with the vocabulary error shows it was never read and no model was built.
        TinyHfCheckpoint.Random(seed: 1).WriteTo(dir);
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), [1, 2, 3]);
        var e = Assert.Throws<InvalidDataException>(() => ModelDirectory.Load(dir));
        Assert.Contains("config.json: vocab_size 37 does not match the vocabulary (50257 tokens, full GPT-2)", e.Message);
    }

    [Fact]
    public void Oversized_side_files_are_refused_before_they_are_read()
    {
        TinyHfCheckpoint.Random(seed: 4).WriteTo(dir);
        var vocab = Path.Combine(dir, Vocabulary.FileName);
        using (var f = new FileStream(vocab, FileMode.Create)) f.SetLength(Vocabulary.MaxFileBytes + 1);
        Assert.Contains($"{vocab}: {Vocabulary.MaxFileBytes + 1} bytes, more than the limit", Assert.Throws<InvalidDataException>(() => ModelDirectory.Load(dir)).Message);
        File.Delete(vocab);
        var info = Path.Combine(dir, ModelInfo.FileName);
        using (var f = new FileStream(info, FileMode.Create)) f.SetLength(Gpt2ConfigJson.MaxFileBytes + 1);
        Assert.Contains($"{info}: {Gpt2ConfigJson.MaxFileBytes + 1} bytes, more than the limit", Assert.Throws<InvalidDataException>(() => ModelDirectory.ReadInfo(dir)).Message);
    }

    [Fact]
    public void A_checkpoint_state_too_big_or_not_a_state_is_refused_naming_the_file()
    {
        var state = Path.Combine(dir, "state.json");
        using (var f = new FileStream(state, FileMode.Create)) f.SetLength(RunCheckpoint.MaxStateBytes + 1); // sparse: no real 256 MB written
        Assert.Contains($"{state}: {RunCheckpoint.MaxStateBytes + 1:N0} bytes, more than a checkpoint state can have",
            Assert.Throws<InvalidDataException>(() => RunCheckpoint.ReadState(dir)).Message);
        File.WriteAllText(state, "{\n  \"step\": \"twelve\"\n}");
        var e = Assert.Throws<InvalidDataException>(() => RunCheckpoint.ReadState(dir));
        Assert.StartsWith($"{state}: not a checkpoint state (line 2", e.Message);
        Assert.DoesNotContain("twelve", e.Message); // errors name the place, not the content
    }

    [Fact]
    public void A_model_that_fails_a_check_after_loading_is_disposed()
    {
        // Loads fine, then rlgaf-model.json is invalid: the loaded model must not leak.
        TinyHfCheckpoint.Random(seed: 2).WriteTo(dir);
        var vocab = Vocabulary.BuildCompact(["a small corpus"]);
        var config = new Gpt2Config(vocab.Size, 16, 16, 1, 2);
        using (var model = new Gpt2Model(config)) ModelDirectory.Save(dir, model, config, vocab, new ModelInfo());
        File.WriteAllText(Path.Combine(dir, ModelInfo.FileName), "{\"steps\": sk-live-0123456789abcdef}");

        InvalidDataException? e = null;
        long left = LeftBy(() => e = Assert.Throws<InvalidDataException>(() => ModelDirectory.Load(dir)));
        Assert.Contains($"{ModelInfo.FileName}: line 1: not valid", e!.Message);
        Assert.DoesNotContain("sk-live", e.Message);
        Assert.Equal(Control(() => new Gpt2Model(config)), left);
    }

    [Fact]
    public void Disc_checkpoint_with_another_vocabulary_is_refused_and_disposed()
    {
        var vocab = Vocabulary.BuildCompact(["a small corpus"]);
        var config = new Gpt2Config(vocab.Size, 16, 16, 1, 2);
        using (var model = new Gpt2Model(config)) ModelDirectory.Save(dir, model, config, vocab, new ModelInfo());
        using var sft = new Gpt2Model(new Gpt2Config(vocab.Size + 1, 16, 16, 1, 2));
        var settings = new RunSettings { DiscInit = DiscriminatorInit.Checkpoint, DiscCheckpoint = dir };

        ArgumentException? e = null;
        long left = LeftBy(() => e = Assert.Throws<ArgumentException>(() => RunSetup.CreateDiscriminator(settings, sft, CPU)));
        Assert.Contains("disc_checkpoint: vocabulary of", e!.Message);
        Assert.Equal(Control(() => new Gpt2Model(config)), left);
    }

    [Fact]
    public void Run_checkpoint_tensor_that_would_broadcast_is_refused_by_name_and_shapes()
    {
        var config = new Gpt2Config(37, 16, 16, 1, 2);
        var runDir = Path.Combine(dir, "run");
        Directory.CreateDirectory(Path.Combine(runDir, RunSetup.SftDir));
        Gpt2ConfigJson.Write(config, Path.Combine(runDir, RunSetup.SftDir, HfCheckpoint.ConfigFile));
        var ckpt = Path.Combine(runDir, "ckpt");
        Directory.CreateDirectory(ckpt);
        using var disc = new Discriminator(config, seed: 3);
        var tensors = disc.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach());
        var victim = tensors.First(kv => kv.Value.shape.SequenceEqual([16L])).Key;
        using var one = tensor(new float[] { 0.25f });
        tensors[victim] = one; // copy_ would broadcast [1] into [16]
        Safetensors.Write(Path.Combine(ckpt, "disc.safetensors"), tensors);

        InvalidDataException? e = null;
        long left = LeftBy(() => e = Assert.Throws<InvalidDataException>(() => RunCheckpoint.LoadDiscriminator(runDir, ckpt, CPU)));
        Assert.Contains($"disc.safetensors: tensor '{victim}' has shape [1], expected [16]", e!.Message);
        Assert.Equal(Control(() => new Discriminator(config, seed: 0)), left); // the discriminator built for the checkpoint was disposed
    }
}
