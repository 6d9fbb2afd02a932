using System.CommandLine;
using System.Globalization;

namespace RlGaf.Workbench.Cli;

/// <summary>A command-line mistake: the message names the option and what was wrong.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// What a verb reads from its command line, after System.CommandLine parsed it against the verb's
/// declared options (<see cref="Verbs"/>): unknown options, missing values and repeated single options
/// are refused there, with typo suggestions. Numbers arrive as text and are parsed here, so every
/// range error names the option the way users have always seen it ("--steps: 0 is out of range [1, inf].").
/// </summary>
public sealed class ArgParser
{
    private readonly ParseResult _result;
    private readonly Command _verb;

    public ArgParser(ParseResult result, Command verb)
    {
        _result = result;
        _verb = verb;
        Positionals = verb.Arguments.SelectMany(a => result.GetValue<string[]>(a.Name) ?? []).Concat(verb.TreatUnmatchedTokensAsErrors ? [] : result.UnmatchedTokens).ToList();
    }

    /// <summary>The verb's positional arguments (a run id).</summary>
    public List<string> Positionals { get; }

    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    private Option Declared(string name)
    {
        _read.Add(name);
        return _verb.Options.FirstOrDefault(o => o.Name == name)
               ?? throw new InvalidOperationException($"verb '{_verb.Name}' reads {name} but does not declare it in Cli/Verbs.cs");
    }

    private bool Given(string name) => _result.GetResult(Declared(name)) is { Implicit: false };

    public bool Flag(string name) => Declared(name) is Option<bool> o
        ? _result.GetValue(o)
        : throw new InvalidOperationException($"{name} is declared with a value, not as a flag");

    public string? String(string name) => Given(name) ? _result.GetValue<string?>(name) : null;

    public string Required(string name) => String(name) ?? throw new UsageException($"{name} is required.");

    public IReadOnlyList<string> Many(string name) => Given(name) ? _result.GetValue<string[]>(name) ?? [] : [];

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

    /// <summary>
    /// The parser refused unknown options; what is left: an option of this verb given where the body does
    /// not read it (eval --resume DIR --seeds 3: the suite's seeds are saved), and too many positionals.
    /// </summary>
    public void EnsureAllUsed(int maxPositionals = 0)
    {
        var unread = _verb.Options.Where(o => o.Name != "--help" && !_read.Contains(o.Name) && _result.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
        if (unread.Count > 0) throw new UsageException($"{string.Join(", ", unread)} does not apply here (see '{_verb.Name} --help').");
        if (Positionals.Count > maxPositionals)
            throw new UsageException($"unexpected argument '{Positionals[maxPositionals]}'.");
    }
}
