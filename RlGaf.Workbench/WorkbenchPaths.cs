namespace RlGaf.Workbench;

/// <summary>Where the workbench keeps its data: one rule for the web app and the command line.</summary>
public static class WorkbenchPaths
{
    /// <summary>
    /// The data root: RlGaf:DataRoot from appsettings.json (or RLGAF__DATAROOT / --data-root);
    /// a relative path is taken next to the application, so every way of starting it finds the same runs.
    /// </summary>
    public static string DataRoot(string? configured) =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(configured) ? "data" : configured, AppContext.BaseDirectory);

    /// <summary>appsettings.json (+ environment variables) as the command line reads it.</summary>
    public static IConfiguration CommandLineConfiguration() =>
        new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .Build();
}
