using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace RlGaf.Engine.Models;

/// <summary>One tensor of a safetensors header, already checked against the file.</summary>
/// <param name="Name">The tensor's key in the header.</param>
/// <param name="Dtype">F32, F16, BF16 or I64 (the only ones read).</param>
/// <param name="Shape">Its dimensions; their product times the dtype's size is <see cref="ByteLength"/>.</param>
/// <param name="Begin">Start of its bytes, relative to the data section.</param>
/// <param name="End">End (exclusive) of its bytes, relative to the data section.</param>
public sealed record SafetensorsEntry(string Name, string Dtype, long[] Shape, long Begin, long End)
{
    /// <summary>Number of bytes the tensor occupies in the file.</summary>
    public long ByteLength => End - Begin;

    /// <summary>Number of elements (product of <see cref="Shape"/>; checked not to overflow when the header was read).</summary>
    public long Count => Shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>True for the float dtypes, which load as float32.</summary>
    public bool IsFloat => Dtype is "F32" or "F16" or "BF16";
}

/// <summary>
/// An open safetensors file whose header has been read and checked as a hostile input: the header
/// length is bounded (100 MB, as the reference implementation) and must fit in the file; every
/// shape product and byte count is computed with overflow checks; every tensor's byte span must
/// match dtype x shape and lie in the data section; the spans must tile the data section exactly
/// (no overlap, no hole, no trailing bytes, as the reference implementation requires). Only then
/// is any tensor allocated, and each is streamed from its offset in chunks, so no buffer of the
/// whole file exists and files over 2 GB work. Errors are <see cref="InvalidDataException"/>s
/// naming the file and the tensor; they quote header text only in short, sanitised form.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    // Elements streamed per chunk: 4M floats = 16 MB of float32, whatever the file's size.
    private const int ChunkElements = 1 << 22;

    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;

    /// <summary>The file, as given.</summary>
    public string Path { get; }

    /// <summary>Size of the data section (everything after the header), in bytes.</summary>
    public long DataLength { get; }

    /// <summary>Tensors in header order.</summary>
    public IReadOnlyDictionary<string, SafetensorsEntry> Tensors { get; }

    /// <summary>The header's "__metadata__" string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, SafeFileHandle handle, long dataStart, long dataLength,
        IReadOnlyDictionary<string, SafetensorsEntry> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        _dataStart = dataStart;
        DataLength = dataLength;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Opens <paramref name="path"/> and checks its header against the file (nothing is allocated for tensors).</summary>
    public static SafetensorsFile Open(string path)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8) throw Bad(path, $"file is {fileLength} bytes, too short for the 8-byte header length (truncated?)");
            Span<byte> len = stackalloc byte[8];
            ReadExactly(handle, len, 0, path);
            ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(len);
            if (headerLen > (ulong)(fileLength - 8))
                throw Bad(path, $"header length {headerLen} runs past the end of the {fileLength}-byte file (truncated?)");
            if (headerLen > MaxHeaderBytes)
                throw Bad(path, $"header length {headerLen} exceeds the limit of {MaxHeaderBytes} bytes");
            var header = new byte[(int)headerLen];
            ReadExactly(handle, header, 8, path);
            long dataStart = 8 + (long)headerLen, dataLength = fileLength - dataStart;
            var (tensors, metadata) = ParseHeader(path, header, dataLength);
            return new SafetensorsFile(path, handle, dataStart, dataLength, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads tensor <paramref name="name"/> into a new CPU tensor (float32 for float dtypes, int64 for I64).</summary>
    public Tensor Read(string name)
    {
        var entry = Entry(name);
        var result = empty(entry.Shape, entry.IsFloat ? ScalarType.Float32 : ScalarType.Int64);
        try
        {
            CopyInto(entry, result);
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies tensor <paramref name="name"/> into <paramref name="destination"/> (any device), which must have
    /// exactly its shape (never broadcast) and a matching kind (float into float, I64 into int64).
    /// Call under no_grad when the destination is a parameter.
    /// </summary>
    public void ReadInto(string name, Tensor destination)
    {
        var entry = Entry(name);
        if (!entry.Shape.SequenceEqual(destination.shape))
            throw Bad(Path, $"tensor {Quote(name)} has shape {ShapeText(entry.Shape)}, expected {ShapeText(destination.shape)}");
        if (entry.IsFloat != destination.is_floating_point())
            throw Bad(Path, $"tensor {Quote(name)} has dtype {entry.Dtype}, expected {(destination.is_floating_point() ? "a float type" : destination.dtype.ToString())}");
        if (destination.dtype is not (ScalarType.Float32 or ScalarType.Int64) || !destination.is_contiguous())
        {
            // Stream into a CPU tensor of the file's kind, then one same-shape copy (converts dtype, device).
            using var staging = Read(name);
            destination.copy_(staging);
            return;
        }
        CopyInto(entry, destination);
    }

    /// <summary>Streams the entry's bytes into a contiguous float32/int64 tensor of its shape, chunk by chunk.</summary>
    private void CopyInto(SafetensorsEntry entry, Tensor destination)
    {
        long count = entry.Count;
        if (count == 0) return;
        using var flat = destination.view(-1);
        int size = ElementSize(entry.Dtype)!.Value;
        int chunk = (int)Math.Min(ChunkElements, count);
        var bytes = new byte[chunk * size];
        var floats = entry.IsFloat ? new float[chunk] : null;
        var longs = entry.IsFloat ? null : new long[chunk];
        for (long done = 0; done < count; done += chunk)
        {
            int n = (int)Math.Min(chunk, count - done);
            var span = bytes.AsSpan(0, n * size);
            ReadExactly(_handle, span, _dataStart + entry.Begin + done * size, Path);
            using var src = floats is not null ? ToTensor(entry.Dtype, span, floats, n) : ToTensor(span, longs!, n);
            using var dst = flat.narrow(0, done, n);
            dst.copy_(src);
        }
    }

    private static Tensor ToTensor(string dtype, ReadOnlySpan<byte> span, float[] buffer, int n)
    {
        if (dtype == "F32" && BitConverter.IsLittleEndian) MemoryMarshal.Cast<byte, float>(span).CopyTo(buffer);
        else
            for (int i = 0; i < n; i++)
            {
                buffer[i] = dtype switch
                {
                    "F32" => BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]),
                    "F16" => (float)BinaryPrimitives.ReadHalfLittleEndian(span[(i * 2)..]),
                    // bfloat16 is the top half of a float32.
                    _ => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(span[(i * 2)..]) << 16),
                };
            }
        // tensor(array) shares the managed buffer; the caller copies out of it before the next chunk.
        var whole = tensor(buffer);
        if (n == buffer.Length) return whole;
        using (whole) return whole.narrow(0, 0, n).clone();
    }

    private static Tensor ToTensor(ReadOnlySpan<byte> span, long[] buffer, int n)
    {
        for (int i = 0; i < n; i++) buffer[i] = BinaryPrimitives.ReadInt64LittleEndian(span[(i * 8)..]);
        var whole = tensor(buffer);
        if (n == buffer.Length) return whole;
        using (whole) return whole.narrow(0, 0, n).clone();
    }

    private SafetensorsEntry Entry(string name) =>
        Tensors.TryGetValue(name, out var e) ? e : throw Bad(Path, $"tensor {Quote(name)} is not in the file");

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();

    private static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            // The parser's own message quotes the offending character; the position is enough.
            throw Bad(path, $"header is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})", e);
        }
        using (doc)
        try
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(path, "header is not a JSON object");
            var tensors = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool seenMetadata = false;
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                string name = prop.Name;
                if (name == "__metadata__")
                {
                    if (seenMetadata) throw Bad(path, "\"__metadata__\" appears twice in the header");
                    seenMetadata = true;
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad(path, "\"__metadata__\" must be an object of strings");
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                if (tensors.ContainsKey(name)) throw Bad(path, $"tensor {Quote(name)} appears twice in the header");
                tensors[name] = ParseEntry(path, name, prop.Value, dataLength);
            }
            CheckTiling(path, tensors.Values, dataLength);
            return (tensors, metadata);
        }
        catch (InvalidOperationException e)
        {
            // A string that is not valid UTF-8 fails only when it is decoded.
            throw Bad(path, "header holds a string that is not valid UTF-8", e);
        }
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement info, long dataLength)
    {
        string t = Quote(name);
        if (info.ValueKind != JsonValueKind.Object) throw Bad(path, $"tensor {t}: entry is not an object");
        if (!info.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad(path, $"tensor {t}: no dtype (a string)");
        string dtype = dt.GetString()!;
        int size = ElementSize(dtype) ?? throw Bad(path, $"tensor {t}: dtype {Quote(dtype)} is not supported (F32, F16, BF16, I64)");

        if (!info.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad(path, $"tensor {t}: no shape (an array)");
        var shape = new long[sh.GetArrayLength()];
        int k = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw Bad(path, $"tensor {t}: shape entry {k} is not a non-negative 64-bit integer");
            shape[k++] = dim;
        }
        long count, bytes;
        try
        {
            count = shape.Aggregate(1L, (a, d) => checked(a * d));
            bytes = checked(count * size);
        }
        catch (OverflowException)
        {
            throw Bad(path, $"tensor {t}: shape {ShapeText(shape)} of {dtype} overflows a 64-bit byte count");
        }

        if (!info.TryGetProperty("data_offsets", out var offs) || offs.ValueKind != JsonValueKind.Array || offs.GetArrayLength() != 2)
            throw Bad(path, $"tensor {t}: data_offsets must be [begin, end]");
        if (!Offset(offs[0], out long begin) || !Offset(offs[1], out long end))
            throw Bad(path, $"tensor {t}: data_offsets must be two non-negative 64-bit integers");
        if (end < begin || end > dataLength)
            throw Bad(path, $"tensor {t}: data_offsets [{begin}, {end}] are outside the {dataLength}-byte data section (truncated?)");
        if (end - begin != bytes)
            throw Bad(path, $"tensor {t}: data_offsets span {end - begin} bytes but {dtype}{ShapeText(shape)} needs {bytes}");
        return new SafetensorsEntry(name, dtype, shape, begin, end);

        static bool Offset(JsonElement e, out long v)
        {
            v = 0;
            return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out v) && v >= 0;
        }
    }

    /// <summary>The spans must cover the data section exactly once: an overlap would alias two tensors, a hole hides data.</summary>
    private static void CheckTiling(string path, IEnumerable<SafetensorsEntry> entries, long dataLength)
    {
        long at = 0;
        SafetensorsEntry? previous = null;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin < at)
                throw Bad(path, $"tensor {Quote(e.Name)}: data_offsets [{e.Begin}, {e.End}] overlap tensor {Quote(previous!.Name)} [{previous.Begin}, {previous.End}]");
            if (e.Begin > at)
                throw Bad(path, $"tensor {Quote(e.Name)}: data_offsets [{e.Begin}, {e.End}] leave {e.Begin - at} unindexed bytes before it");
            at = e.End;
            previous = e;
        }
        if (at != dataLength)
            throw Bad(path, $"the data section has {dataLength - at} bytes after the last tensor (the header indexes {at} of {dataLength})");
    }

    private static int? ElementSize(string dtype) => dtype switch
    {
        "F32" => 4, "F16" => 2, "BF16" => 2, "I64" => 8,
        _ => null,
    };

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, string path)
    {
        while (buffer.Length > 0)
        {
            int n = RandomAccess.Read(handle, buffer, offset);
            if (n <= 0) throw Bad(path, $"unexpected end of file at byte {offset} (the file shrank while being read?)");
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Header text for a message: quoted, control characters escaped, at most 80 characters.</summary>
    internal static string Quote(string text)
    {
        var sb = new StringBuilder("'");
        foreach (char c in text.Length > 80 ? text[..80] : text)
            sb.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString());
        if (text.Length > 80) sb.Append($"...' ({text.Length} characters)");
        else sb.Append('\'');
        return sb.ToString();
    }

    internal static string ShapeText(long[] shape) => "[" + string.Join(", ", shape) + "]";

    private static InvalidDataException Bad(string path, string message, Exception? inner = null) =>
        new($"{path}: {message}.", inner);
}
