using RlGaf.Engine.Text;

namespace RlGaf.Engine.Corpora;

/// <summary>
/// Documents as model token ids, each framed as [end-of-text] doc [end-of-text] (GPT-2's document
/// separator doubles as beginning-of-sequence), split into train and held-out parts. Documents
/// longer than the model's window are cut into consecutive windows so nothing is silently dropped.
/// </summary>
public sealed class TokenizedCorpus
{
    public IReadOnlyList<int[]> Train { get; }
    public IReadOnlyList<int[]> HeldOut { get; }
    public Vocabulary Vocabulary { get; }
    public long TrainTokens { get; }

    public TokenizedCorpus(Vocabulary vocabulary, IEnumerable<string> train, IEnumerable<string> heldOut, int maxSequenceLength)
    {
        if (maxSequenceLength < 2) throw new ArgumentException($"maxSequenceLength ({maxSequenceLength}) must be at least 2.");
        Vocabulary = vocabulary;
        Train = Frame(train, maxSequenceLength);
        HeldOut = Frame(heldOut, maxSequenceLength);
        if (Train.Count == 0) throw new ArgumentException("The training split is empty.");
        if (HeldOut.Count == 0) throw new ArgumentException("The held-out split is empty.");
        TrainTokens = Train.Sum(s => (long)s.Length - 1);
    }

    private List<int[]> Frame(IEnumerable<string> docs, int maxLen)
    {
        int eot = Vocabulary.EndOfTextId;
        var result = new List<int[]>();
        foreach (var doc in docs)
        {
            int[] ids = [eot, .. Vocabulary.Encode(doc), eot];
            // Windows of maxLen + 1 tokens (inputs and shifted targets), overlapping by one token.
            for (int start = 0; start < ids.Length - 1; start += maxLen)
                result.Add(ids[start..Math.Min(ids.Length, start + maxLen + 1)]);
        }
        return result;
    }
}
