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
    /// <summary>
    /// The token that pages, API, hub and files require. Unset: generated at each start and printed in the
    /// address the log shows (loopback only). "": no token (loopback only, logged as a warning). Listening
    /// beyond loopback needs one set here, at least 16 characters. Read raw by WorkbenchHost, so "" and unset differ.
    /// </summary>
    public string? AccessToken { get; set; }
    /// <summary>Host names the workbench answers to besides loopback names and its listen addresses ("*": any); others get 403.</summary>
    public string[] AllowedHosts { get; set; } = [];
    /// <summary>How sweeps and the eval suite submit trials to Slurm (docs/cluster.md).</summary>
    public Cluster.SlurmOptions Slurm { get; set; } = new();
}
