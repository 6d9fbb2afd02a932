using System.Diagnostics;
using RlGaf.Engine.Data;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Text;
using Xunit.Abstractions;

namespace RlGaf.Engine.Tests.Data;

public class TaskTests(ITestOutputHelper output)
{
    private static ImdbDataset TinyImdb()
    {
        var pos = new[] { "This movie was a wonderful delight from start to finish, great acting.", "Great film, I loved every minute of it and the music was lovely." };
        var neg = new[] { "This movie was a boring mess, awful acting and a terrible plot.", "Terrible film, I hated every minute of it and the music was bad." };
        var train = pos.Select((t, i) => new ImdbReview(ImdbSplit.Train, $"{i}", 9, true, t))
            .Concat(neg.Select((t, i) => new ImdbReview(ImdbSplit.Train, $"{i + 10}", 2, false, t))).ToList();
        var test = train.Select(r => r with { Split = ImdbSplit.Test }).ToList();
        return new ImdbDataset("tiny", train, test);
    }

    [Fact]
    public void ImdbTaskPromptsAndCompletions()
    {
        var data = TinyImdb();
        var vocab = Vocabulary.BuildCompact(data.Train.Select(r => r.Text));
        var task = new ImdbTask(vocab, data, ImdbSentimentClassifier.Train(data.Train.Select(r => (r.Text, r.Positive))), maxNewTokens: 6, window: 64);
        var real = task.SampleReal(20, 7);
        Assert.Equal(real.Select(r => r.PromptText), task.SampleReal(20, 7).Select(r => r.PromptText));
        foreach (var ex in real)
        {
            Assert.Equal(vocab.EndOfTextId, ex.Prompt[0]);
            int n = Gpt2Tokenizer.Shared.Encode(ex.PromptText).Length;
            Assert.InRange(n, 2, 8);
            Assert.InRange(ex.Completion.Length, 1, 6);
            Assert.Contains(data.Train.Where(r => r.Positive), r => r.Text.StartsWith(ex.PromptText + ex.CompletionText, StringComparison.Ordinal));
        }
        var labelled = task.SampleLabelled(40, 3);
        Assert.Contains(labelled, l => l.Label == 0f);
        Assert.Contains(labelled, l => l.Label == 1f);
        Assert.Equal(task.HeldOut(5).Select(h => h.PromptText), task.HeldOut(10).Take(5).Select(h => h.PromptText));
        var m = task.Judge([new JudgedSample("This movie was", " wonderful, great, loved it", 5, false), new JudgedSample("This movie was", " boring and awful", 4, false)]);
        Assert.Equal(0.5, m["align/positive-rate"]);
        Assert.InRange(m["imdb/classifier_score"], 0, 1);
    }

    [Fact]
    public void SquadTaskTemplateCutAndJudge()
    {
        using var t = new TempDir();
        var json = """{"version": "v2.0", "data": [{"title": "T", "paragraphs": [""" + string.Join(",", Enumerable.Range(0, 5).Select(i =>
            $$"""{"context": "{{string.Join(" ", Enumerable.Range(0, 60).Select(k => $"w{k}"))}} Paris is the answer {{i}}.", "qas": [{"id": "a{{i}}", "question": "Where?", "answers": [{"text": "Paris", "answer_start": {{60 * 4 - 10 + (60 - 10) * 0 + 0}}}], "is_impossible": false}, {"id": "b{{i}}", "question": "Why?", "answers": [], "is_impossible": true}]}""")) + "]}]}";
        var data = SquadLoader.Load(t.File("s.json", json));
        var task = new SquadTask(Vocabulary.Full, data, maxNewTokens: 8, window: 64);
        var ex = task.Build(data.Questions[0], aroundAnswer: true);
        Assert.StartsWith("Context:", ex.PromptText);
        Assert.EndsWith("\nQuestion: Where?\nAnswer:", ex.PromptText);
        Assert.Contains("Paris", ex.PromptText);               // cut around the answer
        Assert.True(ex.Prompt.Length + ex.Completion.Length <= 64);
        Assert.Equal(" Paris", ex.CompletionText);
        Assert.Equal(Gpt2Tokenizer.EndOfText, ex.Completion[^1]);
        var eval = task.Build(data.Questions[0], aroundAnswer: false);
        Assert.StartsWith("Context: w0 w1", eval.PromptText);   // cut from the start
        Assert.DoesNotContain("Paris", eval.PromptText);
        Assert.Equal(SquadTask.AbstainMarker, task.Build(data.Questions[1], false).CompletionText);

        var held = task.HeldOut(10);
        Assert.Equal(2, held.Count);                            // paragraph 4 is held out
        var m = task.Judge([new JudgedSample(held[0].PromptText, " Paris\nmore", 3, true), new JudgedSample(held[1].PromptText, " unanswerable", 2, true)]);
        Assert.Equal(100.0, m["squad/exact"]);
        Assert.Equal(100.0, m["squad/f1"]);
        Assert.Equal(0.5, m["squad/abstain-rate"]);
        var wrong = task.Judge([new JudgedSample(held[0].PromptText, " unanswerable", 2, true), new JudgedSample(held[1].PromptText, " Paris", 2, true)]);
        Assert.Equal(0.0, wrong["squad/exact"]);
        Assert.Contains(task.SampleLabelled(20, 1), l => l.Label == 0f);
    }

