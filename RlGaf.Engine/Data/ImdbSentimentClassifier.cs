using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using RlGaf.Engine.Corpora.SyntheticReviews;

namespace RlGaf.Engine.Data;

/// <summary>
/// What a classifier reads. Words: lower-cased word unigrams and bigrams (the RLHF proxy's reward
/// model). Chars: lower-cased character 3- to 5-grams across word boundaries (the held-out judge), so
/// the judge and the reward model share neither training reviews nor features.
/// </summary>
public enum ImdbFeatures { Words = 0, Chars = 1 }

/// <summary>Training settings of <see cref="ImdbSentimentClassifier"/>.</summary>
public sealed record ImdbClassifierOptions
{
    public ImdbFeatures Features { get; init; } = ImdbFeatures.Words;
    /// <summary>Feature buckets = 2^HashBits (word unigrams and bigrams are hashed into them).</summary>
    public int HashBits { get; init; } = 18;
    public int Epochs { get; init; } = 8;
    /// <summary>AdaGrad step size.</summary>
    public double LearningRate { get; init; } = 0.1;
    /// <summary>L2 penalty per example update.</summary>
    public double L2 { get; init; } = 1e-6;
    /// <summary>Seed of the example order (the only randomness).</summary>
    public ulong Seed { get; init; } = 1;
}

/// <summary>
/// An IMDB sentiment classifier: logistic regression over hashed binary features (<see cref="ImdbFeatures"/>:
/// word uni- and bigrams, or character 3-5-grams; L2-normalised per review), trained with AdaGrad in
/// plain C#: deterministic for a seed, seconds to minutes on 2 CPU cores, a small file. Two of them
/// serve an IMDB run (<see cref="Tasks.ImdbTask"/>): the word model, trained on the train half, is the
/// RLHF proxy's frozen reward model; the character model, trained on part of the test half, is the
/// judge of align/positive-rate. Both score a (prompt + completion) text: <see cref="Logit"/> /
/// <see cref="ProbabilityPositive"/>.
/// </summary>
public sealed class ImdbSentimentClassifier
{
    private const string MagicV1 = "rlgaf-imdb-sentiment/1", Magic = "rlgaf-imdb-sentiment/2";
    private readonly float[] _weights;
    private readonly int _bits;
    private readonly ImdbFeatures _features;
    private float _bias;

    /// <summary>Accuracy on the test split when trained by <see cref="Train(ImdbDataset, ImdbClassifierOptions?, Action{string}?)"/>; NaN otherwise.</summary>
    public double TestAccuracy { get; private set; } = double.NaN;
    public int TrainExamples { get; private set; }

    /// <summary>The features this classifier reads.</summary>
    public ImdbFeatures FeatureKind => _features;

    private ImdbSentimentClassifier(int bits, float[] weights, float bias, ImdbFeatures features = ImdbFeatures.Words)
    {
        _features = features;
        _bits = bits;
        _weights = weights;
        _bias = bias;
    }

    /// <summary>Trains on the train split and measures accuracy on the test split.</summary>
    public static ImdbSentimentClassifier Train(ImdbDataset data, ImdbClassifierOptions? options = null, Action<string>? log = null) =>
        Train(data.Train, data.Test, options, log, "IMDB sentiment classifier");

    /// <summary>Trains on <paramref name="train"/> and measures accuracy on <paramref name="test"/> (logged under <paramref name="name"/>).</summary>
    public static ImdbSentimentClassifier Train(IReadOnlyList<ImdbReview> train, IReadOnlyList<ImdbReview> test, ImdbClassifierOptions? options, Action<string>? log, string name)
    {
        var sw = Stopwatch.StartNew();
        var c = Train(train.Select(r => (r.Text, r.Positive)), options);
        c.TestAccuracy = c.Accuracy(test.Select(r => (r.Text, r.Positive)));
        log?.Invoke($"{name}: {c.TrainExamples} train reviews, accuracy {c.TestAccuracy:P1} on {test.Count} held-out reviews, {sw.Elapsed.TotalSeconds:0.0}s");
        return c;
    }

