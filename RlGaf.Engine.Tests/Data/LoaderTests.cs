using System.Text;
using RlGaf.Engine.Data;

namespace RlGaf.Engine.Tests.Data;

public class LoaderTests
{
    private static string Folder(TempDir t)
    {
        t.File("imdb/train/pos/0_9.txt", "Great film!<br /><br />Loved it &amp; more.");
        t.File("imdb/train/pos/2_10.txt", "A wonderful<br/>movie.");
        t.File("imdb/train/neg/1_2.txt", "Awful.<br>Boring &quot;stuff&quot;.");
        t.File("imdb/test/pos/5_8.txt", "Nice one.");
        t.File("imdb/test/neg/6_1.txt", "Terrible one.");
        return System.IO.Path.Combine(t.Path, "imdb");
    }

    [Fact]
    public void ImdbFolderKeepsIdsRatingsAndCleansText()
    {
        using var t = new TempDir();
        var progress = new List<int>();
        var data = ImdbLoader.Load(Folder(t), progress: new SyncProgress(progress.Add));
        Assert.Equal(3, data.Train.Count);
        Assert.Equal(2, data.Test.Count);
        Assert.Equal([1, 2, 3, 4, 5], progress);
        var first = data.Train[0];
        Assert.Equal(("0", 9, true), (first.Id, first.Rating, first.Positive));
        Assert.Equal("Great film! Loved it & more.", first.Text);
        Assert.Equal("A wonderful movie.", data.Train[1].Text);
        Assert.Equal("Awful. Boring \"stuff\".", data.Train[2].Text);
        Assert.False(data.Train[2].Positive);
    }

    [Fact]
    public void ImdbStreamIsLazy()
    {
        using var t = new TempDir();
        var folder = Folder(t);
        int read = 0;
        using var e = ImdbLoader.StreamFolder(folder, ImdbSplit.Train, new SyncProgress(n => read = n)).GetEnumerator();
        Assert.Equal(0, read);
        Assert.True(e.MoveNext());
        Assert.Equal(1, read);
    }

    [Fact]
    public void ImdbCsvWithQuotedMultilineFields()
    {
        using var t = new TempDir();
        var p = t.File("imdb.csv", "review,sentiment\r\n\"Good, \"\"really\"\"\ngood<br />film\",positive\r\nBad film,negative\nOk,positive\nMeh,negative\n");
        var data = ImdbLoader.Load(p);
        Assert.Equal(2, data.Train.Count);
        Assert.Equal("Good, \"really\" good film", data.Train[0].Text);
        Assert.True(data.Train[0].Positive);
        Assert.False(data.Train[1].Positive);
        Assert.Equal(ImdbSplit.Test, data.Test[0].Split);
    }

    [Theory]
    [InlineData("review,sentiment\nGood,positive\nBad,negative,extra\n", "line 3", "2 columns")]
    [InlineData("review,sentiment\nGood,positive\nBad,meh\n", "line 3", "unknown label")]
    [InlineData("review,sentiment\nGood,positive\n\"Bad\nfilm,negative\n", "line 3", "unterminated")]
    [InlineData("text,label\nGood,positive\n", "line 1", "header")]
    [InlineData("review,sentiment\n", "", "no reviews")]
    [InlineData("  \n", "", "empty")]
    public void BadCsvNamesFileAndLine(string text, string line, string what)
    {
        using var t = new TempDir();
        var p = t.File("bad.csv", text);
        var e = Assert.Throws<InvalidDataException>(() => ImdbLoader.Load(p));
        Assert.Contains(p, e.Message);
        Assert.Contains(line, e.Message);
        Assert.Contains(what, e.Message);
    }

    /// <summary>Line numbers count the line breaks inside quoted reviews, and a stray quote is refused with its line.</summary>
    [Theory]
    [InlineData("review,sentiment\r\n\"Good\r\nfilm\",positive\r\nBad,meh\r\n", "line 4", "unknown label")]
    [InlineData("review,sentiment\n\"Good\nfilm\",positive\n\"Bad\n\nfilm\",negative,extra\n", "line 4", "2 columns")]
    [InlineData("review,sentiment\nGo\"od,positive\nBad,negative\n", "line 2", "a quote inside an unquoted field")]
    public void CsvErrorsAfterMultilineReviewsNameTheRightLine(string text, string line, string what)
    {
        using var t = new TempDir();
        var p = t.File("bad.csv", text);
        var e = Assert.Throws<InvalidDataException>(() => ImdbLoader.Load(p));
        Assert.StartsWith($"{p}: {line}: ", e.Message);
        Assert.Contains(what, e.Message);
    }

