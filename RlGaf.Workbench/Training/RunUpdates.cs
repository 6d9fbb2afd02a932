using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Training;

/// <summary>Something a run published: what the notifier fans out to pages and the SignalR hub.</summary>
public abstract record RunUpdate(string RunId)
{
    /// <summary>When it was published (the server's clock): clients measure how late it reaches them.</summary>
    public DateTime TimeUtc { get; init; } = DateTime.UtcNow;
}

/// <summary>The metrics logged at one step.</summary>
public sealed record MetricsUpdate(string RunId, int Step, IReadOnlyDictionary<string, double> Values) : RunUpdate(RunId);

/// <summary>Samples stored at an evaluation.</summary>
public sealed record SamplesUpdate(string RunId, IReadOnlyList<SampleView> Samples) : RunUpdate(RunId);

/// <summary>A run event (setting change, pause, collapse alert...).</summary>
public sealed record EventUpdate(string RunId, EventView Event) : RunUpdate(RunId);

/// <summary>A status change; also sent when a run is created (Queued) or deleted (<see cref="Deleted"/>).</summary>
public sealed record StatusUpdate(string RunId, RunStatus Status, string? Message, int Step, bool Deleted = false) : RunUpdate(RunId);

/// <summary>The run continued from its checkpoint at <see cref="Step"/>: anything logged after that step is void (the store drops it; charts must too).</summary>
public sealed record RolledBackUpdate(string RunId, int Step) : RunUpdate(RunId);

/// <summary>A long phase's progress (pretraining, reward model, discriminator pretraining, evaluation); Done ends it.</summary>
public sealed record PhaseUpdate(string RunId, PhaseProgress Progress) : RunUpdate(RunId);

/// <summary>The run's tags or note changed.</summary>
public sealed record LabelsUpdate(string RunId, IReadOnlyList<string> Tags, string Note) : RunUpdate(RunId);

/// <summary>One stored sample as pages and clients see it.</summary>
public sealed record SampleView(int Step, int PromptIndex, string Prompt, string Completion, double DiscScore, double Reward, string? Verdict)
{
    public static SampleView From(SampleRecord s) => new(s.Step, s.PromptIndex, s.Prompt, s.Completion, s.DiscScore, s.Reward, s.Verdict);
    public static SampleView From(SampleDoc s) => new(s.Step, s.PromptIndex, s.Prompt, s.Completion, s.DiscScore, s.Reward, s.Verdict);
}

/// <summary>One run event as pages and clients see it.</summary>
public sealed record EventView(int Step, string Kind, string Message, string? Setting, string? OldValue, string? NewValue, DateTime TimeUtc)
{
    public static EventView From(RunEvent e) => new(e.Step, e.Kind, e.Message, e.Setting, e.OldValue, e.NewValue, e.Time.UtcDateTime);
    public static EventView From(EventDoc e) => new(e.Step, e.Kind, e.Message, e.Setting, e.OldValue, e.NewValue, e.TimeUtc);
}
