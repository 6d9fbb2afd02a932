namespace RlGaf.Workbench.Cli;

/// <summary>The headless verbs of the workbench executable.</summary>
public static class CommandLine
{
    private static readonly Dictionary<string, (string Summary, Func<ArgParser, int> Run)> Verbs = new()
    {
        ["pretrain"] = (PretrainCommand.Summary, PretrainCommand.Run),
        ["sample"] = (SampleCommand.Summary, SampleCommand.Run),
        ["train"] = (TrainCommand.TrainSummary, TrainCommand.Train),
        ["resume"] = (TrainCommand.ResumeSummary, TrainCommand.Resume),
        ["runs"] = (TrainCommand.RunsSummary, TrainCommand.Runs),
        ["export"] = (TrainCommand.ExportSummary, TrainCommand.Export),
        ["eval-squad"] = (EvalSquadCommand.Summary, EvalSquadCommand.Run),
        ["bench"] = (BenchCommand.Summary, BenchCommand.Run),
        ["eval"] = (EvalCommand.Summary, EvalCommand.Run),
        ["sweep"] = (SweepCommand.Summary, SweepCommand.Run),
    };

    /// <summary>True when the first argument names a verb (or asks for help); otherwise the web app starts.</summary>
    public static bool IsVerb(string[] args) =>
        args.Length > 0 && (Verbs.ContainsKey(args[0]) || args[0] is "help" or "--help" or "-h");

    public static int Run(string[] args)
    {
        if (args[0] is "help" or "--help" or "-h")
        {
            PrintHelp();
            return 0;
        }
        var (_, run) = Verbs[args[0]];
        try
        {
            return run(new ArgParser(args.Skip(1)));
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"error: {args[0]}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is KeyNotFoundException or ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or Engine.Runtime.TorchRuntimeException
                                   or Storage.StoreCorruptException)
        {
            Console.Error.WriteLine($"error: {args[0]}: {e.Message}");
            return 1;
        }
    }

    private static void PrintHelp()
    {
        Console.WriteLine("usage: RlGaf.Workbench [<verb> [options]]   (no verb: serve the web workbench)");
        foreach (var (name, (summary, _)) in Verbs) Console.WriteLine($"  {name,-10} {summary}");
    }
}
