using RlGaf.Workbench.Sweeps;

namespace RlGaf.Workbench.Tests.Sweeps;

/// <summary>ASHA, deterministically: given the metric values, exactly which trials stop at which rung.</summary>
public sealed class AshaSchedulerTests
{
    private static readonly SweepMetric Loss = new("loss", MetricGoal.Minimize);

    private static MetricValue[] V(params (int Step, double Value)[] v) => v.Select(x => new MetricValue(x.Step, x.Value)).ToArray();

    [Fact]
    public void Rungs_are_min_iter_times_powers_of_eta_below_the_last_step()
    {
        Assert.Equal([1, 3, 9], new EarlyTermination(1, 3).Rungs(10));
        Assert.Equal([2, 4, 8], new EarlyTermination(2, 2).Rungs(16)); // 16 is the last step: nothing left to save there
        Assert.Empty(new EarlyTermination(20, 3).Rungs(20));
    }

    [Fact]
    public void A_trial_outside_the_top_third_at_a_rung_stops_there()
    {
        var asha = new AshaScheduler(new EarlyTermination(1, 3), Loss);
        Assert.Null(asha.Report(0, 10, V((1, 5))));     // first at rung 1: keeps ceil(1/3) = 1
        Assert.Null(asha.Report(1, 10, V((1, 4))));     // 2 there, keeps 1: 4 is the best
        Assert.Equal(1, asha.Report(2, 10, V((1, 6)))); // 3 there, keeps 1: rank 3
        Assert.Null(asha.Report(3, 10, V((1, 3))));     // 4 there, keeps 2: rank 1
        Assert.Null(asha.Report(0, 10, V((1, 5), (3, 2)))); // trial 0 first at rung 3
        // 5 at rung 1, keeps 2: 5 ties trial 0 (earlier, so ahead) behind 4 and 3: rank 4.
        Assert.Equal(1, asha.Report(4, 10, V((1, 5))));
        Assert.Null(asha.Report(1, 10, V((1, 4), (3, 1)))); // rung 3: 2 there, keeps 1: 1 beats 2
        Assert.Equal(3, asha.Report(3, 10, V((1, 3), (3, 2.5)))); // rung 3: 3 there, keeps 1: rank 2
        Assert.Equal([new AshaRecord(1, 0, 5), new(1, 1, 4), new(1, 2, 6), new(1, 3, 3), new(1, 4, 5), new(3, 0, 2), new(3, 1, 1), new(3, 3, 2.5)], asha.Records());
    }

    [Fact]
    public void Maximize_ranks_the_other_way_and_the_value_at_a_rung_is_the_last_logged_at_or_before_it()
    {
        var asha = new AshaScheduler(new EarlyTermination(3, 2), new SweepMetric("acc", MetricGoal.Maximize));
        // Logged every 2 steps: rung 3 reads step 2's value.
        Assert.Null(asha.Report(0, 20, V((2, 0.5), (4, 0.9))));
        Assert.Equal(3, asha.Report(1, 20, V((2, 0.4), (4, 0.99)))); // 0.4 < 0.5 at rung 3 (its later 0.99 does not count there)
        Assert.Null(asha.Report(2, 20, V((2, 0.6))));                 // 3 there, keeps 2: rank 1
        Assert.Equal(3, asha.Records()[0].Rung);
        Assert.Equal(0.5, asha.Records()[0].Value);
    }

    [Fact]
    public void Decisions_are_made_once_and_restored_records_rank_later_trials()
    {
        var asha = new AshaScheduler(new EarlyTermination(1, 2), Loss);
        Assert.Null(asha.Report(0, 10, V((1, 1))));
        Assert.Null(asha.Report(0, 10, V((1, 1)))); // reported again: not recorded twice
        Assert.Single(asha.Records());

        var resumed = new AshaScheduler(new EarlyTermination(1, 2), Loss);
        resumed.Restore(asha.Records());
        Assert.Null(resumed.Report(0, 10, V((1, 1)))); // trial 0's rung 1 was decided before the restart
        Assert.Equal(1, resumed.Report(1, 10, V((1, 2)))); // 2 there, keeps 1
        Assert.Null(resumed.Report(2, 10, V((1, 0.5))));
    }
}
