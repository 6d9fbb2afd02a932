using RlGaf.Workbench;
using RlGaf.Workbench.Cli;

// One executable, two faces: with a verb it is the headless command-line tool,
// without one it serves the workbench.
if (CommandLine.IsVerb(args))
    return CommandLine.Run(args);

WebApplication app;
try { app = WorkbenchHost.Build(args); }
catch (RlGaf.Workbench.Security.StartupRefusedException e)
{
    Console.Error.WriteLine($"rlgaf: {e.Message}");
    return 2;
}
catch (RlGaf.Workbench.Storage.StoreLockException e)
{
    Console.Error.WriteLine($"rlgaf: refusing to start: {e.Message}");
    return 2;
}
catch (RlGaf.Workbench.Storage.StoreCorruptException e)
{
    Console.Error.WriteLine($"rlgaf: {e.Message}");
    return 2;
}
app.Run();
return 0;

/// <summary>Visible to tests (WebApplicationFactory&lt;Program&gt;).</summary>
public partial class Program;
