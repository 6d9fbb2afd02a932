using System.Security.Cryptography;
using System.Text;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Data;
using RlGaf.Engine.Text;

namespace RlGaf.Engine.Tasks;

/// <summary>
/// "Positive continuation" on IMDB (the paper's setting; TRL's gpt2-sentiment): a prompt is the first
/// 2-8 GPT-2 tokens of a review (length drawn with the seed), a real completion is the continuation
/// of a POSITIVE train review, cut to fit max_new_tokens and the window. A completion that reaches the
/// end of its review ends with end-of-text; a cut one does not (like a generated completion that ran
/// into max_new_tokens). Labelled pairs (both classes, label = positive) train the RLHF proxy; the
/// held-out prompts come from the test split (both classes, fixed seed). The judge is
/// <see cref="ImdbSentimentClassifier"/> on prompt + completion: align/positive-rate (share with
/// P(positive) &gt; 0.5) and imdb/classifier_score (mean P(positive)).
/// </summary>
public sealed class ImdbTask : IAlignmentTask
{
    public const string Prefix = "imdb:";
    private const ulong HeldOutSeed = 0x1DB_5EED;
    private const int MinPromptTokens = 2, MaxPromptTokens = 8;
    private readonly ImdbDataset _data;
    private readonly int _maxNew, _window;
    private readonly int[] _trainPositive, _trainAll, _testAll; // indices into the splits
    private readonly Dictionary<(ImdbSplit, int), int[]> _tokens = [];
    private readonly Lock _gate = new();

    public ImdbTask(Vocabulary vocabulary, ImdbDataset data, ImdbSentimentClassifier classifier, int maxNewTokens = 48, int window = 64)
    {
        if (maxNewTokens < 1) throw new ArgumentException($"max_new_tokens: {maxNewTokens} must be at least 1.");
        if (window < MaxPromptTokens * 4 + 2) throw new ArgumentException($"window: {window} positions are too few for IMDB prompts (at least {MaxPromptTokens * 4 + 2}).");
        if (!data.Train.Any(r => r.Positive)) throw new InvalidDataException($"{data.Source}: the train split has no positive reviews.");
        if (data.Test.Count == 0) throw new InvalidDataException($"{data.Source}: the test split is empty.");
        Vocabulary = vocabulary;
        Classifier = classifier;
        _data = data;
        _maxNew = maxNewTokens;
        _window = window;
        _trainPositive = Enumerable.Range(0, data.Train.Count).Where(i => data.Train[i].Positive).ToArray();
        _trainAll = Enumerable.Range(0, data.Train.Count).ToArray();
        _testAll = Enumerable.Range(0, data.Test.Count).ToArray();
    }

    public string Name => Prefix + _data.Source;
    public Vocabulary Vocabulary { get; }
    public ImdbSentimentClassifier Classifier { get; }

    public IReadOnlyList<TaskExample> SampleReal(int count, ulong seed) =>
        Draw(count, seed, ImdbSplit.Train, _trainPositive).Select(x => x.Example).ToList();

    public IReadOnlyList<LabelledExample> SampleLabelled(int count, ulong seed) =>
        Draw(count, seed, ImdbSplit.Train, _trainAll)
            .Select(x => new LabelledExample(x.Example.Prompt, x.Example.Completion, x.Review.Positive ? 1f : 0f)).ToList();

    public IReadOnlyList<TaskExample> HeldOut(int count) =>
        Draw(count, HeldOutSeed, ImdbSplit.Test, _testAll).Select(x => x.Example).ToList();

    public IReadOnlyDictionary<string, double> Judge(IReadOnlyList<JudgedSample> samples)
    {
        int positive = 0;
        double sum = 0;
        foreach (var s in samples)
        {
            double p = Classifier.ProbabilityPositive(s.PromptText + s.CompletionText);
            sum += p;
            if (p > 0.5) positive++;
        }
        int n = samples.Count;
        return new Dictionary<string, double>
        {
            ["align/positive-rate"] = n == 0 ? double.NaN : (double)positive / n,
            ["imdb/classifier_score"] = n == 0 ? double.NaN : sum / n,
        };
    }

