using RlGaf.Engine.Models;
using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Models;

/// <summary>Forward-pass properties: causality, cache, padding, soft embeddings, init, save/load.</summary>
[Collection(GlobalRngCollection.Name)]
public sealed class Gpt2ModelTests : IDisposable
{
    private readonly Gpt2Model model = TestModels.Tiny();
    private readonly DisposeScope scope;
    private readonly IDisposable noGrad;
    private static readonly long[] Seq = [4, 8, 15, 16, 23, 1, 30, 2];

    public Gpt2ModelTests()
    {
        scope = NewDisposeScope();
        noGrad = no_grad();
    }

    public void Dispose()
    {
        noGrad.Dispose();
        scope.Dispose();
        model.Dispose();
    }

    [Fact]
    public void Changing_a_later_token_never_changes_earlier_logits()
    {
        var a = model.Forward(TestModels.Ids(Seq));
        var changed = Seq.ToArray();
        changed[5] = 33;
        var b = model.Forward(TestModels.Ids(changed));
        Assert.True(TestModels.MaxAbsDiff(a[.., ..5], b[.., ..5]) < 1e-6);
        Assert.True(TestModels.MaxAbsDiff(a[.., 5..], b[.., 5..]) > 1e-3);
    }

    [Fact]
    public void Cached_forward_in_chunks_equals_one_full_pass()
    {
        // Chunks of 3, 2 and 1 tokens: multi-token queries against longer keys need the explicit mask.
        var full = model.Forward(TestModels.Ids(Seq));
        using var cache = new KvCache(model.Config.NLayer);
        var parts = new[] { (0, 3), (3, 5), (5, 6), (6, 8) }
            .Select(r => model.Forward(TestModels.Ids(Seq[r.Item1..r.Item2]), cache: cache)).ToArray();
        Assert.Equal(8, cache.Length);
        Assert.True(TestModels.MaxAbsDiff(full, cat(parts, 1)) < 1e-5);
    }

    [Fact]
    public void Left_padded_row_matches_the_unpadded_row_at_real_positions()
    {
        var alone = model.Forward(TestModels.Ids(Seq[..5]));
        long[] padded = [0, 0, 0, .. Seq[..5]];
        var mask = TestModels.Ids([0, 0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]);
        var batch = model.Forward(TestModels.Ids(padded, Seq), mask);
        Assert.False(batch.isnan().any().item<bool>());
        Assert.True(TestModels.MaxAbsDiff(alone[0], batch[0, 3..]) < 1e-5);
        Assert.True(TestModels.MaxAbsDiff(model.Forward(TestModels.Ids(Seq))[0], batch[1]) < 1e-5);
    }

    [Fact]
    public void One_hot_soft_tokens_give_the_same_logits_as_ids_and_hidden_plus_head_equals_forward()
    {
        var ids = TestModels.Ids(Seq);
        var logits = model.Forward(ids);
        var oneHot = nn.functional.one_hot(ids, model.Config.VocabSize).to_type(ScalarType.Float32);
        Assert.True(TestModels.MaxAbsDiff(model.EmbedTokens(ids), model.EmbedSoft(oneHot)) < 1e-6);
        Assert.True(TestModels.MaxAbsDiff(logits, model.ForwardEmbeds(model.EmbedSoft(oneHot))) < 1e-5);
        Assert.True(TestModels.MaxAbsDiff(logits, model.Logits(model.ForwardHidden(ids))) < 1e-6);
    }

