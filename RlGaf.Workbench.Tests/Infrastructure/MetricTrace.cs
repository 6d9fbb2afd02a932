using System.Globalization;
using System.Text.Json;

namespace RlGaf.Workbench.Tests.Infrastructure;

/// <summary>
/// A run's logged metrics as step → key → value (time/* left out: wall-clock timings differ between
/// runs), read from metrics.jsonl or the API's metrics.json. A key logged twice at one step fails the test:
/// a resumed run must never log a step again.
/// </summary>
public static class MetricTrace
{
    public static SortedDictionary<int, SortedDictionary<string, double>> FromJsonl(string path) =>
        From(File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement), path);

    /// <param name="points">Elements of the form {"step": N, "metrics": {...}}.</param>
    public static SortedDictionary<int, SortedDictionary<string, double>> From(IEnumerable<JsonElement> points, string what)
    {
        var trace = new SortedDictionary<int, SortedDictionary<string, double>>();
        foreach (var p in points)
        {
            int step = p.GetProperty("step").GetInt32();
            if (!trace.TryGetValue(step, out var at)) trace[step] = at = new(StringComparer.Ordinal);
            foreach (var m in p.GetProperty("metrics").EnumerateObject())
            {
                if (m.Name.StartsWith("time/", StringComparison.Ordinal)) continue;
                double v = m.Value.ValueKind == JsonValueKind.String ? double.Parse(m.Value.GetString()!, CultureInfo.InvariantCulture) : m.Value.GetDouble();
                Assert.False(at.ContainsKey(m.Name), $"{what}: {m.Name} is logged twice at step {step}");
                at[m.Name] = v;
            }
        }
        return trace;
    }

    /// <summary>Step for step, key for key, bit for bit (NaN equals NaN).</summary>
    public static void AssertIdentical(SortedDictionary<int, SortedDictionary<string, double>> expected,
        SortedDictionary<int, SortedDictionary<string, double>> actual, string what)
    {
        Assert.True(expected.Keys.SequenceEqual(actual.Keys),
            $"{what}: steps differ: expected [{string.Join(',', expected.Keys)}], got [{string.Join(',', actual.Keys)}]");
        foreach (var (step, values) in expected)
        {
            var other = actual[step];
            Assert.True(values.Keys.SequenceEqual(other.Keys), $"{what}: step {step}: keys differ: [{string.Join(',', values.Keys)}] vs [{string.Join(',', other.Keys)}]");
            foreach (var (key, v) in values)
                Assert.True(BitConverter.DoubleToInt64Bits(v) == BitConverter.DoubleToInt64Bits(other[key]) || (double.IsNaN(v) && double.IsNaN(other[key])),
                    $"{what}: step {step} {key}: straight {v:R}, resumed {other[key]:R}");
        }
    }
}
