using System.Text.Json;
using RlGaf.Engine.Experiments;

namespace RlGaf.Workbench.Cli;

/// <summary>eval: the paper's comparison (SFT, RLHF proxy, RLGAF variants) over several seeds, with results.md and PNG plots.</summary>
internal static class EvalCommand
{
    public const string Summary = "compare methods on equal generator updates: eval --suite synthetic-reviews|imdb|squad [--seeds N] [--steps-budget N] " +
                                  "[--out DIR] [--json] [--data PATH] [--methods a,b,...] [--threads N] [--set key=value ...] (--set applies to every run, e.g. pretrain_steps=300) [--executor local|slurm] [--max-parallel K] (local: K worker processes on this machine; slurm: one array task per run, RlGaf:Slurm, docs/cluster.md); " +
                                  "eval --resume DIR [--max-parallel K] [--json] continues an interrupted suite (finished runs kept, the cut-off run from its checkpoint)";

    public static int Run(ArgParser args)
    {
        if (args.String("--resume") is { } resumeDir)
        {
            bool asJson = args.Flag("--json");
            int workers = args.Int("--max-parallel", 1, 64) ?? 1;
            string? worker = args.String("--worker");
            bool exitWithParent = args.Flag("--exit-with-parent");
            if (exitWithParent && worker is null) throw new UsageException("--exit-with-parent: only a helper (--worker I/K) follows its parent.");
            args.EnsureAllUsed(); // everything else is the suite's own, read from its suite.json
            SuiteOptions saved;
            string savedCommand;
            try { (saved, savedCommand) = EvalSuite.LoadSaved(resumeDir); }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException) { throw new UsageException($"--resume: {e.Message}"); }
            Engine.Runtime.TorchRuntime.SetThreads(saved.Threads);
            if (worker is not null) return HelperWorker(saved, savedCommand, worker, exitWithParent);
            SuiteResult resumed;
            using (var resumeStatus = new SuiteProgress(saved.Suite, saved.Seeds * saved.Methods.Count, Terminal.Error()))
                resumed = LocalWorkers.Run(saved, savedCommand, workers, fresh: false, resumeStatus.Log, resumeStatus.Progress);
            return Report(resumed, asJson);
        }
        string suite = args.Required("--suite");
        int seeds = args.Int("--seeds", 1, 100) ?? 3;
        int budget = args.Int("--steps-budget", 1) ?? 120;
        string outDir = args.String("--out") ?? Path.Combine("eval-out", suite);
        bool json = args.Flag("--json");
        string? data = args.String("--data");
        string? methods = args.String("--methods");
        int threads = args.Int("--threads", 0) ?? 0;
        var sets = args.Many("--set").Select(kv =>
        {
            int eq = kv.IndexOf('=');
            if (eq <= 0) throw new UsageException($"--set: '{kv}' is not key=value.");
            var (k, v) = (kv[..eq].Trim(), kv[(eq + 1)..].Trim());
            if (k is "method" or "seed" or "steps") throw new UsageException($"--set: {k} is chosen by the suite (--methods, --seeds, --steps-budget).");
            new Engine.Runs.RunSettings().With(k, v); // refuses an unknown key or a bad value now, naming it
            return (Key: k, Value: v);
        }).ToList();
        string executor = args.String("--executor") ?? "local";
        int maxParallel = args.Int("--max-parallel", 1, 1024) ?? 0;
        if (executor is not ("local" or Cluster.SlurmExecutor.ExecutorName)) throw new UsageException($"--executor: '{executor}' is not one of local, slurm.");
        if (executor == "local" && maxParallel > 64) throw new UsageException($"--max-parallel: {maxParallel} local workers is more than 64.");
        args.EnsureAllUsed();
        Cluster.SlurmOptions? slurm = null;
        if (executor == Cluster.SlurmExecutor.ExecutorName)
        {
            slurm = WorkbenchPaths.CommandLineConfiguration().GetSection("RlGaf:Slurm").Get<Cluster.SlurmOptions>() ?? new Cluster.SlurmOptions();
            try { slurm.Validate(); }
            catch (ArgumentException e) { throw new UsageException(e.Message); }
        }
        Engine.Runtime.TorchRuntime.SetThreads(threads);
        var o = new SuiteOptions
        {
            // The data path absolute: suite.json keeps it, and eval --resume may run from another folder.
            Suite = suite, Seeds = seeds, StepsBudget = budget, OutDir = outDir, DataPath = data is null ? null : Path.GetFullPath(data), Threads = threads,
            Sets = sets.Select(kv => KeyValuePair.Create(kv.Key, kv.Value)).ToList(), // saved in suite.json: a resume applies them again
            Methods = methods is null ? SuiteOptions.DefaultMethods : methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        };
        SuiteProgress? status = null; // once the options are checked: nothing is drawn before a refusal
        if (slurm is not null)
        {
            var runner = new Cluster.SlurmSuiteRunner(slurm, maxParallel, m => status!.Log(m));
            o = o with { Executor = (tasks, ct) => runner.Run(outDir, suite, tasks, ct) };
        }
        try { o.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        var commandLine = "RlGaf.Workbench eval " + string.Join(' ', Environment.GetCommandLineArgs().SkipWhile(a => a != "eval").Skip(1));
        SuiteResult? result = null;
        string? failed = null;
        using (status = new SuiteProgress(suite, seeds * o.Methods.Count, Terminal.Error()))
        {
            try
            {
                result = slurm is null
                    ? LocalWorkers.Run(o, commandLine, Math.Max(1, maxParallel), fresh: true, status.Log, status.Progress)
                    : EvalSuite.Run(o, commandLine, status.Log, status.Progress);
            }
            catch (Cluster.SlurmException e) { failed = e.Message; }
        }
        if (failed is not null)
        {
            Console.Error.WriteLine($"error: eval: {failed}");
            return 1;
        }
        return Report(result!, json);
    }

