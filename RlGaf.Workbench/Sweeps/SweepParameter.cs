using System.Globalization;

namespace RlGaf.Workbench.Sweeps;

/// <summary>W&B's parameter distributions (the ones this workbench samples).</summary>
public enum ParameterDistribution { Constant, Categorical, IntUniform, Uniform, QUniform, LogUniformValues, QLogUniformValues, LogUniform }

/// <summary>
/// One searched RunSettings key: a constant (<c>value</c>), a list (<c>values</c>, with optional
/// <c>probabilities</c>) or a distribution over [<see cref="Min"/>, <see cref="Max"/>] rounded to <see cref="Q"/>.
/// <see cref="Line"/> is where it was written, for messages.
/// </summary>
public sealed record SweepParameter(
    string Key,
    ParameterDistribution Distribution,
    IReadOnlyList<string> Values,
    IReadOnlyList<double>? Probabilities,
    double Min,
    double Max,
    double? Q,
    int Line)
{
    /// <summary>Whether grid search can enumerate it (constants, lists, integer and quantized uniform ranges).</summary>
    public bool Enumerable => Distribution is ParameterDistribution.Constant or ParameterDistribution.Categorical or ParameterDistribution.IntUniform
                                 || (Distribution == ParameterDistribution.QUniform && Q is > 0);

    /// <summary>The grid's values, in order.</summary>
    public IReadOnlyList<string> GridValues()
    {
        switch (Distribution)
        {
            case ParameterDistribution.Constant or ParameterDistribution.Categorical: return Values;
            case ParameterDistribution.IntUniform:
                return IntRange((long)Min, (long)Max).Select(v => v.ToString(CultureInfo.InvariantCulture)).ToList();
            case ParameterDistribution.QUniform when Q is > 0:
                var list = new List<string>();
                for (double k = Math.Ceiling(Min / Q.Value - 1e-9); k * Q.Value <= Max + 1e-9 * Math.Abs(Max); k++) list.Add(Format(k * Q.Value));
                return list;
            default:
                throw new ArgumentException($"line {Line}: parameters.{Key}: distribution {Name(Distribution)} is continuous: method grid needs values, int_uniform or q_uniform.");
        }
    }

    private static IEnumerable<long> IntRange(long min, long max) { for (long v = min; v <= max; v++) yield return v; }

    /// <summary>One draw from <paramref name="random"/>, as settings text.</summary>
    public string Sample(SweepRandom random)
    {
        switch (Distribution)
        {
            case ParameterDistribution.Constant: return Values[0];
            case ParameterDistribution.Categorical:
                if (Probabilities is null) return Values[random.NextInt(Values.Count)];
                double u = random.NextDouble(), acc = 0;
                for (int i = 0; i < Values.Count; i++) { acc += Probabilities[i]; if (u < acc) return Values[i]; }
                return Values[^1];
            case ParameterDistribution.IntUniform:
                return ((long)Min + random.NextLong((long)Max - (long)Min + 1)).ToString(CultureInfo.InvariantCulture);
            case ParameterDistribution.Uniform: return Format(Min + (Max - Min) * random.NextDouble());
            case ParameterDistribution.QUniform: return Format(Quantize(Min + (Max - Min) * random.NextDouble()));
            case ParameterDistribution.LogUniformValues: return Format(LogUniform(random, Math.Log(Min), Math.Log(Max)));
            case ParameterDistribution.QLogUniformValues: return Format(Quantize(LogUniform(random, Math.Log(Min), Math.Log(Max))));
            case ParameterDistribution.LogUniform: return Format(LogUniform(random, Min, Max));
            default: throw new InvalidOperationException(Distribution.ToString());
        }
    }

    private static double LogUniform(SweepRandom random, double logMin, double logMax) => Math.Exp(logMin + (logMax - logMin) * random.NextDouble());

    private double Quantize(double v) => Q is > 0 ? Math.Round(v / Q.Value) * Q.Value : v;

    /// <summary>Shortest round-trip text, so a value reads back as itself (and 0.30000000000000004 stays visible).</summary>
    public static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    public static string Name(ParameterDistribution d) => d switch
    {
        ParameterDistribution.IntUniform => "int_uniform",
        ParameterDistribution.QUniform => "q_uniform",
        ParameterDistribution.LogUniformValues => "log_uniform_values",
        ParameterDistribution.QLogUniformValues => "q_log_uniform_values",
        ParameterDistribution.LogUniform => "log_uniform",
        _ => d.ToString().ToLowerInvariant(),
    };
}
