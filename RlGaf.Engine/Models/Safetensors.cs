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
/// (as float32) and I64; writes F32 (and I64). Reading goes through <see cref="SafetensorsFile"/>,
/// which checks the whole header against the file before any tensor is allocated and streams each
/// tensor from its offset (no whole-file buffer, so files over 2 GB load). Errors name the file and the tensor.
/// </summary>
public static class Safetensors
{
    /// <summary>Reads every tensor of <paramref name="path"/> onto the CPU.</summary>
    public static Dictionary<string, Tensor> Read(string path) => Read(path, out _);

    /// <summary>Reads every tensor and the optional "__metadata__" string map.</summary>
    public static Dictionary<string, Tensor> Read(string path, out Dictionary<string, string> metadata)
    {
        using var file = SafetensorsFile.Open(path);
        metadata = new Dictionary<string, string>(file.Metadata);
        var result = new Dictionary<string, Tensor>();
        try
        {
            foreach (var name in file.Tensors.Keys) result[name] = file.Read(name);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
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
