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
}
