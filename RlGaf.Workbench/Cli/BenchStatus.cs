using System.Diagnostics;
using Spectre.Console;

namespace RlGaf.Workbench.Cli;

/// <summary>
/// bench's progress on stderr. When redirected: the benchmark's log lines only, as before (stdout, with
/// the figures or the one --json line, is never touched). On a terminal the same lines scroll above a
/// spinner naming the section under way, its time so far and its latest line; each section that ends
/// leaves a line saying how long it took.
/// </summary>
internal sealed class BenchStatus : IDisposable
{
    private readonly TextWriter _plain;
    private readonly LiveProgress? _live;
    private readonly object _gate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private string? _section, _latest;
    private TimeSpan _sectionStart;

    /// <param name="console">The terminal to draw on; null for plain lines on <paramref name="plain"/> (stderr by default).</param>
    public BenchStatus(IAnsiConsole? console, TextWriter? plain = null)
    {
        _plain = plain ?? Console.Error;
        if (console is null) return;
        var progress = console.Progress().AutoClear(true).HideCompleted(false).Columns(
            new SpinnerColumn(), new TextColumn(_ => Title(), new Style(decoration: Decoration.Bold)), new TextColumn(_ => Detail()));
        ProgressTask? task = null;
        _live = new LiveProgress(console, progress, ctx => task ??= ctx.AddTask("bench", maxValue: 1));
    }

    /// <summary>One line of the benchmark's log.</summary>
    public void Log(string line)
    {
        if (_live is null) { _plain.WriteLine(line); return; }
        lock (_gate) _latest = line;
        _live.Line(line, new Style(Color.Grey));
    }

    /// <summary>A section starts (the one before it, if any, has ended).</summary>
    public void Section(string name)
    {
        if (_live is null) return;
        string? ended = EndSection();
        lock (_gate) (_section, _sectionStart, _latest) = (name, _clock.Elapsed, null);
        if (ended is not null) _live.Line(ended, new Style(Color.Green));
    }

    /// <summary>The benchmark finished: the last section's line, then the spinner goes.</summary>
    public void Finish()
    {
        if (_live is null) return;
        if (EndSection() is { } ended) _live.Line(ended, new Style(Color.Green));
        lock (_gate) _section = null;
    }

    public void Dispose() => _live?.Dispose();

    private string? EndSection()
    {
        lock (_gate)
            return _section is null ? null
                : $"done: {_section} in {CliCommon.Duration((_clock.Elapsed - _sectionStart).TotalSeconds)}";
    }

    private string Title()
    {
        lock (_gate) return _section is null ? "bench" : $"bench: {_section}";
    }

    private string Detail()
    {
        lock (_gate)
        {
            var since = _section is null ? _clock.Elapsed : _clock.Elapsed - _sectionStart;
            return $"{CliCommon.Duration(since.TotalSeconds)}{(_latest is null ? "" : $"  {_latest}")}";
        }
    }
}
