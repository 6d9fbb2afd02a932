using System.Text.RegularExpressions;
using RlGaf.Engine.Training;
using RlGaf.Workbench.Api;
using RlGaf.Workbench.Cli;
using RlGaf.Workbench.Services;
using Spectre.Console;

namespace RlGaf.Workbench.Tests.Cli;

/// <summary>
/// What the long verbs show on a terminal (a Spectre console forced to behave as a colour terminal over a
/// StringWriter), and the plain lines they write when redirected, which scripts, CI and the other CLI
/// tests read and which must not change.
/// </summary>
public partial class TerminalProgressTests
{
    /// <summary>
    /// What a terminal would be sent, kept in a StringWriter that the display's threads write through a
    /// synchronized wrapper, so the test can read it while they draw.
    /// </summary>
    private sealed class Screen
    {
        private readonly StringWriter _inner = new();
        private readonly TextWriter _writer;

        public Screen() => _writer = TextWriter.Synchronized(_inner);

        /// <summary>A console that draws as an interactive ANSI terminal of <paramref name="width"/> columns would.</summary>
        public IAnsiConsole Console(int width = 160)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(_writer),
                Ansi = AnsiSupport.Yes,
                ColorSystem = ColorSystemSupport.Standard,
                Interactive = InteractionSupport.Yes,
            });
            console.Profile.Width = width;
            return console;
        }

        /// <summary>The text shown so far, the escape sequences that coloured it and moved the cursor removed.</summary>
        public string Shown()
        {
            lock (_writer) return Escapes().Replace(_inner.ToString(), ""); // the wrapper's methods lock on itself
        }

        /// <summary>The text shown once <paramref name="pattern"/> has been drawn (the display redraws a few times a second).</summary>
        public string Drawn(string pattern)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            string shown;
            while (!Regex.IsMatch(shown = Shown(), pattern) && clock.Elapsed < TimeSpan.FromSeconds(20)) Thread.Sleep(LiveProgress.Period);
            Assert.Matches(pattern, shown);
            return shown;
        }
    }

    [GeneratedRegex(@"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[=>78]")]
    private static partial Regex Escapes();

    private static MleStep Step(int step, int total) => new(step, 4.0 - 2.0 * step / total, 3e-4, 0.87, 21_500);

    [Fact]
    public void Pretrain_on_a_terminal_draws_a_bar_with_step_loss_and_time()
    {
        var screen = new Screen();
        var plain = new StringWriter();
        using (var p = new PretrainProgress(200, screen.Console(), plain))
        {
            for (int s = 1; s <= 120; s++) p.Step(Step(s, 200));
            screen.Drawn(@"step 120/200  loss 2\.8000  \d+\.\ds, about \d+\.\ds left"); // a frame mid-way: time left is known
            p.Evaluation(100, 2.5);
            for (int s = 121; s <= 200; s++) p.Step(Step(s, 200));
        }
        string shown = screen.Shown();
        Assert.Contains("pretrain", shown);
        Assert.Contains("step 200/200  loss 2.0000  held-out 2.5000", shown); // the last frame stays on screen
        Assert.Contains("100%", shown);
        Assert.Contains("━", shown); // the bar
        Assert.Contains("step   100/200  held-out loss 2.5000\n", shown); // the evaluation's line, kept above the bar
        Assert.DoesNotContain("lr 3.00e-4", shown); // the plain per-50-step lines are not drawn on a terminal
        Assert.Equal("", plain.ToString());
    }

    [Fact]
    public void Pretrain_redirected_writes_todays_lines()
    {
        var plain = new StringWriter();
        using (var p = new PretrainProgress(120, console: null, plain))
        {
            for (int s = 1; s <= 120; s++)
            {
                p.Step(Step(s, 120));
                if (s == 100) p.Evaluation(100, 2.5);
            }
        }
        var lines = plain.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length); // steps 50, 100, the evaluation, and the last step
        Assert.Matches(@"^step    50/120  loss 3\.1667  lr 3\.00e-4  grad 0\.87  21\.5k tok/s  eta \d+\.\ds$", lines[0]);
        Assert.StartsWith("step   100/120  loss 2.3333  lr 3.00e-4  grad 0.87  21.5k tok/s  eta ", lines[1]);
        Assert.Equal("step   100/120  held-out loss 2.5000", lines[2]);
        Assert.StartsWith("step   120/120  loss 2.0000  lr 3.00e-4  grad 0.87  21.5k tok/s  eta 0.0s", lines[3]);
        Assert.DoesNotContain("\x1b", plain.ToString(), StringComparison.Ordinal);
    }

    /// <summary>A suite's log as EvalSuite and a --max-parallel helper write it (the helper's lines prefixed).</summary>
    private static readonly string[] SuiteLog =
    [
        "2 workers share eval-out/t (this one and 1 helper process)",
        "[1/4] sft seed 1: 12 generator updates in eval-out/t/runs/sft-seed1",
        "  pretraining the SFT generator (300 steps) into eval-out/t/models/sft-1",
        "  pretrain step 100/300 loss 3.210",
        "[worker 1]   reinforce seed 1: another worker trains it",
        "[worker 1] [2/4] reinforce seed 2: 12 generator updates in eval-out/t/runs/reinforce-seed2",
        "[worker 1]   pretrain step 200/300 loss 2.500",
        "  checkpoint ckpt-0000000",
        "  checkpoint ckpt-0000012",
        "  completed in 1.5s of training",
        "[2/4] reinforce seed 1: 12 generator updates in eval-out/t/runs/reinforce-seed1",
        "  checkpoint ckpt-0000008",
    ];

    [Fact]
    public void Eval_on_a_terminal_shows_each_workers_run_and_phase_and_the_suites_time_left()
    {
        var screen = new Screen();
        var plain = new StringWriter();
        using (var status = new SuiteProgress("synthetic-reviews", 4, screen.Console(), plain))
        {
            foreach (var line in SuiteLog.Take(4)) status.Log(line);
            screen.Drawn(@"run 1/4 sft seed 1 .* pretraining step 100/300, loss 3\.210");
            foreach (var line in SuiteLog.Skip(4)) status.Log(line);
            status.Progress(1, 4);
        }
        string shown = screen.Shown();
        foreach (var line in SuiteLog) Assert.Contains(line + "\n", shown); // every log line, the helper's too, scrolls above the status
        // The last frame: the suite's count and time left; each worker's run and phase.
        Assert.Matches(@"eval synthetic-reviews .* 1 of 4 runs done  \d+\.\ds, about \d+\.\ds left", shown);
        Assert.Matches(@"run 2/4 reinforce seed 1 .* training step 8/12", shown);
        Assert.Matches(@"worker 1: run 2/4 reinforce seed 2 .* pretraining step 200/300, loss 2\.500", shown);
        Assert.Equal("", plain.ToString());
    }

    [Fact]
    public void Eval_redirected_writes_the_log_exactly()
    {
        var plain = new StringWriter();
        using (var status = new SuiteProgress("synthetic-reviews", 4, console: null, plain))
        {
            foreach (var line in SuiteLog) status.Log(line);
            status.Progress(1, 4);
        }
        Assert.Equal(string.Concat(SuiteLog.Select(l => l + Environment.NewLine)), plain.ToString());
    }

    [Fact]
    public void Eval_counts_kept_runs_as_done_but_estimates_time_left_from_runs_trained_now()
    {
        var screen = new Screen();
        using (var status = new SuiteProgress("imdb", 3, screen.Console(), new StringWriter()))
        {
            status.Log("[1/3] sft seed 1: finished in an earlier sitting, kept (eval-out/i/runs/sft-seed1)");
            status.Log("[2/3] ppo seed 1: 12 generator updates in eval-out/i/runs/ppo-seed1 (continuing the run that was cut off)");
            status.Log("  continuing from the checkpoint at step 6");
            string before = screen.Drawn(@"run 2/3 ppo seed 1 .* training step 6/12");
            Assert.Matches(@"1 of 3 runs done  \d+\.\ds\s", before); // nothing trained yet in this sitting: no estimate
            Assert.DoesNotContain("left", before);
            Assert.Matches(@"run 2/3 ppo seed 1 .* training step 6/12", before);
        }
    }

    [Fact]
    public void Bench_on_a_terminal_names_the_section_under_way_and_each_that_ended()
    {
        var screen = new Screen();
        var plain = new StringWriter();
        using (var status = new BenchStatus(screen.Console(), plain))
        {
            status.Section("matmul peak");
            status.Log("matmul/square_256_gflops = 180.2 GFLOP/s");
            screen.Drawn(@"bench: matmul peak .*\d+\.\ds  matmul/square_256_gflops = 180\.2 GFLOP/s");
            status.Section("tokenizer");
            status.Log("tokenizer/gpt2_tokens_per_s = 3.1e+06 tokens/s");
            status.Finish();
        }
        string shown = screen.Shown();
        Assert.Matches(@"done: matmul peak in \d+\.\ds\n", shown);
        Assert.Matches(@"done: tokenizer in \d+\.\ds\n", shown);
        Assert.True(shown.IndexOf("done: matmul peak", StringComparison.Ordinal) < shown.IndexOf("tokenizer/gpt2_tokens_per_s = 3.1e+06 tokens/s\n", StringComparison.Ordinal));
        Assert.Equal("", plain.ToString());
    }

    [Fact]
    public void Bench_redirected_writes_only_the_log()
    {
        var plain = new StringWriter();
        using (var status = new BenchStatus(console: null, plain))
        {
            status.Section("matmul peak");
            status.Log("matmul/peak_gflops = 250 GFLOP/s");
            status.Section("tokenizer");
            status.Finish();
        }
        Assert.Equal("matmul/peak_gflops = 250 GFLOP/s" + Environment.NewLine, plain.ToString());
    }

    [Fact]
    public void Runs_on_a_terminal_is_a_table_with_the_plain_texts_columns_and_the_runs_name()
    {
        var created = new DateTime(2026, 11, 27, 1, 50, 7, DateTimeKind.Utc);
        var best = new RunColumn(ColumnKind.Metric, "align/positive-rate", MetricAggregate.Max);
        var runs = new List<RunView>
        {
            new("20261127-015007-eb95", "gumbel-beta100", "completed", null, "gumbel", "synthetic-reviews", 300, 300, created, created,
                new Dictionary<string, double> { ["align/positive-rate"] = 0.72, ["oracle/valid-rate"] = 0.96 }, Tags: ["baseline", "s2"],
                Columns: new Dictionary<string, object?> { [best.Label] = 0.8125 }),
            new("20261127-020000-aa01", "ppo-kl", "running", null, "ppo", "imdb", 40, 120, created, created, new Dictionary<string, double>(),
                Phase: new RlGaf.Workbench.Storage.PhaseState { Name = "pretraining", Step = 300, Total = 1500 }),
        };
        var screen = new Screen();
        screen.Console(220).Write(RunsCommand.TerminalTable(runs, [best]));
        string shown = screen.Shown();
        var header = shown.Split('\n').First(l => l.Contains("status"));
        string[] columns = ["id", "name", "status", "method", "dataset", "step", "positive", "valid", "max(align/positive-rate)", "created", "tags"];
        foreach (var c in columns) Assert.Contains($" {c} ", header);
        Assert.True(columns.Select(c => header.IndexOf($" {c} ", StringComparison.Ordinal)).SequenceEqual(columns.Select(c => header.IndexOf($" {c} ", StringComparison.Ordinal)).Order()),
            $"columns out of order: {header}");
        var first = shown.Split('\n').First(l => l.Contains("20261127-015007-eb95"));
        foreach (var cell in new[] { "gumbel-beta100", "completed", "gumbel", "synthetic-reviews", "300/300", 0.72.ToString("P0"), 0.96.ToString("P0"), "0.8125", "baseline s2" })
            Assert.Contains(cell, first);
        var second = shown.Split('\n').First(l => l.Contains("20261127-020000-aa01"));
        foreach (var cell in new[] { "ppo-kl", "running", "imdb", "pretraining 300/1500" })
            Assert.Contains(cell, second);
        Assert.Contains("╭", shown); // a drawn table, not the fixed-width text
    }
}
