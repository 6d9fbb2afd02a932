using System.Text.Json;
using System.Text.Json.Serialization;

namespace RlGaf.Engine.Text;

/// <summary>
/// Maps a model's dense token ids to GPT-2 token ids. Models loaded from Hugging Face use the full
/// GPT-2 vocabulary (identity map). Models trained here use a compact one: the GPT-2 ids a corpus
/// uses, the 256 single-byte tokens and end-of-text — about 10x faster to train at tiny sizes. The
/// byte tokens make every text encodable: a GPT-2 token the corpus never used is spelled out in
/// bytes, so decoding is always exact. Saved beside the model so a reloaded model decodes identically.
/// </summary>
public sealed class Vocabulary
{
    public const string FileName = "rlgaf-vocab.json";
    private const string Format = "rlgaf-compact-vocab/1";
    /// <summary>Largest rlgaf-vocab.json read (4 MiB).</summary>
    public const long MaxFileBytes = 4 << 20;

    private readonly int[] _toGpt2;               // model id -> GPT-2 id; null map = identity
    private readonly Dictionary<int, int> _fromGpt2;
    private readonly Gpt2Tokenizer _tokenizer = Gpt2Tokenizer.Shared;

    public bool IsFull { get; }
    /// <summary>Number of model ids (the model's vocab_size).</summary>
    public int Size => IsFull ? Gpt2Tokenizer.VocabSize : _toGpt2.Length;
    /// <summary>The model id of end-of-text (also the beginning-of-sequence token).</summary>
    public int EndOfTextId => IsFull ? Gpt2Tokenizer.EndOfText : _fromGpt2[Gpt2Tokenizer.EndOfText];

    private Vocabulary(int[]? toGpt2)
    {
        IsFull = toGpt2 is null;
        _toGpt2 = toGpt2 ?? [];
        _fromGpt2 = new Dictionary<int, int>(_toGpt2.Length);
        for (int i = 0; i < _toGpt2.Length; i++) _fromGpt2[_toGpt2[i]] = i;
    }

    /// <summary>The full GPT-2 vocabulary: model ids are GPT-2 ids.</summary>
    public static Vocabulary Full { get; } = new(null);

