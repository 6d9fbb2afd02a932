using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Data;
using RlGaf.Engine.Text;

namespace RlGaf.Engine.Tasks;

/// <summary>
/// A custom task from prompt/completion JSON Lines (<see cref="PromptCompletionJsonl"/>). The prompt
/// text is used as is (after the beginning-of-sequence token; its oldest tokens are dropped when it
/// would leave fewer than max_new_tokens positions), the completion as is, then end-of-text (cut to
/// max_new_tokens, without end-of-text, when longer). Every tenth example (ordinal 9, 19, ...) is held
/// out (the only one when the file has one example). Labelled pairs: an example's own completion
/// (label 1) or another example's (label 0). The judge computes the one thing it can:
/// jsonl/exact-match, the share of held-out completions equal (trimmed) to the reference.
/// </summary>
public sealed class JsonlTask : IAlignmentTask
{
    public const string Prefix = "jsonl:";
    private readonly string _source;
    private readonly List<PromptCompletion> _train = [], _heldOut = [];
    private readonly int _maxNew, _window;
    private readonly Dictionary<string, string> _reference = new(StringComparer.Ordinal);

    public JsonlTask(Vocabulary vocabulary, string source, IReadOnlyList<PromptCompletion> examples, int maxNewTokens = 48, int window = 64)
    {
        if (examples.Count == 0) throw new InvalidDataException($"{source}: the file has no examples.");
        if (window - Math.Min(maxNewTokens, window / 2) < 2) throw new ArgumentException($"window: {window} positions are too few.");
        Vocabulary = vocabulary;
        _source = source;
        _maxNew = Math.Min(maxNewTokens, window / 2);
        _window = window;
        for (int i = 0; i < examples.Count; i++) (i % 10 == 9 ? _heldOut : _train).Add(examples[i]);
        if (_heldOut.Count == 0) _heldOut.Add(examples[^1]);
        if (_train.Count == 0) _train.AddRange(examples);
        foreach (var h in _heldOut) _reference.TryAdd(Example(h).PromptText, h.Completion);
    }

    public string Name => Prefix + _source;
    public Vocabulary Vocabulary { get; }

    public IReadOnlyList<TaskExample> SampleReal(int count, ulong seed)
    {
        var rng = new SplitMix64(seed);
        return Enumerable.Range(0, count).Select(_ => Example(_train[(int)(rng.NextUInt64() % (ulong)_train.Count)])).ToList();
    }

    public IReadOnlyList<LabelledExample> SampleLabelled(int count, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var result = new List<LabelledExample>(count);
        for (int i = 0; i < count; i++)
        {
            var e = _train[(int)(rng.NextUInt64() % (ulong)_train.Count)];
            var other = _train[(int)(rng.NextUInt64() % (ulong)_train.Count)];
            bool positive = rng.NextUInt64() % 2 == 0 || other.Completion == e.Completion;
            var ex = Example(e);
            result.Add(new LabelledExample(ex.Prompt, positive ? ex.Completion : Example(other).Completion, positive ? 1f : 0f));
        }
        return result;
    }

    public IReadOnlyList<TaskExample> HeldOut(int count) => _heldOut.Take(count).Select(Example).ToList();

    public IReadOnlyDictionary<string, double> Judge(IReadOnlyList<JudgedSample> samples)
    {
        int n = 0, same = 0;
        foreach (var s in samples)
        {
            if (!_reference.TryGetValue(s.PromptText, out var reference)) continue;
            n++;
            if (s.CompletionText.Trim() == reference.Trim()) same++;
        }
        return new Dictionary<string, double> { ["jsonl/exact-match"] = n == 0 ? double.NaN : (double)same / n };
    }

    public string? Verdict(JudgedSample sample) =>
        _reference.TryGetValue(sample.PromptText, out var r) ? (sample.CompletionText.Trim() == r.Trim() ? "matches reference" : "differs from reference") : null;

    private TaskExample Example(PromptCompletion e)
    {
        int eot = Vocabulary.EndOfTextId;
        var promptG = Gpt2Tokenizer.Shared.Encode(e.Prompt);
        int room = _window - _maxNew - 1;
        while (promptG.Length > 0 && Vocabulary.ToModel(promptG).Length > room) promptG = promptG[1..];
        int[] prompt = [eot, .. Vocabulary.ToModel(promptG)];
        var completion = Vocabulary.Encode(e.Completion);
        int[] ids = completion.Length + 1 <= _maxNew ? [.. completion, eot] : completion[.._maxNew];
        return new TaskExample(Gpt2Tokenizer.Shared.Decode(promptG), prompt, Vocabulary.Decode(ids.Where(t => t != eot)), ids);
    }
}