    [Fact]
    public void Soft_tokens_pass_gradients_to_the_distribution()
    {
        using var enableGrad = enable_grad();
        var probs = softmax(randn(1, 4, model.Config.VocabSize), 2).requires_grad_(true);
        model.ForwardEmbeds(model.EmbedSoft(probs)).sum().backward();
        Assert.True(probs.grad is { } g && g.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Init_is_gpt2_style_and_seeded_without_touching_the_global_rng()
    {
        var config = new Gpt2Config(VocabSize: 500, NPositions: 64, NEmbd: 64, NLayer: 4, NHead: 4);
        torch.manual_seed(7);
        var expected = rand(3);
        torch.manual_seed(7);
        using var a = new Gpt2Model(config, seed: 1);
        using var b = new Gpt2Model(config, seed: 1);
        using var c = new Gpt2Model(config, seed: 2);
        Assert.True(rand(3).allclose(expected, 0, 0));
        var pa = a.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var pb = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.All(pa, kv => Assert.True(kv.Value.allclose(pb[kv.Key], 0, 0), kv.Key));
        Assert.False(pa["wte.weight"].allclose(c.named_parameters().First(p => p.name == "wte.weight").parameter, 0, 0));
        Assert.Equal(0.02, pa["wte.weight"].std().item<float>(), 0.002);
        Assert.Equal(0.02, pa["h.0.mlp.c_fc.weight"].std().item<float>(), 0.002);
        Assert.Equal(0.02 / Math.Sqrt(8), pa["h.3.attn.c_proj.weight"].std().item<float>(), 0.001);
        Assert.Equal(0.02 / Math.Sqrt(8), pa["h.1.mlp.c_proj.weight"].std().item<float>(), 0.001);
        Assert.True(pa["h.2.ln_2.weight"].eq(1).all().item<bool>() && pa["ln_f.bias"].eq(0).all().item<bool>());
        Assert.True(pa["h.0.attn.c_attn.bias"].eq(0).all().item<bool>());
        // Tied head: no lm_head parameter, and 12 E^2 + 13 E per block plus embeddings and ln_f.
        Assert.DoesNotContain(pa.Keys, k => k.Contains("lm_head"));
        long e = 64;
        Assert.Equal((500 + 64) * e + 4 * (12 * e * e + 13 * e) + 2 * e, a.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Save_then_load_gives_bit_identical_logits_and_hf_layout()
    {
        TorchRuntime.EnsureLoaded();
        var config = Gpt2Config.Tiny(50) with { NLayer = 2, LayerNormEpsilon = 1e-4 };
        using var original = new Gpt2Model(config, seed: 5);
        original.eval();
        var dir = Path.Combine(Path.GetTempPath(), "rlgaf-save-" + Guid.NewGuid().ToString("N"));
        try
        {
            HfCheckpoint.Save(original, config, dir);
            Assert.Equal(["config.json", "model.safetensors"], Directory.GetFiles(dir).Select(Path.GetFileName).Order());
            var (loadedConfig, loaded) = HfCheckpoint.Load(dir);
            using var _ = loaded;
            Assert.Equal(config, loadedConfig);
            var ids = TestModels.Ids([1, 2, 3, 49, 0, 7]);
            Assert.True(original.Forward(ids).allclose(loaded.Forward(ids), 0, 0));

            var tensors = Safetensors.Read(Path.Combine(dir, "model.safetensors"), out var meta);
            Assert.Equal("pt", meta["format"]);
            Assert.Equal([128L, 384L], tensors["transformer.h.1.attn.c_attn.weight"].shape);
            Assert.Equal([512L, 128L], tensors["transformer.h.0.mlp.c_proj.weight"].shape);
            Assert.DoesNotContain(tensors.Keys, k => k.StartsWith("lm_head") || !k.StartsWith("transformer."));
            var json = File.ReadAllText(Path.Combine(dir, "config.json"));
            Assert.Contains("\"GPT2LMHeadModel\"", json);
            Assert.Contains("\"gelu_new\"", json);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Converting_the_module_updates_the_weights_forward_uses()
    {
        // Module.to replaces parameters; the fields read in forward must follow (same path as .to(CUDA)).
        using var m = TestModels.Tiny();
        var ids = TestModels.Ids([1, 2, 3]);
        var before = m.Forward(ids).to_type(ScalarType.Float64);
        m.to(ScalarType.Float64);
        var after = m.Forward(ids);
        Assert.Equal(ScalarType.Float64, after.dtype);
        Assert.True(TestModels.MaxAbsDiff(before, after) < 1e-5);
    }

    [Fact]
    public void Too_long_input_and_mismatched_mask_are_rejected()
    {
        var tooLong = TestModels.Ids(Enumerable.Range(0, 17).Select(i => (long)i % 37).ToArray());
        Assert.Contains("n_positions", Assert.Throws<ArgumentException>(() => model.Forward(tooLong)).Message);
        var mask = TestModels.Ids([1, 1, 1]);
        Assert.Contains("attentionMask", Assert.Throws<ArgumentException>(() => model.Forward(TestModels.Ids(Seq), mask)).Message);
    }
}
