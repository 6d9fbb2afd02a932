using System.Globalization;

namespace RlGaf.Workbench.Cli;

/// <summary>A command-line mistake: the message names the option and what was wrong.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// Parsed "--name value", "--flag" and repeated options of one verb. Every option a verb reads
/// is declared as it is read; <see cref="EnsureAllUsed"/> then rejects anything left over, so a
/// typo such as "--step 10" is an error rather than silently ignored.
/// </summary>
public sealed class ArgParser
{
    private readonly Dictionary<string, List<string?>> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    public List<string> Positionals { get; } = [];

    public ArgParser(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            string a = list[i];
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                string name = a; string? value = null;
                int eq = a.IndexOf('=');
                if (eq > 2) { name = a[..eq]; value = a[(eq + 1)..]; }
                else if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal)) value = list[++i];
                if (!_options.TryGetValue(name, out var values)) _options[name] = values = [];
                values.Add(value);
            }
            else Positionals.Add(a);
        }
    }

    public bool Flag(string name)
    {
        _used.Add(name);
        if (!_options.TryGetValue(name, out var v)) return false;
        if (v.Any(x => x is not null)) throw new UsageException($"{name} is a flag and takes no value.");
        return true;
    }

    public string? String(string name)
    {
        _used.Add(name);
        if (!_options.TryGetValue(name, out var v)) return null;
        if (v.Count > 1) throw new UsageException($"{name} was given {v.Count} times; give it once.");
        return v[0] ?? throw new UsageException($"{name} needs a value.");
    }

    public string Required(string name) => String(name) ?? throw new UsageException($"{name} is required.");

    public IReadOnlyList<string> Many(string name)
    {
        _used.Add(name);
        if (!_options.TryGetValue(name, out var v)) return [];
        return v.Select(x => x ?? throw new UsageException($"{name} needs a value.")).ToList();
    }

    public int? Int(string name, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = String(name);
        if (s is null) return null;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
            throw new UsageException($"{name}: '{s}' is not an integer.");
        if (v < min || v > max)
            throw new UsageException($"{name}: {v} is out of range [{min}, {(max == int.MaxValue ? "inf" : max)}].");
        return v;
    }

    public double? Double(string name, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        var s = String(name);
        if (s is null) return null;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new UsageException($"{name}: '{s}' is not a finite number.");
        if (v < min || v > max) throw new UsageException($"{name}: {v} is out of range [{min}, {max}].");
        return v;
    }

    public void EnsureAllUsed(int maxPositionals = 0)
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"unknown option {string.Join(", ", unknown)}.");
        if (Positionals.Count > maxPositionals)
            throw new UsageException($"unexpected argument '{Positionals[maxPositionals]}'.");
    }
}
