using RlGaf.Engine.Benchmarks;
using RlGaf.Engine.Runtime;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Benchmarks;

/// <summary>bench --memory's tiny MLE figures, on a run short enough for a test (no memory targets asserted: RSS depends on what else the process runs).</summary>
public class MemoryBenchTests
{
    [Fact]
    public void Tiny_mle_reports_where_the_largest_reading_came_from()
    {
        var o = MemoryBenchOptions.QuickDefaults(new MemoryBenchOptions()) with { FirstStep = 10, Steps = 35, PpoLayers = 0 };
        var report = MemoryBench.Run(o, CPU);
        double Fig(string key) => report.Figures.Single(f => f.Key == $"memory/tiny_mle/{key}").Value;

        double max = Fig("rss_max_mb"), afterTrim = Fig("rss_max_after_trim_mb"), step = Fig("rss_max_step");
        Assert.InRange(step, o.FirstStep, o.Steps);
        Assert.Equal(Math.Floor(step), step);
        Assert.True(afterTrim > 0, "no reading right after a trim (steps 10, 20, 30)");
        // The after-trim readings are a subset of all readings: their maximum cannot exceed the overall one,
        // and equals it exactly when the overall maximum was itself read right after a trim.
        Assert.True(afterTrim <= max, $"after-trim max {afterTrim} > overall max {max}");
        if (step % NativeHeap.TrimEverySteps == 0) Assert.Equal(max, afterTrim);
        double p95 = Fig("rss_p95_mb"), over = Fig("rss_readings_over_600mb");
        Assert.True(p95 > 0 && p95 <= max, $"p95 {p95} is not one of the readings (max {max})");
        Assert.InRange(over, 0, o.Steps - o.FirstStep + 1);
        if (max <= 600) Assert.Equal(0, over);
        if (NativeHeap.Stats() is not null) // glibc: the heap split is reported at the last trim cycle
            foreach (var when in new[] { "before_trim", "after_trim" })
            {
                Assert.True(Fig($"heap_{when}/in_use_mb") > 0, $"no heap in use {when}");
                Assert.True(Fig($"heap_{when}/free_held_mb") >= 0);
                Assert.True(Fig($"heap_{when}/mmapped_mb") >= 0);
            }
        Assert.DoesNotContain(report.Figures, f => f.Key.StartsWith("memory/ppo", StringComparison.Ordinal));
    }
}
