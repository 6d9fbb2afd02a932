using RlGaf.Engine.Models;
using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Models;

/// <summary>Loading HF-layout checkpoints: logits against the double-precision reference, layouts, errors.</summary>
public sealed class HfCheckpointTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "rlgaf-hf-" + Guid.NewGuid().ToString("N"));

    public HfCheckpointTests() => TorchRuntime.EnsureLoaded();

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private static readonly int[] Ids = [3, 36, 0, 17, 17, 5, 29, 11, 2, 34, 8, 21, 14, 16];

    internal static double MaxAbsDiffToReference(Gpt2Model model, TinyHfCheckpoint ckpt, int[] ids)
    {
        var expected = ReferenceGpt2.Logits(ckpt, ids);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = model.Forward(tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0));
        Assert.Equal(new long[] { 1, ids.Length, ckpt.Vocab }, logits.shape);
        var got = logits.to_type(ScalarType.Float64).data<double>().ToArray();
        double max = 0;
        for (int t = 0; t < ids.Length; t++)
            for (int v = 0; v < ckpt.Vocab; v++) max = Math.Max(max, Math.Abs(got[t * ckpt.Vocab + v] - expected[t][v]));
        return max;
    }

    [Fact]
    public void Logits_match_double_precision_reference()
    {
        var ckpt = TinyHfCheckpoint.Random(seed: 1);
        var (config, model) = HfCheckpoint.Load(ckpt.WriteTo(dir));
        using var _ = model;
        Assert.Equal(1e-3, config.LayerNormEpsilon);
        Assert.False(model.training); // loaded like from_pretrained: dropout (0.1 in this config) is off
        // Sanity: logits are far from zero, so a 1e-4 match is meaningful.
        Assert.True(ReferenceGpt2.Logits(ckpt, Ids).SelectMany(r => r).Max(Math.Abs) > 1.0);
        Assert.True(MaxAbsDiffToReference(model, ckpt, Ids) < 1e-4);
    }

    [Fact]
    public void Reference_is_sensitive_to_a_transposed_conv1d_and_to_eps()
    {
        // Guards the reference test itself: feeding the engine [out, in] weights (square c_proj,
        // so shapes still fit) or the default eps must make the comparison fail.
        var ckpt = TinyHfCheckpoint.Random(seed: 2);
        var transposed = Path.Combine(dir, "t");
        ckpt.WriteTo(transposed);
        var (_, good) = HfCheckpoint.Load(transposed);
        using (good) Assert.True(MaxAbsDiffToReference(good, ckpt, Ids) < 1e-4);

        var w = ckpt.Weights["transformer.h.0.attn.c_proj.weight"];
        var t = new float[w.Data.Length];
        for (int i = 0; i < 16; i++) for (int j = 0; j < 16; j++) t[j * 16 + i] = w.Data[i * 16 + j];
        ckpt.WriteTo(transposed, extra: null, rename: n => n);
        File.WriteAllBytes(Path.Combine(transposed, "model.safetensors"), TestSafetensors.F32(
            ckpt.Weights.Select(kv => (kv.Key, kv.Value.Shape, kv.Key == "transformer.h.0.attn.c_proj.weight" ? t : kv.Value.Data))));
        var (_, bad) = HfCheckpoint.Load(transposed);
        using (bad) Assert.True(MaxAbsDiffToReference(bad, ckpt, Ids) > 1e-3);
    }

    [Fact]
    public void Bare_gpt2_layout_without_prefix_loads_the_same_logits()
    {
        var ckpt = TinyHfCheckpoint.Random(seed: 3);
        var (_, model) = HfCheckpoint.Load(ckpt.WriteTo(dir, rename: n => n["transformer.".Length..]));
        using var _ = model;
        Assert.True(MaxAbsDiffToReference(model, ckpt, Ids) < 1e-4);
    }

    [Fact]
    public void Tied_lm_head_is_accepted_and_an_untied_one_is_rejected()
    {
        var ckpt = TinyHfCheckpoint.Random(seed: 4);
        var wte = ckpt.Weights["transformer.wte.weight"];
        var tied = new Dictionary<string, (long[], float[])>
        {
            ["lm_head.weight"] = (wte.Shape, wte.Data),
            ["transformer.h.0.attn.bias"] = ([1, 1, 16, 16], new float[256]), // old HF mask buffer: ignored
        };
        var (_, model) = HfCheckpoint.Load(ckpt.WriteTo(Path.Combine(dir, "tied"), extra: tied));
        using (model) Assert.True(MaxAbsDiffToReference(model, ckpt, Ids) < 1e-4);

        var other = wte.Data.ToArray();
        other[5] += 0.01f;
        var untied = new Dictionary<string, (long[], float[])> { ["lm_head.weight"] = (wte.Shape, other) };
        var e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(ckpt.WriteTo(Path.Combine(dir, "untied"), extra: untied)));
        Assert.Contains("lm_head.weight", e.Message);
    }

    [Fact]
    public void Missing_tensor_names_it_and_its_shape()
    {
        var ckpt = TinyHfCheckpoint.Random(seed: 5);
        ckpt.WriteTo(dir, rename: n => n == "transformer.h.1.mlp.c_fc.bias" ? null : n);
        var e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(dir));
        Assert.Contains("'transformer.h.1.mlp.c_fc.bias' is missing", e.Message);
        Assert.Contains("[64]", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void Misshaped_tensor_names_it_and_both_shapes()
    {
        var ckpt = TinyHfCheckpoint.Random(seed: 6);
        // A Linear-style [out, in] c_attn weight: the classic transposition mistake.
        var w = ckpt.Weights["transformer.h.0.attn.c_attn.weight"];
        ckpt.Weights["transformer.h.0.attn.c_attn.weight"] = ([48, 16], w.Data);
        var e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(ckpt.WriteTo(dir)));
        Assert.Contains("'transformer.h.0.attn.c_attn.weight' has shape [48, 16], expected [16, 48]", e.Message);
    }

    [Fact]
    public void Unexpected_tensor_is_named()
    {
        var ckpt = TinyHfCheckpoint.Random(seed: 7);
        var extra = new Dictionary<string, (long[], float[])> { ["transformer.h.2.ln_1.weight"] = ([16], new float[16]) };
        var e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(ckpt.WriteTo(dir, extra: extra)));
        Assert.Contains("transformer.h.2.ln_1.weight", e.Message);
    }

    [Theory]
    [InlineData("relu", "gpt2", "activation_function")]
    [InlineData("gelu_new", "llama", "model_type")]
    public void Unsupported_config_key_names_file_and_key(string activation, string modelType, string key)
    {
        var ckpt = TinyHfCheckpoint.Random(seed: 8);
        ckpt.WriteTo(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), ckpt.ConfigJson(activation, modelType));
        var e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(dir));
        Assert.Contains("config.json", e.Message);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void Config_that_fails_validation_names_the_field()
    {
        var ckpt = TinyHfCheckpoint.Random(seed: 9);
        ckpt.WriteTo(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), ckpt.ConfigJson().Replace("\"n_head\": 2", "\"n_head\": 3"));
        var e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(dir));
        Assert.Contains("n_embd (16) must be divisible by n_head (3)", e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void Broadcastable_tensor_is_refused_not_broadcast()
    {
        // [1] would broadcast into ln_f.bias [16] and [1, 16] into wte [37, 16]: both must be refused by shape.
        var ckpt = TinyHfCheckpoint.Random(seed: 10);
        ckpt.Weights["transformer.ln_f.bias"] = ([1], [0.5f]);
        var e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(ckpt.WriteTo(Path.Combine(dir, "a"))));
        Assert.Contains("model.safetensors: tensor 'transformer.ln_f.bias' has shape [1], expected [16]", e.Message);

        ckpt = TinyHfCheckpoint.Random(seed: 10);
        ckpt.Weights["transformer.wte.weight"] = ([1, 16], new float[16]);
        e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(ckpt.WriteTo(Path.Combine(dir, "b"))));
        Assert.Contains("tensor 'transformer.wte.weight' has shape [1, 16], expected [37, 16]", e.Message);
    }

    [Theory]
    [InlineData("\"n_embd\": 16", "\"n_embd\": 1000000000", "key 'n_embd' = 1000000000 is outside its bound 1..16384")]
    [InlineData("\"n_layer\": 2", "\"n_layer\": 1000000", "key 'n_layer' = 1000000 is outside its bound 1..256")]
    [InlineData("\"vocab_size\": 37", "\"vocab_size\": 1000000000000", "key 'vocab_size' = 1000000000000 is outside its bound 1..1048576")]
    [InlineData("\"n_positions\": 16", "\"n_positions\": 0", "key 'n_positions' = 0 is outside its bound 1..65536")]
    [InlineData("\"n_head\": 2", "\"n_head\": -2", "key 'n_head' = -2 is outside its bound")]
    [InlineData("\"n_embd\": 16", "\"n_embd\": 16.5", "key 'n_embd' must be an integer in 1..16384, found a number that is not a 64-bit integer")]
    [InlineData("\"n_embd\": 16", "\"n_embd\": 1e9", "key 'n_embd' must be an integer in 1..16384")]
    [InlineData("\"n_layer\": 2", "\"n_layer\": \"2\"", "key 'n_layer' must be an integer in 1..256, found a string")]
    [InlineData("\"n_inner\": null", "\"n_inner\": 1000000000000", "key 'n_inner' = 1000000000000 is outside its bound")]
    [InlineData("\"n_embd\": 16, \"n_head\": 2", "\"n_embd\": 16384, \"n_head\": 16", "more than the limit of 2147483648")]
    public void Config_values_are_bounded_before_a_model_is_allocated(string from, string to, string message)
    {
        var ckpt = TinyHfCheckpoint.Random(seed: 11);
        ckpt.WriteTo(dir);
        var text = ckpt.ConfigJson();
        Assert.Contains(from, text);
        File.WriteAllText(Path.Combine(dir, "config.json"), text.Replace(from, to));
        var e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(dir));
        Assert.Contains("config.json", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void In_bounds_config_larger_than_its_weights_file_is_refused_before_the_model_is_allocated()
    {
        // GPT-2 medium's shape (355M parameters, 1.4 GB of float32) over a file of a few KB: refused by
        // comparing sizes, so the 1.4 GB are never allocated.
        var ckpt = TinyHfCheckpoint.Random(seed: 12);
        ckpt.WriteTo(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), ckpt.ConfigJson()
            .Replace("\"n_embd\": 16, \"n_head\": 2", "\"n_embd\": 1024, \"n_head\": 16").Replace("\"n_layer\": 2", "\"n_layer\": 24")
            .Replace("\"vocab_size\": 37", "\"vocab_size\": 50257").Replace("\"n_positions\": 16", "\"n_positions\": 1024"));
        var e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(dir));
        Assert.Contains("model.safetensors: holds", e.Message);
        Assert.Contains("fewer than the 709646336", e.Message); // 2 bytes x 354,823,168 parameters (GPT-2 medium's count)
        Assert.Equal(354_823_168, new Gpt2Config(50257, 1024, 1024, 24, 16).ParameterCount);
    }

    [Fact]
    public void Hostile_config_files_are_refused_without_quoting_them()
    {
        var ckpt = TinyHfCheckpoint.Random(seed: 13);
        ckpt.WriteTo(dir);
        var config = Path.Combine(dir, "config.json");
        const string secret = "sk-live-0123456789abcdef";
        File.WriteAllText(config, ckpt.ConfigJson(modelType: secret));
        var e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(dir));
        Assert.Contains("config.json: model_type is not supported (only 'gpt2')", e.Message);
        Assert.DoesNotContain(secret, e.Message);

        File.WriteAllText(config, ckpt.ConfigJson().Replace("\"n_layer\": 2", $"\"n_layer\": {secret}"));
        e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(dir));
        Assert.Contains("config.json: line ", e.Message);
        Assert.Contains("not valid JSON", e.Message);
        Assert.DoesNotContain("sk-", e.Message);

        File.WriteAllText(config, ckpt.ConfigJson().Replace("\"n_layer\": 2", $"\"n_layer\": \"{secret}\""));
        e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(dir));
        Assert.Contains("key 'n_layer' must be an integer in 1..256, found a string", e.Message);
        Assert.DoesNotContain(secret, e.Message);

        File.WriteAllText(config, ckpt.ConfigJson().Replace("\"n_layer\": 2", "\"n_layer\": 2, \"n_layer\": 200"));
        e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(dir));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("twice", e.Message);

        File.WriteAllText(config, ckpt.ConfigJson() + new string(' ', 2 << 20));
        e = Assert.Throws<InvalidDataException>(() => HfCheckpoint.Load(dir));
        Assert.Contains("more than the limit of 1048576", e.Message);
    }
}

