using System.Text.Json;

namespace RlGaf.Engine.Data;

public sealed record SquadAnswer(string Text, int AnswerStart);

/// <summary>One SQuAD question with its paragraph. An unanswerable question (SQuAD 2.0) has no answers.</summary>
public sealed record SquadQuestion(
    string Id, string Question, string Title, int ArticleIndex, int ParagraphIndex, string Context,
    IReadOnlyList<SquadAnswer> Answers, bool IsImpossible, IReadOnlyList<SquadAnswer> PlausibleAnswers)
{
    /// <summary>True when the question has a gold answer (the official script's has_ans: answers is non-empty).</summary>
    public bool HasAnswer => Answers.Count > 0;
}

/// <summary>A SQuAD file: its version string and every question in file order.</summary>
public sealed record SquadDataset(string Source, string Version, IReadOnlyList<SquadQuestion> Questions)
{
    public int Unanswerable => Questions.Count(q => !q.HasAnswer);
}

/// <summary>
/// Reads the official SQuAD JSON (1.1 or 2.0): version, data[].title, data[].paragraphs[].context,
/// qas[].question, id, answers[]{text, answer_start}, is_impossible, plausible_answers. The whole
/// file is checked before anything is returned; an error names the file and the JSON path of the
/// field, e.g. "dev.json: data[0].paragraphs[2].qas[5]: missing 'id'", and never quotes the file's text.
/// </summary>
public static class SquadLoader
{
    public static SquadDataset Load(string path)
    {
        var text = TextFiles.ReadAllText(path, "SQuAD file");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = false }); }
        // The parser's message quotes the offending text; the position is enough.
        catch (JsonException e) { throw new InvalidDataException($"{path}: line {e.LineNumber + 1}: not valid JSON (at byte {e.BytePositionInLine + 1})."); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad("$", $"the top level must be an object, found {Kind(root)}");
            string version = root.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
            var data = Array(root, "data", "$");
            var questions = new List<SquadQuestion>();
            var ids = new Dictionary<string, string>(StringComparer.Ordinal);
            int a = 0;
            foreach (var article in data.EnumerateArray())
            {
                string ap = $"data[{a}]";
                if (article.ValueKind != JsonValueKind.Object) throw Bad(ap, $"must be an object, found {Kind(article)}");
                string title = article.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
                int p = 0;
                foreach (var para in Array(article, "paragraphs", ap).EnumerateArray())
                {
                    string pp = $"{ap}.paragraphs[{p}]";
                    if (para.ValueKind != JsonValueKind.Object) throw Bad(pp, $"must be an object, found {Kind(para)}");
                    string context = String(para, "context", pp);
                    int q = 0;
                    foreach (var qa in Array(para, "qas", pp).EnumerateArray())
                    {
                        string qp = $"{pp}.qas[{q}]";
                        if (qa.ValueKind != JsonValueKind.Object) throw Bad(qp, $"must be an object, found {Kind(qa)}");
                        string id = String(qa, "id", qp);
                        if (ids.TryGetValue(id, out var first)) throw Bad($"{qp}.id", $"duplicate id (first at {first}.id)");
                        ids[id] = qp;
                        string question = String(qa, "question", qp);
                        bool impossible = false;
                        if (qa.TryGetProperty("is_impossible", out var imp))
                        {
                            if (imp.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw Bad($"{qp}.is_impossible", $"must be true or false, found {Kind(imp)}");
                            impossible = imp.GetBoolean();
                        }
                        var answers = Answers(qa, "answers", qp, required: true);
                        var plausible = Answers(qa, "plausible_answers", qp, required: false);
                        if (impossible && answers.Count > 0) throw Bad($"{qp}.answers", "an is_impossible question must have no answers");
                        if (!impossible && answers.Count == 0) throw Bad($"{qp}.answers", "empty, but is_impossible is not true");
                        questions.Add(new SquadQuestion(id, question, title, a, p, context, answers, impossible, plausible));
                        q++;
                    }
                    p++;
                }
                a++;
            }
            if (questions.Count == 0) throw new InvalidDataException($"{path}: no questions (data holds no qas).");
            return new SquadDataset(path, version, questions);
        }

        InvalidDataException Bad(string at, string what) => new($"{path}: {at}: {what}.");

        JsonElement Array(JsonElement obj, string name, string at)
        {
            if (!obj.TryGetProperty(name, out var e)) throw Bad(at, $"missing '{name}'");
            if (e.ValueKind != JsonValueKind.Array) throw Bad($"{At(at, name)}", $"must be an array, found {Kind(e)}");
            return e;
        }

        string String(JsonElement obj, string name, string at)
        {
            if (!obj.TryGetProperty(name, out var e)) throw Bad(at, $"missing '{name}'");
            if (e.ValueKind != JsonValueKind.String) throw Bad(At(at, name), $"must be a string, found {Kind(e)}");
            return e.GetString()!;
        }

        List<SquadAnswer> Answers(JsonElement qa, string name, string at, bool required)
        {
            var list = new List<SquadAnswer>();
            if (!qa.TryGetProperty(name, out _) && !required) return list;
            int i = 0;
            foreach (var ans in Array(qa, name, at).EnumerateArray())
            {
                string ap = $"{At(at, name)}[{i}]";
                if (ans.ValueKind != JsonValueKind.Object) throw Bad(ap, $"must be an object, found {Kind(ans)}");
                string text = String(ans, "text", ap);
                if (!ans.TryGetProperty("answer_start", out var st)) throw Bad(ap, "missing 'answer_start'");
                if (st.ValueKind != JsonValueKind.Number || !st.TryGetInt32(out int start) || start < 0)
                    throw Bad($"{ap}.answer_start", "must be a non-negative integer");
                list.Add(new SquadAnswer(text, start));
                i++;
            }
            return list;
        }
    }

    private static string At(string at, string name) => at == "$" ? name : $"{at}.{name}";

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
