using System.Text.Json.Nodes;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Evaluation;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Text;
using RlGaf.Engine.Tests.Runs;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Evaluation;

/// <summary>One tiny REINFORCE run with checkpoints at steps 0, 2, 4 and 6, and what it logged.</summary>
public sealed class TinyRunFixture : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("rlgaf-compare-").FullName;
    public string RunDir => Path.Combine(Root, "run");
    /// <summary>A learning rate high enough that six steps visibly change the samples.</summary>
    public RunSettings Settings { get; } = TinySft.Settings(TrainingMethod.Reinforce) with { GenLr = 3e-3, KeepCheckpoints = 10 };
    public List<SampleRecord> Samples { get; } = [];

    public TinyRunFixture()
    {
        using var run = AdversarialRun.Create(RunDir, Settings, Root);
        run.SamplesLogged += s => Samples.AddRange(s);
        run.Execute();
        if (run.Status != RunStatus.Completed) throw new InvalidOperationException($"the tiny run ended {run.Status}.");
    }

    public void Dispose() => Directory.Delete(Root, true);
}

[Collection("runs")]
public class CheckpointComparisonTests(TinyRunFixture run) : IClassFixture<TinyRunFixture>
{
    private GeneratorSource Ckpt(int step) => GeneratorSource.Checkpoint($"step {step}", run.RunDir, step);
    private static GeneratorSource Sft => GeneratorSource.Model("sft", TinySft.Path_);

    private ComparisonRequest Request(params GeneratorSource[] sources) => new()
    {
        Sources = sources, Judge = Ckpt(6), Prompts = 8, MaxNewTokens = 12, Seed = 7,
    };

    private static ComparisonResult Run(ComparisonRequest r) => CheckpointComparison.Run(r, CPU);

    [Fact]
    public void Checkpoints_complete_the_same_prompts_repeatably_and_differ_where_the_models_differ()
    {
        var request = Request(Ckpt(0), Ckpt(6), Sft);
        var first = Run(request);
        var again = Run(request);

        var task = new SyntheticReviewsTask(Vocab());
        Assert.Equal(task.HeldOut(8).Select(e => e.PromptText), first.Rows.Select(r => r.Prompt));
        Assert.Equal(["step 0", "step 6", "sft"], first.Sources.Select(s => s.Label));
        Assert.All(first.Rows, r => Assert.Equal(3, r.BySource.Count));
        Assert.Equal(Flatten(first), Flatten(again));

        // Step 0 is the SFT model before any update: the same weights give the same samples.
        Assert.All(first.Rows, r => Assert.Equal(r.BySource[2].Completion, r.BySource[0].Completion));
        Assert.Contains(first.Rows, r => r.BySource[1].Completion != r.BySource[0].Completion);

        var otherSeed = Run(request with { Seed = 8 });
        Assert.NotEqual(Flatten(first).Select(x => x.Completion), Flatten(otherSeed).Select(x => x.Completion));
    }

    [Fact]
    public void Verdicts_and_judge_scores_are_the_tasks_and_the_discriminators_own()
    {
        var result = Run(Request(Ckpt(2), Ckpt(6)));
        var task = new SyntheticReviewsTask(Vocab());
        var heldOut = task.HeldOut(8);
        int eot = task.Vocabulary.EndOfTextId;

        // The discriminator as the run wrote it, built independently of the comparison.
        var ckpt = RunCheckpoint.List(run.RunDir).Single(c => c.Step == 6).Path;
        var sft = ModelDirectory.Load(TinySft.Path_);
        using var disc = Discriminator.FromGenerator(sft.Model, 0);
        RunCheckpoint.ReadModule(Path.Combine(ckpt, "disc.safetensors"), disc);
        disc.eval();

        for (int s = 0; s < 2; s++)
        {
            var column = result.Rows.Select(r => r.BySource[s]).ToList();
            for (int i = 0; i < column.Count; i++)
            {
                var c = column[i];
                Assert.Equal(task.Vocabulary.Decode(c.Tokens), c.Completion);
                Assert.Equal(task.Verdict(new JudgedSample(heldOut[i].PromptText, c.Completion, c.Tokens.Length, c.EndedWithEos)), c.Verdict);
            }
            float[] expected;
            using (no_grad())
            {
                var batch = new SequenceBatch(heldOut.Select(e => e.Prompt).ToList(),
                    column.Select(c => c.EndedWithEos ? c.Tokens.Append(eot).ToArray() : c.Tokens).ToList(), eot, CPU);
                expected = disc.Score(batch).sigmoid().data<float>().ToArray();
            }
            for (int i = 0; i < column.Count; i++) Assert.Equal(expected[i], column[i].JudgeScore!.Value, 5);

            // The summary is the task's judge of these completions: positive rate = share judged "valid, positive".
            var metrics = result.Sources[s].Metrics;
            Assert.Equal(column.Count(c => c.Verdict == "valid, positive") / 8.0, metrics["align/positive-rate"], 12);
            Assert.Equal(column.Count(c => c.Verdict!.StartsWith("valid", StringComparison.Ordinal)) / 8.0, metrics["oracle/valid-rate"], 12);
            Assert.Equal(expected.Average(x => (double)x), metrics[CheckpointComparison.ScoreMeanMetric], 5);
            Assert.Equal(column.Average(c => (double)c.Tokens.Length), metrics[CheckpointComparison.CompletionLengthMetric], 12);
        }
        Assert.Equal("step 6", result.JudgeLabel);
        sft.Model.Dispose();
    }

