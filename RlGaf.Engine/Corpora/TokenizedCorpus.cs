using RlGaf.Engine.Text;

namespace RlGaf.Engine.Corpora;

/// <summary>
/// Documents as model token ids, each framed as [end-of-text] doc [end-of-text] (GPT-2's document
/// separator doubles as beginning-of-sequence), split into train and held-out parts. Documents
/// longer than the model's window are cut into consecutive windows so nothing is silently dropped.
/// The training documents are also kept as one stream for packed batches.
/// </summary>
public sealed class TokenizedCorpus
{
    public IReadOnlyList<int[]> Train { get; }
    public IReadOnlyList<int[]> HeldOut { get; }
    public Vocabulary Vocabulary { get; }
    public long TrainTokens { get; }
    /// <summary>
    /// The training documents as one stream, [eot] d1 [eot] d2 ... [eot]: windows of it fill every
    /// position of a batch, where padded per-document batches of short reviews waste about half.
    /// </summary>
    public int[] TrainStream { get; }
    /// <summary>
    /// Offsets in <see cref="TrainStream"/> where a document begins (its end-of-text) and a full window
    /// still fits. Packed rows start there, so every row opens like generation does — end-of-text at
    /// position 0, then a whole review — and openings are never cut (random offsets cut the very
    /// sentence the verdict must agree with, and validity fell from 93% to 27% in a test).
    /// </summary>
    public int[] DocumentStarts { get; }
    public int MaxSequenceLength { get; }

    public TokenizedCorpus(Vocabulary vocabulary, IEnumerable<string> train, IEnumerable<string> heldOut, int maxSequenceLength)
    {
        if (maxSequenceLength < 2) throw new ArgumentException($"maxSequenceLength ({maxSequenceLength}) must be at least 2.");
        Vocabulary = vocabulary;
        MaxSequenceLength = maxSequenceLength;
        var trainIds = train.Select(vocabulary.Encode).ToList();
        Train = Frame(trainIds, maxSequenceLength);
        HeldOut = Frame(heldOut.Select(vocabulary.Encode), maxSequenceLength);
        if (Train.Count == 0) throw new ArgumentException("The training split is empty.");
        if (HeldOut.Count == 0) throw new ArgumentException("The held-out split is empty.");
        TrainTokens = Train.Sum(s => (long)s.Length - 1);
        int eot = vocabulary.EndOfTextId;
        TrainStream = [.. trainIds.SelectMany(ids => ids.Prepend(eot)), eot];
        var starts = new List<int>();
        for (int i = 0, offset = 0; i < trainIds.Count; offset += trainIds[i].Length + 1, i++)
            if (offset + maxSequenceLength + 1 <= TrainStream.Length) starts.Add(offset);
        DocumentStarts = [.. starts];
    }

    private List<int[]> Frame(IEnumerable<int[]> docs, int maxLen)
    {
        int eot = Vocabulary.EndOfTextId;
        var result = new List<int[]>();
        foreach (var doc in docs)
        {
            int[] ids = [eot, .. doc, eot];
            // Windows of maxLen + 1 tokens (inputs and shifted targets), overlapping by one token.
            for (int start = 0; start < ids.Length - 1; start += maxLen)
                result.Add(ids[start..Math.Min(ids.Length, start + maxLen + 1)]);
        }
        return result;
    }
}
