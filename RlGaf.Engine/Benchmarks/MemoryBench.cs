using System.Globalization;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Corpora;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Models;
using RlGaf.Engine.Runtime;
using RlGaf.Engine.Text;
using RlGaf.Engine.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Benchmarks;

/// <summary>Which LM head the PPO memory step uses: the chunked one, the one before it (full [B, T, V] logits), or both in turn.</summary>
public enum PpoHead { Chunked, Legacy, Both }

/// <summary>What the memory benchmark (issue 13) runs.</summary>
public sealed record MemoryBenchOptions
{
    /// <summary>Short runs and a small PPO shape: every figure is produced, none is trustworthy.</summary>
    public bool Quick { get; init; }
    /// <summary>The tiny MLE step at which resident memory is read first.</summary>
    public int FirstStep { get; init; } = 500;
    /// <summary>The tiny MLE run's length; resident memory is read again at its end.</summary>
    public int Steps { get; init; } = 2000;
    /// <summary>The PPO step's head(s).</summary>
    public PpoHead Head { get; init; } = PpoHead.Chunked;
    /// <summary>Transformer layers of the PPO model (GPT-2 small's width, heads and full vocabulary); 0 skips the PPO step.</summary>
    public int PpoLayers { get; init; } = 2;
    public int PpoBatch { get; init; } = 32;
    /// <summary>The PPO sequences' length (prompt + completion, half each).</summary>
    public int PpoWindow { get; init; } = 256;
    /// <summary>Minibatches of the PPO update (the engine's default ppo_minibatches).</summary>
    public int PpoMinibatches { get; init; } = 2;

    public static MemoryBenchOptions QuickDefaults(MemoryBenchOptions o) =>
        o with { Quick = true, FirstStep = 20, Steps = 60, PpoBatch = 4, PpoWindow = 64 };
}

/// <summary>Resident memory of this process, split by what holds it (Linux /proc; zeros elsewhere).</summary>
public sealed record MemorySnapshot(long Rss, long Anonymous, long FileBacked, long ManagedHeap, long ManagedCommitted)
{
    public static MemorySnapshot Take()
    {
        long rss = 0, anon = 0;
        const string rollup = "/proc/self/smaps_rollup";
        if (File.Exists(rollup))
            foreach (var line in File.ReadLines(rollup))
            {
                if (line.StartsWith("Rss:", StringComparison.Ordinal)) rss = Kb(line);
                else if (line.StartsWith("Anonymous:", StringComparison.Ordinal)) anon = Kb(line);
            }
        if (rss == 0) rss = Benchmark.ResidentBytes();
        var gc = GC.GetGCMemoryInfo();
        return new MemorySnapshot(rss, anon, Math.Max(0, rss - anon), gc.HeapSizeBytes, gc.TotalCommittedBytes);
    }

    /// <summary>The peak resident set since the last <see cref="ResetPeak"/> (VmHWM).</summary>
    public static long PeakRss()
    {
        const string status = "/proc/self/status";
        if (File.Exists(status))
            foreach (var line in File.ReadLines(status))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) return Kb(line);
        return Benchmark.ResidentBytes();
    }

    /// <summary>Resets the kernel's peak (writing 5 to /proc/self/clear_refs); false when it cannot.</summary>
    public static bool ResetPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    private static long Kb(string line) =>
        long.Parse(line.Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
}

/// <summary>
/// Issue 13's memory figures, in one process: where the default tiny MLE run's resident memory goes
/// (managed heap, libtorch tensors, allocator/BLAS/OpenMP buffers, mapped libraries, the grammar
/// oracle's tables), whether it stays flat over the run, and the peak of a full-vocabulary PPO step.
/// </summary>
public static class MemoryBench
{
    private const double Mb = 1048576.0;
    /// <summary>Issue 13's resident-memory target for the default tiny run.</summary>
    private const int TinyRssTargetMb = 600;

