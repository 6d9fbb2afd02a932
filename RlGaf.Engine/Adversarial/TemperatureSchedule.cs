namespace RlGaf.Engine.Adversarial;

/// <summary>RelGAN's Gumbel-Softmax temperature schedules (<c>utils/ops.py</c>, docs/metrics.md <c>gumbel/tau</c>).</summary>
public enum ScheduleKind { None, Linear, Exponential, Log, Sigmoid, Quadratic, Sqrt }

/// <summary>
/// The inverse temperature beta of RelGAN's Gumbel-Softmax, softmax(beta (o + g)), as small pure
/// functions of the adversarial step. Formulas exactly as RelGAN's, with i = step and N = the
/// caller's schedule length, so a 2,000-step run anneals over 2,000 steps (RelGAN fixes N = 5000
/// whatever the run length, so its exp schedule only reaches beta_max^0.4 in 2,000 steps).
/// </summary>
public static class TemperatureSchedule
{
    /// <summary>The names <see cref="Parse"/> accepts, for error messages and UIs.</summary>
    public const string Names = "none|linear|exp|log|sigmoid|quad|sqrt";

    /// <summary>
    /// beta at <paramref name="step"/> (i) of a schedule of <paramref name="totalSteps"/> (N) steps:
    /// none: beta_max; linear: 1 + i/(N-1) (beta_max-1); exp: beta_max^(i/N);
    /// log: 1 + (beta_max-1) ln(i+1)/ln N; sigmoid: 1 + (beta_max-1)/(1 + exp((N/2 - i) 20/N));
    /// quad: 1 + (beta_max-1) i^2/(N-1)^2; sqrt: 1 + (beta_max-1) sqrt(i)/sqrt(N-1).
    /// Steps at or past N are clamped to i = N-1, the schedule's end value (for exp that is
    /// beta_max^((N-1)/N), as in RelGAN). A one-step schedule is beta_max (its only step is its end).
    /// </summary>
    public static double InverseTemperature(ScheduleKind kind, int step, int totalSteps, double betaMax)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentOutOfRangeException.ThrowIfLessThan(totalSteps, 1);
        if (!double.IsFinite(betaMax) || betaMax < 1)
            throw new ArgumentOutOfRangeException(nameof(betaMax), betaMax, "beta_max (the maximum inverse temperature) must be finite and at least 1.");
        if (kind == ScheduleKind.None || totalSteps == 1) return betaMax;

        double i = Math.Min(step, totalSteps - 1), n = totalSteps, span = betaMax - 1;
        return kind switch
        {
            ScheduleKind.Linear => 1 + i / (n - 1) * span,
            ScheduleKind.Exponential => Math.Pow(betaMax, i / n),
            ScheduleKind.Log => 1 + span * Math.Log(i + 1) / Math.Log(n),
            ScheduleKind.Sigmoid => 1 + span / (1 + Math.Exp((n / 2 - i) * 20 / n)),
            ScheduleKind.Quadratic => 1 + span * i * i / ((n - 1) * (n - 1)),
            ScheduleKind.Sqrt => 1 + span * Math.Sqrt(i) / Math.Sqrt(n - 1),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown temperature schedule."),
        };
    }

    /// <summary>The Gumbel-Softmax temperature tau = 1/beta (what the metric <c>gumbel/tau</c> reports).</summary>
    public static double Temperature(ScheduleKind kind, int step, int totalSteps, double betaMax) =>
        1.0 / InverseTemperature(kind, step, totalSteps, betaMax);

    /// <summary>
    /// Reads a schedule name, case-insensitively: none, linear, exp, log, sigmoid, quad, sqrt, and
    /// RelGAN's spellings no and lin (also exponential, quadratic). <paramref name="setting"/> names
    /// the setting in the error, so a bad config value says where it came from.
    /// </summary>
    public static ScheduleKind Parse(string value, string setting = "temperature schedule")
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.Trim().ToLowerInvariant() switch
        {
            "none" or "no" => ScheduleKind.None,
            "linear" or "lin" => ScheduleKind.Linear,
            "exp" or "exponential" => ScheduleKind.Exponential,
            "log" => ScheduleKind.Log,
            "sigmoid" => ScheduleKind.Sigmoid,
            "quad" or "quadratic" => ScheduleKind.Quadratic,
            "sqrt" => ScheduleKind.Sqrt,
            _ => throw new ArgumentException(
                $"Unknown {setting} '{value}'; expected one of {Names} (RelGAN's 'no' and 'lin' are accepted too).", nameof(value)),
        };
    }

    /// <summary>The canonical name of a kind, the one <see cref="Names"/> lists.</summary>
    public static string Name(ScheduleKind kind) => kind switch
    {
        ScheduleKind.None => "none", ScheduleKind.Linear => "linear", ScheduleKind.Exponential => "exp",
        ScheduleKind.Log => "log", ScheduleKind.Sigmoid => "sigmoid", ScheduleKind.Quadratic => "quad",
        ScheduleKind.Sqrt => "sqrt", _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}
