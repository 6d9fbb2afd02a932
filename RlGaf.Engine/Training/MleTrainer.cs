using System.Diagnostics;
using RlGaf.Engine.Corpora;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Training;

/// <summary>Settings of maximum-likelihood (SFT) training; defaults suit the tiny models trained here.</summary>
public sealed record MleOptions
{
    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 1500;
    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Peak learning rate (AdamW), reached after warmup.</summary>
    public double LearningRate { get; init; } = 3e-3;
    /// <summary>Final learning rate as a fraction of the peak (cosine decay floor).</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;
    /// <summary>Linear warmup steps.</summary>
    public int WarmupSteps { get; init; } = 100;
    /// <summary>AdamW decoupled weight decay, applied to matrices only (not biases, LayerNorm).</summary>
    public double WeightDecay { get; init; } = 0.01;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.98;
    /// <summary>Clip the global gradient norm to this value (0 = off).</summary>
    public double GradClip { get; init; } = 1.0;
    /// <summary>Held-out loss every this many steps (and at the end).</summary>
    public int EvalEvery { get; init; } = 250;
    /// <summary>Held-out sequences per evaluation (capped by the held-out split).</summary>
    public int EvalSequences { get; init; } = 256;
    /// <summary>
    /// Packed batches: windows of the document stream that start at a document (every position a
    /// training token, as in nanoGPT, without cutting openings). Off: one padded document per row.
    /// </summary>
    public bool Packed { get; init; } = true;
    /// <summary>Seed of batch order.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        Check(Steps >= 1, "steps", Steps, "must be at least 1");
        Check(BatchSize >= 1, "batch-size", BatchSize, "must be at least 1");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), "lr", LearningRate, "must be positive");
        Check(MinLearningRateRatio is >= 0 and <= 1, "min-lr-ratio", MinLearningRateRatio, "must be in [0, 1]");
        Check(WarmupSteps >= 0, "warmup", WarmupSteps, "must be non-negative");
        Check(WeightDecay >= 0, "weight-decay", WeightDecay, "must be non-negative");
        Check(Beta1 is >= 0 and < 1, "beta1", Beta1, "must be in [0, 1)");
        Check(Beta2 is >= 0 and < 1, "beta2", Beta2, "must be in [0, 1)");
        Check(GradClip >= 0, "grad-clip", GradClip, "must be non-negative (0 = off)");
        Check(EvalEvery >= 1, "eval-every", EvalEvery, "must be at least 1");
        Check(EvalSequences >= 1, "eval-sequences", EvalSequences, "must be at least 1");
    }

    private static void Check(bool ok, string name, object value, string rule)
    {
        if (!ok) throw new ArgumentException($"{name}: {value} {rule}.");
    }
}

/// <summary>One training step's figures.</summary>
public sealed record MleStep(int Step, double Loss, double LearningRate, double GradNorm, double TokensPerSecond);

/// <summary>
/// Maximum-likelihood training of a GPT-2 on a tokenized corpus: AdamW, warmup then cosine,
/// gradient clipping, held-out loss. Runs on the calling thread (grad mode and dispose scopes are
/// thread-local); each step lives in its own dispose scope so memory stays flat.
/// </summary>
public sealed class MleTrainer : IDisposable
{
    private readonly Gpt2Model _model;
    private readonly TokenizedCorpus _corpus;
    private readonly MleOptions _options;
    private readonly Device _device;
    private readonly Optim.AdamW _optimizer;
    private readonly Random _batchOrder;

    /// <summary>Raised after every step.</summary>
    public event Action<MleStep>? StepCompleted;
    /// <summary>Raised after every held-out evaluation: (step, held-out loss per token).</summary>
    public event Action<int, double>? Evaluated;

    public int Step { get; private set; }
    public double LastHeldOutLoss { get; private set; } = double.NaN;

    public MleTrainer(Gpt2Model model, TokenizedCorpus corpus, MleOptions options, Device device)
    {
        options.Validate();
        _model = model;
        _corpus = corpus;
        _options = options;
        _device = device;
        _batchOrder = new Random(options.Seed);
        // Decay matrices only: decaying LayerNorm gains and biases hurts small models (nanoGPT does the same).
        var decay = model.parameters().Where(p => p.dim() >= 2).ToList();
        var noDecay = model.parameters().Where(p => p.dim() < 2).ToList();
        _optimizer = new Optim.AdamW(
        [
            new AdamW.ParamGroup(decay, options.LearningRate, options.Beta1, options.Beta2, 1e-8, options.WeightDecay, false, false),
            new AdamW.ParamGroup(noDecay, options.LearningRate, options.Beta1, options.Beta2, 1e-8, 0.0, false, false),
        ], options.LearningRate, options.Beta1, options.Beta2);
    }