    /// <param name="section">The name of each part as it starts (for a live status; not part of the log).</param>
    public static BenchReport Run(MemoryBenchOptions o, Device device, Action<string>? log = null, Action<string>? section = null)
    {
        var figures = new List<BenchFigure>();
        var notes = new List<string>();
        void Add(BenchFigure f)
        {
            figures.Add(f);
            log?.Invoke($"{f.Key} = {f.Value.ToString("G4", CultureInfo.InvariantCulture)} {f.Unit}");
        }
        section?.Invoke("memory of the tiny MLE run");
        TinyMle(o, device, Add, notes, log);
        if (o.PpoLayers > 0)
        {
            section?.Invoke("memory of a PPO step");
            log?.Invoke("PPO step(s) ...");
            if (o.Head is PpoHead.Chunked or PpoHead.Both) foreach (var f in PpoStep(o, device, legacy: false, notes)) Add(f);
            if (o.Head is PpoHead.Legacy or PpoHead.Both) foreach (var f in PpoStep(o, device, legacy: true, notes)) Add(f);
        }
        return new BenchReport(get_num_threads(), o.Quick, device.ToString(), figures, notes);
    }

    private static void TinyMle(MemoryBenchOptions o, Device device, Action<BenchFigure> add, List<string> notes, Action<string>? log)
    {
        var start = MemorySnapshot.Take();
        long managed0 = GC.GetTotalMemory(true);
        var grammar = ReviewGrammar.Default;
        long managedGrammar = GC.GetTotalMemory(true) - managed0;

        var d = new PretrainSettings();
        int docs = o.Quick ? 3000 : d.TrainDocuments;
        long managed1 = GC.GetTotalMemory(true);
        var train = grammar.Sample(docs, seed: 1).Select(r => r.Text).ToList();
        var held = grammar.Sample(200, seed: 1_000_004).Select(r => r.Text).ToList();
        var spellings = grammar.Terminals.SelectMany(t => new[] { t, " " + t, Cap(t), " " + Cap(t) });
        var vocab = Vocabulary.BuildCompact(train.Concat(spellings), d.MaxVocabulary);
        var corpus = new TokenizedCorpus(vocab, train, held, d.NPositions);
        long managedCorpus = GC.GetTotalMemory(true) - managed1;

        log?.Invoke($"tiny MLE: corpus of {docs} documents built, vocab {vocab.Size}; training {o.Steps} steps");
        var config = new Gpt2Config(vocab.Size, d.NPositions, d.NEmbd, d.NLayer, d.NHead);
        using var model = new Gpt2Model(config, seed: 1);
        model.to(device);
        long paramBytes = model.parameters().Sum(p => p.numel() * p.element_size());
        var mle = d.Mle with { Steps = o.Steps, EvalEvery = int.MaxValue, EvalSequences = 32 };
        MemorySnapshot? first = null, last = null;
        long maxRss = 0, maxAfterTrim = 0;
        HeapStats? beforeTrim = null, afterTrim = null;
        var readings = new List<long>();
        int maxRssStep = 0;
        var tps = new List<double>();
        using (var trainer = new MleTrainer(model, corpus, mle, device))
        {
            trainer.StepCompleted += s =>
            {
                if (s.Step == o.FirstStep) first = MemorySnapshot.Take();
                if (s.Step % 100 == 0) log?.Invoke($"tiny MLE: step {s.Step}, rss {Benchmark.ResidentBytes() / Mb:0} MB");
                if (s.Step == o.Steps) last = MemorySnapshot.Take();
                // Every step from the first reading on: the heap is trimmed every NativeHeap.TrimEverySteps, so a
                // reading at one step could land just after a trim; the maximum cannot.
                if (s.Step >= o.FirstStep)
                {
                    long rss = Benchmark.ResidentBytes();
                    readings.Add(rss);
                    if (rss > maxRss) (maxRss, maxRssStep) = (rss, s.Step);
                    int phase = s.Step % NativeHeap.TrimEverySteps;
                    // StepCompleted fires after NativeHeap.AfterStep, so phase 0 is read right after a trim.
                    if (phase == 0) maxAfterTrim = Math.Max(maxAfterTrim, rss);
                    // glibc's heaps in the last trim cycle of the run: just before its trim and just after it.
                    if (s.Step > o.Steps - NativeHeap.TrimEverySteps)
                    {
                        if (phase == NativeHeap.TrimEverySteps - 1) beforeTrim = NativeHeap.Stats();
                        if (phase == 0) afterTrim = NativeHeap.Stats();
                    }
                }
                if (s.Step > Math.Min(10, o.Steps / 4)) tps.Add(s.TokensPerSecond);
            };
            trainer.Train();
        }
        tps.Sort();
        first ??= MemorySnapshot.Take();
        last ??= MemorySnapshot.Take();
        // Tensors that outlive a step: parameters, their gradients and AdamW's two moments.
        long tensorBytes = 4 * paramBytes;
        long native = last.Anonymous - last.ManagedCommitted - tensorBytes;

        add(new("memory/tiny_mle/rss_mb_start", start.Rss / Mb, "MB", "before the grammar, corpus and model: .NET runtime + libtorch loaded"));
        add(new($"memory/tiny_mle/rss_mb_step{o.FirstStep}", first.Rss / Mb, "MB", "VmRSS (smaps_rollup Rss) during the tiny MLE run"));
        add(new($"memory/tiny_mle/rss_mb_step{o.Steps}", last.Rss / Mb, "MB", "VmRSS at the end of the run"));
        add(new("memory/tiny_mle/rss_max_mb", maxRss / Mb, "MB", $"the largest VmRSS read after any step from {o.FirstStep} to {o.Steps}",
            new BenchTarget(TinyRssTargetMb, true, $"<= {TinyRssTargetMb} MB")));
        add(new("memory/tiny_mle/rss_max_step", maxRssStep, "step", $"the step whose reading was rss_max (step % {NativeHeap.TrimEverySteps} == 0: read right after a trim)"));
        readings.Sort();
        add(new("memory/tiny_mle/rss_p95_mb", readings.Count > 0 ? readings[(int)(0.95 * (readings.Count - 1))] / Mb : double.NaN, "MB",
            $"95th percentile of the VmRSS readings after each step from {o.FirstStep}: rss_max far above it is a rare spike"));
        add(new($"memory/tiny_mle/rss_readings_over_{TinyRssTargetMb}mb", readings.Count(r => r / Mb > TinyRssTargetMb), "steps",
            $"of the {readings.Count} readings, those over the {TinyRssTargetMb} MB target"));
        foreach (var (when, h) in new[] { ("before_trim", beforeTrim), ("after_trim", afterTrim) })
            if (h is not null)
            {
                add(new($"memory/tiny_mle/heap_{when}/in_use_mb", h.InUse / Mb, "MB", $"glibc heap bytes allocated (mallinfo2 uordblks), the last step {when.Replace('_', ' ')} before the end"));
                add(new($"memory/tiny_mle/heap_{when}/free_held_mb", h.Free / Mb, "MB", "free bytes glibc's heaps still hold (fordblks): resident where touched, until a trim"));
                add(new($"memory/tiny_mle/heap_{when}/mmapped_mb", h.Mmapped / Mb, "MB", "bytes in separate mappings (allocations over the mmap threshold)"));
            }
        add(new("memory/tiny_mle/rss_max_after_trim_mb", maxAfterTrim / Mb, "MB", $"the largest VmRSS read right after a trim (every {NativeHeap.TrimEverySteps}th step from {o.FirstStep}): rss_max minus this is what the heap gains between trims"));
        add(new("memory/tiny_mle/tokens_per_s", tps.Count > 0 ? tps[tps.Count / 2] : double.NaN, "tokens/s", "median per-step MLE throughput of this run (the cost of the heap policy shows here)"));
        add(new("memory/tiny_mle/rss_growth", (double)last.Rss / first.Rss - 1, "fraction",
            $"(rss@{o.Steps} - rss@{o.FirstStep}) / rss@{o.FirstStep}", new BenchTarget(0.10, true, "< 0.10")));
        add(new("memory/tiny_mle/file_backed_mb", last.FileBacked / Mb, "MB", "Rss - Anonymous: mapped code and data of libtorch, .NET and the app (shared, clean)"));
        add(new("memory/tiny_mle/anonymous_mb", last.Anonymous / Mb, "MB", "private memory: managed heap + tensors + native allocator/BLAS/OpenMP buffers"));
        add(new("memory/tiny_mle/managed_committed_mb", last.ManagedCommitted / Mb, "MB", "GC committed bytes (GCMemoryInfo.TotalCommittedBytes)"));
        add(new("memory/tiny_mle/managed_heap_mb", last.ManagedHeap / Mb, "MB", "GC heap size after the last collection"));
        add(new("memory/tiny_mle/oracle_tables_mb", managedGrammar / Mb, "MB", "managed bytes the built-in review grammar (the oracle) holds once built"));
        add(new("memory/tiny_mle/corpus_mb", managedCorpus / Mb, "MB", $"managed bytes of {docs} training documents, their tokens and the compact vocabulary"));
        add(new("memory/tiny_mle/tensors_mb", tensorBytes / Mb, "MB", "parameters + gradients + AdamW moments (4 x parameter bytes, from shapes)"));
        add(new("memory/tiny_mle/native_other_mb", native / Mb, "MB", "anonymous - managed committed - tensors: allocator caches, BLAS/OpenMP buffers, runtime stacks"));
        notes.Add($"tiny MLE memory: vocab {vocab.Size}, {o.Steps} steps, {docs} documents, {get_num_threads()} threads, " +
            (NativeHeap.Configured ? $"glibc heap policy on (mmap from {NativeHeap.MmapThresholdBytes / 1048576} MB, <= {NativeHeap.MaxArenas} arenas, trim every {NativeHeap.TrimEverySteps} steps)" : "glibc heap policy off"));
        GC.KeepAlive(corpus);
    }

