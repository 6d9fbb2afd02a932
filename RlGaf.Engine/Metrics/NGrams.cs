namespace RlGaf.Engine.Metrics;

/// <summary>An n-gram of up to four token ids; <see cref="N"/> tells how many of A..D are used.</summary>
public readonly record struct NGram(int N, int A, int B = 0, int C = 0, int D = 0);

/// <summary>N-gram counting and the word tokenizer shared by the diversity metrics.</summary>
public static class NGrams
{
    /// <summary>The longest n-gram the metrics use (BLEU-4).</summary>
    public const int MaxOrder = 4;

    /// <summary>Punctuation split off words by <see cref="Words"/>: the grammar's punctuation terminals.</summary>
    public const string Punctuation = ",.!?;:";

    /// <summary>The n-gram of order <paramref name="n"/> starting at <paramref name="i"/>.</summary>
    public static NGram At(IReadOnlyList<int> s, int i, int n) => n switch
    {
        1 => new(1, s[i]),
        2 => new(2, s[i], s[i + 1]),
        3 => new(3, s[i], s[i + 1], s[i + 2]),
        4 => new(4, s[i], s[i + 1], s[i + 2], s[i + 3]),
        _ => throw new ArgumentOutOfRangeException(nameof(n), n, $"n-gram order must be 1..{MaxOrder}."),
    };

    /// <summary>Counts of the n-grams of one sequence (n-grams never cross sequence boundaries).</summary>
    public static Dictionary<NGram, int> Count(IReadOnlyList<int> sequence, int n)
    {
        var counts = new Dictionary<NGram, int>();
        for (int i = 0; i + n <= sequence.Count; i++)
        {
            var g = At(sequence, i, n);
            counts[g] = counts.GetValueOrDefault(g) + 1;
        }
        return counts;
    }

    /// <summary>Counts of the n-grams pooled over all sequences.</summary>
    public static Dictionary<NGram, int> CountPooled(IReadOnlyList<IReadOnlyList<int>> sequences, int n)
    {
        var counts = new Dictionary<NGram, int>();
        foreach (var s in sequences)
            for (int i = 0; i + n <= s.Count; i++)
            {
                var g = At(s, i, n);
                counts[g] = counts.GetValueOrDefault(g) + 1;
            }
        return counts;
    }

    /// <summary>
    /// Word-level tokens of texts: split on whitespace, with the punctuation marks , . ! ? ; :
    /// split off as tokens of their own (so "superb." and "superb" share the word, as nltk's
    /// word_tokenize would have it); case is kept. Words are numbered in order of first appearance,
    /// so ids are only comparable within one call.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<int>> Words(IReadOnlyList<string> texts)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var result = new IReadOnlyList<int>[texts.Count];
        for (int t = 0; t < texts.Count; t++)
        {
            var tokens = new List<int>();
            string text = texts[t] ?? "";
            for (int i = 0; i < text.Length;)
            {
                if (char.IsWhiteSpace(text[i])) { i++; continue; }
                int j = i + 1;
                if (!Punctuation.Contains(text[i]))
                    while (j < text.Length && !char.IsWhiteSpace(text[j]) && !Punctuation.Contains(text[j])) j++;
                string word = text[i..j];
                if (!ids.TryGetValue(word, out int id)) ids[word] = id = ids.Count;
                tokens.Add(id);
                i = j;
            }
            result[t] = tokens;
        }
        return result;
    }
}
