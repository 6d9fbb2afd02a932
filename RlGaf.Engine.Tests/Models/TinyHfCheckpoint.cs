using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace RlGaf.Engine.Tests.Models;

/// <summary>
/// A tiny random GPT-2 checkpoint in Hugging Face's layout, built and written by the tests
/// themselves (own safetensors writer, own config.json text) so loading is checked against
/// files the engine did not produce. Weights are plain float arrays for the reference model.
/// </summary>
internal sealed class TinyHfCheckpoint
{
    public int Vocab = 37, NPos = 16, Embd = 16, Layers = 2, Heads = 2;
    public double Eps = 1e-3;
    public readonly Dictionary<string, (long[] Shape, float[] Data)> Weights = new();

    public static TinyHfCheckpoint Random(int seed)
    {
        var c = new TinyHfCheckpoint();
        var rng = new Random(seed);
        // Std ~0.3 so every layer matters to the logits; LayerNorm weights/biases are non-trivial.
        void Add(string name, float center, float scale, params long[] shape)
        {
            long n = shape.Aggregate(1L, (a, d) => a * d);
            var data = new float[n];
            for (int i = 0; i < n; i++) data[i] = center + scale * (float)(rng.NextDouble() * 2 - 1);
            c.Weights[name] = (shape, data);
        }
        int e = c.Embd;
        Add("transformer.wte.weight", 0, 0.5f, c.Vocab, e);
        Add("transformer.wpe.weight", 0, 0.5f, c.NPos, e);
        for (int l = 0; l < c.Layers; l++)
        {
            var p = $"transformer.h.{l}.";
            Add(p + "ln_1.weight", 1, 0.3f, e); Add(p + "ln_1.bias", 0, 0.3f, e);
            Add(p + "attn.c_attn.weight", 0, 0.4f, e, 3 * e); Add(p + "attn.c_attn.bias", 0, 0.2f, 3 * e);
            Add(p + "attn.c_proj.weight", 0, 0.3f, e, e); Add(p + "attn.c_proj.bias", 0, 0.2f, e);
            Add(p + "ln_2.weight", 1, 0.3f, e); Add(p + "ln_2.bias", 0, 0.3f, e);
            Add(p + "mlp.c_fc.weight", 0, 0.3f, e, 4 * e); Add(p + "mlp.c_fc.bias", 0, 0.2f, 4 * e);
            Add(p + "mlp.c_proj.weight", 0, 0.2f, 4 * e, e); Add(p + "mlp.c_proj.bias", 0, 0.2f, e);
        }
        Add("transformer.ln_f.weight", 1, 0.3f, e); Add("transformer.ln_f.bias", 0, 0.3f, e);
        return c;
    }

    public float[] W(string name) => Weights["transformer." + name].Data;

    public string ConfigJson(string activation = "gelu_new", string modelType = "gpt2") =>
        $$"""
        {
          "activation_function": "{{activation}}",
          "architectures": ["GPT2LMHeadModel"],
          "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1,
          "layer_norm_epsilon": {{Eps.ToString("R", CultureInfo.InvariantCulture)}},
          "model_type": "{{modelType}}",
          "n_ctx": {{NPos}}, "n_embd": {{Embd}}, "n_head": {{Heads}}, "n_inner": null,
          "n_layer": {{Layers}}, "n_positions": {{NPos}},
          "scale_attn_weights": true, "vocab_size": {{Vocab}}
        }
        """;

    /// <summary>Writes config.json and model.safetensors; <paramref name="rename"/> maps names (e.g. strip the prefix), null drops a tensor.</summary>
    public string WriteTo(string dir, Func<string, string?>? rename = null, IDictionary<string, (long[], float[])>? extra = null)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), ConfigJson());
        var tensors = new List<(string, long[], float[])>();
        foreach (var (name, (shape, data)) in Weights)
        {
            var n = rename is null ? name : rename(name);
            if (n is not null) tensors.Add((n, shape, data));
        }
        if (extra is not null) foreach (var (n, (s, d)) in extra) tensors.Add((n, s, d));
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), TestSafetensors.F32(tensors));
        return dir;
    }
}

/// <summary>Minimal safetensors writer of the tests, independent of the engine's.</summary>
internal static class TestSafetensors
{
    public static byte[] F32(IEnumerable<(string Name, long[] Shape, float[] Data)> tensors) =>
        Build(tensors.Select(t => (t.Name, "F32", t.Shape, Bytes(t.Data, 4, (span, v) => BinaryPrimitives.WriteSingleLittleEndian(span, v)))));

    public static byte[] Build(IEnumerable<(string Name, string Dtype, long[] Shape, byte[] Data)> tensors)
    {
        var header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        var data = new MemoryStream();
        foreach (var (name, dtype, shape, bytes) in tensors)
        {
            header.Append($",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{data.Length},{data.Length + bytes.Length}]}}");
            data.Write(bytes);
        }
        header.Append('}');
        var h = Encoding.UTF8.GetBytes(header.ToString());
        var result = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)h.Length);
        h.CopyTo(result, 8);
        data.ToArray().CopyTo(result, 8 + h.Length);
        return result;
    }

    public static byte[] Bytes<T>(T[] values, int size, SpanAction<T> write)
    {
        var b = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++) write(b.AsSpan(i * size, size), values[i]);
        return b;
    }

    public delegate void SpanAction<T>(Span<byte> span, T value);
}
