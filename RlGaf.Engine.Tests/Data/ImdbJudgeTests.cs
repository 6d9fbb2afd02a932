using System.Diagnostics;
using RlGaf.Engine.Data;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Text;
using Xunit.Abstractions;

namespace RlGaf.Engine.Tests.Data;

/// <summary>The IMDB split (train half / judge part / held-out part) and the held-out judge.</summary>
public class ImdbJudgeTests(ITestOutputHelper output)
{
    private static string Fixture => Path.Combine(AppContext.BaseDirectory, "Fixtures", "imdb-tiny.csv");

    private static ImdbTask TaskOf(ImdbDataset data, int maxNewTokens = 24)
    {
        var vocab = Vocabulary.BuildCompact(data.Train.Select(r => r.Text));
        return (ImdbTask)DataTasks.TryCreate("imdb:" + data.Source, vocab, new TaskContext(null, maxNewTokens, 64))!;
    }

    [Fact]
    public void Proxy_and_judge_are_trained_on_disjoint_reviews_with_different_features()
    {
        var data = ImdbLoader.Load(Fixture);
        Assert.Equal((70, 70), (data.Train.Count, data.Test.Count)); // the file's first half is train, the second test
        var task = TaskOf(data);
        var s = task.Splits;
        var proxy = s.ProxyTrain.Select(ImdbSplits.Key).ToHashSet();
        var judge = s.JudgeTrain.Select(ImdbSplits.Key).ToHashSet();
        var held = s.HeldOut.Select(ImdbSplits.Key).ToHashSet();
        Assert.Equal(s.ProxyTrain.Count, proxy.Count);
        Assert.Empty(proxy.Intersect(judge));
        Assert.Empty(proxy.Intersect(held));
        Assert.Empty(judge.Intersect(held));
        Assert.Equal(data.Test.Count, judge.Count + held.Count);
        Assert.All(s.ProxyTrain, r => Assert.Equal(ImdbSplit.Train, r.Split));
        // Each classifier saw exactly its own part, and they read different features.
        Assert.Equal(s.ProxyTrain.Count, task.Classifier.TrainExamples);
        Assert.Equal(s.JudgeTrain.Count, task.JudgeClassifier.TrainExamples);
        Assert.Equal((ImdbFeatures.Words, ImdbFeatures.Chars), (task.Classifier.FeatureKind, task.JudgeClassifier.FeatureKind));
        // Evaluation prompts come from the held-out part only.
        Assert.All(task.HeldOut(30), e => Assert.Contains(s.HeldOut, r => r.Text.StartsWith(e.PromptText + e.CompletionText, StringComparison.Ordinal)));
    }

    [Fact]
    public void Judge_is_above_chance_on_held_out_reviews_and_reports_its_ceiling()
    {
        var data = ImdbLoader.Load(Fixture);
        var task = TaskOf(data);
        double accuracy = task.JudgeClassifier.Accuracy(task.Splits.HeldOut.Select(r => (r.Text, r.Positive)));
        output.WriteLine($"judge accuracy on {task.Splits.HeldOut.Count} held-out fixture reviews: {accuracy:P1}; ceiling {task.Ceiling:0.000}");
        Assert.True(accuracy >= 0.75, $"judge accuracy {accuracy}");
        Assert.InRange(task.Ceiling, 0.5, 1.0);
        var m = task.Judge([new JudgedSample("The film was", " wonderful and superb", 4, false), new JudgedSample("The film was", " awful and dull", 4, false)]);
        Assert.Equal(0.5, m["align/positive-rate"]);
        Assert.Equal(task.Ceiling, m["align/judge-ceiling"]);
        Assert.InRange(m["imdb/proxy_score"], 0, 1);
        Assert.True(task.JudgeScore(new JudgedSample("The film was", " wonderful and superb", 4, false)) > 0.5);
    }

    [Fact]
    public void Judge_on_the_full_imdb_csv()
    {
        var shared = SharedData.Folder;
        var csv = shared is null ? null : Path.Combine(shared, "imdb-50k.csv");
        if (csv is null || !File.Exists(csv)) { output.WriteLine("../shared/data/imdb-50k.csv not found: skipped"); return; }
        var sw = Stopwatch.StartNew();
        var data = ImdbLoader.Load(csv);
        Assert.Equal((25_000, 25_000), (data.Train.Count, data.Test.Count));
        var vocab = Vocabulary.BuildCompact(data.Train.Take(2000).Select(r => r.Text));
        var proxy = ImdbTask.EnsureClassifier(data, null, output.WriteLine);
        var judge = ImdbTask.EnsureJudge(data, null, output.WriteLine);
        var task = new ImdbTask(vocab, data, proxy, 24, 64, judge);
        output.WriteLine($"loaded and trained both in {sw.Elapsed.TotalSeconds:0.0}s; judge ceiling (24-token continuations of positive held-out reviews) {task.Ceiling:0.000}");
        Assert.True(judge.TestAccuracy >= 0.80, $"judge accuracy {judge.TestAccuracy}");
        Assert.True(proxy.TestAccuracy >= 0.80, $"proxy accuracy {proxy.TestAccuracy}");
    }
}