/// <summary>
/// A checkpoint made by real Hugging Face transformers (Fixtures/hf-tiny-gpt2: its config.json, its
/// weights as text in weights.json, and the numbers transformers computed): its logits must match.
/// </summary>
public sealed class HfFixtureTests
{
    /// <summary>
    /// The fixture as transformers saved it: its config.json, and model.safetensors rebuilt from
    /// weights.json (names, shapes, file order and float32 values exactly as in the saved file, kept as
    /// text so no binary is tracked) by the tests' own safetensors writer.
    /// </summary>
    private static string TransformersCheckpoint(string target)
    {
        var fixture = Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-tiny-gpt2");
        Directory.CreateDirectory(target);
        File.Copy(Path.Combine(fixture, "config.json"), Path.Combine(target, "config.json"));
        using var weights = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "weights.json")));
        var tensors = weights.RootElement.EnumerateObject().Select(t => (t.Name,
            t.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
            t.Value.GetProperty("data").EnumerateArray().Select(x => x.GetSingle()).ToArray())).ToList();
        File.WriteAllBytes(Path.Combine(target, "model.safetensors"), TestSafetensors.F32(tensors));
        return target;
    }

    /// <summary>
    /// Fixtures/hf-tiny-gpt2 was made by Hugging Face transformers 5.17 (tools/make_hf_reference.py)
    /// together with the logits transformers computed: our loader and model must reproduce them.
    /// </summary>
    [Fact]
    public void Transformers_checkpoint_reproduces_transformers_logits()
    {
        var fixture = Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-tiny-gpt2");
        var dir = TransformersCheckpoint(Directory.CreateTempSubdirectory("rlgaf-hf-").FullName);
        TorchRuntime.EnsureLoaded();
        using var refDoc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "reference.json")));
        var root = refDoc.RootElement;
        var (_, model) = HfCheckpoint.Load(dir);
        using var _ = model;
        Directory.Delete(dir, recursive: true);

        var ids = root.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var expected = root.GetProperty("logits").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
        using (TorchSharp.torch.no_grad())
        {
            var logits = model.Forward(TorchSharp.torch.tensor(ids, [1, ids.Length])).to_type(TorchSharp.torch.ScalarType.Float64);
            var actual = logits[0].data<double>().ToArray();
            int v = expected[0].Length;
            double maxDiff = 0;
            for (int t = 0; t < expected.Length; t++)
                for (int k = 0; k < v; k++) maxDiff = Math.Max(maxDiff, Math.Abs(actual[t * v + k] - expected[t][k]));
            Assert.True(maxDiff < 1e-4, $"max |logit - transformers| = {maxDiff}");

            // A left-padded batch with an attention mask: last-position logits as transformers gave them.
            var batchIds = root.GetProperty("batch_ids").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(e => e.GetInt64())).ToArray();
            var batchMask = root.GetProperty("batch_mask").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(e => e.GetInt64())).ToArray();
            var expLast = root.GetProperty("batch_last_logits").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
            int width = batchIds.Length / 2;
            var bl = model.Forward(TorchSharp.torch.tensor(batchIds, [2, width]), TorchSharp.torch.tensor(batchMask, [2, width]))
                .select(1, -1).to_type(TorchSharp.torch.ScalarType.Float64).data<double>().ToArray();
            for (int r = 0; r < 2; r++)
                for (int k = 0; k < v; k++)
                    Assert.True(Math.Abs(bl[r * v + k] - expLast[r][k]) < 1e-4, $"padded batch row {r} logit {k}: {bl[r * v + k]} vs {expLast[r][k]}");
        }

        // Greedy decoding as transformers' generate() produced it.
        var prompt = root.GetProperty("greedy_prompt").EnumerateArray().Select(e => e.GetInt32()).ToList();
        var want = root.GetProperty("greedy_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var got = TextGenerator.Generate(model, [prompt], new GenerationOptions { MaxNewTokens = want.Length }).Sequences[0].Tokens;
        Assert.Equal(want, got);
    }
}
