using System.Diagnostics;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Corpora;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Evaluation;
using RlGaf.Engine.Models;
using RlGaf.Engine.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Training;

/// <summary>Everything a from-scratch pretraining (SFT) run needs; defaults finish in ~2-3 minutes on 2 CPU cores.</summary>
public sealed record PretrainSettings
{
    /// <summary>"synthetic-reviews" (built in), a plain-text file with one document per line, or imdb:PATH / squad:PATH / jsonl:PATH.</summary>
    public string Corpus { get; init; } = SyntheticReviewsName;
    public const string SyntheticReviewsName = "synthetic-reviews";
    /// <summary>Training documents drawn from the built-in grammar.</summary>
    public int TrainDocuments { get; init; } = 50_000;
    /// <summary>Held-out documents (built-in grammar: drawn with another seed; text file: the last lines).</summary>
    public int HeldOutDocuments { get; init; } = 1_000;
    public int NEmbd { get; init; } = 128;
    public int NLayer { get; init; } = 3;
    public int NHead { get; init; } = 4;
    public int NPositions { get; init; } = 64;
    public MleOptions Mle { get; init; } = new();
    /// <summary>Largest compact vocabulary (most frequent tokens kept; the rest spelled in bytes). 4096 keeps IMDB-sized corpora fast on CPU.</summary>
    public int MaxVocabulary { get; init; } = 4096;
    /// <summary>Samples drawn at the end to grade the model (built-in corpus only).</summary>
    public int EvalSamples { get; init; } = 500;

    public void Validate()
    {
        if (TrainDocuments < 1) throw new ArgumentException($"train-docs: {TrainDocuments} must be at least 1.");
        if (HeldOutDocuments < 1) throw new ArgumentException($"heldout-docs: {HeldOutDocuments} must be at least 1.");
        if (MaxVocabulary < 512) throw new ArgumentException($"max-vocab: {MaxVocabulary} must be at least 512.");
        if (EvalSamples < 0) throw new ArgumentException($"eval-samples: {EvalSamples} must be non-negative.");
        new Gpt2Config(VocabSize: 1000, NPositions: NPositions, NEmbd: NEmbd, NLayer: NLayer, NHead: NHead).Validate();
        Mle.Validate();
    }
}

/// <summary>The outcome of a pretraining run.</summary>
public sealed record PretrainResult(LoadedModel Model, double HeldOutLoss, OracleReport? Oracle, double Seconds, double TokensPerSecond);

/// <summary>Trains a tiny GPT-2 from scratch on a corpus and writes it as a model directory.</summary>
public static class Pretraining
{
    public static PretrainResult Run(PretrainSettings settings, string outDir, Device device,
        Action<MleStep>? onStep = null, Action<int, double>? onEval = null, CancellationToken cancellationToken = default)
    {
        settings.Validate();
        var clock = Stopwatch.StartNew();
        var (train, heldOut) = LoadDocuments(settings);
        var grammar = settings.Corpus == PretrainSettings.SyntheticReviewsName ? ReviewGrammar.Default : null;
        // The vocabulary covers every terminal of the grammar in every spelling it can take, not only
        // what the training sample happened to contain.
        var vocabTexts = grammar is null ? train : train.Concat(TerminalSpellings(grammar));
        var vocab = Vocabulary.BuildCompact(vocabTexts, settings.MaxVocabulary);
        var corpus = new TokenizedCorpus(vocab, train, heldOut, settings.NPositions);

        var config = new Gpt2Config(VocabSize: vocab.Size, NPositions: settings.NPositions, NEmbd: settings.NEmbd,
            NLayer: settings.NLayer, NHead: settings.NHead);
        var model = new Gpt2Model(config.Validate(), seed: settings.Mle.Seed);
        model.to(device);
        double tokensPerSecond, heldOutLoss;
        using (var trainer = new MleTrainer(model, corpus, settings.Mle, device))
        {
            var window = new Queue<double>();
            trainer.StepCompleted += s => { window.Enqueue(s.TokensPerSecond); if (window.Count > 50) window.Dequeue(); onStep?.Invoke(s); };
            trainer.Evaluated += (step, loss) => onEval?.Invoke(step, loss);
            trainer.Train(cancellationToken);
            tokensPerSecond = window.Count > 0 ? window.Average() : double.NaN;
            // The last step always evaluates; only a cancelled run needs one more evaluation.
            heldOutLoss = double.IsNaN(trainer.LastHeldOutLoss) || trainer.Step < settings.Mle.Steps ? trainer.HeldOutLoss() : trainer.LastHeldOutLoss;
        }

        OracleReport? oracle = null;
        if (grammar is not null && settings.EvalSamples > 0)
            oracle = GradeAgainstGrammar(model, vocab, grammar, settings.EvalSamples, seed: 12345);

        var metrics = new Dictionary<string, double> { ["heldout/loss"] = heldOutLoss };
        if (oracle is not null)
        {
            metrics["oracle/valid-rate"] = oracle.ValidRate;
            metrics["oracle/nll"] = oracle.OracleNllPerToken;
            metrics["oracle/entropy"] = oracle.GrammarEntropyPerToken;
            metrics["oracle/nll-ratio"] = oracle.NllRatio;
            metrics["align/positive-rate"] = oracle.PositiveRate;
        }
        var info = new ModelInfo { Corpus = settings.Corpus, Steps = settings.Mle.Steps, Seed = settings.Mle.Seed, Metrics = metrics };
        ModelDirectory.Save(outDir, model, config, vocab, info);
        return new PretrainResult(new LoadedModel(model, config, vocab, info), heldOutLoss, oracle, clock.Elapsed.TotalSeconds, tokensPerSecond);
    }

