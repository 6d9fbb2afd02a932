using System.Text;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Data;
using RlGaf.Engine.Text;

namespace RlGaf.Engine.Tasks;

/// <summary>
/// "Answer or abstain" on SQuAD 2.0. The prompt is exactly
/// <c>"Context: {context}\nQuestion: {question}\nAnswer:"</c> (after the beginning-of-sequence token);
/// the real completion is <c>" {first gold answer}"</c>, or <see cref="AbstainMarker"/> for an
/// unanswerable question, then end-of-text. Completions get <see cref="AnswerRoom"/> positions of the
/// window; the context is cut (in tokens) to fit the rest: for training AROUND the first gold answer
/// (the answer's tokens, then alternately one token more on each side), for evaluation and for
/// unanswerable questions FROM THE START (its first tokens), as a reader that cannot see the answer
/// must. Questions are split by paragraph: every fifth paragraph (ordinal 4, 9, ...) is held out, so
/// held-out contexts are never trained on. The judge is the official v2.0 metric
/// (<see cref="SquadEvaluation"/>) on the held-out questions: the prediction is the completion up to
/// its first line break, and the abstain marker means the empty answer. squad/exact and squad/f1 are
/// percentages as the official script prints them.
/// </summary>
public sealed class SquadTask : IAlignmentTask
{
    public const string Prefix = "squad:";
    public const string AbstainMarker = " unanswerable";
    private const string ContextHead = "Context:", QuestionHead = "\nQuestion: ", AnswerHead = "\nAnswer:";
    private readonly SquadDataset _data;
    private readonly List<SquadQuestion> _train = [], _heldOut = [];
    private readonly int _window;
    private readonly Dictionary<string, TaskExample> _trainCache = [];
    private readonly Lock _gate = new();
    private Dictionary<string, SquadQuestion>? _byPrompt;
    private List<TaskExample>? _heldOutExamples;

    /// <summary>Positions kept for the completion: max_new_tokens, at most 32.</summary>
    public int AnswerRoom { get; }

    public SquadTask(Vocabulary vocabulary, SquadDataset data, int maxNewTokens = 48, int window = 64)
    {
        Vocabulary = vocabulary;
        _data = data;
        _window = window;
        AnswerRoom = Math.Clamp(maxNewTokens, 1, 32);
        if (window - AnswerRoom < 24)
            throw new ArgumentException($"window: {window} positions leave too little room for a SQuAD prompt after {AnswerRoom} answer tokens (use n_positions >= {AnswerRoom + 24}; 256 or more is sensible).");
        int paragraph = -1;
        (int, int) last = (-1, -1);
        foreach (var q in data.Questions)
        {
            if ((q.ArticleIndex, q.ParagraphIndex) != last) { paragraph++; last = (q.ArticleIndex, q.ParagraphIndex); }
            (paragraph % 5 == 4 ? _heldOut : _train).Add(q);
        }
        if (_heldOut.Count == 0 || _train.Count == 0)
        {
            // Fewer than five paragraphs: hold out every fifth question instead.
            _train.Clear(); _heldOut.Clear();
            for (int i = 0; i < data.Questions.Count; i++) (i % 5 == 4 ? _heldOut : _train).Add(data.Questions[i]);
        }
        if (_heldOut.Count == 0 || _train.Count == 0)
            throw new InvalidDataException($"{data.Source}: needs at least 5 questions (training and held-out), found {data.Questions.Count}.");
    }

    public string Name => Prefix + _data.Source;
    public Vocabulary Vocabulary { get; }
    public IReadOnlyList<SquadQuestion> TrainQuestions => _train;
    public IReadOnlyList<SquadQuestion> HeldOutQuestions => _heldOut;

    public IReadOnlyList<TaskExample> SampleReal(int count, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var result = new List<TaskExample>(count);
        for (int i = 0; i < count; i++) result.Add(TrainExample(_train[(int)(rng.NextUInt64() % (ulong)_train.Count)]));
        return result;
    }

