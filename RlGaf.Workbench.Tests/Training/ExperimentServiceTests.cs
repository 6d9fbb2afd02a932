using RlGaf.Engine.Experiments;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Training;

/// <summary>The service's contract without training anything: bad options refused up front, a failing suite reported, not fatal.</summary>
public class ExperimentServiceTests
{
    [Fact]
    public void Bad_options_are_refused_before_a_thread_starts()
    {
        using var service = new ExperimentService();
        var e = Assert.Throws<ArgumentException>(() => service.Start(new SuiteOptions { Suite = "nope" }));
        Assert.Contains("--suite", e.Message);
        Assert.Empty(service.Jobs);
    }

    [Fact]
    public async Task A_failing_suite_ends_as_failed_with_its_reason()
    {
        using var service = new ExperimentService();
        var outDir = Path.Combine(Path.GetTempPath(), $"rlgaf-exp-{Guid.NewGuid():N}");
        var done = new TaskCompletionSource<ExperimentJob>(TaskCreationOptions.RunContinuationsAsynchronously);
        service.Changed += j => { if (j.Status != ExperimentStatus.Running) done.TrySetResult(j); };
        var job = service.Start(new SuiteOptions
        {
            Seeds = 1, Methods = ["sft"], StepsBudget = 1, OutDir = outDir,
            Adjust = s => s with { Generator = Path.Combine(outDir, "no-such-model") },
        });
        Assert.Equal(1, job.RunsTotal);
        var ended = await done.Task.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Same(job, ended);
        Assert.Equal(ExperimentStatus.Failed, ended.Status);
        Assert.Contains("no-such-model", ended.Error);
        Assert.Null(ended.ResultsMarkdownPath);
        Assert.Same(job, service.Get(job.Id));
        try { Directory.Delete(outDir, true); } catch (IOException) { }
    }
}