    /// <summary>Trains on labelled texts (true = positive).</summary>
    public static ImdbSentimentClassifier Train(IEnumerable<(string Text, bool Positive)> examples, ImdbClassifierOptions? options = null)
    {
        var o = options ?? new ImdbClassifierOptions();
        if (o.HashBits is < 10 or > 26) throw new ArgumentException($"hash_bits: {o.HashBits} must be in [10, 26].");
        if (o.Epochs < 1) throw new ArgumentException($"epochs: {o.Epochs} must be at least 1.");
        var docs = examples.Select(e => (Features: FeaturesOf(e.Text, o.HashBits, o.Features), Label: e.Positive ? 1.0 : 0.0)).ToList();
        if (docs.Count == 0) throw new ArgumentException("The classifier needs at least one labelled review.");
        var c = new ImdbSentimentClassifier(o.HashBits, new float[1 << o.HashBits], 0, o.Features) { TrainExamples = docs.Count };
        var accum = new float[1 << o.HashBits];
        double biasAccum = 0;
        var order = Enumerable.Range(0, docs.Count).ToArray();
        var rng = new SplitMix64(o.Seed);
        for (int epoch = 0; epoch < o.Epochs; epoch++)
        {
            for (int i = order.Length - 1; i > 0; i--)
            {
                int j = (int)(rng.NextUInt64() % (ulong)(i + 1));
                (order[i], order[j]) = (order[j], order[i]);
            }
            foreach (int k in order)
            {
                var (f, y) = docs[k];
                float x = f.Length == 0 ? 0 : 1f / MathF.Sqrt(f.Length);
                double z = c._bias;
                foreach (int idx in f) z += c._weights[idx] * x;
                double g = Sigmoid(z) - y;
                foreach (int idx in f)
                {
                    double gi = g * x + o.L2 * c._weights[idx];
                    accum[idx] += (float)(gi * gi);
                    c._weights[idx] -= (float)(o.LearningRate * gi / Math.Sqrt(accum[idx] + 1e-8));
                }
                biasAccum += g * g;
                c._bias -= (float)(o.LearningRate * g / Math.Sqrt(biasAccum + 1e-8));
            }
        }
        return c;
    }

    /// <summary>Log-odds that the text is positive.</summary>
    public double Logit(string text)
    {
        var f = FeaturesOf(text, _bits, _features);
        double z = _bias;
        if (f.Length == 0) return z;
        float x = 1f / MathF.Sqrt(f.Length);
        foreach (int idx in f) z += _weights[idx] * x;
        return z;
    }

    /// <summary>Probability that the text is positive (what "classified positive" thresholds at 0.5).</summary>
    public double ProbabilityPositive(string text) => Sigmoid(Logit(text));

    /// <summary>Share of texts whose predicted class is the label.</summary>
    public double Accuracy(IEnumerable<(string Text, bool Positive)> examples)
    {
        int n = 0, right = 0;
        foreach (var (text, positive) in examples)
        {
            n++;
            if (Logit(text) > 0 == positive) right++;
        }
        return n == 0 ? double.NaN : (double)right / n;
    }