    [Fact]
    public void UndecodableUtf8NamesLine()
    {
        using var t = new TempDir();
        var bytes = Encoding.UTF8.GetBytes("review,sentiment\nGood,positive\n").Concat(new byte[] { 0xC3, 0x28, (byte)',', (byte)'p' }).ToArray();
        var p = t.Bytes("bad.csv", bytes);
        var e = Assert.Throws<InvalidDataException>(() => ImdbLoader.Load(p));
        Assert.Contains($"{p}: line 3 is not valid UTF-8", e.Message);
    }

    [Fact]
    public void ImdbFolderErrors()
    {
        using var t = new TempDir();
        Assert.Contains("does not exist", Assert.Throws<FileNotFoundException>(() => ImdbLoader.Load(System.IO.Path.Combine(t.Path, "nope"))).Message);
        var folder = Folder(t);
        foreach (var f in Directory.GetFiles(System.IO.Path.Combine(folder, "test", "neg"))) File.Delete(f);
        var e = Assert.Throws<InvalidDataException>(() => ImdbLoader.Load(folder));
        Assert.Contains("empty split", e.Message);
        Assert.Contains(System.IO.Path.Combine("test", "neg"), e.Message);
        t.File("imdb/test/neg/oops.txt", "x");
        Assert.Contains("oops.txt: file name is not ID_RATING.txt", Assert.Throws<InvalidDataException>(() => ImdbLoader.Load(folder)).Message);
        File.Delete(System.IO.Path.Combine(folder, "test", "neg", "oops.txt"));
        var empty = t.File("imdb/test/neg/7_2.txt", "");
        var e2 = Assert.Throws<InvalidDataException>(() => ImdbLoader.Load(folder));
        Assert.Contains($"{empty}: the file is empty", e2.Message);
    }

    [Fact]
    public void SquadLoads()
    {
        using var t = new TempDir();
        var d = SquadLoader.Load(t.File("dev.json", SharedData.SquadJson));
        Assert.Equal("v2.0", d.Version);
        Assert.Equal(3, d.Questions.Count);
        Assert.Equal(1, d.Unanswerable);
        var q2 = d.Questions[1];
        Assert.True(q2.IsImpossible);
        Assert.Equal("black", q2.PlausibleAnswers[0].Text);
        Assert.Equal("Cats", q2.Title);
        Assert.Equal(12, d.Questions[0].Answers[0].AnswerStart);
    }

    [Theory]
    [InlineData("""{"data": {}}""", "data: must be an array, found an object")]
    [InlineData("""{"version": "v2.0"}""", "$: missing 'data'")]
    [InlineData("""{"data": [{"paragraphs": [{"context": "c", "qas": [{"question": "q", "answers": []}]}]}]}""", "data[0].paragraphs[0].qas[0]: missing 'id'")]
    [InlineData("""{"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "a", "question": "q", "answers": [{"text": "t"}], "is_impossible": false}]}]}]}""", "data[0].paragraphs[0].qas[0].answers[0]: missing 'answer_start'")]
    [InlineData("""{"data": [{"paragraphs": [{"context": 3, "qas": []}]}]}""", "data[0].paragraphs[0].context: must be a string")]
    [InlineData("""{"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "a", "question": "q", "answers": []}]}]}]}""", "data[0].paragraphs[0].qas[0].answers: empty, but is_impossible is not true")]
    [InlineData("""{"data": []}""", "no questions")]
    [InlineData("{\"data\": [\n,]}", "line 2: not valid JSON")]
    public void BadSquadNamesFileAndJsonPath(string json, string what)
    {
        using var t = new TempDir();
        var p = t.File("dev.json", json);
        var e = Assert.Throws<InvalidDataException>(() => SquadLoader.Load(p));
        Assert.StartsWith(p + ": ", e.Message);
        Assert.Contains(what, e.Message);
    }

    [Fact]
    public void SquadMissingFile()
    {
        var e = Assert.Throws<FileNotFoundException>(() => SquadLoader.Load("/nonexistent/dev.json"));
        Assert.Contains("/nonexistent/dev.json", e.Message);
    }

