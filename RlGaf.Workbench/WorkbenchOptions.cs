namespace RlGaf.Workbench;

/// <summary>The "RlGaf" section of appsettings.json.</summary>
public sealed class WorkbenchOptions
{
    /// <summary>auto | cpu | cuda.</summary>
    public string Device { get; set; } = "auto";
    /// <summary>libtorch intra-op threads; 0 = libtorch's default (all cores).</summary>
    public int Threads { get; set; }
    /// <summary>Folder for the database, models and checkpoints; relative paths are under the app's content root.</summary>
    public string DataRoot { get; set; } = "data";
    /// <summary>Folders that paths typed into the UI or API (generator, disc_checkpoint, dataset) may point into; empty = the data root only.</summary>
    public string[] DataRoots { get; set; } = [];
    /// <summary>How many runs train at once (each on its own thread).</summary>
    public int MaxConcurrentRuns { get; set; } = 1;
    /// <summary>Settings applied on top of every preset (key → value), e.g. a small generator directory for demos and tests.</summary>
    public Dictionary<string, string> PresetOverrides { get; set; } = [];
    /// <summary>When rlgaf.db cannot be opened: move it aside (rlgaf.db.corrupt-TIMESTAMP) and rebuild the run list from the run folders.</summary>
    public bool RebuildStore { get; set; }
    /// <summary>Required to listen on anything but loopback; when set, pages, API and hub all require it.</summary>
    public string? AccessToken { get; set; }
}
