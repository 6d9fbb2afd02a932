using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Spectre.Console;

namespace RlGaf.Workbench.Cli;

/// <summary>
/// eval's progress. When redirected: the suite's log lines, exactly as EvalSuite (and the helper workers
/// of --max-parallel, "[worker i] ...") write them. On a terminal the same lines scroll above a live
/// status: the suite's runs done of all, elapsed and time left (from the runs trained in this sitting),
/// and a row per worker with its run k of n, method and seed, and the phase its log last named
/// (pretraining step, training step at the last checkpoint, waiting for another worker ...).
/// </summary>
internal sealed partial class SuiteProgress : IDisposable
{
    private readonly string _suite;
    private readonly int _total;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TextWriter _plain;
    private readonly LiveProgress? _live;
    private readonly object _gate = new();
    private readonly Dictionary<string, Worker> _workers = [];
    private readonly HashSet<string> _done = [];
    private int _trainedHere, _reported;
    private ProgressTask? _suiteTask;

    /// <summary>One worker's current run, as its log lines tell it.</summary>
    private sealed class Worker(string label)
    {
        public string Label { get; } = label;
        public string Run { get; set; } = "";
        public int Steps { get; set; }
        public string Phase { get; set; } = "starting";
        public double? Fraction { get; set; }
        public bool Finished { get; set; }
        public ProgressTask? Task { get; set; }
    }

    /// <param name="total">Runs in the suite (seeds x methods).</param>
    /// <param name="console">The terminal to draw on; null for plain lines on <paramref name="plain"/> (stderr by default).</param>
    public SuiteProgress(string suite, int total, IAnsiConsole? console, TextWriter? plain = null)
    {
        _suite = suite;
        _total = total;
        _plain = plain ?? Console.Error;
        if (console is null) return;
        var progress = console.Progress().AutoClear(false).HideCompleted(false).Columns(
            new SpinnerColumn(), new TextColumn(t => Title(t), new Style(decoration: Decoration.Bold)), new ProgressBarColumn { Width = 24 }, new TextColumn(t => Detail(t)));
        ProgressTask? suiteTask = null;
        _live = new LiveProgress(console, progress, ctx =>
        {
            // The state is copied under the lock and handed to Spectre outside it (its render thread takes the lock too).
            int done;
            List<(Worker W, double? Fraction, bool Finished)> rows;
            lock (_gate)
            {
                done = Done;
                rows = [.. _workers.Values.Select(w => (w, w.Fraction, w.Finished))];
            }
            if (suiteTask is null)
            {
                suiteTask = ctx.AddTask("suite", maxValue: Math.Max(1, total));
                lock (_gate) _suiteTask = suiteTask;
            }
            suiteTask.Value = Math.Min(done, suiteTask.MaxValue);
            foreach (var (w, fraction, finished) in rows)
            {
                var t = w.Task;
                if (t is null)
                {
                    t = ctx.AddTask(w.Label.Length == 0 ? "worker 0" : w.Label, maxValue: 1); // Spectre wants a name; the row shows Title()
                    lock (_gate) w.Task = t;
                }
                t.IsIndeterminate = fraction is null && !finished;
                t.Value = finished ? 1 : Math.Clamp(fraction ?? 0, 0, 1);
            }
        });
    }

    /// <summary>The runs finished: in this sitting, kept from an earlier one, or as the suite's own count says.</summary>
    private int Done => Math.Min(_total, Math.Max(_done.Count, _reported));

    /// <summary>EvalSuite's progress callback: <paramref name="done"/> runs of <paramref name="total"/> finished.</summary>
    public void Progress(int done, int total)
    {
        lock (_gate) _reported = Math.Max(_reported, done);
    }

    /// <summary>One line of the suite's log (or a helper worker's, prefixed "[worker i] "): printed, and read for the status.</summary>
    public void Log(string line)
    {
        if (_live is null) { _plain.WriteLine(line); return; }
        lock (_gate) Read(line);
        _live.Line(line);
    }

    /// <summary>Ends the status, its last frame left on screen.</summary>
    public void Dispose() => _live?.Dispose();

