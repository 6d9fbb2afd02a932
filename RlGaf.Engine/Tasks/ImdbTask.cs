using System.Security.Cryptography;
using System.Text;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Data;
using RlGaf.Engine.Text;

namespace RlGaf.Engine.Tasks;

/// <summary>
/// Which reviews train what on IMDB. The train half trains everything a method touches: the generator's
/// pretraining, the discriminator's real completions and the RLHF proxy's reward model. The test half is
/// split by position (even = judge, odd = held out; both halves keep the classes balanced): the judge is
/// trained on the even reviews only, and the odd ones give the evaluation prompts and the judge's
/// ceiling. No review is in two parts (checked when the split is made).
/// </summary>
public sealed record ImdbSplits(IReadOnlyList<ImdbReview> ProxyTrain, IReadOnlyList<ImdbReview> JudgeTrain, IReadOnlyList<ImdbReview> HeldOut)
{
    public static ImdbSplits Of(ImdbDataset data)
    {
        if (data.Test.Count < 2) throw new InvalidDataException($"{data.Source}: the test split needs at least 2 reviews (judge and held-out), found {data.Test.Count}.");
        var judge = data.Test.Where((_, i) => i % 2 == 0).ToList();
        var held = data.Test.Where((_, i) => i % 2 == 1).ToList();
        var split = new ImdbSplits(data.Train, judge, held);
        var seen = new HashSet<string>();
        foreach (var r in split.ProxyTrain.Concat(split.JudgeTrain).Concat(split.HeldOut))
            if (!seen.Add(Key(r))) throw new InvalidDataException($"{data.Source}: review {Key(r)} would be in two of train / judge / held-out.");
        return split;
    }

    /// <summary>A review's identity: split, class and id (aclImdb ids repeat across splits and classes; CSV ids are row numbers).</summary>
    public static string Key(ImdbReview r) => $"{r.Split}/{(r.Positive ? "pos" : "neg")}/{r.Id}";
}

/// <summary>
/// "Positive continuation" on IMDB (the paper's setting; TRL's gpt2-sentiment): a prompt is the first
/// 2-8 GPT-2 tokens of a review (length drawn with the seed), a real completion is the continuation
/// of a POSITIVE train review, cut to fit max_new_tokens and the window. A completion that reaches the
/// end of its review ends with end-of-text; a cut one does not (like a generated completion that ran
/// into max_new_tokens). Labelled pairs (both classes, label = positive) come from the train half;
/// <see cref="Classifier"/> (word n-grams, train half) is the RLHF proxy's frozen reward model. The
/// held-out prompts come from the held-out part of the test half (<see cref="ImdbSplits"/>), and the
/// judge is <see cref="Judge"/>: character n-grams, trained on the test half's other part, so no
/// method trained against it: align/positive-rate (share with P(positive) &gt; 0.5),
/// imdb/classifier_score (its mean P(positive)), align/judge-ceiling (its positive rate on real
/// positive held-out continuations, the best a method can expect) and imdb/proxy_score (the proxy's
/// mean P(positive), which a method gaming the proxy inflates).
/// </summary>
public sealed class ImdbTask : IAlignmentTask
{
    public const string Prefix = "imdb:";
    private const ulong HeldOutSeed = 0x1DB_5EED;
    private const int MinPromptTokens = 2, MaxPromptTokens = 8;
    private readonly ImdbDataset _data;
    private readonly int _maxNew, _window;
    private const ulong CeilingSeed = 0xCE11_5EED;
    private const int CeilingSamples = 400;
    private readonly int[] _trainPositive, _trainAll, _heldOutAll, _heldOutPositive; // indices into the splits
    private double? _ceiling;
    private readonly Dictionary<(ImdbSplit, int), int[]> _tokens = [];
    private readonly Lock _gate = new();

    /// <param name="classifier">The RLHF proxy's reward model, trained on the train half.</param>
    /// <param name="judge">The held-out judge, trained on <see cref="ImdbSplits.JudgeTrain"/> (null = the proxy judges itself, as before the split; tests only).</param>
    public ImdbTask(Vocabulary vocabulary, ImdbDataset data, ImdbSentimentClassifier classifier, int maxNewTokens = 48, int window = 64, ImdbSentimentClassifier? judge = null)
    {
        if (maxNewTokens < 1) throw new ArgumentException($"max_new_tokens: {maxNewTokens} must be at least 1.");
        if (window < MaxPromptTokens * 4 + 2) throw new ArgumentException($"window: {window} positions are too few for IMDB prompts (at least {MaxPromptTokens * 4 + 2}).");
        if (!data.Train.Any(r => r.Positive)) throw new InvalidDataException($"{data.Source}: the train split has no positive reviews.");
        if (data.Test.Count == 0) throw new InvalidDataException($"{data.Source}: the test split is empty.");
        Vocabulary = vocabulary;
        Classifier = classifier;
        JudgeClassifier = judge ?? classifier;
        Splits = ImdbSplits.Of(data);
        _data = data;
        _maxNew = maxNewTokens;
        _window = window;
        _trainPositive = Enumerable.Range(0, data.Train.Count).Where(i => data.Train[i].Positive).ToArray();
        _trainAll = Enumerable.Range(0, data.Train.Count).ToArray();
        // The held-out part: odd positions of the test split (see ImdbSplits).
        _heldOutAll = Enumerable.Range(0, data.Test.Count).Where(i => i % 2 == 1).ToArray();
        _heldOutPositive = _heldOutAll.Where(i => data.Test[i].Positive).ToArray();
        if (_heldOutPositive.Length == 0) throw new InvalidDataException($"{data.Source}: the held-out part of the test split has no positive reviews.");
    }