    /// <summary>
    /// Half gold completions (label 1), half wrong ones (label 0): for an answerable question the abstain
    /// marker or another question's answer; for an unanswerable one its plausible answer (SQuAD 2.0's
    /// adversarial distractor) or another question's answer.
    /// </summary>
    public IReadOnlyList<LabelledExample> SampleLabelled(int count, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var answered = _train.Where(q => q.HasAnswer).ToList();
        var result = new List<LabelledExample>(count);
        for (int i = 0; i < count; i++)
        {
            var q = _train[(int)(rng.NextUInt64() % (ulong)_train.Count)];
            var gold = TrainExample(q);
            if (rng.NextUInt64() % 2 == 0) { result.Add(new LabelledExample(gold.Prompt, gold.Completion, 1f)); continue; }
            string wrong;
            var other = answered.Count > 0 ? answered[(int)(rng.NextUInt64() % (ulong)answered.Count)] : null;
            if (q.HasAnswer)
                wrong = rng.NextUInt64() % 2 == 0 || other is null || other.Answers[0].Text == q.Answers[0].Text ? AbstainMarker : " " + other.Answers[0].Text;
            else
                wrong = q.PlausibleAnswers.Count > 0 ? " " + q.PlausibleAnswers[0].Text : other is not null ? " " + other.Answers[0].Text : " yes";
            result.Add(new LabelledExample(gold.Prompt, Completion(wrong).Ids, 0f));
        }
        return result;
    }

    public IReadOnlyList<TaskExample> HeldOut(int count)
    {
        EnsureHeldOut();
        return _heldOutExamples!.Take(count).ToList();
    }

    public IReadOnlyDictionary<string, double> Judge(IReadOnlyList<JudgedSample> samples)
    {
        EnsureHeldOut();
        int n = 0, abstained = 0, hasN = 0, noN = 0;
        double em = 0, f1 = 0, hasF1 = 0, noEm = 0;
        foreach (var s in samples)
        {
            if (!_byPrompt!.TryGetValue(s.PromptText, out var q)) continue;
            string prediction = Prediction(s.CompletionText);
            if (prediction.Length == 0) abstained++;
            var (e, f) = SquadEvaluation.Score(q, prediction);
            n++; em += e; f1 += f;
            if (q.HasAnswer) { hasN++; hasF1 += f; } else { noN++; noEm += e; }
        }
        return new Dictionary<string, double>
        {
            ["squad/exact"] = n == 0 ? double.NaN : 100.0 * em / n,
            ["squad/f1"] = n == 0 ? double.NaN : 100.0 * f1 / n,
            ["squad/HasAns_f1"] = hasN == 0 ? double.NaN : 100.0 * hasF1 / hasN,
            ["squad/NoAns_exact"] = noN == 0 ? double.NaN : 100.0 * noEm / noN,
            ["squad/abstain-rate"] = n == 0 ? double.NaN : (double)abstained / n,
        };
    }

    public string? Verdict(JudgedSample sample)
    {
        EnsureHeldOut();
        if (!_byPrompt!.TryGetValue(sample.PromptText, out var q)) return null;
        string prediction = Prediction(sample.CompletionText);
        var (e, f) = SquadEvaluation.Score(q, prediction);
        string what = prediction.Length == 0 ? "abstained" : "answered";
        return $"{what}, {(q.HasAnswer ? "answerable" : "unanswerable")}: EM {e}, F1 {f:0.00}";
    }

    /// <summary>The answer a completion gives: up to its first line break, trimmed; the abstain marker is the empty answer.</summary>
    public static string Prediction(string completionText)
    {
        int nl = completionText.IndexOfAny(['\n', '\r']);
        var text = (nl >= 0 ? completionText[..nl] : completionText).Trim();
        return SquadEvaluation.NormalizeAnswer(text) == SquadEvaluation.NormalizeAnswer(AbstainMarker) ? "" : text;
    }

    /// <summary>The completion a question wants: " answer" or the abstain marker.</summary>
    public static string GoldCompletion(SquadQuestion q) => q.HasAnswer ? " " + q.Answers[0].Text : AbstainMarker;

