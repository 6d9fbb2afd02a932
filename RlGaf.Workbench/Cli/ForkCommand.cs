using RlGaf.Engine.Runs;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Cli;

/// <summary>What `train --fork RUN_ID@STEP [--set key=value ...]` asks for.</summary>
internal sealed record ForkOptions(string ParentId, int Step, IReadOnlyList<(string Key, string Value)> Changes, string? Name, string? OutDir, bool Json, string DataRoot);

/// <summary>
/// train --fork: a new run from a kept checkpoint of another run, with settings changed, trained here (or by
/// the workbench serving the data root, followed here), as `train` does.
/// </summary>
internal static class ForkCommand
{
    /// <summary>Parses the --fork form of train (the other train options do not apply to it).</summary>
    public static ForkOptions Parse(string fork, ArgParser args, string dataRoot)
    {
        int at = fork.LastIndexOf('@');
        if (at <= 0 || !int.TryParse(fork[(at + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int step))
            throw new UsageException($"--fork: '{fork}' is not RUN_ID@STEP (the step of a kept checkpoint, e.g. 20261127-015007-eb95@100).");
        foreach (var other in new[] { "--preset", "--config", "--data", "--stop-at", "--seed" })
            if (args.String(other) is not null) throw new UsageException($"{other}: not with --fork (a fork takes its parent's settings; change them with --set key=value).");
        var changes = new List<(string, string)>();
        foreach (var kv in args.Many("--set"))
        {
            int eq = kv.IndexOf('=');
            if (eq <= 0) throw new UsageException($"--set: '{kv}' is not key=value.");
            changes.Add((kv[..eq].Trim(), kv[(eq + 1)..].Trim()));
        }
        if (args.Int("--steps", 1) is { } steps) changes.Add(("steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (args.String("--device") is { } device) changes.Add(("device", device));
        if (args.Int("--threads", 0) is { } threads) changes.Add(("threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var options = new ForkOptions(fork[..at], step, changes, args.String("--name"), args.String("--out"), args.Flag("--json"), dataRoot);
        args.EnsureAllUsed();
        return options;
    }

    public static int Run(ForkOptions o)
    {
        if (o.OutDir is not null) RunExport.CheckTarget(o.OutDir);
        using (var client = WorkbenchClient.For(o.DataRoot))
        {
            if (client is not null)
            {
                var view = client.Fork(o.ParentId, o.Step, o.Changes, o.Name);
                var s = RunSettings.FromJson(client.SettingsJson(view.Id), $"run {view.Id}");
                Console.Error.WriteLine($"{client.Describe()} serves {o.DataRoot}: run {view.Id} ({view.Name}) forked from {o.ParentId} at step {o.Step} trains there, " +
                                        $"see {client.BaseUrl}/runs/{view.Id}; following it here (Ctrl+C stops following, not the run)");
                return TrainCommand.Follow(client, view.Id, s.Steps, s.EvalEvery, o.DataRoot, o.OutDir, o.Json);
            }
        }
        using var store = TrainCommand.OpenStore(o.DataRoot, "train");
        var parent = store.Get(o.ParentId) ?? throw new UsageException($"--fork: run '{o.ParentId}' is not in {store.DataRoot} (see 'runs').");
        RunSettings settings;
        try { settings = RunFork.Settings(RunFork.ParentSettings(RunFork.RequireCheckpoint(parent.RunDir, parent.Id, o.Step).Path), o.Step, o.Changes); }
        catch (ArgumentException e) { throw new UsageException($"--fork: {e.Message} Nothing was started."); }
        var record = store.Create(settings, o.Name ?? $"{parent.Name} (fork @{o.Step})");
        try { RunFork.Prepare(parent.RunDir, parent.Id, o.Step, record.RunDir, settings); }
        catch
        {
            store.Delete(record.Id);
            throw;
        }
        record.Parent = parent.Id;
        record.ForkStep = o.Step;
        record.Step = o.Step;
        store.Update(record);
        store.Lock.SetRun(record.Id);
        using var run = AdversarialRun.Open(record.RunDir, store.ModelsRoot);
        Console.Error.WriteLine($"run {record.Id}: {record.Name}, forked from {parent.Id} at step {o.Step}, trains to step {settings.Steps} in {record.RunDir}");
        return TrainCommand.Execute(run, store, record.Id, null, o.OutDir, o.Json);
    }
}
