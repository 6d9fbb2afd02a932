using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace RlGaf.Engine.Models;

/// <summary>
/// The safetensors format, written here so checkpoint loading has no hidden dependency:
/// 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}
/// (plus optional "__metadata__"), then the raw little-endian data. Reads F32, F16 and BF16
/// (as float32) and I64; writes F32 (and I64). Errors name the file and the tensor.
/// </summary>
public static class Safetensors
{
    /// <summary>Reads every tensor of <paramref name="path"/> onto the CPU.</summary>
    public static Dictionary<string, Tensor> Read(string path) => Read(path, out _);

    /// <summary>Reads every tensor and the optional "__metadata__" string map.</summary>
    public static Dictionary<string, Tensor> Read(string path, out Dictionary<string, string> metadata)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw Bad(path, $"file is {bytes.Length} bytes, too short for the 8-byte header length (truncated?)");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLen > (ulong)(bytes.Length - 8))
            throw Bad(path, $"header length {headerLen} runs past the end of the {bytes.Length}-byte file (truncated?)");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLen)) as JsonObject
                ?? throw Bad(path, "header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw Bad(path, $"header is not valid JSON ({e.Message})", e);
        }

        long dataStart = 8 + (long)headerLen, dataLen = bytes.Length - dataStart;
        metadata = new Dictionary<string, string>();
        var result = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (name, node) in header)
            {
                if (name == "__metadata__")
                {
                    if (node is JsonObject meta)
                        foreach (var (k, v) in meta) metadata[k] = v?.ToString() ?? "";
                    continue;
                }
                result[name] = ReadTensor(path, name, node, bytes, dataStart, dataLen);
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    private static Tensor ReadTensor(string path, string name, JsonNode? node, byte[] bytes, long dataStart, long dataLen)
    {
        if (node is not JsonObject info) throw Bad(path, $"tensor '{name}': entry is not an object");
        string dtype;
        long[] shape;
        long begin, end;
        try
        {
            dtype = info["dtype"]?.GetValue<string>() ?? throw Bad(path, $"tensor '{name}': no dtype");
            shape = (info["shape"] as JsonArray ?? throw Bad(path, $"tensor '{name}': no shape"))
                .Select(s => s!.GetValue<long>()).ToArray();
            var offs = info["data_offsets"] as JsonArray;
            if (offs is null || offs.Count != 2) throw Bad(path, $"tensor '{name}': data_offsets must be [begin, end]");
            begin = offs[0]!.GetValue<long>();
            end = offs[1]!.GetValue<long>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw Bad(path, $"tensor '{name}': malformed header entry ({e.Message})", e);
        }
        if (shape.Any(d => d < 0)) throw Bad(path, $"tensor '{name}': negative dimension in shape [{string.Join(", ", shape)}]");
        int size = dtype switch
        {
            "F32" => 4, "F16" => 2, "BF16" => 2, "I64" => 8,
            _ => throw Bad(path, $"tensor '{name}': dtype {dtype} is not supported (F32, F16, BF16, I64)"),
        };
        long count = shape.Aggregate(1L, (a, d) => a * d);
        if (begin < 0 || end < begin || end > dataLen)
            throw Bad(path, $"tensor '{name}': data_offsets [{begin}, {end}] are outside the {dataLen}-byte data section (truncated?)");
        if (end - begin != count * size)
            throw Bad(path, $"tensor '{name}': data_offsets span {end - begin} bytes but {dtype}[{string.Join(", ", shape)}] needs {count * size}");

        var span = bytes.AsSpan((int)(dataStart + begin), (int)(end - begin));
        if (dtype == "I64")
        {
            var longs = new long[count];
            for (int i = 0; i < count; i++) longs[i] = BinaryPrimitives.ReadInt64LittleEndian(span[(i * 8)..]);
            return tensor(longs, shape);
        }
        // F32 on a little-endian machine is the file's bytes as they are: one bulk copy
        // (GPT-2 small has 124M floats; the per-element path is for conversions).
        if (dtype == "F32" && BitConverter.IsLittleEndian)
            return tensor(MemoryMarshal.Cast<byte, float>(span).ToArray(), shape);
        var floats = new float[count];
        for (int i = 0; i < count; i++)
        {
            floats[i] = dtype switch
            {
                "F32" => BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]),
                "F16" => (float)BinaryPrimitives.ReadHalfLittleEndian(span[(i * 2)..]),
                // bfloat16 is the top half of a float32.
                _ => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(span[(i * 2)..]) << 16),
            };
        }
        return tensor(floats, shape);
    }

    /// <summary>
    /// Writes tensors atomically: float tensors as F32, int64 as I64, names in sorted order
    /// (as the Python library does), each tensor's data aligned to 8 bytes.
    /// </summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach (var name in tensors.Keys.Order(StringComparer.Ordinal))
        {
            var (dtype, data) = ToBytes(path, name, tensors[name]);
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(tensors[name].shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + data.Length),
            };
            blobs.Add(data);
            offset += data.Length;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // Pad the header with spaces so the data section starts 8-byte aligned.
        int pad = (8 - headerBytes.Length % 8) % 8;
        var padded = new byte[headerBytes.Length + pad];
        headerBytes.CopyTo(padded, 0);
        padded.AsSpan(headerBytes.Length).Fill((byte)' ');
        AtomicFile.Write(path, s =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded.Length);
            s.Write(len);
            s.Write(padded);
            foreach (var b in blobs) s.Write(b);
        });
    }

    private static (string Dtype, byte[] Data) ToBytes(string path, string name, Tensor t)
    {
        using var cpu = t.detach().cpu().contiguous();
        if (cpu.dtype == ScalarType.Int64)
            return ("I64", MemoryMarshal.AsBytes(cpu.data<long>().ToArray().AsSpan()).ToArray());
        if (!cpu.is_floating_point())
            throw Bad(path, $"tensor '{name}': cannot write dtype {cpu.dtype} (floats are written as F32, or I64)");
        using var f = cpu.to_type(ScalarType.Float32);
        var floats = f.data<float>().ToArray();
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Safetensors writer assumes a little-endian machine.");
        return ("F32", MemoryMarshal.AsBytes(floats.AsSpan()).ToArray());
    }

    private static InvalidDataException Bad(string path, string message, Exception? inner = null) =>
        new($"{path}: {message}.", inner);
}