    /// <summary>
    /// eval --resume DIR --worker I/K: trains the runs it can claim, then leaves the table to worker 0.
    /// With --exit-with-parent (how worker 0 starts its helpers) it stops when its standard input closes,
    /// which the kernel does when worker 0 dies however it dies (kill -9 included): no helper trains on
    /// unseen after the suite it belongs to was stopped. Its run continues from its checkpoint on eval --resume.
    /// </summary>
    private static int HelperWorker(SuiteOptions saved, string command, string worker, bool exitWithParent)
    {
        var parts = worker.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int i) || !int.TryParse(parts[1], out int k) || k < 2 || i < 1 || i >= k)
            throw new UsageException($"--worker: '{worker}' is not I/K with 1 <= I < K.");
        using var parentGone = new CancellationTokenSource();
        if (exitWithParent)
            new Thread(() =>
            {
                try { while (Console.In.Read() >= 0) { } }
                catch (IOException) { }
                parentGone.Cancel();
            }) { IsBackground = true, Name = "parent watch" }.Start();
        try
        {
            EvalSuite.RunHelper(saved with { WorkerIndex = i, WorkerCount = k }, command, m => Console.Error.WriteLine(m), parentGone.Token);
        }
        catch (OperationCanceledException) when (parentGone.IsCancellationRequested)
        {
            Console.Error.WriteLine($"worker {i}: worker 0 is gone, stopping (eval --resume {saved.OutDir} continues the suite)");
            return 1;
        }
        return 0;
    }

    private static int Report(SuiteResult result, bool json)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(SuiteReport.ToJsonObject(result), CliCommon.JsonLine));
            return 0;
        }
        Console.WriteLine(File.ReadAllText(result.ResultsMarkdown));
        Console.WriteLine($"wrote {Path.GetFullPath(result.ResultsMarkdown)} and {result.Plots.Count} plots");
        return 0;
    }
}
