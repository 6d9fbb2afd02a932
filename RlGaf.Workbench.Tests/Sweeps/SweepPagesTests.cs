using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MudBlazor;
using MudBlazor.Services;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Components.Pages.Sweeps;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Sweeps;
using RlGaf.Workbench.Tests.Infrastructure;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Sweeps;

/// <summary>bUnit: the Sweeps pages over a sweep folder the test writes (the host is not started: nothing trains).</summary>
public sealed class SweepPagesTests : IAsyncLifetime
{
    private readonly BunitContext _ctx = new();
    private readonly string _data = TestApp.NewDataRoot();
    private RunStore? _store;
    private TrainingHost? _host;
    private SweepService? _sweeps;

    public Task InitializeAsync()
    {
        _ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        _ctx.Services.AddMudServices();
        _store = new RunStore(_data);
        _host = new TrainingHost(_store, new RunNotifier(), new PathPolicy([_data]), Options.Create(new WorkbenchOptions { DataRoot = _data }), NullLogger<TrainingHost>.Instance);
        _sweeps = new SweepService(new SweepStore(_data), _host, Presets.Get);
        _ctx.Services.AddSingleton(_host);
        _ctx.Services.AddSingleton(_sweeps);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _ctx.DisposeAsync();
        _sweeps?.Dispose();
        _host?.Dispose();
        _store?.Dispose();
        TestApp.TryDelete(_data);
    }

    /// <summary>A finished sweep: 3 configurations x 2 seeds of gen_lr / disc_loss, one stopped by ASHA.</summary>
    private string WriteSweep()
    {
        var store = new SweepStore(_data);
        var id = store.NewId();
        var trials = new List<TrialRecord>();
        double[] last = [3, 5, 2, 2.4, 9, 8];
        for (int i = 0; i < 6; i++)
        {
            int config = i / 2;
            var p = new Dictionary<string, string> { ["gen_lr"] = $"0.00{config + 1}", ["disc_loss"] = config == 1 ? "rsgan" : "bce" };
            trials.Add(new TrialRecord
            {
                Index = i, ConfigIndex = config, Seed = i % 2 + 1, Parameters = p, State = i == 5 ? TrialState.Stopped : TrialState.Completed,
                StoppedAtRung = i == 5 ? 2 : null, Reason = i == 5 ? "stopped by ASHA at step 2" : null, Step = i == 5 ? 2 : 4, TotalSteps = 4,
                SettingsJson = (new RunSettings { GenLr = 0.001 * (config + 1), Seed = i % 2 + 1, Steps = 4 }).ToJson(),
                Metric = [new(2, last[i] + 1), new(4, last[i])], OutDir = Path.Combine(store.Dir(id), "trials", i.ToString("D4")),
            });
        }
        store.Save(new SweepRecord
        {
            Id = id, Name = "lr-sweep", Status = SweepStatus.Completed, Message = "5 completed, 1 stopped early, 0 failed", CreatedUtc = DateTime.UtcNow,
            MetricName = "oracle/nll", Goal = MetricGoal.Minimize, ParameterKeys = ["gen_lr", "disc_loss"], Seeds = [1, 2], Base = "defaults",
        }, trials);
        return id;
    }

    [Fact]
    public void A_pasted_file_with_an_error_is_refused_naming_its_line_and_the_form_writes_a_valid_file()
    {
        _ctx.Render<MudPopoverProvider>();
        var cut = _ctx.Render<SweepsPage>();
        Assert.NotNull(cut.Find("#no-sweeps"));
        cut.Find("textarea#sweep-text").Change("method: grid\nmetric: {name: oracle/nll}\nparameters:\n  gen_lrr: {values: [0.001]}\n");
        cut.Find("#start-sweep").Click();
        Assert.Contains("sweep file: line 4: parameters.gen_lrr: not a setting", cut.Find("#sweep-error").TextContent);
        Assert.Empty(_sweeps!.List());

        cut.Find("#generate-sweep").Click();
        var text = cut.Find("textarea#sweep-text").GetAttribute("value") ?? cut.Find("textarea#sweep-text").TextContent;
        Assert.Contains("gumbel_tau: {values: [0.5, 1.0]}", text);
        var parsed = SweepFileParser.Parse(text, "form", Presets.Get);
        Assert.Equal(8, SweepPlanner.Trials(parsed, "x", "/tmp/x").Count); // 2 tau x 2 d_steps x 2 seeds
    }

    [Fact]
    public void The_sweep_page_shows_trials_best_configuration_importance_and_filters_and_sorts()
    {
        var id = WriteSweep();
        _ctx.Render<MudPopoverProvider>();
        var list = _ctx.Render<SweepsPage>();
        Assert.Contains("lr-sweep", list.Find(".sweep-link").TextContent);
        Assert.Contains("6 / 6 ended", list.Find("#sweeps-table").TextContent);

        var cut = _ctx.Render<SweepPage>(p => p.Add(x => x.Id, id));
        Assert.Equal(6, cut.FindAll(".trial-index").Count);
        // Best: configuration 1, mean of 2 and 2.4 = 2.2 (config 0: 4; config 2 has one completed seed: 9).
        Assert.Contains("Best configuration #1", cut.Find("#best-configuration").TextContent);
        Assert.Contains("2.2", cut.Find("#best-configuration").TextContent);
        Assert.Equal(2, cut.Find("#importance-table").QuerySelectorAll("tbody tr").Length);

        cut.Find("input#trial-filter").Input("stopped");
        Assert.Equal(["5"], cut.FindAll(".trial-index").Select(e => e.TextContent.Trim()));
        cut.Find("input#trial-filter").Input("");
        cut.Find("#sort-best").Click(); // ascending best
        Assert.Equal(["2", "3", "0", "1", "5", "4"], cut.FindAll(".trial-index").Select(e => e.TextContent.Trim()));

        cut.Find("#new-run-from-best").Click();
        var run = Assert.Single(_store!.List());
        Assert.Equal(0.002, RunSettings.FromJson(run.SettingsJson).GenLr);
        Assert.EndsWith($"runs/{run.Id}", _ctx.Services.GetRequiredService<NavigationManager>().Uri);
    }
}
