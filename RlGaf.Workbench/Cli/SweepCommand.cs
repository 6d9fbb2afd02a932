using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RlGaf.Workbench.Api;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Sweeps;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Cli;

/// <summary>The sweep verb's options (parsed by <see cref="SweepCommand.Parse"/>; the verb's logic never sees the parser).</summary>
public sealed record SweepOptions(string Config, string? Executor, int? MaxParallel, string? OutDir, bool Json, string DataRoot);

/// <summary>
/// sweep: runs a sweep file to its end in this process, in the data root's store (the runs list in the
/// workbench afterwards), then writes the results. The sweep persists under DATA/sweeps like one started
/// from the page; a workbench serving the data root is asked to run it instead (the store has one writer).
/// </summary>
internal static class SweepCommand
{
    public const string Summary = "run a sweep (W&B sweep format): sweep --config FILE [--executor local|slurm] [--max-parallel K] [--out DIR] [--json]";

    public static int Run(ArgParser args) => Execute(Parse(args));

    public static SweepOptions Parse(ArgParser args)
    {
        var options = new SweepOptions(args.Required("--config"), args.String("--executor"), args.Int("--max-parallel", 1, 1024),
            args.String("--out"), args.Flag("--json"),
            WorkbenchPaths.DataRoot(args.String("--data-root") ?? WorkbenchPaths.CommandLineConfiguration()["RlGaf:DataRoot"]));
        args.EnsureAllUsed();
        return options;
    }

    public static int Execute(SweepOptions o)
    {
        if (!File.Exists(o.Config)) throw new UsageException($"--config: file '{o.Config}' does not exist.");
        if (o.Executor is { } e && !TrialExecutors.Names.Contains(e))
            throw new UsageException($"--executor: '{e}' is not available in this build (executors: {string.Join(", ", TrialExecutors.Names)}).");
        if (o.OutDir is not null) RunExport.CheckTarget(o.OutDir);
        var text = File.ReadAllText(o.Config);
        var request = new SweepRequest(text, o.Config, o.Executor, o.MaxParallel, Path.GetDirectoryName(Path.GetFullPath(o.Config)));
        using (var client = WorkbenchClient.For(o.DataRoot))
            if (client is not null)
                throw new UsageException($"{client.Describe()} serves {o.DataRoot}: start the sweep there (the Sweeps page, or POST {SweepsApi.Prefix} with the file as the body). Nothing was started.");

        var config = WorkbenchPaths.CommandLineConfiguration();
        var presets = new RunViews(config.GetSection("RlGaf:PresetOverrides").GetChildren().ToDictionary(c => c.Key, c => c.Value ?? ""));
        bool rebuild = bool.TryParse(config[RunStore.RebuildKey], out var r) && r;
        RunStore store;
        try { store = new RunStore(o.DataRoot, StoreLock.Acquire(o.DataRoot, "sweep"), rebuild); }
        catch (StoreLockException ex) { throw new UsageException($"{ex.Message} Nothing was done."); }
        using var _ = store;
        // The command line reads the paths its user gives, as train does: the data-root policy guards the web app only.
        var paths = new PathPolicy([Path.GetPathRoot(Path.GetFullPath(o.Config))!]);
        int slots = o.MaxParallel ?? 1;
        using var host = new TrainingHost(store, new RunNotifier(), paths, Options.Create(new WorkbenchOptions { MaxConcurrentRuns = Math.Max(slots, 1) }), NullLogger<TrainingHost>.Instance);
        host.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        using var sweeps = new SweepService(new SweepStore(o.DataRoot), host, presets.Preset);
        // Sweeps this data root had running are resumed too (a previous sweep verb cut off).
        sweeps.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        var sweep = sweeps.Create(request);
        Console.Error.WriteLine($"sweep {sweep.Id}: {sweep.Name}, {sweeps.Get(sweep.Id)!.Value.Trials.Count} trial(s) on executor {sweep.Executor}, {sweep.MaxParallel} at a time; folder {sweeps.Store.Dir(sweep.Id)}");
        string last = "";
        sweeps.Changed += id =>
        {
            if (id != sweep.Id || sweeps.Get(id) is not { } x) return;
            var line = string.Join(", ", x.Trials.GroupBy(t => t.State).OrderBy(g => g.Key).Select(g => $"{g.Count()} {SweepView.Kebab(g.Key)}"));
            if (line != last) Console.Error.WriteLine($"  {DateTime.Now:HH:mm:ss} {line}");
            last = line;
        };
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, a) => { a.Cancel = true; try { sweeps.Cancel(sweep.Id, "Ctrl+C on the command line"); } catch (InvalidOperationException) { } };
        Console.CancelKeyPress += onCancel;
        try { sweeps.Wait(sweep.Id, Timeout.InfiniteTimeSpan); }
        finally { Console.CancelKeyPress -= onCancel; }
        var (done, trials) = sweeps.Get(sweep.Id)!.Value;
        host.StopAsync(CancellationToken.None).GetAwaiter().GetResult();

        var detail = SweepsApi.Detail(done, trials);
        var json = JsonSerializer.Serialize(detail, SweepStore.Json);
        if (o.OutDir is not null)
        {
            Directory.CreateDirectory(o.OutDir);
            File.Copy(Path.Combine(sweeps.Store.Dir(sweep.Id), SweepStore.SweepFile), Path.Combine(o.OutDir, SweepStore.SweepFile), overwrite: true);
            File.Copy(Path.Combine(sweeps.Store.Dir(sweep.Id), SweepStore.TrialsFile), Path.Combine(o.OutDir, SweepStore.TrialsFile), overwrite: true);
            File.WriteAllText(Path.Combine(o.OutDir, "results.json"), json);
            if (SweepResults.Best(done, trials) is { } b) File.WriteAllText(Path.Combine(o.OutDir, "best-config.json"), b.SettingsJson);
        }
        if (o.Json) Console.WriteLine(json);
        else
        {
            Console.WriteLine($"sweep {done.Id}: {SweepView.Kebab(done.Status)}: {done.Message}");
            foreach (var t in trials)
                Console.WriteLine($"  #{t.Index,-3} {SweepView.Kebab(t.State),-9} {SweepPlanner.Describe(t.Parameters)} seed={t.Seed}  {done.MetricName} last={Fmt(t.Last)} best={Fmt(t.Best(done.Goal))}" +
                                  (t.Reason is { } why && t.State != TrialState.Completed ? $"  ({why})" : ""));
        }
        return done.Status == SweepStatus.Completed ? 0 : 1;
    }

    private static string Fmt(double? v) => v is { } x ? x.ToString("G5", System.Globalization.CultureInfo.InvariantCulture) : "-";
}