    private void Read(string line)
    {
        string key = "", text = line;
        if (WorkerPrefix().Match(line) is { Success: true } p) (key, text) = ($"worker {p.Groups[1].Value}", line[p.Length..]);
        if (!_workers.TryGetValue(key, out var w))
        {
            // Worker 0's row appears with its first run; a helper's with its first line.
            if (key == "" && !RunStart().IsMatch(text) && !Kept().IsMatch(text)) return;
            _workers[key] = w = new Worker(key);
        }
        Match m;
        if ((m = Kept().Match(text)).Success)
        {
            _done.Add(m.Groups["run"].Value);
            w.Run = $"run {m.Groups["k"].Value}/{m.Groups["n"].Value} {m.Groups["run"].Value}";
            (w.Phase, w.Fraction, w.Finished) = ("kept from an earlier sitting", 1, true);
        }
        else if ((m = RunStart().Match(text)).Success)
        {
            w.Run = $"run {m.Groups["k"].Value}/{m.Groups["n"].Value} {m.Groups["run"].Value}";
            w.Steps = Int(m.Groups["steps"].Value);
            (w.Phase, w.Fraction, w.Finished) = ("setting up", null, false);
        }
        else if ((m = PretrainStep().Match(text)).Success)
        {
            int step = Int(m.Groups["step"].Value), of = Int(m.Groups["of"].Value);
            (w.Phase, w.Fraction) = ($"pretraining step {step}/{of}, loss {m.Groups["loss"].Value}", of > 0 ? (double)step / of : null);
        }
        else if ((m = Checkpoint().Match(text)).Success || (m = Continuing().Match(text)).Success || (m = Collapse().Match(text)).Success)
        {
            int step = Int(m.Groups["step"].Value);
            (w.Phase, w.Fraction) = ($"training step {step}/{w.Steps}", w.Steps > 0 ? (double)step / w.Steps : null);
        }
        else if ((m = RunEnd().Match(text)).Success)
        {
            if (m.Groups["status"].Value != "interrupted" && w.Run.Length > 0)
            {
                _done.Add(RunKey(w.Run));
                _trainedHere++;
            }
            (w.Phase, w.Fraction, w.Finished) = ($"{m.Groups["status"].Value} in {m.Groups["secs"].Value}s of training", 1, true);
        }
        else if (text.StartsWith("  waiting for the worker that trains ", StringComparison.Ordinal))
            (w.Run, w.Phase, w.Fraction, w.Finished) = ("", text.Trim(), null, false);
        else if (text.StartsWith("  pretraining ", StringComparison.Ordinal) || text.StartsWith("  reward model acc", StringComparison.Ordinal))
            (w.Phase, w.Fraction) = (text.Trim(), null);
        else if (text.StartsWith("temperature ", StringComparison.Ordinal))
            (w.Run, w.Phase, w.Fraction, w.Finished) = ("", "MLE + temperature sweep", null, false);
        else if (text.StartsWith("reference perplexity", StringComparison.Ordinal))
            (w.Run, w.Phase, w.Fraction, w.Finished) = ("", "reference perplexity", null, false);
    }

    private static string RunKey(string run) => run[(run.IndexOf(' ', 4) + 1)..]; // "run 4/14 ppo seed 1" -> "ppo seed 1"

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private string Title(ProgressTask t)
    {
        lock (_gate)
        {
            if (ReferenceEquals(t, _suiteTask)) return $"eval {_suite}";
            var w = _workers.Values.FirstOrDefault(x => ReferenceEquals(x.Task, t));
            if (w is null) return "";
            string run = w.Run.Length > 0 ? w.Run : "-";
            return w.Label.Length == 0 ? run : $"{w.Label}: {run}";
        }
    }

    private string Detail(ProgressTask t)
    {
        lock (_gate)
        {
            if (ReferenceEquals(t, _suiteTask))
            {
                double elapsed = _clock.Elapsed.TotalSeconds;
                int done = Done;
                string left = _trainedHere > 0 && done < _total ? $", about {CliCommon.Duration(elapsed / _trainedHere * (_total - done))} left" : "";
                return $"{done} of {_total} runs done  {CliCommon.Duration(elapsed)}{left}";
            }
            return _workers.Values.FirstOrDefault(x => ReferenceEquals(x.Task, t))?.Phase ?? "";
        }
    }

    [GeneratedRegex(@"^\[worker (\d+)\] ")]
    private static partial Regex WorkerPrefix();

    [GeneratedRegex(@"^\[(?<k>\d+)/(?<n>\d+)\] (?<run>\S+ seed \d+): finished in an earlier sitting, kept")]
    private static partial Regex Kept();

    [GeneratedRegex(@"^\[(?<k>\d+)/(?<n>\d+)\] (?<run>\S+ seed \d+): (?<steps>\d+) generator updates in ")]
    private static partial Regex RunStart();

    [GeneratedRegex(@"^  pretrain step (?<step>\d+)/(?<of>\d+) loss (?<loss>\S+)")]
    private static partial Regex PretrainStep();

    [GeneratedRegex(@"^  checkpoint ckpt-(?<step>\d+)")]
    private static partial Regex Checkpoint();

    [GeneratedRegex(@"^  continuing from the checkpoint at step (?<step>\d+)")]
    private static partial Regex Continuing();

    [GeneratedRegex(@"^  collapse at step (?<step>\d+):")]
    private static partial Regex Collapse();

    [GeneratedRegex(@"^  (?<status>[a-z-]+) in (?<secs>\S+)s of training$")]
    private static partial Regex RunEnd();
}
