using System.Globalization;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Services;

/// <summary>A long phase's progress in words, the same on the run page, the runs list and the command line.</summary>
public static class PhaseText
{
    /// <summary>"SFT pretraining: step 300 / 1500 (20%) · loss 2.314 · 42.0s elapsed · about 2m48s left".</summary>
    /// <param name="done">The phase's last report: "done in 1m12s" instead of the time left.</param>
    public static string Line(string phase, int step, int total, double? loss, double elapsedSeconds, double? etaSeconds, bool done = false)
    {
        var parts = new List<string> { $"{RunPhases.Title(phase)}: step {step} / {total}" + (total > 0 ? $" ({100.0 * step / total:0}%)" : "") };
        if (loss is { } l) parts.Add("loss " + l.ToString("0.000", CultureInfo.InvariantCulture));
        if (done) { parts.Add($"done in {Duration(elapsedSeconds)}"); return string.Join(" · ", parts); }
        parts.Add($"{Duration(elapsedSeconds)} elapsed");
        parts.Add(etaSeconds is { } eta ? $"about {Duration(eta)} left" : "estimating time left");
        return string.Join(" · ", parts);
    }

    public static string Line(PhaseState p) => Line(p.Name, p.Step, p.Total, p.Loss, p.ElapsedSeconds, p.EtaSeconds);

    /// <summary>The list's short form: "SFT pretraining 300/1500".</summary>
    public static string Short(PhaseState p) => $"{RunPhases.Title(p.Name)} {p.Step}/{p.Total}";

    public static string Duration(double seconds) =>
        seconds >= 3600 ? $"{(int)(seconds / 3600)}h{(int)(seconds % 3600 / 60):00}m"
        : seconds >= 60 ? $"{(int)(seconds / 60)}m{(int)(seconds % 60):00}s" : $"{seconds:0.0}s";
}
