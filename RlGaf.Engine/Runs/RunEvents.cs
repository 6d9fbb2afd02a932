namespace RlGaf.Engine.Runs;

/// <summary>Where a run stands.</summary>
public enum RunStatus { Queued, Pretraining, Running, Paused, Completed, Failed, Interrupted, Stopped }

/// <summary>Kinds of run events (drawn as marked vertical lines on the charts).</summary>
public static class RunEventKinds
{
    public const string Setting = "setting";
    public const string Pause = "pause";
    public const string Resume = "resume";
    public const string Stop = "stop";
    public const string Collapse = "collapse";
    public const string NonFinite = "non-finite";
    public const string Phase = "phase";
    public const string Checkpoint = "checkpoint";
    /// <summary>A checkpoint could not be written (disk full, say): the run pauses, the last good one stays.</summary>
    public const string CheckpointFailed = "checkpoint-failed";
    public const string Restart = "restart";
    /// <summary>A run forked from another run's checkpoint starts (at the fork step).</summary>
    public const string Fork = "fork";
}

/// <summary>Something that happened in a run at a step: a setting change (with old and new value), a pause, an alert...</summary>
public sealed record RunEvent(int Step, string Kind, string Message, string? Setting = null, string? OldValue = null, string? NewValue = null)
{
    public DateTimeOffset Time { get; init; } = DateTimeOffset.UtcNow;
}
