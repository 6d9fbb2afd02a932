using System.Text.Json.Serialization;
using RlGaf.Engine.Runs;

namespace RlGaf.Workbench.Sweeps;

public enum SweepStatus { Running, Completed, Cancelled, Failed }

/// <summary>A sweep as its folder keeps it (sweep.json): what it searches and where it stands.</summary>
public sealed class SweepRecord
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public string? Description { get; set; }
    public DateTime CreatedUtc { get; set; }
    public DateTime UpdatedUtc { get; set; }
    public SweepStatus Status { get; set; }
    public string? Message { get; set; }
    public string Executor { get; set; } = "local";
    public int MaxParallel { get; set; } = 1;
    public SweepMethod Method { get; set; }
    public string MetricName { get; set; } = "";
    public MetricGoal Goal { get; set; }
    public int? AshaMinIter { get; set; }
    public int? AshaEta { get; set; }
    public string Base { get; set; } = "";
    public List<int> Seeds { get; set; } = [];
    public List<string> ParameterKeys { get; set; } = [];
    /// <summary>The sweep file as given (YAML or JSON).</summary>
    public string Source { get; set; } = "";
    /// <summary>ASHA's values at each rung, in arrival order, so a resumed sweep ranks new trials against them.</summary>
    public List<AshaRecord> Rungs { get; set; } = [];

    [JsonIgnore] public SweepMetric Metric => new(MetricName, Goal);
    [JsonIgnore] public EarlyTermination? EarlyTerminate => AshaMinIter is { } m && AshaEta is { } e ? new(m, e) : null;
    [JsonIgnore] public bool Ended => Status != SweepStatus.Running;
}

/// <summary>A trial as trials.json keeps it: its spec, its executor's handle and what it reported last.</summary>
public sealed class TrialRecord
{
    public int Index { get; set; }
    public int ConfigIndex { get; set; }
    public int Seed { get; set; }
    public Dictionary<string, string> Parameters { get; set; } = [];
    public string SettingsJson { get; set; } = "";
    public string OutDir { get; set; } = "";
    public TrialState State { get; set; } = TrialState.Planned;
    public TrialHandle? Handle { get; set; }
    public string? RunId { get; set; }
    public int Step { get; set; }
    public int TotalSteps { get; set; }
    public string? Reason { get; set; }
    /// <summary>The rung ASHA stopped it at (null: not stopped by ASHA).</summary>
    public int? StoppedAtRung { get; set; }
    public List<MetricValue> Metric { get; set; } = [];

    [JsonIgnore] public bool Ended => State is TrialState.Completed or TrialState.Failed or TrialState.Stopped;
    [JsonIgnore] public double? Last => Metric.Count > 0 ? Metric[^1].Value : null;

    public double? Best(MetricGoal goal) => Metric.Count == 0 ? null : goal == MetricGoal.Minimize ? Metric.Min(m => m.Value) : Metric.Max(m => m.Value);

    public TrialSpec ToSpec(string sweepId) =>
        new(sweepId, Index, ConfigIndex, Seed, Parameters, RunSettings.FromJson(SettingsJson, $"trial {Index}"), OutDir);

    public static TrialRecord From(TrialSpec t) => new()
    {
        Index = t.Index, ConfigIndex = t.ConfigIndex, Seed = t.Seed, Parameters = new(t.Parameters), SettingsJson = t.Settings.ToJson(),
        OutDir = t.OutDir, TotalSteps = t.Settings.Steps,
    };

    public TrialRecord Copy()
    {
        var c = (TrialRecord)MemberwiseClone();
        c.Metric = [.. Metric];
        return c;
    }
}