    private void EnsureHeldOut()
    {
        lock (_gate)
        {
            if (_heldOutExamples is not null) return;
            _heldOutExamples = _heldOut.Select(q => Build(q, aroundAnswer: false)).ToList();
            _byPrompt = new Dictionary<string, SquadQuestion>(StringComparer.Ordinal);
            for (int i = 0; i < _heldOut.Count; i++) _byPrompt.TryAdd(_heldOutExamples[i].PromptText, _heldOut[i]);
        }
    }

    private TaskExample TrainExample(SquadQuestion q)
    {
        lock (_gate)
        {
            if (!_trainCache.TryGetValue(q.Id, out var ex)) _trainCache[q.Id] = ex = Build(q, aroundAnswer: q.HasAnswer);
            return ex;
        }
    }

    private (int[] Ids, string Text) Completion(string text)
    {
        var ids = Vocabulary.Encode(text);
        if (ids.Length + 1 > AnswerRoom) ids = ids[..(AnswerRoom - 1)];
        return ([.. ids, Vocabulary.EndOfTextId], Vocabulary.Decode(ids));
    }

    /// <summary>The prompt and gold completion of a question, the context cut to fit the window.</summary>
    public TaskExample Build(SquadQuestion q, bool aroundAnswer)
    {
        var tok = Gpt2Tokenizer.Shared;
        var head = tok.Encode(ContextHead);
        var ctx = tok.Encode(" " + q.Context);
        var tail = tok.Encode(QuestionHead + q.Question + AnswerHead);
        int Len(IEnumerable<int> g) => Vocabulary.ToModel(g).Length;
        int budget = _window - AnswerRoom - 1 - Len(head) - Len(tail);
        int[] ctxKept;
        if (budget <= 0)
        {
            // A question too long for the window: no context, and only the question's last tokens.
            ctxKept = [];
            int room = _window - AnswerRoom - 1 - Len(head);
            while (tail.Length > 0 && Len(tail) > room) tail = tail[1..];
        }
        else
        {
            var lens = ctx.Select(t => Len([t])).ToArray();
            int from = 0, to = 0, used = 0;
            if (aroundAnswer && q.HasAnswer)
            {
                (from, to) = AnswerTokens(q, ctx);
                used = lens[from..to].Sum();
                while (used > budget && to > from) used -= lens[--to];
                bool left = true;
                while (true)
                {
                    bool grew = false;
                    for (int side = 0; side < 2 && !grew; side++, left = !left)
                    {
                        if (left && from > 0 && used + lens[from - 1] <= budget) { used += lens[--from]; grew = true; }
                        else if (!left && to < ctx.Length && used + lens[to] <= budget) { used += lens[to++]; grew = true; }
                    }
                    if (!grew) break;
                }
            }
            else
            {
                while (to < ctx.Length && used + lens[to] <= budget) used += lens[to++];
            }
            ctxKept = ctx[from..to];
        }
        int[] promptG = [.. head, .. ctxKept, .. tail];
        int[] prompt = [Vocabulary.EndOfTextId, .. Vocabulary.ToModel(promptG)];
        var (completion, completionText) = Completion(GoldCompletion(q));
        return new TaskExample(tok.Decode(promptG), prompt, completionText, completion);
    }

    /// <summary>The context tokens [from, to) covering the first gold answer (context tokens are of " " + context).</summary>
    private static (int From, int To) AnswerTokens(SquadQuestion q, int[] ctx)
    {
        var a = q.Answers[0];
        int start = a.AnswerStart;
        if (start + a.Text.Length > q.Context.Length || string.CompareOrdinal(q.Context, start, a.Text, 0, a.Text.Length) != 0)
            start = Math.Max(0, q.Context.IndexOf(a.Text, StringComparison.Ordinal));
        int byteStart = Encoding.UTF8.GetByteCount(" " + q.Context[..start]);
        int byteEnd = byteStart + Encoding.UTF8.GetByteCount(a.Text);
        int pos = 0, from = -1, to = ctx.Length;
        for (int i = 0; i < ctx.Length; i++)
        {
            int len = Gpt2Tokenizer.Shared.TokenBytes(ctx[i]).Length;
            if (from < 0 && pos + len > byteStart) from = i;
            if (pos >= byteEnd) { to = i; break; }
            pos += len;
        }
        if (from < 0) from = 0;
        return (from, Math.Max(to, from + 1));
    }
}