    /// <summary>Trains for the configured number of steps, or until cancelled.</summary>
    public void Train(CancellationToken cancellationToken = default)
    {
        _model.train();
        var clock = Stopwatch.StartNew();
        using var cores = CoreShare.Join(); // automatic threads: share the cores with other trainings on the machine
        while (Step < _options.Steps && !cancellationToken.IsCancellationRequested)
        {
            cores?.BeforeStep();
            double lr = LearningRateSchedule.WarmupCosine(Step, _options.WarmupSteps, _options.Steps,
                _options.LearningRate, _options.LearningRate * _options.MinLearningRateRatio);
            foreach (var group in _optimizer.ParamGroups) group.LearningRate = lr;

            var batch = _options.Packed && _corpus.DocumentStarts.Length > 0
                ? Enumerable.Range(0, _options.BatchSize).Select(_ => Window(_corpus.DocumentStarts[_batchOrder.Next(_corpus.DocumentStarts.Length)])).ToList()
                : Enumerable.Range(0, _options.BatchSize).Select(_ => _corpus.Train[_batchOrder.Next(_corpus.Train.Count)]).ToList();
            double loss, gradNorm;
            long tokens;
            var started = clock.Elapsed;
            using (NewDisposeScope())
            {
                var (inputs, targets, count) = MakeBatch(batch);
                tokens = count;
                // Chunked head: at GPT-2's vocabulary no [batch, window, vocab] logits are kept for backward.
                var lossT = ChunkedHead.CrossEntropy(_model.ForwardHidden(inputs), _model.TokenEmbedding, targets);
                _optimizer.zero_grad();
                lossT.backward();
                gradNorm = _options.GradClip > 0
                    ? nn.utils.clip_grad_norm_(_model.parameters(), _options.GradClip)
                    : double.NaN;
                loss = lossT.item<float>();
                if (double.IsFinite(loss) && (double.IsNaN(gradNorm) || double.IsFinite(gradNorm)))
                    _optimizer.step();
                else
                    throw new InvalidOperationException($"Non-finite loss ({loss}) or gradient norm ({gradNorm}) at step {Step}; try a lower learning rate.");
            }
            Step++;
            double seconds = (clock.Elapsed - started).TotalSeconds;
            NativeHeap.AfterStep(Step); // outside the step's timing
            StepCompleted?.Invoke(new MleStep(Step, loss, lr, gradNorm, tokens / Math.Max(seconds, 1e-9)));
            if (Step % _options.EvalEvery == 0 || Step == _options.Steps)
            {
                LastHeldOutLoss = HeldOutLoss();
                Evaluated?.Invoke(Step, LastHeldOutLoss);
                _model.train();
            }
        }
    }

    /// <summary>Mean cross-entropy per token (nats) on the held-out split.</summary>
    public double HeldOutLoss()
    {
        _model.eval();
        int n = Math.Min(_options.EvalSequences, _corpus.HeldOut.Count);
        double sum = 0;
        long count = 0;
        using var _ = no_grad();
        for (int i = 0; i < n; i += _options.BatchSize)
        {
            using var scope = NewDisposeScope();
            var (inputs, targets, tokens) = MakeBatch(_corpus.HeldOut.Skip(i).Take(Math.Min(_options.BatchSize, n - i)).ToList());
            var loss = ChunkedHead.CrossEntropy(_model.ForwardHidden(inputs), _model.TokenEmbedding, targets, sum: true);
            sum += loss.item<float>();
            count += tokens;
        }
        return sum / Math.Max(1, count);
    }

    private int[] Window(int start) => _corpus.TrainStream[start..(start + _corpus.MaxSequenceLength + 1)];

    /// <summary>Right-padded inputs and next-token targets; padding targets are -100 (ignored).</summary>
    private (Tensor Inputs, Tensor Targets, long Tokens) MakeBatch(IReadOnlyList<int[]> sequences)
    {
        int t = sequences.Max(s => s.Length) - 1;
        var inputs = new long[sequences.Count * t];
        var targets = new long[sequences.Count * t];
        Array.Fill(targets, -100L);
        long tokens = 0;
        for (int b = 0; b < sequences.Count; b++)
        {
            var s = sequences[b];
            for (int i = 0; i < t; i++)
            {
                inputs[b * t + i] = i < s.Length - 1 ? s[i] : _corpus.Vocabulary.EndOfTextId;
                if (i < s.Length - 1) { targets[b * t + i] = s[i + 1]; tokens++; }
            }
        }
        return (tensor(inputs, [sequences.Count, t], device: _device), tensor(targets, [sequences.Count, t], device: _device), tokens);
    }

    public void Dispose() => _optimizer.Dispose();
}
