using RlGaf.Engine.Data;

namespace RlGaf.Engine.Tests.Data;

public class SquadEvaluationTests
{
    [Theory]
    [InlineData("The  Cat!", "cat")]
    [InlineData("an apple, a pear", "apple pear")]
    [InlineData("Theatre", "theatre")]
    public void NormalizeAsOfficial(string a, string b) => Assert.Equal(1, SquadEvaluation.ExactMatch(a, b));

    [Fact]
    public void NormalizationDetails()
    {
        Assert.Equal("cat", SquadEvaluation.NormalizeAnswer("The  Cat!"));
        Assert.Equal("theatre", SquadEvaluation.NormalizeAnswer("the Theatre"));
        Assert.Equal("us", SquadEvaluation.NormalizeAnswer("U.S. a")); // punctuation goes first, then the article
    }

    [Fact]
    public void F1ByHand()
    {
        // gold "the cat sat" -> [cat, sat]; pred "cat on mat" -> [cat, on, mat]: 1 common, P = 1/3, R = 1/2, F1 = 0.4
        Assert.Equal(0.4, SquadEvaluation.F1("the cat sat", "cat on mat"), 12);
        Assert.Equal(1.0, SquadEvaluation.F1("", ""));
        Assert.Equal(0.0, SquadEvaluation.F1("", "cat"));
        Assert.Equal(0.0, SquadEvaluation.F1("cat", ""));
        Assert.Equal(0.0, SquadEvaluation.F1("a", "cat")); // gold normalises to nothing
        // repeated tokens count with multiplicity: gold [x, x, y], pred [x, y, y] -> common 2, P = R = 2/3
        Assert.Equal(2.0 / 3, SquadEvaluation.F1("x x y", "x y y"), 12);
    }

    private static SquadDataset Data()
    {
        using var t = new TempDir();
        return SquadLoader.Load(t.File("dev.json", SharedData.SquadJson));
    }

    [Fact]
    public void EvaluateWithBreakdowns()
    {
        var d = Data();
        // q1 gold {on the mat, the mat}: "the mat" EM 1; q2 unanswerable: "" EM 1; q3 gold "The cat": "cat sat" -> EM 0, F1 2/3
        var s = SquadEvaluation.Evaluate(d, new Dictionary<string, string> { ["q1"] = "the mat", ["q2"] = "", ["q3"] = "cat sat" });
        Assert.Equal(100.0 * 2 / 3, s.Exact, 9);
        Assert.Equal(100.0 * (1 + 1 + 2.0 / 3) / 3, s.F1, 9);
        Assert.Equal(3, s.Total);
        Assert.Equal(50.0, s.HasAnsExact!.Value, 9);
        Assert.Equal(100.0 * (1 + 2.0 / 3) / 2, s.HasAnsF1!.Value, 9);
        Assert.Equal(2, s.HasAnsTotal);
        Assert.Equal(100.0, s.NoAnsExact!.Value);
        Assert.Equal(1, s.NoAnsTotal);
        Assert.Equal("""{"exact": 66.66666666666667, "f1": 88.88888888888887, "total": 3, "HasAns_exact": 50.0, "HasAns_f1": 83.33333333333333, "HasAns_total": 2, "NoAns_exact": 100.0, "NoAns_f1": 100.0, "NoAns_total": 1}""", s.ToJson(indented: false));
    }

    [Fact]
    public void AnsweringAnUnanswerableScoresZero_MissingScoresZeroOrIsSkipped()
    {
        var d = Data();
        var preds = new Dictionary<string, string> { ["q1"] = "on the mat", ["q2"] = "black" };
        var zero = SquadEvaluation.Evaluate(d, preds);
        Assert.Equal(["q3"], zero.MissingIds);
        Assert.Equal(3, zero.Total);
        Assert.Equal(100.0 / 3, zero.Exact, 9);
        Assert.Equal(0.0, zero.NoAnsExact);
        var skip = SquadEvaluation.Evaluate(d, preds, MissingPredictions.Skip);
        Assert.Equal(2, skip.Total);
        Assert.Equal(50.0, skip.Exact, 9);
    }

    [Fact]
    public void EvalSquadOutputOnFixture()
    {
        using var t = new TempDir();
        var data = t.File("dev.json", SharedData.SquadJson);
        var pred = t.File("pred.json", """{"q1": "The mat.", "q2": "", "q3": "the cat"}""");
        var s = SquadEvaluation.Evaluate(SquadLoader.Load(data), SquadEvaluation.ReadPredictions(pred));
        Assert.Equal("{\n  \"exact\": 100.0,\n  \"f1\": 100.0,\n  \"total\": 3,\n  \"HasAns_exact\": 100.0,\n  \"HasAns_f1\": 100.0,\n  \"HasAns_total\": 2,\n  \"NoAns_exact\": 100.0,\n  \"NoAns_f1\": 100.0,\n  \"NoAns_total\": 1\n}", s.ToJson());
        var bad = t.File("bad.json", """{"q1": 3}""");
        Assert.Contains($"{bad}: entry 1: the prediction must be a string", Assert.Throws<InvalidDataException>(() => SquadEvaluation.ReadPredictions(bad)).Message);
    }
}
