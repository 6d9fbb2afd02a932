using System.Diagnostics;
using RlGaf.Engine.Training;
using Spectre.Console;

namespace RlGaf.Workbench.Cli;

/// <summary>
/// pretrain's progress: on a terminal a Spectre.Console bar with the step, the loss (and the latest
/// held-out loss), elapsed and time left, redrawn in place; when redirected, the plain lines scripts
/// read: one every 50 steps and at the last, and one per held-out evaluation.
/// </summary>
internal sealed class PretrainProgress : IDisposable
{
    private readonly int _total;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TextWriter _plain;
    private readonly LiveProgress? _live;
    private readonly object _gate = new();
    private int _step;
    private double? _loss, _heldOut;

    /// <param name="console">The terminal to draw on; null for plain lines on <paramref name="plain"/> (stderr by default).</param>
    public PretrainProgress(int total, IAnsiConsole? console, TextWriter? plain = null)
    {
        _total = total;
        _plain = plain ?? Console.Error;
        if (console is null) return;
        var progress = console.Progress().AutoClear(false).HideCompleted(false).Columns(
            new TaskDescriptionColumn(), new ProgressBarColumn { Width = 30 }, new PercentageColumn(), new TextColumn(_ => Figures()));
        ProgressTask? task = null;
        _live = new LiveProgress(console, progress, ctx =>
        {
            task ??= ctx.AddTask("pretrain", maxValue: Math.Max(1, total));
            int step;
            lock (_gate) step = _step; // read under the lock, handed to Spectre outside it (its render thread takes the lock too)
            task.Value = Math.Min(step, task.MaxValue);
        });
    }

    public void Step(MleStep s)
    {
        if (_live is not null)
        {
            lock (_gate) (_step, _loss) = (s.Step, s.Loss);
            return;
        }
        if (s.Step % 50 != 0 && s.Step != _total) return;
        double eta = _clock.Elapsed.TotalSeconds / s.Step * (_total - s.Step);
        _plain.WriteLine($"step {s.Step,5}/{_total}  loss {s.Loss:0.0000}  lr {s.LearningRate:0.00e+0}  " +
                         $"grad {s.GradNorm:0.00}  {s.TokensPerSecond / 1000:0.0}k tok/s  eta {CliCommon.Duration(eta)}");
    }

    public void Evaluation(int step, double loss)
    {
        string line = $"step {step,5}/{_total}  held-out loss {loss:0.0000}";
        if (_live is null) { _plain.WriteLine(line); return; }
        lock (_gate) _heldOut = loss;
        _live.Line(line); // kept above the bar: the held-out curve stays readable
    }

    /// <summary>Ends the bar, its last frame left on screen.</summary>
    public void Dispose() => _live?.Dispose();

    private string Figures()
    {
        lock (_gate)
        {
            double elapsed = _clock.Elapsed.TotalSeconds;
            string loss = _loss is { } l ? $"  loss {l:0.0000}" : "";
            string held = _heldOut is { } h ? $"  held-out {h:0.0000}" : "";
            string left = _step > 0 && _step < _total ? $", about {CliCommon.Duration(elapsed / _step * (_total - _step))} left" : "";
            return $"step {_step}/{_total}{loss}{held}  {CliCommon.Duration(elapsed)}{left}";
        }
    }
}
