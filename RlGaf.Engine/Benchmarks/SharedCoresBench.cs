using System.Diagnostics;
using System.Globalization;
using RlGaf.Engine.Corpora;
using RlGaf.Engine.Corpora.SyntheticReviews;
using RlGaf.Engine.Models;
using RlGaf.Engine.Text;
using RlGaf.Engine.Training;
using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Benchmarks;

/// <summary>The default tiny MLE run (synthetic reviews, 3 x 128, window 64, batch 32, compact vocabulary) as a benchmark workload.</summary>
public static class TinyMleWorkload
{
    /// <summary>The compact vocabulary the default pretraining builds from these reviews (its size is the peer's tiny vocabulary).</summary>
    public static Vocabulary Vocabulary(IEnumerable<string> train)
    {
        var d = new PretrainSettings();
        var grammar = ReviewGrammar.Default;
        var spellings = grammar.Terminals.SelectMany(t => new[] { t, " " + t, Cap(t), " " + Cap(t) });
        return Text.Vocabulary.BuildCompact(train.Concat(spellings), d.MaxVocabulary);
    }

    public static List<string> TrainingTexts(int docs) => ReviewGrammar.Default.Sample(docs, seed: 1).Select(r => r.Text).ToList();

    /// <summary>Median per-step tokens/s of <paramref name="steps"/> MLE steps at the defaults (the first tenth is warm-up).</summary>
    public static double TokensPerSecond(int steps, int docs, Device device)
    {
        var d = new PretrainSettings();
        var train = TrainingTexts(docs);
        var held = ReviewGrammar.Default.Sample(50, seed: 1_000_004).Select(r => r.Text).ToList();
        var vocab = Vocabulary(train);
        var corpus = new TokenizedCorpus(vocab, train, held, d.NPositions);
        using var model = new Gpt2Model(new Gpt2Config(vocab.Size, d.NPositions, d.NEmbd, d.NLayer, d.NHead), seed: 1);
        model.to(device);
        var perStep = new List<double>();
        using (var trainer = new MleTrainer(model, corpus, d.Mle with { Steps = steps, EvalEvery = int.MaxValue, EvalSequences = 16 }, device))
        {
            trainer.StepCompleted += s => { if (s.Step > steps / 10) perStep.Add(s.TokensPerSecond); };
            trainer.Train();
        }
        perStep.Sort();
        return perStep[perStep.Count / 2];
    }

    private static string Cap(string t) => t.Length > 0 ? char.ToUpperInvariant(t[0]) + t[1..] : t;
}

/// <summary>Solo and shared throughput: one probe process alone, then two at once on the same cores.</summary>
public sealed record SharedCoresReport(double Solo, double SharedA, double SharedB, int Threads, string OpenMp)
{
    /// <summary>The slower of the two shared runs as a fraction of solo (the target: at least 0.45).</summary>
    public double WorstRatio => Math.Min(SharedA, SharedB) / Solo;
}

/// <summary>
/// Two trainings on the same cores (a sweep executor, a Slurm node with array tasks) must slow down in
/// proportion, not collapse. This runs the tiny MLE probe in child processes (each its own libtorch and
/// OpenMP pool, as real jobs are): once alone, then two started together.
/// </summary>
public static class SharedCoresBench
{
    /// <summary>The probe's answer line on stdout.</summary>
    public const string ProbePrefix = "probe tokens_per_s=";

    /// <summary>Runs <paramref name="startProbe"/> alone and then twice at once; each child prints <see cref="ProbePrefix"/>N.</summary>
    public static SharedCoresReport Run(Func<ProcessStartInfo> startProbe, int threads, Action<string>? log = null)
    {
        log?.Invoke("shared cores: solo probe");
        double solo = Wait(Start(startProbe));
        log?.Invoke("shared cores: two probes at once");
        var a = Start(startProbe);
        var b = Start(startProbe);
        double ra = Wait(a), rb = Wait(b);
        return new SharedCoresReport(solo, ra, rb, threads, OpenMpEnvironment.Applied);
    }

    private static Process Start(Func<ProcessStartInfo> psi)
    {
        var info = psi();
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        return Process.Start(info) ?? throw new InvalidOperationException($"could not start the probe {info.FileName}");
    }

    private static double Wait(Process p)
    {
        using (p)
        {
            var err = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            var line = output.Split('\n').FirstOrDefault(l => l.StartsWith(ProbePrefix, StringComparison.Ordinal));
            if (p.ExitCode != 0 || line is null)
                throw new InvalidOperationException($"the shared-cores probe exited with {p.ExitCode} and no '{ProbePrefix}' line: {err.Result.Trim().Split('\n').LastOrDefault()}");
            return double.Parse(line[ProbePrefix.Length..], CultureInfo.InvariantCulture);
        }
    }
}
