using RlGaf.Engine.Data;

namespace RlGaf.Workbench.Cli;

/// <summary>eval-squad: the official SQuAD v2.0 evaluation of a predictions file.</summary>
internal static class EvalSquadCommand
{
    public const string Summary = "official SQuAD v2.0 EM/F1: eval-squad --data DEV.json --predictions PRED.json [--json] [--skip-missing]";

    public static int Run(ArgParser args)
    {
        string data = args.Required("--data");
        string predictions = args.Required("--predictions");
        bool json = args.Flag("--json");
        // Default: a question without a prediction scores 0 and counts in every total. --skip-missing
        // leaves it out of the totals, as the official script's overall figures do.
        bool skip = args.Flag("--skip-missing");
        args.EnsureAllUsed();
        var dataset = SquadLoader.Load(data);
        var preds = SquadEvaluation.ReadPredictions(predictions);
        var scores = SquadEvaluation.Evaluate(dataset, preds, skip ? MissingPredictions.Skip : MissingPredictions.ScoreZero);
        foreach (var id in scores.MissingIds) Console.Error.WriteLine($"Missing prediction for {id}");
        if (json)
        {
            Console.WriteLine(scores.ToJson(indented: false));
            return 0;
        }
        Console.WriteLine(scores.ToJson(indented: true));
        return 0;
    }
}
