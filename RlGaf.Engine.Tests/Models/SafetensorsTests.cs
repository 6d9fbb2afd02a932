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

    /// <summary>A file of a raw header text (8-byte length + the text) and <paramref name="data"/>.</summary>
    private string RawFile(string header, byte[] data, string name = "w.safetensors")
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        return WriteFile(bytes, name);
    }

    private static string Refusal(string path) => Assert.Throws<InvalidDataException>(() => Safetensors.Read(path)).Message;

    [Theory]
    [InlineData(1000UL)]                 // larger than the 18-byte file
    [InlineData(ulong.MaxValue)]         // 8 + length wraps around in 64 bits
    [InlineData(ulong.MaxValue - 7)]
    [InlineData(1UL << 63)]              // negative as a long
    public void Header_length_beyond_the_file_is_refused(ulong length)
    {
        var bytes = new byte[18];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
        var e = Refusal(WriteFile(bytes));
        Assert.Contains("w.safetensors", e);
        Assert.Contains($"header length {length} runs past the end of the 18-byte file", e);
    }

    [Fact]
    public void Header_over_100_MB_is_refused_before_it_is_read()
    {
        // A sparse 200 MB file whose header length fits in it: refused by the bound, not read into memory.
        var path = Path.Combine(dir, "huge-header.safetensors");
        using (var f = new FileStream(path, FileMode.Create))
        {
            var len = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, 200_000_000);
            f.Write(len);
            f.SetLength(8 + 200_000_000);
        }
        var e = Refusal(path);
        Assert.Contains("header length 200000000 exceeds the limit of 100000000 bytes", e);
    }

    [Theory]
    [InlineData("[8, 4]", "are outside the 8-byte data section")]                       // begin > end
    [InlineData("[-4, 4]", "data_offsets must be two non-negative 64-bit integers")]     // negative
    [InlineData("[0, 1.5]", "data_offsets must be two non-negative 64-bit integers")]    // not an integer
    [InlineData("[0, 1e30]", "data_offsets must be two non-negative 64-bit integers")]   // beyond long
    [InlineData("[0]", "data_offsets must be [begin, end]")]
    [InlineData("[4, 12]", "are outside the 8-byte data section")]                      // past the end
    public void Bad_data_offsets_are_refused_naming_the_tensor(string offsets, string why)
    {
        var e = Refusal(RawFile($$$"""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":{{{offsets}}}}}""", new byte[8]));
        Assert.Contains("w.safetensors: tensor 'b'", e);
        Assert.Contains(why, e);
    }

    [Fact]
    public void Overlapping_tensors_holes_and_trailing_bytes_are_refused()
    {
        // Two tensors over the same bytes: writing one would change the other after loading.
        var overlap = Refusal(RawFile("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", new byte[8]));
        Assert.Contains("tensor 'b': data_offsets [4, 8] overlap tensor 'a' [0, 8]", overlap);
        var hole = Refusal(RawFile("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", new byte[12]));
        Assert.Contains("tensor 'b': data_offsets [8, 12] leave 4 unindexed bytes before it", hole);
        var trailing = Refusal(RawFile("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[20]));
        Assert.Contains("16 bytes after the last tensor", trailing);
    }

    [Theory]
    [InlineData("[1099511627776, 1099511627776]", "F32")] // 2^80 elements: wraps to 0 in 64 bits
    [InlineData("[4611686018427387904, 4]", "F32")]       // 2^64 elements
    [InlineData("[2305843009213693952]", "F32")]          // 2^61 elements fit, 2^63 bytes do not
    [InlineData("[1152921504606846976, 8, 2]", "BF16")]
    public void Shape_products_that_overflow_are_refused(string shape, string dtype)
    {
        // data_offsets [0, 0] is what an unchecked product that wrapped to 0 would have accepted.
        var e = Refusal(RawFile($$$"""{"big":{"dtype":"{{{dtype}}}","shape":{{{shape}}},"data_offsets":[0,0]}}""", []));
        Assert.Contains("tensor 'big': shape", e);
        Assert.Contains("overflows a 64-bit byte count", e);
    }

    [Theory]
    [InlineData("[-1, 4]")]
    [InlineData("[2.5]")]
    [InlineData("[\"4\"]")]
    [InlineData("[1e3]")]
    public void Shape_entries_must_be_non_negative_integers(string shape)
    {
        var e = Refusal(RawFile($$$"""{"s":{"dtype":"F32","shape":{{{shape}}},"data_offsets":[0,0]}}""", []));
        Assert.Contains("tensor 's': shape entry 0 is not a non-negative 64-bit integer", e);
    }

    [Fact]
    public void Duplicate_names_hostile_dtypes_and_invalid_json_are_refused_without_echoing_the_header()
    {
        var twice = Refusal(RawFile("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", new byte[8]));
        Assert.Contains("tensor 'a' appears twice", twice);

        // A long dtype with control characters is quoted short and escaped, not dumped into logs.
        var dtype = "\\u001b[2J" + new string('X', 5000);
        var odd = Refusal(RawFile($$$"""{"t":{"dtype":"{{{dtype}}}","shape":[1],"data_offsets":[0,4]}}""", new byte[4]));
        Assert.Contains("tensor 't': dtype '\\u001b[2J", odd);
        Assert.Contains("(5004 characters)", odd);
        Assert.DoesNotContain('\u001b', odd);
        Assert.True(odd.Length < 400, odd);

        var secret = Refusal(RawFile("""{"t": sk-live-0123456789abcdef}""", []));
        Assert.Contains("header is not valid JSON (line 1, byte", secret);
        Assert.DoesNotContain("sk-live", secret);
        Assert.DoesNotContain("'s'", secret); // the parser's own message would quote the first bad character
    }

    [Fact]
    public void Tensors_stream_in_chunks_across_chunk_boundaries()
    {
        // 4M + 3 F16 values: more than one 4M-element chunk, the last one partial (the same code path as a multi-GB file).
        const int n = (1 << 22) + 3;
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (i % 2048) - 1024; // exact in F16
        var bytes = TestSafetensors.Bytes(values, 2, (s, v) => BinaryPrimitives.WriteHalfLittleEndian(s, (Half)v));
        var path = WriteFile(TestSafetensors.Build([("head", "F32", [1], TestSafetensors.Bytes([7f], 4, (s, v) => BinaryPrimitives.WriteSingleLittleEndian(s, v))), ("long", "F16", [n], bytes)]));
        using var file = SafetensorsFile.Open(path);
        using var t = file.Read("long");
        var back = t.data<float>().ToArray();
        Assert.Equal(values, back);
        using var head = file.Read("head");
        Assert.Equal(7f, head.item<float>());
    }

    [Fact]
    public void ReadInto_never_broadcasts_and_leaves_the_destination_untouched()
    {
        var path = WriteFile(TestSafetensors.F32([("row", [1, 4], [1f, 2f, 3f, 4f])]));
        using var file = SafetensorsFile.Open(path);
        using var dst = zeros(3, 4);
        // copy_ would broadcast [1, 4] into [3, 4]; the reader refuses it by name and both shapes.
        var e = Assert.Throws<InvalidDataException>(() => file.ReadInto("row", dst));
        Assert.Contains("tensor 'row' has shape [1, 4], expected [3, 4]", e.Message);
        Assert.Equal(0f, dst.abs().sum().item<float>());
        using var ok = zeros(1, 4, dtype: ScalarType.Float64); // another float dtype: converted through a staging tensor
        file.ReadInto("row", ok);
        Assert.Equal(new double[] { 1, 2, 3, 4 }, ok.data<double>().ToArray());
        using var ints = zeros(new long[] { 1, 4 }, dtype: ScalarType.Int64);
        Assert.Contains("has dtype F32, expected Int64", Assert.Throws<InvalidDataException>(() => file.ReadInto("row", ints)).Message);
    }

    [Fact]
    public void Files_over_2_GB_are_checked_and_read_by_offset_without_loading_the_file()
    {
        // A sparse 3 GB file (no data written but the last tensor): offsets beyond int.MaxValue must be
        // handled by the size checks and by reading from the offset; a whole-file buffer cannot exist (> 2 GB).
        const long big = 750_000_000; // F32: 3,000,000,000 bytes
        var header = Encoding.UTF8.GetBytes($$$"""{"big":{"dtype":"F32","shape":[{{{big}}}],"data_offsets":[0,{{{big * 4}}}]},"tail":{"dtype":"F32","shape":[2],"data_offsets":[{{{big * 4}}},{{{big * 4 + 8}}}]}}""");
        var path = Path.Combine(dir, "sparse.safetensors");
        long dataStart = 8 + header.Length;
        using (var f = new FileStream(path, FileMode.Create))
        {
            var len = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            f.Write(len);
            f.Write(header);
            f.SetLength(dataStart + big * 4 + 8);
            f.Position = dataStart + big * 4;
            f.Write(TestSafetensors.Bytes([1.25f, -3.5f], 4, (s, v) => BinaryPrimitives.WriteSingleLittleEndian(s, v)));
        }
        Assert.True(new FileInfo(path).Length > int.MaxValue);
        using (var file = SafetensorsFile.Open(path))
        {
            Assert.Equal([big], file.Tensors["big"].Shape);
            Assert.Equal(big * 4 + 8, file.DataLength);
            using var tail = file.Read("tail");
            Assert.Equal([1.25f, -3.5f], tail.data<float>().ToArray());
        }

        // The same file cut by 4 bytes: the size check names the tensor that no longer fits.
        using (var f = new FileStream(path, FileMode.Open)) f.SetLength(dataStart + big * 4 + 4);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path));
        Assert.Contains("tensor 'tail': data_offsets [3000000000, 3000000008] are outside the 3000000004-byte data section (truncated?)", e.Message);
    }
}
