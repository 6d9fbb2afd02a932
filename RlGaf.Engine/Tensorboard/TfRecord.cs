using System.Buffers.Binary;
using System.Numerics;

namespace RlGaf.Engine.Tensorboard;

/// <summary>
/// TensorFlow's record framing, which TensorBoard event files use: uint64 length (little endian), the
/// masked CRC32C of those 8 bytes, the data, the masked CRC32C of the data.
/// </summary>
public static class TfRecord
{
    /// <summary>CRC32C (Castagnoli, reflected 0x82F63B78, initial and final XOR 0xFFFFFFFF): the CPU's crc32 instruction where it has one.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8) crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        for (; i < data.Length; i++) crc = BitOperations.Crc32C(crc, data[i]);
        return ~crc;
    }

    /// <summary>TensorFlow masks stored CRCs so that a CRC of data holding CRCs stays well distributed.</summary>
    public static uint Mask(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8u;

    /// <summary>Writes one framed record.</summary>
    public static void Write(Stream stream, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Mask(Crc32C(header[..8])));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, Mask(Crc32C(data)));
        stream.Write(header);
        stream.Write(data);
        stream.Write(footer);
    }
}
