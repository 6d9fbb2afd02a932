using RlGaf.Engine.Data;
using RlGaf.Engine.Text;

namespace RlGaf.Engine.Tasks;

/// <summary>
/// Dataset names of the data-backed tasks: "imdb:PATH" (aclImdb folder or CSV), "squad:PATH"
/// (SQuAD JSON), "jsonl:PATH" (prompt/completion JSON Lines). The path is the user's; nothing is downloaded.
/// </summary>
public static class DataTasks
{
    public static bool IsDataName(string dataset) =>
        dataset.StartsWith(ImdbTask.Prefix, StringComparison.Ordinal) || dataset.StartsWith(SquadTask.Prefix, StringComparison.Ordinal)
        || dataset.StartsWith(JsonlTask.Prefix, StringComparison.Ordinal);

    /// <summary>The task of a prefixed dataset name, or null when the name has no known prefix.</summary>
    public static IAlignmentTask? TryCreate(string dataset, Vocabulary vocabulary, TaskContext context)
    {
        if (dataset.StartsWith(ImdbTask.Prefix, StringComparison.Ordinal))
        {
            var data = ImdbLoader.Load(PathOf(dataset, ImdbTask.Prefix));
            var classifier = ImdbTask.EnsureClassifier(data, context.ModelsRoot, context.Log);
            var judge = ImdbTask.EnsureJudge(data, context.ModelsRoot, context.Log);
            return new ImdbTask(vocabulary, data, classifier, context.MaxNewTokens, context.Window, judge);
        }
        if (dataset.StartsWith(SquadTask.Prefix, StringComparison.Ordinal))
            return new SquadTask(vocabulary, SquadLoader.Load(PathOf(dataset, SquadTask.Prefix)), context.MaxNewTokens, context.Window);
        if (dataset.StartsWith(JsonlTask.Prefix, StringComparison.Ordinal))
        {
            var path = PathOf(dataset, JsonlTask.Prefix);
            return new JsonlTask(vocabulary, path, PromptCompletionJsonl.Load(path), context.MaxNewTokens, context.Window);
        }
        return null;
    }

    /// <summary>
    /// Training and held-out documents of a prefixed corpus name for pretraining, or null for other names:
    /// imdb = train-split reviews (held out: the held-out part of the test split, see ImdbSplits); squad = each training prompt + gold completion
    /// at full length (held out: those of the held-out paragraphs); jsonl = prompt + completion a line.
    /// </summary>
    public static (List<string> Train, List<string> HeldOut)? TryLoadDocuments(string corpus, int maxTrain, int maxHeldOut)
    {
        if (corpus.StartsWith(ImdbTask.Prefix, StringComparison.Ordinal))
        {
            var data = ImdbLoader.Load(PathOf(corpus, ImdbTask.Prefix));
            // Held out: the test half's held-out part (the judge's training part is never read here either).
            return (data.Train.Take(maxTrain).Select(r => r.Text).ToList(), ImdbSplits.Of(data).HeldOut.Take(maxHeldOut).Select(r => r.Text).ToList());
        }
        if (corpus.StartsWith(SquadTask.Prefix, StringComparison.Ordinal))
        {
            var task = new SquadTask(Vocabulary.Full, SquadLoader.Load(PathOf(corpus, SquadTask.Prefix)), 32, 100_000);
            static string Doc(SquadQuestion q) => $"Context: {q.Context}\nQuestion: {q.Question}\nAnswer:{SquadTask.GoldCompletion(q)}";
            return (task.TrainQuestions.Take(maxTrain).Select(Doc).ToList(), task.HeldOutQuestions.Take(maxHeldOut).Select(Doc).ToList());
        }
        if (corpus.StartsWith(JsonlTask.Prefix, StringComparison.Ordinal))
        {
            var docs = PromptCompletionJsonl.Load(PathOf(corpus, JsonlTask.Prefix)).Select(e => e.Prompt + e.Completion).ToList();
            if (docs.Count < 2) throw new InvalidDataException($"{corpus}: needs at least 2 examples (train and held-out), found {docs.Count}.");
            int held = Math.Clamp(maxHeldOut, 1, docs.Count / 2);
            return (docs.Take(docs.Count - held).Take(maxTrain).ToList(), docs.Skip(docs.Count - held).ToList());
        }
        return null;
    }

    private static string PathOf(string name, string prefix)
    {
        var path = name[prefix.Length..];
        if (path.Length == 0) throw new ArgumentException($"dataset: '{name}' needs a path after '{prefix}'.");
        return path;
    }

    /// <summary>A file-system-safe name for caches keyed by a dataset name (prefix, file name, hash of the full path).</summary>
    public static string CacheName(string dataset)
    {
        if (!IsDataName(dataset)) return dataset;
        int colon = dataset.IndexOf(':');
        var path = Path.GetFullPath(dataset[(colon + 1)..]);
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(path)))[..10].ToLowerInvariant();
        var file = new string(Path.GetFileName(path.TrimEnd('/', '\\')).Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray());
        return $"{dataset[..colon]}-{file}-{hash}";
    }
}
