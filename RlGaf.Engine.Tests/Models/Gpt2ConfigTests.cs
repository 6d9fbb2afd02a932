using System.Text.Json.Nodes;
using RlGaf.Engine.Models;

namespace RlGaf.Engine.Tests.Models;

/// <summary>Config validation and the Hugging Face config.json mapping.</summary>
public sealed class Gpt2ConfigTests
{
    [Theory]
    [InlineData(100, 3, "n_embd (100) must be divisible by n_head (3)")]
    [InlineData(0, 1, "n_embd (0) must be positive")]
    public void Validate_names_the_field(int nEmbd, int nHead, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => new Gpt2Config(10, 8, nEmbd, 1, nHead).Validate());
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Validate_checks_eps_and_dropout()
    {
        Assert.Contains("layer_norm_epsilon", Assert.Throws<ArgumentException>(() => (Gpt2Config.Tiny(10) with { LayerNormEpsilon = 0 }).Validate()).Message);
        Assert.Contains("attn_pdrop", Assert.Throws<ArgumentException>(() => (Gpt2Config.Tiny(10) with { AttnPdrop = 1 }).Validate()).Message);
    }

    [Fact]
    public void Tiny_and_small_presets_are_valid()
    {
        var tiny = Gpt2Config.Tiny(4096).Validate();
        Assert.Equal(32, tiny.HeadDim);
        Assert.Equal(768, Gpt2Config.Gpt2Small().Validate().NEmbd);
    }

    [Fact]
    public void Json_round_trip_keeps_every_field_and_writes_hf_keys()
    {
        var config = new Gpt2Config(50257, 1024, 768, 12, 12, 1e-5, 0.1, 0.1, 0.1);
        var json = Gpt2ConfigJson.ToJson(config);
        Assert.Equal("gpt2", (string?)json["model_type"]);
        Assert.Equal("GPT2LMHeadModel", (string?)json["architectures"]![0]);
        Assert.Equal("gelu_new", (string?)json["activation_function"]);
        Assert.Equal(1024, (int)json["n_ctx"]!);
        Assert.Equal(50256, (int)json["eos_token_id"]!);
        Assert.Equal(50256, (int)json["bos_token_id"]!);
        Assert.True((bool)json["tie_word_embeddings"]!);
        Assert.Equal(config, Gpt2ConfigJson.Parse(json, "test"));

        // A compact vocabulary has no GPT-2 end-of-text id to advertise.
        var compact = Gpt2ConfigJson.ToJson(Gpt2Config.Tiny(300));
        Assert.Null(compact["eos_token_id"]);
        Assert.Equal(Gpt2Config.Tiny(300), Gpt2ConfigJson.Parse(compact, "test"));
    }

    [Fact]
    public void Missing_key_and_unsupported_variants_name_source_and_key()
    {
        var json = Gpt2ConfigJson.ToJson(Gpt2Config.Tiny(30));
        json.Remove("n_layer");
        var e = Assert.Throws<InvalidDataException>(() => Gpt2ConfigJson.Parse(json, "/ckpt/config.json"));
        Assert.Contains("/ckpt/config.json", e.Message);
        Assert.Contains("n_layer", e.Message);

        foreach (var (key, value) in new (string, JsonNode)[]
                 { ("n_inner", 7), ("scale_attn_by_inverse_layer_idx", true), ("tie_word_embeddings", false), ("n_head", "four") })
        {
            var bad = Gpt2ConfigJson.ToJson(Gpt2Config.Tiny(30));
            bad[key] = value;
            var ex = Assert.Throws<InvalidDataException>(() => Gpt2ConfigJson.Parse(bad, "c.json"));
            Assert.Contains(key, ex.Message);
            Assert.Contains("c.json", ex.Message);
        }
    }

    [Fact]
    public void Read_reports_invalid_json_with_the_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"rlgaf-cfg-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, "{ \"n_embd\": ");
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => Gpt2ConfigJson.Read(path));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(37, 16, 16, 2, 2)]
    [InlineData(300, 24, 8, 3, 4)]
    public void Parameter_count_equals_the_models_parameters(int vocab, int positions, int embd, int layers, int heads)
    {
        RlGaf.Engine.Runtime.TorchRuntime.EnsureLoaded();
        var config = new Gpt2Config(vocab, positions, embd, layers, heads);
        using var model = new Gpt2Model(config);
        Assert.Equal(model.parameters().Sum(p => p.numel()), config.ParameterCount);
    }

    [Fact]
    public void Validate_bounds_every_size_and_the_total()
    {
        Assert.Contains("n_embd (16385) exceeds the limit of 16384", Assert.Throws<ArgumentException>(() => new Gpt2Config(10, 8, 16385, 1, 5).Validate()).Message);
        Assert.Contains("n_layer (257) exceeds the limit of 256", Assert.Throws<ArgumentException>(() => new Gpt2Config(10, 8, 16, 257, 2).Validate()).Message);
        Assert.Contains("vocab_size (1048577) exceeds the limit of 1048576", Assert.Throws<ArgumentException>(() => new Gpt2Config(1048577, 8, 16, 1, 2).Validate()).Message);
        Assert.Contains("n_positions (65537) exceeds the limit of 65536", Assert.Throws<ArgumentException>(() => new Gpt2Config(10, 65537, 16, 1, 2).Validate()).Message);
        // Each size within its bound, the product not: 48 layers of width 4096 are 9.7 billion parameters.
        Assert.Contains("more than the limit of 2147483648", Assert.Throws<ArgumentException>(() => new Gpt2Config(50257, 1024, 4096, 48, 32).Validate()).Message);
        new Gpt2Config(50257, 1024, 1600, 48, 25).Validate(); // GPT-2 XL fits
    }
}
