using RlGaf.Workbench;
using RlGaf.Workbench.Cli;

// One executable, two faces: with a verb it is the headless command-line tool,
// without one it serves the workbench.
if (CommandLine.IsVerb(args))
    return CommandLine.Run(args);

var app = WorkbenchHost.Build(args);
app.Run();
return 0;