    [Fact]
    public void With_the_runs_evaluation_seed_a_checkpoint_repeats_what_its_run_logged_at_that_step()
    {
        // Defaults: the evaluation seed, temperature 1, the run's max_new_tokens; eval_prompts prompts.
        var result = Run(new ComparisonRequest { Sources = [Ckpt(0), Ckpt(6)], Judge = Ckpt(6), Prompts = run.Settings.EvalPrompts });
        Assert.Equal(run.Settings.MaxNewTokens, result.MaxNewTokens);
        var logged = run.Samples.Where(s => s.Step == 6).OrderBy(s => s.PromptIndex).ToList();
        Assert.Equal(run.Settings.SamplesPerEval, logged.Count);
        foreach (var s in logged)
        {
            var c = result.Rows[s.PromptIndex].BySource[1];
            Assert.Equal(s.Prompt, result.Rows[s.PromptIndex].Prompt);
            Assert.Equal(s.Completion, c.Completion);
            Assert.Equal(s.Verdict, c.Verdict);
            Assert.Equal(s.DiscScore, c.JudgeScore!.Value, 5);
        }
    }

    [Fact]
    public void Sources_that_cannot_share_prompts_are_refused_naming_them()
    {
        var other = CopyModel("other-vocab", dir =>
        {
            // Swap one ordinary token for a GPT-2 id the corpus never uses: same size, different meaning.
            var path = Path.Combine(dir, Vocabulary.FileName);
            var json = JsonNode.Parse(File.ReadAllText(path))!;
            var ids = json["gpt2_ids"]!.AsArray().Select(n => (int)n!).ToList();
            int unused = Enumerable.Range(30000, 10000).First(i => !ids.Contains(i));
            ids[ids.FindIndex(i => i > 300 && i != 50256)] = unused;
            json["gpt2_ids"] = new JsonArray(ids.Select(i => (JsonNode)i).ToArray());
            File.WriteAllText(path, json.ToJsonString());
        });
        var e = Assert.Throws<ComparisonException>(() => Run(Request(Ckpt(6), GeneratorSource.Model("other", other))));
        Assert.Equal("other", e.SourceLabel);
        Assert.StartsWith("other: its vocabulary", e.Message);

        var imdb = CopyModel("imdb-corpus", dir => SetCorpus(dir, "imdb:/nowhere"));
        e = Assert.Throws<ComparisonException>(() => Run(Request(Ckpt(6), GeneratorSource.Model("imdb model", imdb))));
        Assert.Contains("imdb model: trained on 'imdb:/nowhere', not on 'synthetic-reviews'", e.Message);

        // A pretraining corpus that names no task (a text file) is no reason to refuse: the vocabulary decides.
        var books = CopyModel("books-corpus", dir => SetCorpus(dir, "/data/books.txt"));
        var mixed = Run(Request(Ckpt(6), GeneratorSource.Model("books", books)));
        Assert.Equal("synthetic-reviews", mixed.Dataset);
        Assert.Equal("/data/books.txt", mixed.Sources[1].Dataset);

        e = Assert.Throws<ComparisonException>(() => Run(Request(Ckpt(6), Ckpt(5))));
        Assert.Equal("step 5: the run has no checkpoint at step 5 (it keeps steps 0, 2, 4, 6).", e.Message);

        e = Assert.Throws<ComparisonException>(() => Run(Request(Ckpt(0), Ckpt(6)) with { Judge = Sft }));
        Assert.Contains("judge sft: not a run checkpoint", e.Message);

        var one = Assert.Throws<ArgumentException>(() => Run(Request(Ckpt(6))));
        Assert.StartsWith("sources: pick 2 to 4", one.Message);
        one = Assert.Throws<ArgumentException>(() => Run(Request(Ckpt(6), Ckpt(6) with { Label = "again" })));
        Assert.Equal("sources: 'step 6' is picked twice.", one.Message);
    }

    private Vocabulary Vocab() => Vocabulary.Load(TinySft.Path_);

    private static List<(string Completion, double? Score, string? Verdict)> Flatten(ComparisonResult r) =>
        r.Rows.SelectMany(row => row.BySource.Select(c => (c.Completion, c.JudgeScore, c.Verdict))).ToList();

    private string CopyModel(string name, Action<string> edit)
    {
        var dir = Path.Combine(run.Root, name);
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(TinySft.Path_)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)), overwrite: true);
        edit(dir);
        return dir;
    }

    /// <summary>Rewrites the pretraining corpus a model directory records (rlgaf-model.json).</summary>
    private static void SetCorpus(string dir, string corpus)
    {
        var path = Path.Combine(dir, ModelInfo.FileName);
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["corpus"] = corpus;
        File.WriteAllText(path, json.ToJsonString());
    }
}