    [Fact]
    public void CreateTaskByDatasetName()
    {
        using var t = new TempDir();
        var jsonl = t.File("c.jsonl", string.Join("\n", Enumerable.Range(0, 12).Select(i => $$"""{"prompt": "Q{{i}}:", "completion": " A{{i}}"}""")));
        var task = RunSetup.CreateTask("jsonl:" + jsonl, Vocabulary.Full, new TaskContext());
        var held = task.HeldOut(5);
        Assert.Single(held);
        Assert.Equal("Q9:", held[0].PromptText);
        Assert.Equal(1.0, task.Judge([new JudgedSample("Q9:", " A9", 2, true)])["jsonl/exact-match"]);
        Assert.IsType<SyntheticReviewsTask>(RunSetup.CreateTask("synthetic-reviews", Vocabulary.Full));
        Assert.Contains("imdb:PATH", Assert.Throws<ArgumentException>(() => RunSetup.CreateTask("nope", Vocabulary.Full)).Message);
        Assert.Throws<FileNotFoundException>(() => RunSetup.CreateTask("squad:/nonexistent.json", Vocabulary.Full));
        Assert.Equal(TrainingMethod.Ppo, DataPresets.Get("imdb-ppo", "/x").Method);
        Assert.Equal("squad:/x", DataPresets.Get("squad-sft", "/x").Dataset);
    }

    [Fact]
    public void ImdbPresetsGiveOnlyTheDiscriminatorMethodsRealNegatives()
    {
        // SFT and the RLHF proxy have no discriminator: real negatives would be a setting nothing reads.
        foreach (var method in Enum.GetValues<TrainingMethod>())
        {
            var s = DataPresets.Imdb(method, "/x").Validate();
            var hasDiscriminator = method is not (TrainingMethod.Sft or TrainingMethod.RlhfProxy);
            Assert.Equal(hasDiscriminator ? 0.5 : 0.0, s.RealNegatives);
            Assert.Equal(hasDiscriminator ? 300 : DataPresets.Squad(method, "/x").DiscPretrainSteps, s.DiscPretrainSteps);
            if (hasDiscriminator) Assert.Equal(3e-4, s.DiscLr);
        }
        // Per-token rewards drifted into letter soup at IMDB REINFORCE's 6e-4 (docs/results.md): they keep 2e-4.
        var reinforce = DataPresets.Imdb(TrainingMethod.Reinforce, "/x");
        Assert.Equal(6e-4, reinforce.GenLr);
        var perToken = DataPresets.PerToken(reinforce).Validate();
        Assert.Equal(RewardEstimatorKind.PerToken, perToken.RewardEstimator);
        Assert.Equal(DataPresets.PerTokenGenLr, perToken.GenLr);
        Assert.True(perToken.GenLr < reinforce.GenLr);
    }

    [Fact]
    public void ClassifierSavesLoadsAndIsDeterministic()
    {
        using var t = new TempDir();
        var data = TinyImdb();
        var a = ImdbSentimentClassifier.Train(data.Train.Select(r => (r.Text, r.Positive)));
        var b = ImdbSentimentClassifier.Train(data.Train.Select(r => (r.Text, r.Positive)));
        string text = "a wonderful film";
        Assert.Equal(a.Logit(text), b.Logit(text));
        Assert.True(a.ProbabilityPositive(text) > 0.5);
        Assert.True(a.ProbabilityPositive("a boring awful film") < 0.5);
        var p = System.IO.Path.Combine(t.Path, "c.bin");
        a.Save(p);
        Assert.Equal(a.Logit(text), ImdbSentimentClassifier.Load(p).Logit(text));
        File.WriteAllBytes(p, File.ReadAllBytes(p)[..40]);
        Assert.Contains(p, Assert.Throws<InvalidDataException>(() => ImdbSentimentClassifier.Load(p)).Message);
    }

    [Fact]
    public void SharedSamples()
    {
        var shared = SharedData.Folder;
        if (shared is null) { output.WriteLine("../shared/data not found: skipped"); return; }
        var imdb = ImdbLoader.Load(System.IO.Path.Combine(shared, "aclImdb"));
        Assert.Equal(6000, imdb.Train.Count + imdb.Test.Count);
        Assert.Equal(1000, imdb.Test.Count);
        Assert.DoesNotContain(imdb.Train, r => r.Text.Contains("<br", StringComparison.OrdinalIgnoreCase));
        var sw = Stopwatch.StartNew();
        var c = ImdbSentimentClassifier.Train(imdb);
        output.WriteLine($"IMDB classifier: test accuracy {c.TestAccuracy:P2} on {imdb.Test.Count} reviews, trained on {imdb.Train.Count} in {sw.Elapsed.TotalSeconds:0.00}s");
        Assert.True(c.TestAccuracy >= 0.80, $"accuracy {c.TestAccuracy}");

        var squad = SquadLoader.Load(System.IO.Path.Combine(shared, "squad2", "dev-v2.0-sample.json"));
        Assert.Equal(1124, squad.Questions.Count);
        Assert.Equal(541, squad.Unanswerable);
        // Gold answers as predictions: the official script gives 100 on every figure.
        var gold = squad.Questions.ToDictionary(q => q.Id, q => q.HasAnswer ? q.Answers[0].Text : "");
        var s = SquadEvaluation.Evaluate(squad, gold);
        Assert.Equal((100.0, 100.0, 1124, 583, 541), (s.Exact, s.F1, s.Total, s.HasAnsTotal, s.NoAnsTotal));

        var vocab = Vocabulary.BuildCompact(imdb.Train.Take(500).Select(r => r.Text));
        var task = new ImdbTask(vocab, imdb, c, 24, 64);
        var held = task.HeldOut(50);
        var judged = held.Select(h => new JudgedSample(h.PromptText, h.CompletionText, h.Completion.Length, false)).ToList();
        output.WriteLine($"IMDB held-out real continuations: positive-rate {task.Judge(judged)["align/positive-rate"]:0.00}");
        var st = new SquadTask(vocab, squad, 16, 256);
        Assert.All(st.HeldOut(100), e => Assert.True(e.Prompt.Length + 16 <= 256));
    }
}
