using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Text;
using static TorchSharp.torch;

namespace RlGaf.Engine.Evaluation;

/// <summary>A generator to compare: a run's checkpoint (run directory and step) or a model directory (pretrained, SFT, exported).</summary>
/// <param name="Label">How tables and error messages name it.</param>
/// <param name="Path">The run directory when <paramref name="Step"/> is set, else the model directory.</param>
/// <param name="Step">The checkpoint's step; null for a model directory.</param>
public sealed record GeneratorSource(string Label, string Path, int? Step = null)
{
    public static GeneratorSource Checkpoint(string label, string runDir, int step) => new(label, runDir, step);
    public static GeneratorSource Model(string label, string directory) => new(label, directory);
}

/// <summary>What to compare and how to sample.</summary>
public sealed record ComparisonRequest
{
    public const int MinSources = 2, MaxSources = 4, MaxPrompts = 500;
    /// <summary>The runs' evaluation seed (<see cref="AdversarialTrainer.EvalSeed"/>).</summary>
    public const long EvalSeed = (long)AdversarialTrainer.EvalSeed;

    /// <summary>2 to 4 generators; each completes the same held-out prompts.</summary>
    public required IReadOnlyList<GeneratorSource> Sources { get; init; }
    /// <summary>A run checkpoint whose discriminator scores every completion; null = no scores.</summary>
    public GeneratorSource? Judge { get; init; }
    /// <summary>Held-out prompts completed (the task's fixed evaluation set, from its start).</summary>
    public int Prompts { get; init; } = 16;
    /// <summary>Sampling seed; the default is the runs' evaluation seed, so with eval_prompts prompts a checkpoint repeats its run's evaluation.</summary>
    public long Seed { get; init; } = EvalSeed;
    /// <summary>Sampling temperature (runs evaluate at 1).</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Most tokens a completion may have; null = the first run checkpoint's max_new_tokens (the default 48 without one).</summary>
    public int? MaxNewTokens { get; init; }
    /// <summary>The task's dataset name; null = the dataset the sources were trained on.</summary>
    public string? Dataset { get; init; }
    /// <summary>Cache of what a task trains (IMDB's sentiment classifier): the runs' models root; null = train in memory.</summary>
    public string? ModelsRoot { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first bad field.</summary>
    public ComparisonRequest Validate()
    {
        if (Sources.Count is < MinSources or > MaxSources)
            throw new ArgumentException($"sources: pick {MinSources} to {MaxSources} runs' checkpoints or models (got {Sources.Count}).");
        var twice = Sources.GroupBy(s => (System.IO.Path.GetFullPath(s.Path), s.Step)).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new ArgumentException($"sources: '{twice.First().Label}' is picked twice.");
        var sameLabel = Sources.GroupBy(s => s.Label).FirstOrDefault(g => g.Count() > 1);
        if (sameLabel is not null) throw new ArgumentException($"sources: two sources are labelled '{sameLabel.Key}'.");
        if (Prompts is < 1 or > MaxPrompts) throw new ArgumentException($"prompts: {Prompts} must be in [1, {MaxPrompts}].");
        if (Seed < 0) throw new ArgumentException($"seed: {Seed} must be non-negative.");
        if (Temperature is not (> 0.05 and <= 10)) throw new ArgumentException($"temperature: {Temperature.ToString(CultureInfo.InvariantCulture)} must be in (0.05, 10].");
        if (MaxNewTokens is < 1 or > 1024) throw new ArgumentException($"max_new_tokens: {MaxNewTokens} must be in [1, 1024].");
        return this;
    }
}

/// <summary>A request refused or failed because of one source; the message starts with its label.</summary>
public sealed class ComparisonException(string sourceLabel, string message, Exception? inner = null) : ArgumentException(message, inner)
{
    public string SourceLabel { get; } = sourceLabel;
}

/// <summary>One source's completion of one prompt.</summary>
/// <param name="Tokens">Generated model ids, end-of-text excluded.</param>
/// <param name="EndedWithEos">False when it ran into max_new_tokens.</param>
/// <param name="JudgeScore">The judge's probability that the pair is real; null without a judge.</param>
/// <param name="Verdict">The task's verdict (the grammar oracle's "valid, positive"; IMDB's classifier), null when the task has none.</param>
public sealed record ComparedCompletion(string Completion, int[] Tokens, bool EndedWithEos, double? JudgeScore, string? Verdict);

/// <summary>One held-out prompt with each source's completion, in the order of the sources.</summary>
public sealed record ComparedPrompt(int Index, string Prompt, IReadOnlyList<ComparedCompletion> BySource);

/// <summary>A compared source: what it is, and the metrics of its completions (div/*, the task's, eval/score_mean, compare/*).</summary>
/// <param name="Method">The run's training method (checkpoints); null for a model directory.</param>
/// <param name="Dataset">What it was trained on, when it says.</param>
public sealed record ComparedSource(string Label, string Path, int? Step, string? Method, string? Dataset, IReadOnlyDictionary<string, double> Metrics);

public sealed record ComparisonResult(string Dataset, string? JudgeLabel, int Prompts, long Seed, double Temperature, int MaxNewTokens,
    IReadOnlyList<ComparedSource> Sources, IReadOnlyList<ComparedPrompt> Rows, double Seconds);

/// <summary>Progress of a comparison: <paramref name="Done"/> of <paramref name="Total"/> sources completed.</summary>
public sealed record ComparisonProgress(int Done, int Total, string Message);

/// <summary>
/// Completes the same held-out prompts with 2-4 generators (run checkpoints at any step, model
/// directories), sampled as runs evaluate (seeded: the same request gives the same completions), and
/// scores each completion with an optional judge discriminator and the task's verdict, plus per-source
/// metrics from the task's judge. Prompts and completions are token ids of one vocabulary, so every
/// source (and the judge) must share the vocabulary and dataset; a request that mixes them is refused
/// before any weights load, naming the source. Torch work runs on the calling thread (grad mode and
/// dispose scopes are thread-local): call <see cref="Run"/> from one thread, or <see cref="RunOnThread"/>.
/// </summary>
public static class CheckpointComparison
{
    public const string CompletionLengthMetric = "compare/completion_len";
    public const string EndedRateMetric = "compare/ended-rate";
    public const string ScoreMeanMetric = "eval/score_mean";

