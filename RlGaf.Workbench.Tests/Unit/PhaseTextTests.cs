using RlGaf.Engine.Runs;
using RlGaf.Workbench.Services;

namespace RlGaf.Workbench.Tests.Unit;

/// <summary>A long phase's words and pace: the line the run page, the runs list and the command line show, and the reporter's throttle.</summary>
public class PhaseTextTests
{
    [Fact]
    public void The_line_gives_step_of_steps_loss_elapsed_and_the_time_left_at_the_pace_so_far()
    {
        var p = new PhaseProgress(RunPhases.Pretraining, 300, 1500, 2.31449, 42);
        Assert.Equal(42.0 * 1200 / 300, p.EtaSeconds); // 168 s left at 7 steps a second
        Assert.Equal("SFT pretraining: step 300 / 1500 (20%) · loss 2.314 · 42.0s elapsed · about 2m48s left",
            PhaseText.Line(p.Phase, p.Step, p.Total, p.Loss, p.ElapsedSeconds, p.EtaSeconds));
        Assert.Null(new PhaseProgress(RunPhases.RewardModel, 0, 100, null, 3).EtaSeconds); // no pace yet
        Assert.Equal("Reward-model training: step 0 / 100 (0%) · 3.0s elapsed · estimating time left",
            PhaseText.Line(RunPhases.RewardModel, 0, 100, null, 3, null));
        Assert.Equal("Discriminator pretraining: step 50 / 50 (100%) · loss 0.500 · done in 1h01m",
            PhaseText.Line(RunPhases.DiscriminatorPretraining, 50, 50, 0.5, 3660, null, done: true));
        Assert.Null(new PhaseProgress(RunPhases.Pretraining, 50, 50, null, 3, Done: true).EtaSeconds);
    }

    [Fact]
    public void The_reporter_sends_the_first_and_last_step_and_at_most_a_few_reports_a_second_between()
    {
        var seen = new List<PhaseProgress>();
        var reporter = new PhaseReporter(RunPhases.Pretraining, int.MaxValue, seen.Add);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int step = 0;
        while (clock.Elapsed < TimeSpan.FromMilliseconds(600)) reporter.Report(step++, 1.0);
        reporter.Report(int.MaxValue, double.NaN);
        reporter.Finish(int.MaxValue, 0.25);
        Assert.Equal(0, seen[0].Step);
        Assert.True(step > 100, $"only {step} reports offered");
        // 600 ms at one report per 250 ms at most: the first, two or three between, the last step and the finish.
        Assert.InRange(seen.Count, 3, 6);
        Assert.Equal(int.MaxValue, seen[^2].Step);
        Assert.Null(seen[^2].Loss); // a non-finite loss is left out, not shown as NaN
        Assert.True(seen[^1].Done);
        Assert.Equal(0.25, seen[^1].Loss);
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First.Step <= p.Second.Step));
    }
}
