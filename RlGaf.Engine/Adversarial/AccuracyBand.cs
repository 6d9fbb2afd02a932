using System.Globalization;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// disc_acc_band "lo,hi": the range the discriminator's accuracy on its training batch is kept in.
/// Above <see cref="High"/> the update is skipped (D is winning); below <see cref="Low"/> one extra update follows.
/// </summary>
public readonly record struct AccuracyBand(double Low, double High)
{
    /// <summary>Parses "lo,hi" (0 &lt;= lo &lt; hi &lt;= 1); empty text is "no band" (true, with null).</summary>
    public static bool TryParse(string? text, out AccuracyBand? band)
    {
        band = null;
        if (string.IsNullOrWhiteSpace(text)) return true;
        var parts = text.Split(',');
        if (parts.Length != 2
            || !double.TryParse(parts[0].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var lo)
            || !double.TryParse(parts[1].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var hi)
            || !(lo >= 0 && lo < hi && hi <= 1)) return false;
        band = new AccuracyBand(lo, hi);
        return true;
    }
}