    private static string Cap(string t) => t.Length > 0 ? char.ToUpperInvariant(t[0]) + t[1..] : t;

    /// <summary>
    /// One PPO step's tensor work on a GPT-2-width model with the full vocabulary and random weights:
    /// the no-grad pass (old log-probs and values), the reference's log-probs, GAE, then one epoch of
    /// clipped-ratio + value updates over the minibatches. Generation is left out (its memory is a
    /// [B, V] row per token). <paramref name="legacy"/> computes the head as the engine did before
    /// the chunked head: full [B, T, V] logits, log_softmax, gather, entropy.
    /// </summary>
    private static IEnumerable<BenchFigure> PpoStep(MemoryBenchOptions o, Device device, bool legacy, List<string> notes)
    {
        string name = legacy ? "legacy" : "chunked";
        var small = Gpt2Config.Gpt2Small();
        var config = small with { NLayer = o.PpoLayers };
        int b = o.PpoBatch, p = o.PpoWindow / 2, l = o.PpoWindow - p;
        double seconds, peak, before;
        using (var scope = NewDisposeScope())
        {
            using var policy = new Gpt2Model(config, seed: 1);
            using var reference = new Gpt2Model(config, seed: 1);
            using var valueHead = nn.Linear(config.NEmbd, 1);
            policy.to(device);
            reference.to(device);
            valueHead.to(device);
            using var opt = new Optim.AdamW(policy.parameters().Concat(valueHead.parameters()), 1e-5);
            var rng = new SplitMix64(5);
            int Token() => (int)(rng.NextUInt64() % 50000);
            var prompts = Enumerable.Range(0, b).Select(_ => Enumerable.Range(0, p).Select(_ => Token()).ToArray()).ToList();
            var completions = Enumerable.Range(0, b).Select(_ => Enumerable.Range(0, l).Select(_ => Token()).ToArray()).ToList();
            var batch = new SequenceBatch(prompts, completions, Gpt2Config.Gpt2EndOfText, device);
            GC.Collect();
            before = MemorySnapshot.Take().Rss;
            bool reset = MemorySnapshot.ResetPeak();
            if (!reset) notes.Add("PPO peak: /proc/self/clear_refs not writable, VmHWM is the process's peak so far");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            Step(policy, reference, valueHead, opt, batch, o.PpoMinibatches, legacy);
            seconds = sw.Elapsed.TotalSeconds;
            peak = MemorySnapshot.PeakRss();
        }
        notes.Add($"PPO step ({name}): {o.PpoLayers} x 768, 12 heads, vocab 50257, random weights, batch {b} x window {o.PpoWindow} (prompt {p} + completion {l}), " +
            $"{o.PpoMinibatches} minibatches, 1 epoch, AdamW; generation excluded; {seconds:0.0} s");
        yield return new BenchFigure($"memory/ppo_{name}/peak_rss_mb", peak / Mb, "MB", "VmHWM over the step (peak reset just before)",
            legacy ? null : new BenchTarget(1740, true, "<= 1.7 GB (a quarter of 6.7 GB)"));
        yield return new BenchFigure($"memory/ppo_{name}/rss_before_mb", before / Mb, "MB", "VmRSS before the step: models, optimizer, runtime");
        yield return new BenchFigure($"memory/ppo_{name}/step_s", seconds, "s", "wall time of the step");
    }