    /// <summary>
    /// A compact vocabulary: the GPT-2 ids the texts use (at most <paramref name="maxSize"/> in all,
    /// the most frequent first), the 256 byte tokens and end-of-text; sorted by GPT-2 id. Tokens left
    /// out are spelled in bytes, so a cap costs sequence length, never correctness.
    /// </summary>
    public static Vocabulary BuildCompact(IEnumerable<string> texts, int maxSize = int.MaxValue)
    {
        var reserved = new SortedSet<int> { Gpt2Tokenizer.EndOfText };
        for (int b = 0; b < 256; b++) reserved.Add(Gpt2Tokenizer.ByteTokenId((byte)b));
        if (maxSize < reserved.Count) throw new ArgumentException($"maxSize ({maxSize}) must leave room for the {reserved.Count} byte and end-of-text tokens.");
        var counts = new Dictionary<int, long>();
        foreach (var text in texts)
            foreach (int id in Gpt2Tokenizer.Shared.Encode(text))
                counts[id] = counts.GetValueOrDefault(id) + 1;
        var ids = new SortedSet<int>(reserved);
        foreach (var (id, _) in counts.Where(kv => !reserved.Contains(kv.Key)).OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key))
        {
            if (ids.Count >= maxSize) break;
            ids.Add(id);
        }
        return new Vocabulary([.. ids]);
    }

    /// <summary>Model ids of a text. Tokens outside a compact vocabulary are spelled with byte tokens.</summary>
    public int[] Encode(string text) => ToModel(_tokenizer.Encode(text));

    /// <summary>Text of model ids.</summary>
    public string Decode(IEnumerable<int> modelIds) => _tokenizer.Decode(ToGpt2(modelIds));

    public int[] ToModel(IEnumerable<int> gpt2Ids)
    {
        if (IsFull) return gpt2Ids.ToArray();
        var result = new List<int>();
        foreach (int id in gpt2Ids)
        {
            if (_fromGpt2.TryGetValue(id, out int m)) result.Add(m);
            else foreach (byte b in _tokenizer.TokenBytes(id)) result.Add(_fromGpt2[Gpt2Tokenizer.ByteTokenId(b)]);
        }
        return [.. result];
    }

    public int[] ToGpt2(IEnumerable<int> modelIds)
    {
        if (IsFull) return modelIds.ToArray();
        return modelIds.Select(m => (uint)m < (uint)_toGpt2.Length
            ? _toGpt2[m]
            : throw new ArgumentOutOfRangeException(nameof(modelIds), $"model token id {m} is outside the vocabulary (0..{_toGpt2.Length - 1}).")).ToArray();
    }

    public int ToGpt2(int modelId) => IsFull ? modelId : _toGpt2[modelId];

    /// <summary>Whether both map every model id to the same GPT-2 id (token ids of one mean the same in the other).</summary>
    public bool SameAs(Vocabulary other) => IsFull == other.IsFull && _toGpt2.AsSpan().SequenceEqual(other._toGpt2);

    /// <summary>Writes <see cref="FileName"/> into a checkpoint directory (compact vocabularies only).</summary>
    public void Save(string directory)
    {
        if (IsFull) return; // a Hugging Face checkpoint needs no extra file
        var path = Path.Combine(directory, FileName);
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(new VocabFile(Format, "gpt2", _toGpt2)));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads the vocabulary of a checkpoint directory: compact if <see cref="FileName"/> is there, else full.</summary>
    public static Vocabulary Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return Full;
        // GPT-2 has 50257 ids, under 400 KB as JSON: a larger file is not a vocabulary, and is not read.
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes) throw new InvalidDataException($"{path}: {length} bytes, more than the limit of {MaxFileBytes} for a vocabulary file.");
        VocabFile? file;
        try { file = JsonSerializer.Deserialize<VocabFile>(File.ReadAllText(path)); }
        // The serializer's message can quote the offending text; the line and JSON path are enough.
        catch (JsonException e) { throw new InvalidDataException($"{path}: line {e.LineNumber + 1}: not a valid vocabulary file ({e.Path ?? "$"})."); }
        if (file is null || file.Format != Format)
            throw new InvalidDataException($"{path}: 'format' must be '{Format}'.");
        if (file.Gpt2Ids is null || file.Gpt2Ids.Length == 0)
            throw new InvalidDataException($"{path}: 'gpt2_ids' is missing or empty.");
        if (file.Gpt2Ids.Any(id => (uint)id >= Gpt2Tokenizer.VocabSize) || file.Gpt2Ids.Distinct().Count() != file.Gpt2Ids.Length)
            throw new InvalidDataException($"{path}: 'gpt2_ids' must be distinct GPT-2 ids (0..{Gpt2Tokenizer.VocabSize - 1}).");
        if (!file.Gpt2Ids.Contains(Gpt2Tokenizer.EndOfText))
            throw new InvalidDataException($"{path}: 'gpt2_ids' must contain end-of-text ({Gpt2Tokenizer.EndOfText}).");
        for (int b = 0; b < 256; b++)
            if (!file.Gpt2Ids.Contains(Gpt2Tokenizer.ByteTokenId((byte)b)))
                throw new InvalidDataException($"{path}: 'gpt2_ids' lacks the byte token for byte {b}.");
        return new Vocabulary(file.Gpt2Ids);
    }

    private sealed record VocabFile(
        [property: JsonPropertyName("format")] string Format,
        [property: JsonPropertyName("tokenizer")] string Tokenizer,
        [property: JsonPropertyName("gpt2_ids")] int[] Gpt2Ids);
}