    /// <summary>Runs <see cref="Run"/> on a new dedicated thread; the task ends with its result, its exception, or cancelled.</summary>
    public static Task<ComparisonResult> RunOnThread(ComparisonRequest request, Device device, Action<ComparisonProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource<ComparisonResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try { done.SetResult(Run(request, device, progress, cancellationToken)); }
            catch (OperationCanceledException) { done.SetCanceled(cancellationToken); }
            catch (Exception e) { done.SetException(e); }
        }) { IsBackground = true, Name = "checkpoint comparison" };
        thread.Start();
        return done.Task;
    }

    /// <summary>Compares on the calling thread. Refusals are <see cref="ArgumentException"/>s (<see cref="ComparisonException"/> when one source is the cause).</summary>
    public static ComparisonResult Run(ComparisonRequest request, Device device, Action<ComparisonProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        request.Validate();
        var clock = Stopwatch.StartNew();
        var plan = Plan(request);
        int total = request.Sources.Count;
        progress?.Invoke(new ComparisonProgress(0, total, $"building the task {plan.Dataset}"));
        var task = RunSetup.CreateTask(plan.Dataset, plan.Vocabulary,
            new TaskContext(request.ModelsRoot, plan.MaxNewTokens, plan.Window, m => progress?.Invoke(new ComparisonProgress(0, total, m))));
        var heldOut = task.HeldOut(request.Prompts);
        var prompts = heldOut.Select(e => e.Prompt).ToList();
        int eot = plan.Vocabulary.EndOfTextId;

        using var noGrad = no_grad();
        using var judge = request.Judge is { } j
            ? About(j, () => RunCheckpoint.LoadDiscriminator(j.Path, CheckpointDir(j), device)) : null;
        var sources = new List<ComparedSource>();
        var columns = new List<List<ComparedCompletion>>();
        for (int i = 0; i < total; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var source = request.Sources[i];
            progress?.Invoke(new ComparisonProgress(i, total, $"completing {prompts.Count} prompts with {source.Label}"));
            var loaded = About(source, () => source.Step is null
                ? ModelDirectory.Load(source.Path, device)
                : RunCheckpoint.LoadGenerator(source.Path, CheckpointDir(source), device));
            using var model = loaded.Model;
            using var scope = NewDisposeScope();
            var generated = About(source, () => TextGenerator.SampleCompletions(model, prompts, eot, request.Temperature, (ulong)request.Seed, plan.MaxNewTokens)).Sequences;
            var completions = generated.Select(g => g.Tokens).ToList();
            var ended = generated.Select(g => g.EndedWithEos).ToList();
            var judged = CompletionMetrics.Judged(task, heldOut, completions, ended);
            var metrics = CompletionMetrics.Of(task, judged);
            metrics[CompletionLengthMetric] = judged.Average(s => (double)s.CompletionTokens);
            metrics[EndedRateMetric] = ended.Count(e => e) / (double)ended.Count;
            double[]? scores = null;
            if (judge is not null)
            {
                // The pairs exactly as generated (end-of-text included), as a run's evaluation scores them.
                var batch = new SequenceBatch(prompts, completions, eot, device, judge.Config.NPositions);
                scores = judge.Score(batch).sigmoid().cpu().data<float>().Select(x => (double)x).ToArray();
                metrics[ScoreMeanMetric] = scores.Average();
            }
            columns.Add(judged.Select((s, r) => new ComparedCompletion(s.CompletionText, completions[r].Where(t => t != eot).ToArray(), s.EndedWithEos,
                scores?[r], task.Verdict(s))).ToList());
            var info = plan.Sources[i];
            sources.Add(new ComparedSource(source.Label, source.Path, source.Step, info.Method, info.Dataset, metrics));
            progress?.Invoke(new ComparisonProgress(i + 1, total, $"{source.Label} done"));
        }
        var rows = heldOut.Select((e, r) => new ComparedPrompt(r, e.PromptText, columns.Select(c => c[r]).ToList())).ToList();
        return new ComparisonResult(plan.Dataset, request.Judge?.Label, prompts.Count, request.Seed, request.Temperature, plan.MaxNewTokens,
            sources, rows, clock.Elapsed.TotalSeconds);
    }

    /// <summary>What a source says about itself without loading weights.</summary>
    /// <param name="Dataset">What it was trained on (a model: its pretraining corpus).</param>
    /// <param name="Task">The task that implies, when it names one: a plain-text corpus names none.</param>
    private sealed record SourceInfo(string? Method, string? Dataset, string? Task, Vocabulary Vocabulary, int Window, int? MaxNewTokens, bool HasDiscriminator);

    private sealed record ComparisonPlan(string Dataset, Vocabulary Vocabulary, int Window, int MaxNewTokens, IReadOnlyList<SourceInfo> Sources);

    /// <summary>Reads every source's settings, vocabulary and shape, and refuses what cannot share prompts, before any weights load.</summary>
    private static ComparisonPlan Plan(ComparisonRequest request)
    {
        var infos = request.Sources.Select(s => About(s, () => Describe(s))).ToList();
        var judgeInfo = request.Judge is { } j ? About(j, () => Describe(j)) : null;
        if (request.Judge is { } judge)
        {
            if (judge.Step is null)
                throw new ComparisonException(judge.Label, $"judge {judge.Label}: not a run checkpoint; the judge is a run checkpoint's discriminator.");
            if (!judgeInfo!.HasDiscriminator)
                throw new ComparisonException(judge.Label, $"judge {judge.Label}: the checkpoint has no discriminator (a {judgeInfo.Method} run trains none).");
        }

        int firstCheckpoint = request.Sources.ToList().FindIndex(s => s.Step is not null);
        string dataset = request.Dataset
            ?? (firstCheckpoint >= 0 ? infos[firstCheckpoint].Task : null)
            ?? infos.FirstOrDefault(x => x.Task is not null)?.Task
            ?? throw new ArgumentException("dataset: none of the sources names its task (a Hugging Face model or one pretrained on a text file records none); name the dataset of the prompts.");

        var first = request.Sources[0];
        var named = request.Sources.Zip(infos).Select(p => (Source: p.First, Info: p.Second, Role: ""));
        if (request.Judge is { } jj) named = named.Append((jj, judgeInfo!, "judge "));
        foreach (var (source, info, role) in named)
        {
            if (info.Task is { } d && d != dataset)
                throw new ComparisonException(source.Label, $"{role}{source.Label}: trained on '{d}', not on '{dataset}'; generators of different tasks cannot share prompts.");
            if (!info.Vocabulary.SameAs(infos[0].Vocabulary))
                throw new ComparisonException(source.Label, $"{role}{source.Label}: its vocabulary ({Describe(info.Vocabulary)}) differs from {first.Label}'s ({Describe(infos[0].Vocabulary)}); "
                    + "prompts and completions are token ids of one vocabulary, so these generators cannot share them.");
        }
        int maxNew = request.MaxNewTokens ?? (firstCheckpoint >= 0 ? infos[firstCheckpoint].MaxNewTokens : null) ?? new RunSettings().MaxNewTokens;
        int window = infos.Min(x => x.Window);
        return new ComparisonPlan(dataset, infos[0].Vocabulary, window, maxNew, infos);
    }

    private static SourceInfo Describe(GeneratorSource s)
    {
        if (s.Step is null)
        {
            if (!Directory.Exists(s.Path)) throw new DirectoryNotFoundException($"model directory '{s.Path}' does not exist.");
            var config = Gpt2ConfigJson.Read(System.IO.Path.Combine(s.Path, HfCheckpoint.ConfigFile));
            var vocab = Vocabulary.Load(s.Path);
            if (config.VocabSize != vocab.Size)
                throw new InvalidDataException($"config.json's vocab_size {config.VocabSize} does not match its vocabulary ({Describe(vocab)}).");
            var corpus = ModelDirectory.ReadInfo(s.Path)?.Corpus;
            bool namesTask = corpus == SyntheticReviewsTask.TaskName || (corpus is not null && DataTasks.IsDataName(corpus));
            return new SourceInfo(null, corpus, namesTask ? corpus : null, vocab, config.NPositions, null, false);
        }
        var dir = CheckpointDir(s);
        var state = RunCheckpoint.ReadState(dir);
        var sft = System.IO.Path.Combine(s.Path, RunSetup.SftDir);
        var sftConfig = Gpt2ConfigJson.Read(System.IO.Path.Combine(sft, HfCheckpoint.ConfigFile));
        return new SourceInfo(state.Settings.Get("method"), state.Settings.Dataset, state.Settings.Dataset, Vocabulary.Load(sft), sftConfig.NPositions,
            state.Settings.MaxNewTokens, RunCheckpoint.HasDiscriminator(dir));
    }

    /// <summary>The verified checkpoint directory of a run source; a missing or corrupt one is refused with the steps there are.</summary>
    private static string CheckpointDir(GeneratorSource s)
    {
        if (!File.Exists(System.IO.Path.Combine(s.Path, AdversarialRun.SettingsFile)))
            throw new DirectoryNotFoundException($"'{s.Path}' is not a run directory (no {AdversarialRun.SettingsFile}).");
        var all = RunCheckpoint.List(s.Path);
        var found = all.FirstOrDefault(c => c.Step == s.Step);
        if (found.Path is null)
            throw new ArgumentException(all.Count == 0 ? "the run has no checkpoints."
                : $"the run has no checkpoint at step {s.Step} (it keeps steps {string.Join(", ", all.Select(c => c.Step))}).");
        if (RunCheckpoint.Verify(found.Path) is { } why) throw new InvalidDataException($"the checkpoint at step {s.Step} is unusable: {why}.");
        return found.Path;
    }

    private static string Describe(Vocabulary v) => v.IsFull ? "full GPT-2, 50257 tokens" : $"{v.Size} tokens";

    /// <summary>Runs <paramref name="f"/> for one source; a file or data problem becomes a refusal naming it.</summary>
    private static T About<T>(GeneratorSource source, Func<T> f)
    {
        try { return f(); }
        catch (Exception e) when (e is IOException or InvalidDataException or JsonException or UnauthorizedAccessException
                                  || (e is ArgumentException && e is not ComparisonException))
        {
            throw new ComparisonException(source.Label, $"{source.Label}: {e.Message}", e);
        }
    }
}
