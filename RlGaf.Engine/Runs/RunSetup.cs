using RlGaf.Engine.Runtime;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Checkpoints;
using RlGaf.Engine.Models;
using RlGaf.Engine.Tasks;
using RlGaf.Engine.Text;
using RlGaf.Engine.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Runs;

/// <summary>
/// Builds what a run starts from: the SFT generator (pretrained here, cached under the models root,
/// or loaded from a directory) copied into the run directory as "sft", the task, and the
/// discriminator or the RLHF-proxy reward model (trained once on labels and saved in the run).
/// </summary>
public static class RunSetup
{
    public const string SftDir = "sft";
    public const string RewardModelFile = "reward-model.safetensors";

    /// <summary>The task of a dataset name, over the generator's vocabulary.</summary>
    public static IAlignmentTask CreateTask(string dataset, Vocabulary vocabulary) => CreateTask(dataset, vocabulary, new TaskContext());

    /// <summary>
    /// The task of a dataset name: "synthetic-reviews" (built in), or "imdb:PATH", "squad:PATH",
    /// "jsonl:PATH" (see <see cref="DataTasks"/>), which use <paramref name="context"/> (caches, window, max_new_tokens).
    /// </summary>
    public static IAlignmentTask CreateTask(string dataset, Vocabulary vocabulary, TaskContext context) => dataset switch
    {
        SyntheticReviewsTask.TaskName => new SyntheticReviewsTask(vocabulary, context.MaxNewTokens),
        _ => DataTasks.TryCreate(dataset, vocabulary, context)
            ?? throw new ArgumentException($"dataset: '{dataset}' is not a known dataset (built in: {SyntheticReviewsTask.TaskName}; or imdb:PATH, squad:PATH, jsonl:PATH)."),
    };

    /// <summary>The cache folder of a pretrained SFT start (generator = pretrain), shared by every run with the same data, steps and seed.</summary>
    public static string SftCacheDir(RunSettings s, string modelsRoot) =>
        Path.Combine(modelsRoot, $"sft-{DataTasks.CacheName(s.Dataset)}-{s.PretrainSteps}steps-seed{s.Seed}");

    /// <summary>
    /// Makes sure runDir/sft holds the SFT generator. generator = "pretrain" reuses a cached model
    /// trained with the same corpus, steps and seed, or trains one (minutes on CPU). Two runs that need
    /// the same cache at once do not both build it: one holds the cache's lock file and builds into a
    /// private folder published by a rename, the other waits for it and reuses the result.
    /// <paramref name="cancellationToken"/> is observed every pretraining step and while waiting;
    /// a cancelled build publishes nothing (OperationCanceledException).
    /// </summary>
    /// <param name="progress">Pretraining's progress (phase <see cref="RunPhases.Pretraining"/>), a few reports a second.</param>
    public static LoadedModel EnsureSft(string runDir, RunSettings s, string modelsRoot, Device device, Action<string>? log = null,
        CancellationToken cancellationToken = default, Action<PhaseProgress>? progress = null)
    {
        var target = Path.Combine(runDir, SftDir);
        if (!File.Exists(Path.Combine(target, HfCheckpoint.WeightsFile)))
        {
            string source;
            if (s.Generator == "pretrain")
            {
                if (s.Dataset != SyntheticReviewsTask.TaskName && !DataTasks.IsDataName(s.Dataset))
                    throw new ArgumentException($"generator: 'pretrain' trains on the built-in corpus or a dataset's own text; for dataset '{s.Dataset}' give a model directory.");
                // Data corpora (imdb:, squad:, jsonl:) pretrain on their own training text; squad needs a longer window.
                source = SftCacheDir(s, modelsRoot);
                if (!File.Exists(Path.Combine(source, ModelInfo.FileName)))
                {
                    var settings = new PretrainSettings { Mle = new MleOptions { Steps = s.PretrainSteps, Seed = s.Seed }, EvalSamples = 0 };
                    if (DataTasks.IsDataName(s.Dataset))
                        settings = settings with { Corpus = s.Dataset, NPositions = s.Dataset.StartsWith(SquadTask.Prefix, StringComparison.Ordinal) ? 256 : 64 };
                    BuildCache(source, settings, device, log, cancellationToken, progress);
                }
            }
            else
            {
                source = s.Generator;
                if (!Directory.Exists(source)) throw new DirectoryNotFoundException($"generator: model directory '{source}' does not exist.");
            }
            CopyDirectory(source, target);
        }
        return ModelDirectory.Load(target, device);
    }