    private static void Step(Gpt2Model policy, Gpt2Model reference, nn.Module<Tensor, Tensor> valueHead, optim.Optimizer opt,
        SequenceBatch batch, int minibatches, bool legacy)
    {
        var mask = batch.CompletionMask;
        Tensor oldLogp, oldValues, advantages, returns;
        using (no_grad())
        {
            var hidden = policy.ForwardHidden(batch.Tokens, batch.AttentionMask);
            oldValues = valueHead.forward(PolicyMath.CompletionHidden(hidden, batch)).squeeze(-1);
            Tensor refLogp;
            if (legacy)
            {
                oldLogp = PolicyMath.TokenLogProbs(PolicyMath.CompletionLogits(policy.Logits(hidden), batch), batch);
                refLogp = PolicyMath.TokenLogProbs(PolicyMath.CompletionLogits(reference.Forward(batch.Tokens, batch.AttentionMask), batch), batch);
            }
            else
            {
                oldLogp = PolicyMath.CompletionTerms(policy, batch, hidden: hidden).LogProbs;
                refLogp = PolicyMath.CompletionTerms(reference, batch).LogProbs;
            }
            using var negKl = (-0.05).ToScalar();
            var rewards = ((oldLogp - refLogp) * mask).mul(negKl);
            (advantages, returns) = PolicyMath.Gae(rewards, oldValues, mask, 1.0, 0.95);
            advantages = PolicyMath.Whiten(advantages, mask);
        }
        int n = batch.Count, size = (n + minibatches - 1) / minibatches;
        using var lo = 0.8.ToScalar();
        using var hi = 1.2.ToScalar();
        for (int start = 0; start < n; start += size)
        {
            using var mbScope = NewDisposeScope();
            var idx = ScalarSafe.Range(start, Math.Min(n, start + size), ScalarType.Int64, batch.Tokens.device);
            var tokens = batch.Tokens.index_select(0, idx);
            var m = mask.index_select(0, idx);
            var hidden = policy.ForwardHidden(tokens, batch.AttentionMask.index_select(0, idx));
            var targets = tokens.narrow(1, batch.PromptWidth, batch.CompletionWidth);
            Tensor logp, entropy;
            if (legacy)
            {
                var logits = PolicyMath.CompletionLogits(policy.Logits(hidden), batch);
                logp = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
                entropy = PolicyMath.TokenEntropy(logits.detach());
            }
            else
            {
                var terms = ChunkedHead.Compute(PolicyMath.CompletionHidden(hidden, batch), policy.TokenEmbedding, targets, entropy: true);
                (logp, entropy) = (terms.LogProbs, terms.Entropy!.detach());
            }
            var values = valueHead.forward(PolicyMath.CompletionHidden(hidden, batch)).squeeze(-1);
            var adv = advantages.index_select(0, idx);
            var ratio = ((logp - oldLogp.index_select(0, idx)) * m).exp();
            var pg = PolicyMath.MaskedMean(maximum(-adv * ratio, -adv * ratio.clamp(lo, hi)), m);
            var vf = PolicyMath.MaskedMean((values - returns.index_select(0, idx)).Squared(), m).mul(Scalars.Half);
            var loss = pg.Plus(vf);
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(policy.parameters(), 1.0);
            opt.step();
            _ = PolicyMath.MaskedMean(entropy, m).item<float>();
        }
    }
}
