using System.Text;

namespace RlGaf.Engine.Tests.Tensorboard;

/// <summary>
/// A reader of TensorBoard event files written for these tests only, sharing no code with the writer:
/// its own table-driven CRC32C, its own record framing checks (both masked CRCs of every record) and
/// its own protobuf wire-format parser for Event, Summary, TensorProto, SessionLog and the HParams
/// plugin's messages (field numbers from event.proto, summary.proto, plugin_data.proto, api.proto).
/// </summary>
public static class EventFileReader
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            t[i] = c;
        }
        return t;
    }

    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    private static uint Masked(ReadOnlySpan<byte> data)
    {
        uint c = Crc32C(data);
        return unchecked(((c >> 15) | (c << 17)) + 0xa282ead8u);
    }

    /// <summary>The records of a file; throws naming the offset when a length, a CRC or the end of the file is wrong.</summary>
    public static List<byte[]> Records(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var records = new List<byte[]>();
        int at = 0;
        while (at < bytes.Length)
        {
            if (bytes.Length - at < 12) throw new InvalidDataException($"{path}: truncated header at offset {at}");
            ulong length = BitConverter.ToUInt64(bytes, at);
            if (BitConverter.ToUInt32(bytes, at + 8) != Masked(bytes.AsSpan(at, 8))) throw new InvalidDataException($"{path}: length CRC wrong at offset {at}");
            if ((ulong)(bytes.Length - at - 16) < length) throw new InvalidDataException($"{path}: record at offset {at} runs past the end");
            var data = bytes.AsSpan(at + 12, (int)length).ToArray();
            if (BitConverter.ToUInt32(bytes, at + 12 + (int)length) != Masked(data)) throw new InvalidDataException($"{path}: data CRC wrong at offset {at}");
            records.Add(data);
            at += 16 + (int)length;
        }
        return records;
    }

    // ---- protobuf wire format ------------------------------------------------------------------

    /// <summary>One field: varint/fixed values as raw bits, length-delimited ones as bytes.</summary>
    public sealed record Field(int Number, int WireType, ulong Bits, byte[] Bytes)
    {
        public double AsDouble => BitConverter.Int64BitsToDouble((long)Bits);
        public float AsFloat => BitConverter.Int32BitsToSingle((int)(uint)Bits);
        public string AsString => Encoding.UTF8.GetString(Bytes);
        public List<Field> AsMessage => Parse(Bytes);
    }

    public static List<Field> Parse(byte[] message)
    {
        var fields = new List<Field>();
        int at = 0;
        ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = message[at++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
                if (shift > 63) throw new InvalidDataException("varint too long");
            }
        }
        while (at < message.Length)
        {
            ulong key = Varint();
            int number = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0: fields.Add(new Field(number, wire, Varint(), [])); break;
                case 1: fields.Add(new Field(number, wire, BitConverter.ToUInt64(message, at), [])); at += 8; break;
                case 5: fields.Add(new Field(number, wire, BitConverter.ToUInt32(message, at), [])); at += 4; break;
                case 2:
                    int len = checked((int)Varint());
                    fields.Add(new Field(number, wire, 0, message.AsSpan(at, len).ToArray()));
                    at += len;
                    break;
                default: throw new InvalidDataException($"wire type {wire} not expected");
            }
        }
        return fields;
    }

    // ---- TensorBoard's messages ----------------------------------------------------------------

    public sealed record SummaryValue(string Tag, float? SimpleValue, IReadOnlyList<string> Strings, string? PluginName, byte[]? PluginContent, int? TensorDtype);

    public sealed record Event(double WallTime, long Step, string? FileVersion, IReadOnlyList<SummaryValue> Values, int? SessionLogStatus, string? SessionLogMessage);

    /// <summary>Every event of every file in <paramref name="directory"/>, files in name order (as TensorBoard reads them).</summary>
    public static List<(string File, Event Event)> ReadDirectory(string directory) =>
        Directory.GetFiles(directory, "events.out.tfevents.*").Order(StringComparer.Ordinal)
            .SelectMany(f => Records(f).Select(r => (Path.GetFileName(f), ParseEvent(r)))).ToList();

    public static Event ParseEvent(byte[] record)
    {
        double wall = 0; long step = 0; string? version = null; int? status = null; string? msg = null;
        var values = new List<SummaryValue>();
        foreach (var f in Parse(record))
        {
            switch (f.Number)
            {
                case 1: Assert.Equal(1, f.WireType); wall = f.AsDouble; break;
                case 2: Assert.Equal(0, f.WireType); step = (long)f.Bits; break;
                case 3: version = f.AsString; break;
                case 5: values.AddRange(f.AsMessage.Where(v => v.Number == 1).Select(v => ParseValue(v.AsMessage))); break;
                case 7:
                    foreach (var s in f.AsMessage)
                    {
                        if (s.Number == 1) status = (int)s.Bits;
                        if (s.Number == 3) msg = s.AsString;
                    }
                    break;
            }
        }
        return new Event(wall, step, version, values, status, msg);
    }

    private static SummaryValue ParseValue(List<Field> v)
    {
        string tag = ""; float? simple = null; var strings = new List<string>(); string? plugin = null; byte[]? content = null; int? dtype = null;
        foreach (var f in v)
        {
            switch (f.Number)
            {
                case 1: tag = f.AsString; break;
                case 2: Assert.Equal(5, f.WireType); simple = f.AsFloat; break;
                case 8:
                    foreach (var t in f.AsMessage)
                    {
                        if (t.Number == 1) dtype = (int)t.Bits;
                        if (t.Number == 8) strings.Add(t.AsString);
                    }
                    break;
                case 9:
                    foreach (var m in f.AsMessage.Where(m => m.Number == 1))
                        foreach (var p in m.AsMessage)
                        {
                            if (p.Number == 1) plugin = p.AsString;
                            if (p.Number == 2) content = p.Bytes;
                        }
                    break;
            }
        }
        return new SummaryValue(tag, simple, strings, plugin, content, dtype);
    }

    /// <summary>HParamsPluginData's session_start_info.hparams: name -> number (double), text or bool.</summary>
    public static Dictionary<string, object> SessionStartHParams(byte[] pluginContent)
    {
        var data = Parse(pluginContent);
        Assert.Equal(0UL, data.Single(f => f.Number == 1).Bits); // version 0
        var start = data.Single(f => f.Number == 3).AsMessage;
        var result = new Dictionary<string, object>();
        foreach (var entry in start.Where(f => f.Number == 1).Select(f => f.AsMessage))
        {
            string key = entry.Single(f => f.Number == 1).AsString;
            var value = entry.Single(f => f.Number == 2).AsMessage.Single();
            result.Add(key, value.Number switch
            {
                2 => value.AsDouble,
                3 => value.AsString,
                4 => value.Bits != 0,
                _ => throw new InvalidDataException($"hparam {key}: value kind {value.Number}"),
            });
        }
        return result;
    }

    /// <summary>HParamsPluginData's experiment: hparam names with their data type, and metric tags.</summary>
    public static (Dictionary<string, int> HParamTypes, List<string> MetricTags) Experiment(byte[] pluginContent)
    {
        var e = Parse(pluginContent).Single(f => f.Number == 2).AsMessage;
        var types = e.Where(f => f.Number == 4).Select(f => f.AsMessage)
            .ToDictionary(h => h.Single(x => x.Number == 1).AsString, h => (int)(h.FirstOrDefault(x => x.Number == 4)?.Bits ?? 0));
        var tags = e.Where(f => f.Number == 5).Select(f => f.AsMessage.Single(x => x.Number == 1).AsMessage.Single(x => x.Number == 2).AsString).ToList();
        return (types, tags);
    }

    /// <summary>HParamsPluginData's experiment: each hparam's discrete domain (google.protobuf.Value items: number, text or bool), where it has one.</summary>
    public static Dictionary<string, List<object>> ExperimentDomains(byte[] pluginContent)
    {
        var e = Parse(pluginContent).Single(f => f.Number == 2).AsMessage;
        var result = new Dictionary<string, List<object>>();
        foreach (var h in e.Where(f => f.Number == 4).Select(f => f.AsMessage))
        {
            var domain = h.FirstOrDefault(x => x.Number == 5);
            if (domain is null) continue;
            result[h.Single(x => x.Number == 1).AsString] = domain.AsMessage.Where(v => v.Number == 1).Select(v =>
            {
                var value = v.AsMessage.Single();
                return value.Number switch { 2 => (object)value.AsDouble, 3 => value.AsString, 4 => value.Bits != 0, _ => throw new InvalidDataException($"domain value kind {value.Number}") };
            }).ToList();
        }
        return result;
    }

    /// <summary>HParamsPluginData's session_end_info.status.</summary>
    public static int SessionEndStatus(byte[] pluginContent) =>
        (int)Parse(pluginContent).Single(f => f.Number == 4).AsMessage.Single(f => f.Number == 1).Bits;

    /// <summary>The rows of a markdown table written by the export: cells split on unescaped pipes, escapes removed.</summary>
    public static List<string[]> TableRows(string markdown) =>
        markdown.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(2).Select(line =>
        {
            var cells = new List<string>();
            var cell = new StringBuilder();
            for (int i = 0; i < line.Length; i++)
            {
                if (line[i] == '\\' && i + 1 < line.Length) { cell.Append(line[++i]); continue; }
                if (line[i] == '|') { cells.Add(cell.ToString().Trim()); cell.Clear(); continue; }
                cell.Append(line[i]);
            }
            return cells.Skip(1).ToArray(); // before the first pipe: nothing
        }).ToList();
}