    public string? Verdict(JudgedSample sample)
    {
        double p = Classifier.ProbabilityPositive(sample.PromptText + sample.CompletionText);
        return $"{(p > 0.5 ? "positive" : "negative")} ({p:0.00})";
    }

    private IEnumerable<(TaskExample Example, ImdbReview Review)> Draw(int count, ulong seed, ImdbSplit split, int[] pool)
    {
        var reviews = split == ImdbSplit.Train ? _data.Train : _data.Test;
        var rng = new SplitMix64(seed);
        int made = 0, tries = 0;
        while (made < count)
        {
            int index = pool[(int)(rng.NextUInt64() % (ulong)pool.Length)];
            int promptLen = MinPromptTokens + (int)(rng.NextUInt64() % (MaxPromptTokens - MinPromptTokens + 1));
            var ids = Tokens(split, index, reviews[index].Text);
            if (ids.Length <= promptLen)
            {
                if (++tries > 100 * (count + 10)) throw new InvalidDataException($"{_data.Source}: reviews are too short for {MinPromptTokens}-{MaxPromptTokens} token prompts.");
                continue;
            }
            made++;
            yield return (Example(ids, promptLen), reviews[index]);
        }
    }

    /// <summary>The review's first GPT-2 tokens (enough for the longest prompt and completion), cached.</summary>
    private int[] Tokens(ImdbSplit split, int index, string text)
    {
        lock (_gate)
        {
            if (_tokens.TryGetValue((split, index), out var cached)) return cached;
            int need = MaxPromptTokens + _maxNew + 1;
            // A GPT-2 token is rarely more than ~12 characters: encode a generous prefix, not the whole review.
            var prefix = text.Length > need * 16 ? text[..(need * 16)] : text;
            var ids = Gpt2Tokenizer.Shared.Encode(prefix);
            bool whole = ReferenceEquals(prefix, text);
            var kept = ids.Length > need ? ids[..need] : ids;
            // Mark "the review ends here" with a trailing end-of-text only when the whole review was encoded.
            int[] result = whole && ids.Length <= need ? [.. kept, Gpt2Tokenizer.EndOfText] : kept;
            _tokens[(split, index)] = result;
            return result;
        }
    }

    private TaskExample Example(int[] gpt2, int promptLen)
    {
        int eot = Vocabulary.EndOfTextId;
        var promptG = gpt2[..promptLen];
        bool ends = gpt2[^1] == Gpt2Tokenizer.EndOfText;
        var restG = gpt2[promptLen..(ends ? gpt2.Length - 1 : gpt2.Length)];
        int[] prompt = [eot, .. Vocabulary.ToModel(promptG)];
        int budget = Math.Min(_maxNew, _window - prompt.Length);
        var rest = Vocabulary.ToModel(restG);
        int[] completion = ends && rest.Length + 1 <= budget ? [.. rest, eot] : rest[..Math.Min(rest.Length, budget)];
        string promptText = Gpt2Tokenizer.Shared.Decode(promptG);
        string completionText = Vocabulary.Decode(completion.Where(t => t != eot));
        return new TaskExample(promptText, prompt, completionText, completion);
    }

    /// <summary>
    /// The classifier for a dataset: loaded from the cache under <paramref name="modelsRoot"/> when one
    /// was trained on the same data, else trained (seconds) and saved there.
    /// </summary>
    public static ImdbSentimentClassifier EnsureClassifier(ImdbDataset data, string? modelsRoot, Action<string>? log = null)
    {
        if (modelsRoot is null) return ImdbSentimentClassifier.Train(data, log: log);
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{Path.GetFullPath(data.Source)}|{data.Train.Count}|{data.Test.Count}|{data.Train[0].Text.Length}|{data.Train[^1].Text.Length}")))[..16].ToLowerInvariant();
        var path = Path.Combine(modelsRoot, $"imdb-sentiment-{key}.bin");
        if (File.Exists(path))
        {
            try { return ImdbSentimentClassifier.Load(path); }
            catch (InvalidDataException e) { log?.Invoke($"retraining the sentiment classifier: {e.Message}"); }
        }
        var c = ImdbSentimentClassifier.Train(data, log: log);
        Directory.CreateDirectory(modelsRoot);
        c.Save(path);
        return c;
    }
}