    public string Name => Prefix + _data.Source;
    public Vocabulary Vocabulary { get; }
    /// <summary>The RLHF proxy's frozen reward model (word n-grams, train half).</summary>
    public ImdbSentimentClassifier Classifier { get; }
    /// <summary>The judge of align/positive-rate (character n-grams, the judge part of the test half).</summary>
    public ImdbSentimentClassifier JudgeClassifier { get; }
    public ImdbSplits Splits { get; }

    public IReadOnlyList<TaskExample> SampleReal(int count, ulong seed) =>
        Draw(count, seed, ImdbSplit.Train, _trainPositive).Select(x => x.Example).ToList();

    public IReadOnlyList<LabelledExample> SampleLabelled(int count, ulong seed) =>
        Draw(count, seed, ImdbSplit.Train, _trainAll)
            .Select(x => new LabelledExample(x.Example.Prompt, x.Example.Completion, x.Review.Positive ? 1f : 0f)).ToList();

    public IReadOnlyList<TaskExample> HeldOut(int count) =>
        Draw(count, HeldOutSeed, ImdbSplit.Test, _heldOutAll).Select(x => x.Example).ToList();

    /// <summary>
    /// The judge's positive rate on real continuations of positive held-out reviews (prompt + completion
    /// cut like a sample's, 400 drawn with a fixed seed): what a method that wrote like the positive
    /// reviews themselves would score. Computed once.
    /// </summary>
    public double Ceiling
    {
        get
        {
            lock (_gate) if (_ceiling is { } c) return c;
            var real = Draw(CeilingSamples, CeilingSeed, ImdbSplit.Test, _heldOutPositive).Select(x => x.Example).ToList();
            double rate = real.Count(e => JudgeClassifier.ProbabilityPositive(e.PromptText + e.CompletionText) > 0.5) / (double)real.Count;
            lock (_gate) _ceiling = rate;
            return rate;
        }
    }

    public IReadOnlyDictionary<string, double> Judge(IReadOnlyList<JudgedSample> samples)
    {
        int positive = 0;
        double sum = 0, proxy = 0;
        foreach (var s in samples)
        {
            double p = JudgeScore(s);
            sum += p;
            if (p > 0.5) positive++;
            proxy += Classifier.ProbabilityPositive(s.PromptText + s.CompletionText);
        }
        int n = samples.Count;
        return new Dictionary<string, double>
        {
            ["align/positive-rate"] = n == 0 ? double.NaN : (double)positive / n,
            ["imdb/classifier_score"] = n == 0 ? double.NaN : sum / n,
            ["imdb/proxy_score"] = n == 0 ? double.NaN : proxy / n,
            ["align/judge-ceiling"] = Ceiling,
        };
    }

    public double JudgeScore(JudgedSample sample) => JudgeClassifier.ProbabilityPositive(sample.PromptText + sample.CompletionText);

    public string? Verdict(JudgedSample sample)
    {
        double p = JudgeScore(sample);
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
    public static ImdbSentimentClassifier EnsureClassifier(ImdbDataset data, string? modelsRoot, Action<string>? log = null) =>
        Ensure(data, modelsRoot, "imdb-sentiment", log, () =>
            ImdbSentimentClassifier.Train(data.Train, ImdbSplits.Of(data).HeldOut, null, log, "IMDB proxy reward model (word n-grams, train half)"));

    /// <summary>
    /// The held-out judge for a dataset: character n-grams, trained on <see cref="ImdbSplits.JudgeTrain"/>
    /// only (accuracy measured on the held-out part), cached like <see cref="EnsureClassifier"/>.
    /// </summary>
    public static ImdbSentimentClassifier EnsureJudge(ImdbDataset data, string? modelsRoot, Action<string>? log = null) =>
        Ensure(data, modelsRoot, "imdb-judge", log, () =>
        {
            var split = ImdbSplits.Of(data);
            return ImdbSentimentClassifier.Train(split.JudgeTrain, split.HeldOut, new ImdbClassifierOptions { Features = ImdbFeatures.Chars, HashBits = 20, Epochs = 6 },
                log, "IMDB judge (character n-grams, judge part of the test half)");
        });

    private static ImdbSentimentClassifier Ensure(ImdbDataset data, string? modelsRoot, string name, Action<string>? log, Func<ImdbSentimentClassifier> train)
    {
        if (modelsRoot is null) return train();
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{Path.GetFullPath(data.Source)}|{data.Train.Count}|{data.Test.Count}|{data.Train[0].Text.Length}|{data.Train[^1].Text.Length}|split2")))[..16].ToLowerInvariant();
        var path = Path.Combine(modelsRoot, $"{name}-{key}.bin");
        if (File.Exists(path))
        {
            try { return ImdbSentimentClassifier.Load(path); }
            catch (InvalidDataException e) { log?.Invoke($"retraining {name}: {e.Message}"); }
        }
        var c = train();
        Directory.CreateDirectory(modelsRoot);
        c.Save(path);
        return c;
    }
}
