using System.Buffers.Binary;
using System.Text;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runtime;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Models;

/// <summary>The engine's safetensors reader against files written by the test, and its writer round trip.</summary>
public sealed class SafetensorsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("rlgaf-st-").FullName;

    public SafetensorsTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string WriteFile(byte[] bytes, string name = "w.safetensors")
    {
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Reads_f32_f16_bf16_as_float32_and_i64()
    {
        float[] values = [1.5f, -2.25f, 0.0f, 65504f, 3.140625f, -0.0078125f];
        var f16 = TestSafetensors.Bytes(values, 2, (s, v) => BinaryPrimitives.WriteHalfLittleEndian(s, (Half)v));
        // bfloat16 = top 16 bits of float32 (the values above are exact in bf16 except 65504 -> 65536, 3.140625 exact).
        var bf16 = TestSafetensors.Bytes(values, 2, (s, v) => BinaryPrimitives.WriteUInt16LittleEndian(s, (ushort)(BitConverter.SingleToInt32Bits(v) >> 16)));
        var f32 = TestSafetensors.Bytes(values, 4, (s, v) => BinaryPrimitives.WriteSingleLittleEndian(s, v));
        long[] longs = [long.MaxValue, -3, 50256];
        var i64 = TestSafetensors.Bytes(longs, 8, (s, v) => BinaryPrimitives.WriteInt64LittleEndian(s, v));
        var path = WriteFile(TestSafetensors.Build([
            ("a.f16", "F16", [2, 3], f16), ("b.bf16", "BF16", [6], bf16), ("c.f32", "F32", [3, 2], f32), ("d.i64", "I64", [3], i64)]));

        var t = Safetensors.Read(path, out var meta);
        Assert.Equal("pt", meta["format"]);
        Assert.Equal(ScalarType.Float32, t["a.f16"].dtype);
        Assert.Equal([2L, 3L], t["a.f16"].shape);
        Assert.Equal(values, t["a.f16"].data<float>().ToArray());
        Assert.Equal(ScalarType.Float32, t["b.bf16"].dtype);
        Assert.Equal(values.Select(v => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(v) & unchecked((int)0xFFFF0000))),
            t["b.bf16"].data<float>().ToArray());
        Assert.Equal(values, t["c.f32"].data<float>().ToArray());
        Assert.Equal(ScalarType.Int64, t["d.i64"].dtype);
        Assert.Equal(longs, t["d.i64"].data<long>().ToArray());
        foreach (var x in t.Values) x.Dispose();
    }

    [Fact]
    public void Writer_round_trips_and_is_readable_by_the_test_parser()
    {
        using var a = randn(3, 5);
        using var b = tensor(new long[] { 7, 8, 9 });
        var path = Path.Combine(dir, "out.safetensors");
        Safetensors.Write(path, new Dictionary<string, Tensor> { ["z.a"] = a, ["b"] = b }, new Dictionary<string, string> { ["format"] = "pt" });
        var back = Safetensors.Read(path);
        Assert.True(back["z.a"].allclose(a, 0, 0));
        Assert.Equal(new long[] { 7, 8, 9 }, back["b"].data<long>().ToArray());
        foreach (var x in back.Values) x.Dispose();

        // Independent look at the bytes: header length, JSON header, 8-byte aligned data start.
        var bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + n) % 8);
        var header = System.Text.Json.JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n)).RootElement;
        Assert.Equal("F32", header.GetProperty("z.a").GetProperty("dtype").GetString());
        var offs = header.GetProperty("z.a").GetProperty("data_offsets");
        Assert.Equal(60, offs[1].GetInt64() - offs[0].GetInt64());
        Assert.Equal(bytes.Length, 8 + n + 60 + 24);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp")); // atomic write leaves no temp file behind
    }

    [Fact]
    public void Truncated_file_is_reported_with_the_file_and_tensor()
    {
        var good = TestSafetensors.F32([("x.weight", [4], [1f, 2f, 3f, 4f])]);
        var e = Assert.Throws<InvalidDataException>(() => Safetensors.Read(WriteFile(good[..^4])));
        Assert.Contains("w.safetensors", e.Message);
        Assert.Contains("'x.weight'", e.Message);
        Assert.Contains("truncated", e.Message);

        var tiny = Assert.Throws<InvalidDataException>(() => Safetensors.Read(WriteFile(good[..5], "t.safetensors")));
        Assert.Contains("t.safetensors", tiny.Message);
        var headerCut = Assert.Throws<InvalidDataException>(() => Safetensors.Read(WriteFile(good[..20], "h.safetensors")));
        Assert.Contains("header length", headerCut.Message);
    }

    [Fact]
    public void Header_that_is_not_json_is_reported()
    {
        var text = Encoding.UTF8.GetBytes("{not json");
        var bytes = new byte[8 + text.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)text.Length);
        text.CopyTo(bytes, 8);
        var e = Assert.Throws<InvalidDataException>(() => Safetensors.Read(WriteFile(bytes)));
        Assert.Contains("w.safetensors", e.Message);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void Offsets_out_of_range_and_size_mismatch_name_the_tensor()
    {
        var bytes = TestSafetensors.Build([("ok", "F32", [1], new byte[4]), ("bad.bias", "F32", [2], new byte[8])]);
        // Claim 3 floats in a span that runs past the data section (Latin1 keeps every byte as is).
        var text = Encoding.Latin1.GetString(bytes).Replace("\"shape\":[2],\"data_offsets\":[4,12]", "\"shape\":[3],\"data_offsets\":[4,16]");
        var e = Assert.Throws<InvalidDataException>(() => Safetensors.Read(WriteFile(Encoding.Latin1.GetBytes(text))));
        Assert.Contains("'bad.bias'", e.Message);
        Assert.Contains("outside", e.Message);

        var mismatch = TestSafetensors.Build([("m", "F32", [3], new byte[8])]);
        var e2 = Assert.Throws<InvalidDataException>(() => Safetensors.Read(WriteFile(mismatch, "m.safetensors")));
        Assert.Contains("'m'", e2.Message);
        Assert.Contains("needs 12", e2.Message);
    }

    [Fact]
    public void Unsupported_dtype_names_file_tensor_and_dtype()
    {
        var bytes = TestSafetensors.Build([("q.weight", "I8", [4], new byte[4])]);
        var e = Assert.Throws<InvalidDataException>(() => Safetensors.Read(WriteFile(bytes)));
        Assert.Contains("w.safetensors", e.Message);
        Assert.Contains("'q.weight'", e.Message);
        Assert.Contains("I8", e.Message);
    }
}