    /// <summary>Samples <paramref name="count"/> reviews from the model (temperature 1, no truncation) and grades them.</summary>
    public static OracleReport GradeAgainstGrammar(Gpt2Model model, Vocabulary vocab, ReviewGrammar grammar, int count, int seed)
    {
        var texts = new List<string>(count);
        var lengths = new List<int>(count);
        int maxNew = model.Config.NPositions - 1;
        for (int done = 0; done < count; done += 100)
        {
            int n = Math.Min(100, count - done);
            var prompts = Enumerable.Range(0, n).Select(_ => (IReadOnlyList<int>)[vocab.EndOfTextId]).ToList();
            var results = TextGenerator.Generate(model, prompts, new GenerationOptions
            {
                MaxNewTokens = maxNew, DoSample = true, Temperature = 1.0, TopK = 0, TopP = 1.0, Seed = seed + done,
                EosId = vocab.EndOfTextId, BosId = vocab.EndOfTextId, PadId = vocab.EndOfTextId,
            });
            foreach (var r in results.Sequences)
            {
                var ids = r.Tokens.Where(t => t != vocab.EndOfTextId).ToArray();
                texts.Add(vocab.Decode(ids));
                lengths.Add(ids.Length);
            }
        }
        double entropy = ReviewOracle.EntropyPerToken(grammar, vocab);
        return ReviewOracle.Evaluate(grammar, texts, lengths, entropy);
    }

    private static (List<string> Train, List<string> HeldOut) LoadDocuments(PretrainSettings s)
    {
        if (s.Corpus == PretrainSettings.SyntheticReviewsName)
        {
            var g = ReviewGrammar.Default;
            return (g.Sample(s.TrainDocuments, seed: (ulong)s.Mle.Seed).Select(r => r.Text).ToList(),
                    g.Sample(s.HeldOutDocuments, seed: 1_000_003UL + (ulong)s.Mle.Seed).Select(r => r.Text).ToList());
        }
        if (Tasks.DataTasks.TryLoadDocuments(s.Corpus, s.TrainDocuments, s.HeldOutDocuments) is { } data) return data;
        var docs = PlainTextCorpus.Read(s.Corpus);
        if (docs.Count < 2) throw new InvalidDataException($"{s.Corpus}: needs at least 2 non-empty lines (train and held-out), found {docs.Count}.");
        int held = Math.Clamp(s.HeldOutDocuments, 1, docs.Count / 2);
        return (docs.Take(docs.Count - held).Take(s.TrainDocuments).ToList(), docs.Skip(docs.Count - held).ToList());
    }

    private static IEnumerable<string> TerminalSpellings(ReviewGrammar g)
    {
        foreach (var t in g.Terminals)
        {
            var cap = t.Length > 0 ? char.ToUpperInvariant(t[0]) + t[1..] : t;
            yield return t;
            yield return " " + t;
            yield return cap;
            yield return " " + cap;
        }
    }
}