    [Fact]
    public void JsonlLoadsAndNamesBadLines()
    {
        using var t = new TempDir();
        var ok = PromptCompletionJsonl.Load(t.File("a.jsonl", "{\"prompt\": \"Hi\", \"completion\": \" there\"}\n\n{\"prompt\": \"A\", \"completion\": \"B\", \"x\": 1}\n"));
        Assert.Equal(2, ok.Count);
        Assert.Equal((1, "Hi", " there"), (ok[0].Line, ok[0].Prompt, ok[0].Completion));
        Assert.Equal(3, ok[1].Line);
        var p = t.File("b.jsonl", "{\"prompt\": \"Hi\", \"completion\": \"x\"}\n{\"prompt\": \"Hi\"}\n");
        Assert.Contains($"{p}: line 2: missing 'completion'", Assert.Throws<InvalidDataException>(() => PromptCompletionJsonl.Load(p)).Message);
        var q = t.File("c.jsonl", "{\"prompt\": \"Hi\", \"completion\": \"x\"}\n{oops\n");
        Assert.Contains($"{q}: line 2: not valid JSON", Assert.Throws<InvalidDataException>(() => PromptCompletionJsonl.Load(q)).Message);
        var r = t.File("d.jsonl", "{\"prompt\": 1, \"completion\": \"x\"}\n");
        Assert.Contains($"{r}: line 1: 'prompt' must be a string", Assert.Throws<InvalidDataException>(() => PromptCompletionJsonl.Load(r)).Message);
    }

    private const string Secret = "sk-live-0123456789abcdef";

    /// <summary>A loader pointed at a file holding a secret names the file and line but never prints the secret.</summary>
    [Theory]
    [InlineData("imdb.csv", "review,sentiment\nGood,positive\nBad,sk-live-0123456789abcdef\n", "line 3")]          // unknown label
    [InlineData("imdb.csv", "sk-live-0123456789abcdef,x\nGood,positive\n", "line 1")]                              // not the header
    [InlineData("imdb.csv", "review,sentiment\n\"Good\"sk-live-0123456789abcdef,positive\n", "line 2")]          // text after a closing quote
    [InlineData("pairs.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": sk-live-0123456789abcdef}\n", "line 2")]
    [InlineData("dev.json", "{\"data\": [\n  sk-live-0123456789abcdef]}", "line 2")]
    [InlineData("dev.json", "{\"data\": [{\"paragraphs\": [{\"context\": \"c\", \"qas\": [{\"id\": \"sk-live-0123456789abcdef\", \"question\": \"q\", \"answers\": [], \"is_impossible\": true}, {\"id\": \"sk-live-0123456789abcdef\", \"question\": \"q\", \"answers\": [], \"is_impossible\": true}]}]}]}", "data[0].paragraphs[0].qas[1].id: duplicate id (first at data[0].paragraphs[0].qas[0].id)")]
    [InlineData("pred.json", "{\"q1\": \"a\",\n \"q2\": sk-live-0123456789abcdef}", "line 2")]
    public void Loader_errors_name_file_and_line_but_not_the_content(string name, string text, string where)
    {
        Assert.Contains(Secret, text);
        using var t = new TempDir();
        var p = t.File(name, text);
        Action load = name switch
        {
            "imdb.csv" => () => ImdbLoader.Load(p),
            "pairs.jsonl" => () => PromptCompletionJsonl.Load(p),
            "dev.json" => () => SquadLoader.Load(p),
            _ => () => SquadEvaluation.ReadPredictions(p),
        };
        var e = Assert.Throws<InvalidDataException>(load);
        Assert.StartsWith(p + ": ", e.Message);
        Assert.Contains(where, e.Message);
        Assert.DoesNotContain("sk-", e.Message);
    }

    [Fact]
    public void Text_file_over_the_limit_is_refused_before_it_is_read()
    {
        using var t = new TempDir();
        var p = Path.Combine(t.Path, "huge.jsonl");
        using (var f = new FileStream(p, FileMode.Create)) f.SetLength(TextFiles.MaxTextBytes + 1); // sparse: no data written
        var e = Assert.Throws<InvalidDataException>(() => PromptCompletionJsonl.Load(p));
        Assert.Contains($"{p}: JSONL file is {TextFiles.MaxTextBytes + 1} bytes; text files over {TextFiles.MaxTextBytes} bytes are not read", e.Message);
    }

    private sealed class SyncProgress(Action<int> a) : IProgress<int>
    {
        public void Report(int value) => a(value);
    }
}
