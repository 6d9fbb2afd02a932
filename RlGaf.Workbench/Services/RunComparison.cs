using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Services;

/// <summary>One held-out prompt completed by each compared run (null where a run has no sample for it).</summary>
public sealed record PromptRow(int PromptIndex, string Prompt, IReadOnlyList<SampleView?> ByRun);

/// <summary>What the Compare page shows for 2-4 runs: metric overlays, the settings that differ, the same prompts side by side.</summary>
public sealed class RunComparison
{
    public IReadOnlyList<RunRecord> Runs { get; }
    public IReadOnlyList<(string Key, IReadOnlyList<string> Values)> SettingsDiff { get; }
    public IReadOnlyList<string> MetricNames { get; }
    /// <summary>The evaluation step whose samples are shown per run (its newest).</summary>
    public IReadOnlyList<int?> SampleSteps { get; }
    public IReadOnlyList<PromptRow> Prompts { get; }
    private readonly IReadOnlyList<IReadOnlyList<MetricPoint>> _metrics;

    public RunComparison(RunStore store, IReadOnlyList<string> ids)
    {
        Runs = ids.Select(id => store.Get(id) ?? throw new KeyNotFoundException($"run '{id}' does not exist.")).ToList();
        SettingsDiff = RunViews.Diff(Runs.Select(r => RunSettings.FromJson(r.SettingsJson)).ToList());
        _metrics = Runs.Select(r => store.GetMetrics(r.Id)).ToList();
        MetricNames = _metrics.SelectMany(ms => ms.SelectMany(p => p.Values.Keys)).Distinct().Order(StringComparer.Ordinal).ToList();

        var samples = Runs.Select(r => store.GetSamples(r.Id)).ToList();
        SampleSteps = samples.Select(s => s.Count == 0 ? (int?)null : s.Max(x => x.Step)).ToList();
        var latest = samples.Select((s, i) => s.Where(x => x.Step == SampleSteps[i]).ToDictionary(x => x.PromptIndex, SampleView.From)).ToList();
        Prompts = latest.SelectMany(d => d.Keys).Distinct().Order()
            .Select(pi => new PromptRow(pi, latest.Select(d => d.GetValueOrDefault(pi)).FirstOrDefault(x => x is not null)?.Prompt ?? "",
                latest.Select(d => d.GetValueOrDefault(pi)).ToList()))
            .ToList();
    }

    /// <summary>One metric of run <paramref name="index"/> as (step, value) points.</summary>
    public IReadOnlyList<(int Step, double Value)> Series(int index, string metric) =>
        _metrics[index].Where(p => p.Values.ContainsKey(metric)).Select(p => (p.Step, p.Values[metric])).ToList();
}