    /// <summary>
    /// Pretrains into the cache folder <paramref name="source"/> unless another builder (a run in this
    /// process or another one) finished it meanwhile. The lock file "source.lock" (FileShare.None, an
    /// OS lock that dies with its process) serialises builders; the model is written to a private
    /// folder and renamed into place, so a reader never sees half a cache.
    /// </summary>
    internal static void BuildCache(string source, PretrainSettings settings, Device device, Action<string>? log, CancellationToken cancellationToken,
        Action<PhaseProgress>? progress = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(source)!);
        using var cacheLock = AcquireLock(source + ".lock", log, cancellationToken);
        if (File.Exists(Path.Combine(source, ModelInfo.FileName)))
        {
            log?.Invoke($"reusing {source}, built by another run meanwhile");
            return;
        }
        log?.Invoke($"pretraining the SFT generator ({settings.Mle.Steps} steps) into {source}");
        var tmp = $"{source}.tmp-{Guid.NewGuid():N}";
        var reporter = new PhaseReporter(RunPhases.Pretraining, settings.Mle.Steps, progress);
        int done = 0;
        double? lastLoss = null;
        reporter.Report(0);
        try
        {
            Pretraining.Run(settings, tmp, device, onStep: st =>
            {
                done = st.Step;
                lastLoss = st.Loss;
                reporter.Report(st.Step, st.Loss);
                if (st.Step % 100 == 0) log?.Invoke($"pretrain step {st.Step}/{settings.Mle.Steps} loss {st.Loss:0.000}");
            }, cancellationToken: cancellationToken);
            // Pretraining saves what it has when cancelled; a cache must hold the full model, so publish nothing.
            cancellationToken.ThrowIfCancellationRequested();
            // A folder without model info is a leftover of an older, unlocked build: replace it.
            if (Directory.Exists(source)) Directory.Delete(source, true);
            Directory.Move(tmp, source);
            Runtime.DurableFiles.FsyncDirectory(Path.GetDirectoryName(source)!);
        }
        finally
        {
            reporter.Finish(done, lastLoss);
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
    }

