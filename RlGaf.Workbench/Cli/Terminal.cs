using Spectre.Console;

namespace RlGaf.Workbench.Cli;

/// <summary>
/// Whether the long verbs draw Spectre.Console progress (train/resume, pretrain, eval, bench: on stderr)
/// and tables (runs: on stdout), and the console they draw on. A stream that is redirected (a file, a
/// pipe, CI, the tests' child processes) gets no console: the caller prints its plain lines, which
/// scripts and tests read. One place decides, so every verb behaves the same way. Spectre.Console calls
/// the console interactive only when stdin, stdout and stderr are all terminals, so <c>--json &gt; FILE</c>
/// also gets the plain lines (as train did before the other verbs shared this).
/// </summary>
internal static class Terminal
{
    /// <summary>stderr is a terminal that can be redrawn in place.</summary>
    public static bool ErrorIsInteractive => !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>stdout is a terminal (not a file or a pipe).</summary>
    public static bool OutputIsInteractive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>A console on stderr for live progress; null when stderr is redirected (then print plain lines).</summary>
    public static IAnsiConsole? Error() => ErrorIsInteractive ? Over(Console.Error) : null;

    /// <summary>A console on stdout for tables; null when stdout is redirected (then print plain text).</summary>
    public static IAnsiConsole? Output() => OutputIsInteractive ? Over(Console.Out) : null;

    /// <summary>A console over <paramref name="writer"/>, its capabilities detected as for the standard streams.</summary>
    public static IAnsiConsole Over(TextWriter writer) =>
        AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });
}

/// <summary>
/// A Spectre.Console progress display drawn by its own thread while the caller's thread does the work
/// (training keeps its thread: TorchSharp's grad mode and dispose scopes are thread-local). The display
/// calls <c>tick</c> every <see cref="Period"/> to copy the latest state into its tasks, and once more at
/// the end; lines written meanwhile with <see cref="Line"/> go above it. Dispose ends it, leaving its last
/// frame on screen unless the display clears itself. The display is only a view: if it fails, the work
/// goes on and Dispose says why in one line instead of throwing.
/// </summary>
internal sealed class LiveProgress : IDisposable
{
    public static readonly TimeSpan Period = TimeSpan.FromMilliseconds(200);

    private readonly IAnsiConsole _console;
    private readonly ManualResetEventSlim _stop = new(), _started = new();
    private readonly Thread _display;
    private Exception? _failed;
    private bool _disposed;

    public LiveProgress(IAnsiConsole console, Progress progress, Action<ProgressContext> tick)
    {
        _console = console;
        // A thread of its own, not the thread pool's: a loaded pool would start the display late.
        _display = new Thread(() =>
        {
            try
            {
                progress.Start(ctx =>
                {
                    tick(ctx);
                    _started.Set();
                    while (!_stop.Wait(Period)) tick(ctx);
                    tick(ctx);
                });
            }
            catch (Exception e) { _failed = e; }
            finally { _started.Set(); }
        }) { IsBackground = true, Name = "progress display" };
        _display.Start();
        _started.Wait(TimeSpan.FromSeconds(5)); // lines written from now on go above the display
    }

    /// <summary>A line printed above the display (as text: brackets are not markup).</summary>
    public void Line(string text, Style? style = null) => _console.Write(new Text(text + "\n", style ?? Style.Plain));

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stop.Set();
        _display.Join();
        if (_failed is { } e) _console.Write(new Text($"(the progress display failed: {e.Message})\n"));
    }
}

/// <summary>A progress column that shows whatever text its function gives for the task.</summary>
internal sealed class TextColumn(Func<ProgressTask, string> text, Style? style = null) : ProgressColumn
{
    public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
        new Text(text(task), style ?? Style.Plain);
}