    /// <summary>Writes the model (deflated weights; at most 1 MB at the default 2^18 buckets) atomically.</summary>
    public void Save(string path)
    {
        var tmp = path + ".tmp";
        using (var file = File.Create(tmp))
        {
            using (var header = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true))
            {
                header.Write(Magic);
                header.Write((int)_features);
                header.Write(_bits);
                header.Write(_bias);
                header.Write(TestAccuracy);
                header.Write(TrainExamples);
            }
            using var deflate = new DeflateStream(file, CompressionLevel.Optimal);
            deflate.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_weights.AsSpan()));
        }
        File.Move(tmp, path, overwrite: true);
    }

    public static ImdbSentimentClassifier Load(string path)
    {
        TextFiles.RequireFile(path, "sentiment classifier file");
        try
        {
            using var file = File.OpenRead(path);
            using var header = new BinaryReader(file, Encoding.UTF8, leaveOpen: true);
            var magic = header.ReadString();
            if (magic != Magic && magic != MagicV1) throw new InvalidDataException($"{path}: not an IMDB sentiment classifier ('{Magic}').");
            int kind = magic == MagicV1 ? 0 : header.ReadInt32();
            if (!Enum.IsDefined((ImdbFeatures)kind)) throw new InvalidDataException($"{path}: unknown feature kind {kind}.");
            int bits = header.ReadInt32();
            if (bits is < 10 or > 26) throw new InvalidDataException($"{path}: hash bits {bits} out of range.");
            float bias = header.ReadSingle();
            double acc = header.ReadDouble();
            int trained = header.ReadInt32();
            var weights = new float[1 << bits];
            using var deflate = new DeflateStream(file, CompressionMode.Decompress);
            deflate.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(weights.AsSpan()));
            return new ImdbSentimentClassifier(bits, weights, bias, (ImdbFeatures)kind) { TestAccuracy = acc, TrainExamples = trained };
        }
        catch (Exception e) when (e is EndOfStreamException || (e is InvalidDataException && !e.Message.StartsWith(path, StringComparison.Ordinal)))
        {
            throw new InvalidDataException($"{path}: truncated or corrupt classifier file.");
        }
    }

    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    private static int[] FeaturesOf(string text, int bits, ImdbFeatures kind) => kind == ImdbFeatures.Chars ? CharFeatures(text, bits) : Features(text, bits);

    /// <summary>
    /// Distinct hashed character 3-, 4- and 5-grams of the lower-cased text with runs of white space
    /// made one space and a space added at both ends (so word starts and ends are grams of their own).
    /// </summary>
    internal static int[] CharFeatures(string text, int bits)
    {
        var chars = new List<char>(text.Length + 2) { ' ' };
        foreach (char c in text)
        {
            if (char.IsWhiteSpace(c)) { if (chars[^1] != ' ') chars.Add(' '); }
            else chars.Add(char.ToLowerInvariant(c));
        }
        if (chars[^1] != ' ') chars.Add(' ');
        var set = new HashSet<int>();
        uint mask = (1u << bits) - 1;
        for (int i = 0; i < chars.Count; i++)
        {
            ulong h = 0x84222325CBF29CE4UL; // a different FNV basis than the word features: no shared buckets by design
            for (int n = 1; n <= 5 && i + n <= chars.Count; n++)
            {
                h = (h ^ chars[i + n - 1]) * 1099511628211UL;
                if (n >= 3) set.Add((int)(Mix(h + (ulong)n) & mask));
            }
        }
        return [.. set];
    }

    /// <summary>Distinct hashed features: lower-cased words (letters, digits, apostrophes), "!" and "?", and adjacent word pairs.</summary>
    internal static int[] Features(string text, int bits)
    {
        var set = new HashSet<int>();
        uint mask = (1u << bits) - 1;
        ulong prev = 0;
        bool hasPrev = false;
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            ulong h;
            if (char.IsLetterOrDigit(c) || c == '\'')
            {
                h = 14695981039346656037UL;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '\''))
                {
                    h = (h ^ char.ToLowerInvariant(text[i])) * 1099511628211UL;
                    i++;
                }
            }
            else if (c is '!' or '?')
            {
                h = (14695981039346656037UL ^ c) * 1099511628211UL;
                i++;
            }
            else
            {
                i++;
                continue;
            }
            set.Add((int)(Mix(h) & mask));
            if (hasPrev) set.Add((int)(Mix(prev * 31 + h + 0x9E3779B97F4A7C15UL) & mask));
            prev = h;
            hasPrev = true;
        }
        return [.. set];
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
