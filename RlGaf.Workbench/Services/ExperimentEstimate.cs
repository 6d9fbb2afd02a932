namespace RlGaf.Workbench.Services;

/// <summary>
/// A rough wall-clock for a suite on a 2-core CPU, scaled from the full synthetic suite (3 seeds x 6
/// methods x 120 updates: about an hour, of which SFT pretraining is ~2.5 minutes per seed). Methods
/// differ in cost, so this is an order of magnitude for planning, not a promise.
/// </summary>
public static class ExperimentEstimate
{
    /// <summary>SFT pretraining of one seed's generator (docs/results.md: 2 min 30 s).</summary>
    public const double PretrainMinutesPerSeed = 2.5;
    /// <summary>One method's 120-update run, averaged over the six: (60 - 3 x 2.5) / 18 runs.</summary>
    public const double MinutesPer120Updates = (60 - 3 * PretrainMinutesPerSeed) / 18;

    /// <summary>Minutes for the synthetic suite; null for imdb and squad (GPT-2 vocabulary and real texts: not measured here, expect much longer).</summary>
    public static double? Minutes(string suite, int seeds, int methods, int stepsBudget)
    {
        if (suite != "synthetic-reviews" || seeds < 1 || methods < 1 || stepsBudget < 1) return null;
        return seeds * PretrainMinutesPerSeed + seeds * methods * MinutesPer120Updates * stepsBudget / 120.0;
    }

    /// <summary>"about 1 h 5 min", "about 12 min", "under a minute".</summary>
    public static string Describe(double minutes)
    {
        if (minutes < 1) return "under a minute";
        int m = (int)Math.Round(minutes);
        return m < 60 ? $"about {m} min" : m % 60 == 0 ? $"about {m / 60} h" : $"about {m / 60} h {m % 60} min";
    }
}