    private static FileStream AcquireLock(string path, Action<string>? log, CancellationToken cancellationToken)
    {
        bool told = false;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (File.Exists(path))
            {
                if (!told) log?.Invoke($"waiting for another run that builds {Path.GetFileNameWithoutExtension(path)}");
                told = true;
                cancellationToken.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(200));
            }
        }
    }

    /// <summary>The discriminator a run starts with (RLGAF methods).</summary>
    public static Discriminator CreateDiscriminator(RunSettings s, Gpt2Model sft, Device device)
    {
        switch (s.DiscInit)
        {
            case DiscriminatorInit.Sft:
                return Discriminator.FromGenerator(sft, s.Seed);
            case DiscriminatorInit.Fresh:
                var fresh = new Discriminator(sft.Config, s.Seed + 7919);
                fresh.to(device);
                return fresh;
            default:
                // The loaded model only seeds the discriminator's weights: disposed whether or not it passes the check.
                using (var loaded = ModelDirectory.Load(s.DiscCheckpoint!, device).Model)
                {
                    if (loaded.Config.VocabSize != sft.Config.VocabSize)
                        throw new ArgumentException($"disc_checkpoint: vocabulary of '{s.DiscCheckpoint}' ({loaded.Config.VocabSize}) differs from the generator's ({sft.Config.VocabSize}).");
                    return Discriminator.FromGenerator(loaded, s.Seed);
                }
        }
    }

    /// <summary>
    /// The RLHF-proxy reward model: a classifier (discriminator architecture, SFT init) trained with
    /// binary cross-entropy on the task's labelled pairs, then frozen. Saved in the run directory so a
    /// resumed run uses the very same one. Returns the model and its held-out accuracy.
    /// </summary>
    public static (IRewardScorer Model, double Accuracy) EnsureRewardModel(string runDir, RunSettings s, IAlignmentTask task, Gpt2Model sft, Device device, Action<string>? log = null,
        CancellationToken cancellationToken = default, Action<PhaseProgress>? progress = null)
    {
        // IMDB has a trained sentiment classifier: it is the frozen reward model, as in the paper's RLHF setting.
        if (task is ImdbTask imdb) return (new ClassifierRewardScorer(imdb.Classifier, task.Vocabulary), imdb.Classifier.TestAccuracy);
        var rm = Discriminator.FromGenerator(sft, s.Seed + 31);
        var path = Path.Combine(runDir, RewardModelFile);
        int eot = task.Vocabulary.EndOfTextId;
        if (File.Exists(path)) RunCheckpoint.ReadModule(path, rm);
        else
        {
            using var opt = new Optim.AdamW(rm.parameters(), s.DiscLr, 0.9, 0.999, 1e-8, 0.0); // trained like a discriminator
            rm.train();
            var reporter = new PhaseReporter(RunPhases.RewardModel, s.RewardModelSteps, progress);
            reporter.Report(0);
            double? lastLoss = null;
            int stepsDone = 0;
            try
            {
                for (int step = 0; step < s.RewardModelSteps; step++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    using var scope = NewDisposeScope();
                    var ex = task.SampleLabelled(s.BatchSize, (ulong)(s.Seed * 1_000_003L + step));
                    var batch = new SequenceBatch(ex.Select(e => e.Prompt).ToList(), ex.Select(e => e.Completion).ToList(), eot, device, sft.Config.NPositions);
                    var labels = tensor(ex.Select(e => e.Label).ToArray(), device: device);
                    var loss = nn.functional.binary_cross_entropy_with_logits(rm.Score(batch), labels);
                    opt.zero_grad();
                    loss.backward();
                    nn.utils.clip_grad_norm_(rm.parameters(), 1.0);
                    opt.step();
                    stepsDone = step + 1;
                    // Reading the loss syncs with the device: only when it is reported or logged.
                    bool logNow = (step + 1) % 50 == 0;
                    if (logNow || progress is not null) lastLoss = loss.item<float>();
                    reporter.Report(step + 1, lastLoss);
                    if (logNow) log?.Invoke($"reward model step {step + 1}/{s.RewardModelSteps} loss {lastLoss:0.000}");
                }
            }
            finally { reporter.Finish(stepsDone, lastLoss); }
            RunCheckpoint.WriteModule(path, rm);
        }
        rm.eval();
        double accuracy;
        using (no_grad())
        using (NewDisposeScope())
        {
            var ex = task.SampleLabelled(256, 0xACCUL);
            var batch = new SequenceBatch(ex.Select(e => e.Prompt).ToList(), ex.Select(e => e.Completion).ToList(), eot, device, sft.Config.NPositions);
            var predicted = rm.Score(batch).gt(Scalars.IntZero).cpu().data<bool>().ToArray();
            accuracy = predicted.Zip(ex).Count(p => p.First == (p.Second.Label > 0.5f)) / (double)ex.Count;
        }
        return (rm, accuracy);
    }

    internal static void CopyDirectory(string from, string to)
    {
        var tmp = to + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(tmp, Path.GetFileName(f)));
        if (Directory.Exists(to)) Directory.Delete(to, true);
        Directory.Move(tmp, to);
    }
}
