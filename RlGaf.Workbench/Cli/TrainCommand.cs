using System.Diagnostics;
using System.Text.Json;
using RlGaf.Engine.Runs;
using Spectre.Console;
using RlGaf.Workbench.Api;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Cli;

/// <summary>train / resume / runs: headless runs in the same store the workbench shows.</summary>
internal static class TrainCommand
{
    public const string TrainSummary = "run a training run: train (--preset NAME [--data PATH] | --config FILE | --fork RUN_ID@STEP) [--set key=value ...] [--steps N] [--seed S] [--out DIR [--live]] [--json] (--live: a trial on a cluster node: metrics, samples and events appended to DIR as they come, DIR/status.json, data root DIR/data)";
    public const string ResumeSummary = "continue a run from its last good checkpoint: resume RUN_ID [--steps N] [--out DIR] [--json]";
    public const string RunsSummary = RunsCommand.Summary;

    public static int Train(ArgParser args)
    {
        if (args.String("--fork") is { } fork) return ForkCommand.Run(ForkCommand.Parse(fork, args, DataRoot(args)));
        string? preset = args.String("--preset"), config = args.String("--config");
        if ((preset is null) == (config is null)) throw new UsageException("give exactly one of --preset NAME or --config FILE.");
        RunSettings settings;
        string? data = args.String("--data");
        if (preset is not null && DataPresets.Names.Contains(preset))
            settings = DataPresets.Get(preset, data ?? throw new UsageException($"--data: preset '{preset}' needs the dataset path (--data PATH)."));
        else if (data is not null) throw new UsageException("--data is only for the imdb-* and squad-* presets; otherwise use --set dataset=imdb:PATH.");
        else if (preset is not null) settings = new Services.RunViews(PresetOverrides()).Preset(preset); // as the web app applies them
        else
        {
            if (!File.Exists(config)) throw new UsageException($"--config: file '{config}' does not exist.");
            settings = RunSettings.FromJson(File.ReadAllText(config!), config!);
        }
        foreach (var kv in args.Many("--set"))
        {
            int eq = kv.IndexOf('=');
            if (eq <= 0) throw new UsageException($"--set: '{kv}' is not key=value.");
            settings = settings.With(kv[..eq].Trim(), kv[(eq + 1)..].Trim());
        }
        if (args.Int("--steps", 1) is { } steps) settings = settings with { Steps = steps };
        if (args.Int("--seed") is { } seed) settings = settings with { Seed = seed };
        if (args.String("--device") is { } device) settings = settings with { Device = device };
        if (args.Int("--threads", 0) is { } threads) settings = settings with { Threads = threads };
        int? stopAt = args.Int("--stop-at", 0);
        string? outDir = args.String("--out"), name = args.String("--name");
        bool json = args.Flag("--json");
        bool live = args.Flag("--live");
        if (live && outDir is null) throw new UsageException("--live needs --out DIR (the trial folder it writes as it trains).");
        // A live trial keeps its own data root, so trials running side by side never share a LiteDB file.
        string dataRoot = live && args.String("--data-root") is null ? Path.GetFullPath(Cluster.TrialFolder.DataRootOf(outDir!)) : DataRoot(args);
        args.EnsureAllUsed();
        settings.Validate(); // refused before anything starts, naming the setting
        if (outDir is not null) RunExport.CheckTarget(outDir); // before training, not after it
        if (live) return TrainLive(settings, name ?? preset, stopAt, outDir!, dataRoot, json);
        using (var client = WorkbenchClient.For(dataRoot))
        {
            if (client is not null)
            {
                if (stopAt is not null) throw new UsageException($"--stop-at: {client.Describe()} serves {dataRoot}, so the run trains there; pause it there (or POST /api/runs/ID/pause) instead. Nothing was started.");
                var view = client.Create(settings, name ?? preset);
                Console.Error.WriteLine($"{client.Describe()} serves {dataRoot}: run {view.Id} ({view.Name}, {settings.Steps} steps) trains there, " +
                                        $"see {client.BaseUrl}/runs/{view.Id}; following it here (Ctrl+C stops following, not the run)");
                return Follow(client, view.Id, settings.Steps, settings.EvalEvery, dataRoot, outDir, json);
            }
        }

        using var store = OpenStore(dataRoot, "train");
        var record = store.Create(settings, name ?? preset);
        store.Lock.SetRun(record.Id); // a workbench or command refused meanwhile names this run
        using var run = AdversarialRun.Create(record.RunDir, settings, store.ModelsRoot);
        Console.Error.WriteLine($"run {record.Id}: {record.Name} ({settings.Steps} steps) in {record.RunDir}");
        return Execute(run, store, record.Id, stopAt, outDir, json);
    }

    /// <summary>
    /// A trial (a Slurm array task, a sweep's local trial): trains in this process against its own data root and
    /// streams into the trial folder; every way it ends, a start that fails included, leaves a final status there.
    /// </summary>
    private static int TrainLive(RunSettings settings, string? name, int? stopAt, string outDir, string dataRoot, bool json)
    {
        using var writer = new Cluster.LiveTrialWriter(outDir); // before the store creates DIR/data: the folder is the export's
        try
        {
            using var store = OpenStore(dataRoot, "train");
            var record = store.Create(settings, name);
            store.Lock.SetRun(record.Id);
            using var run = AdversarialRun.Create(record.RunDir, settings, store.ModelsRoot);
            Console.Error.WriteLine($"run {record.Id}: {record.Name} ({settings.Steps} steps) in {record.RunDir}, live into {writer.Dir}");
            return Execute(run, store, record.Id, stopAt, outDir, json, writer);
        }
        catch (Exception e)
        {
            writer.Finish("failed", 0, e.Message);
            throw;
        }
    }

    public static int Resume(ArgParser args)
    {
        if (args.Positionals.Count == 0) throw new UsageException("give the run id: resume RUN_ID.");
        string id = args.Positionals[0];
        int? steps = args.Int("--steps", 1);
        string? outDir = args.String("--out");
        bool json = args.Flag("--json");
        string dataRoot = DataRoot(args);
        args.EnsureAllUsed(maxPositionals: 1);
        if (outDir is not null) RunExport.CheckTarget(outDir);
        using (var client = WorkbenchClient.For(dataRoot))
        {
            if (client is not null)
            {
                if (steps is not null) throw new UsageException($"--steps: {client.Describe()} serves {dataRoot}; extending a run is done with the workbench stopped. Nothing was resumed.");
                var view = client.Resume(id);
                var s = RunSettings.FromJson(client.SettingsJson(id), $"run {id}");
                Console.Error.WriteLine($"{client.Describe()} serves {dataRoot}: run {id} continues there from step {view.Step} to {view.TotalSteps}; following it here (Ctrl+C stops following, not the run)");
                return Follow(client, id, view.TotalSteps, s.EvalEvery, dataRoot, outDir, json);
            }
        }
        using var store = OpenStore(dataRoot, "resume", runId: id);
        var record = store.Get(id) ?? throw new UsageException($"run '{id}' is not in {store.DataRoot} (see 'runs').");
        using var run = AdversarialRun.Open(record.RunDir, store.ModelsRoot);
        if (steps is { } n) run.ExtendTo(n);
        Console.Error.WriteLine($"run {id}: continuing from step {run.Step} to {run.Settings.Steps}");
        return Execute(run, store, id, null, outDir, json);
    }

    public const string ExportSummary = "write a run's files: export RUN_ID --out DIR [--format files|tensorboard] (files: config, metrics.jsonl, samples.jsonl, events.jsonl, checkpoint, model; tensorboard: one event file)";

    public static int Export(ArgParser args)
    {
        if (args.Positionals.Count == 0) throw new UsageException("give the run id: export RUN_ID --out DIR.");
        string id = args.Positionals[0];
        string outDir = args.Required("--out");
        string format = args.String("--format") ?? "files";
        if (format is not ("files" or "tensorboard")) throw new UsageException($"--format: '{format}' is not files or tensorboard.");
        string dataRoot = DataRoot(args);
        args.EnsureAllUsed(maxPositionals: 1);
        RunExport.CheckTarget(outDir);
        if (format == "tensorboard") return ExportTensorboard(id, outDir, dataRoot);
        using (var client = WorkbenchClient.For(dataRoot))
        {
            if (client is not null)
            {
                client.Export(id, Path.Combine(RunStore.RunsRootOf(dataRoot), id), outDir);
                Console.WriteLine($"wrote {Path.GetFullPath(outDir)} (read from {client.Describe()})");
                return 0;
            }
        }
        using var store = OpenStore(dataRoot, "export", brief: true);
        var record = store.Get(id) ?? throw new UsageException($"run '{id}' is not in {store.DataRoot} (see 'runs').");
        RunExport.Write(store, id, record.RunDir, outDir);
        Console.WriteLine($"wrote {Path.GetFullPath(outDir)}");
        return 0;
    }

    /// <summary>export --format tensorboard: the run as one event file (read over the API while a workbench serves the data root).</summary>
    private static int ExportTensorboard(string id, string outDir, string dataRoot)
    {
        string path;
        using (var client = WorkbenchClient.For(dataRoot))
        {
            if (client is not null)
            {
                path = client.ExportTensorboard(id, outDir);
                Console.WriteLine($"wrote {path} (read from {client.Describe()}); view it with: tensorboard --logdir {Path.GetFullPath(outDir)}");
                return 0;
            }
        }
        using var store = OpenStore(dataRoot, "export", brief: true);
        if (store.Get(id) is null) throw new UsageException($"run '{id}' is not in {store.DataRoot} (see 'runs').");
        path = TensorboardExport.Write(store, id, outDir);
        Console.WriteLine($"wrote {path}; view it with: tensorboard --logdir {Path.GetFullPath(outDir)}");
        return 0;
    }

    /// <summary>runs [tag|note ...]: the run table, and labelling (see <see cref="RunsCommand"/>).</summary>
    public static int Runs(ArgParser args) => RunsCommand.Run(args);

    /// <summary>
    /// The store in direct mode, under this process's one-writer lock (held until disposed). Even the
    /// listing verbs take it: LiteDB may write (recover its log, checkpoint) when a file is opened or
    /// closed. Refused, naming the holder, when another command-line process holds the data root, or a
    /// workbench that started after the hand-off check above. RlGaf__RebuildStore=true rebuilds a corrupt one.
    /// </summary>
    internal static RunStore OpenStore(string dataRoot, string verb, bool brief = false, string? runId = null)
    {
        bool rebuild = bool.TryParse(WorkbenchPaths.CommandLineConfiguration()[RunStore.RebuildKey], out var r) && r;
        try { return new RunStore(dataRoot, StoreLock.Acquire(dataRoot, verb, brief, runId), rebuild); }
        catch (StoreLockException e) { throw new UsageException($"{e.Message} Nothing was done."); }
    }

    /// <summary>RlGaf:PresetOverrides from appsettings.json and the environment (RlGaf__PresetOverrides__KEY).</summary>
    private static Dictionary<string, string> PresetOverrides() =>
        WorkbenchPaths.CommandLineConfiguration().GetSection("RlGaf:PresetOverrides").GetChildren().ToDictionary(c => c.Key, c => c.Value ?? "");

    internal static string DataRoot(ArgParser args) =>
        WorkbenchPaths.DataRoot(args.String("--data-root") ?? WorkbenchPaths.CommandLineConfiguration()["RlGaf:DataRoot"]);

    internal static int Execute(AdversarialRun run, RunStore store, string id, int? stopAt, string? outDir, bool json, Cluster.LiveTrialWriter? live = null)
    {
        RunBinding.Attach(run, store, id);
        live?.Attach(run);
        run.EndWhenPaused = true; // nobody here can resume a run that pauses itself: end, and let 'resume' continue it
        var progress = new ProgressLine(run.Settings.Steps);
        var latest = new Dictionary<string, double>();
        run.MetricsLogged += (step, m) => { foreach (var (k, v) in m) latest[k] = v; progress.Update(step, latest); };
        run.EventRaised += e => progress.Message($"[step {e.Step}] {e.Kind}: {e.Message}");
        run.Log += m => progress.Message(m);
        run.PhaseProgressed += progress.Phase;
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try { run.Execute(stopAt, cts.Token); }
        finally { Console.CancelKeyPress -= onCancel; progress.Done(); }

        if (outDir is not null) RunExport.Write(store, id, run.RunDir, outDir, streams: live is null);
        var final = RunView.From(store.Get(id)!) with { Step = run.Step };
        // After the export: a follower that sees the final status finds the checkpoint and model in place.
        live?.Finish(final.Status, run.Step, final.Message);
        int code = Report(final, json);
        // Paused by itself (a fault: a full disk, a non-finite step), not at --stop-at: scripts must see it.
        return code == 0 && run.Status == RunStatus.Paused && (stopAt is null || run.Step < stopAt) ? 1 : code;
    }

    /// <summary>The final line(s); exit code 0 when the run ended as asked (completed, paused, stopped).</summary>
    private static int Report(RunView final, bool json)
    {
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new { run_id = final.Id, step = final.Step, status = final.Status, metrics = final.Latest }, CliCommon.JsonLine));
        else
        {
            Console.WriteLine($"run {final.Id} {final.Status} at step {final.Step}{(final.Message is null ? "" : $": {final.Message}")}");
            foreach (var key in new[] { "align/positive-rate", "oracle/valid-rate", "oracle/nll", "div/distinct-2", "div/self-bleu-4", "oracle/coverage", "disc/real_score", "disc/fake_score" })
                if (final.Latest.TryGetValue(key, out var v)) Console.WriteLine($"  {key,-22} {v:0.0000}");
        }
        return final.Status is "completed" or "paused" or "stopped" ? 0 : 1;
    }

    private static readonly string[] Ended = ["completed", "failed", "stopped", "interrupted"];

    /// <summary>Follows a run the workbench trains: progress and events once a second until it ends; Ctrl+C stops following only.</summary>
    internal static int Follow(WorkbenchClient client, string id, int total, int evalEvery, string dataRoot, string? outDir, bool json)
    {
        var progress = new ProgressLine(total);
        int eventsSeen = 0;
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        RunView view;
        try
        {
            while (true)
            {
                view = client.Get(id);
                if (view.Phase is { } ph) progress.Phase(new PhaseProgress(ph.Name, ph.Step, ph.Total, ph.Loss, ph.ElapsedSeconds));
                else progress.Update(view.Step, view.Latest, isEvaluation: view.Step % Math.Max(1, evalEvery) == 0 || view.Step == view.TotalSteps);
                var events = client.Events(id);
                foreach (var e in events.Skip(eventsSeen)) progress.Message($"[step {e.Step}] {e.Kind}: {e.Message}");
                eventsSeen = events.Count;
                if (Ended.Contains(view.Status)) break;
                if (cts.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(1)))
                {
                    progress.Done();
                    Console.Error.WriteLine($"stopped following run {id}; it goes on training in {client.Describe()}: {client.BaseUrl}/runs/{id}");
                    return 0;
                }
            }
        }
        finally { Console.CancelKeyPress -= onCancel; }
        progress.Done();
        if (outDir is not null) client.Export(id, Path.Combine(RunStore.RunsRootOf(dataRoot), id), outDir);
        return Report(view, json);
    }

    /// <summary>
    /// A run's progress: on a terminal a Spectre.Console live panel (bar, step, elapsed and time left, key
    /// metrics, the latest events) redrawn in place; when redirected, one plain line per evaluation and
    /// every message, for logs and scripts.
    /// </summary>
    private sealed class ProgressLine
    {
        private static readonly (string Key, string Label)[] Shown =
            [("reward/mean", "reward"), ("disc/real_score", "real"), ("disc/fake_score", "fake"), ("align/positive-rate", "positive"), ("oracle/valid-rate", "valid"), ("div/distinct-2", "distinct-2")];

        private readonly int _total;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly bool _tty = Terminal.ErrorIsInteractive;
        private readonly object _gate = new();
        private readonly List<string> _messages = [];
        private readonly Dictionary<string, double> _metrics = [];
        private readonly Spectre.Console.IAnsiConsole _console = Terminal.Over(Console.Error);
        private readonly Task? _live;
        private volatile bool _done;
        private int _step, _lastPrinted = -1;

        public ProgressLine(int total)
        {
            _total = total;
            if (_tty) _live = Task.Run(() => _console.Live(Render()).AutoClear(false).Start(ctx =>
            {
                while (!_done) { ctx.UpdateTarget(Render()); Thread.Sleep(250); }
                ctx.UpdateTarget(Render());
            }));
        }

        public void Update(int step, IReadOnlyDictionary<string, double> m, bool? isEvaluation = null)
        {
            bool eval = isEvaluation ?? (m.ContainsKey("oracle/valid-rate") || m.ContainsKey("div/distinct-2"));
            lock (_gate)
            {
                _step = step;
                foreach (var (k, v) in m) _metrics[k] = v;
            }
            if (_tty || step == _lastPrinted || !eval) return;
            // The line scripts (and the fault tests) read: "[####....] STEP/TOTAL reward .. pos .. d2 .. 1.2s".
            double frac = _total == 0 ? 1 : Math.Clamp((double)step / _total, 0, 1);
            int filled = (int)(frac * 20);
            string bar = new string('#', filled) + new string('.', 20 - filled);
            Console.Error.WriteLine($"[{bar}] {step}/{_total}{Key(m, "reward/mean", "reward")}{Key(m, "disc/real_score", "real")}{Key(m, "disc/fake_score", "fake")}" +
                                    $"{Key(m, "align/positive-rate", "pos")}{Key(m, "oracle/valid-rate", "valid")}{Key(m, "div/distinct-2", "d2")} {CliCommon.Duration(_clock.Elapsed.TotalSeconds)}");
            _lastPrinted = step;
        }

        private string? _phase;
        private TimeSpan? _phasePrinted;
        /// <summary>Every this often a redirected output gets a line of a long phase (and at its start and end).</summary>
        public static readonly TimeSpan PhaseLineEvery = TimeSpan.FromSeconds(5);

        /// <summary>A long phase's progress: redrawn in place on a terminal; when redirected, a line every few seconds.</summary>
        public void Phase(PhaseProgress p)
        {
            var line = PhaseText.Line(p.Phase, p.Step, p.Total, p.Loss, p.ElapsedSeconds, p.EtaSeconds, p.Done);
            if (_tty) { Console.Error.Write("\r" + line.PadRight(Console.BufferWidth > 0 ? Math.Min(Console.BufferWidth - 1, 160) : 120)); if (p.Done) Console.Error.WriteLine(); return; }
            // Evaluations are short and frequent, and their figures follow in the evaluation line.
            if (p.Phase == RunPhases.Evaluation) return;
            bool changed = p.Phase != _phase;
            _phase = p.Done ? null : p.Phase;
            if (!changed && !p.Done && _phasePrinted is { } printed && _clock.Elapsed - printed < PhaseLineEvery) return;
            _phasePrinted = _clock.Elapsed;
            Console.Error.WriteLine(line);
        }

        public void Message(string text)
        {
            if (!_tty) { Console.Error.WriteLine(text); return; }
            lock (_gate) _messages.Add(text);
        }

        public void Done()
        {
            if (_live is null) return;
            _done = true;
            _live.Wait();
            lock (_gate)
                if (_messages.Count > Recent) foreach (var m in _messages) Console.Error.WriteLine(m); // the panel showed only the latest
        }

        private const int Recent = 6;

        private Spectre.Console.Rendering.IRenderable Render()
        {
            lock (_gate)
            {
                double frac = _total == 0 ? 1 : Math.Clamp((double)_step / _total, 0, 1);
                double elapsed = _clock.Elapsed.TotalSeconds;
                string left = _step > 0 && frac < 1 ? $", about {CliCommon.Duration(elapsed * (1 - frac) / frac)} left" : "";
                var bar = new Spectre.Console.BreakdownChart { Width = 40 }.HideTags()
                    .AddItem("done", Math.Max(frac, 1e-9), Spectre.Console.Color.Green).AddItem("left", Math.Max(1 - frac, 1e-9), Spectre.Console.Color.Grey23);
                var rows = new List<Spectre.Console.Rendering.IRenderable>
                {
                    new Spectre.Console.Columns(bar, new Spectre.Console.Text($"step {_step}/{_total}  {CliCommon.Duration(elapsed)}{left}")).Collapse(),
                    new Spectre.Console.Text(Metrics(plain: false)),
                };
                rows.AddRange(_messages.TakeLast(Recent).Select(m => new Spectre.Console.Text(m, new Spectre.Console.Style(Spectre.Console.Color.Yellow))));
                return new Spectre.Console.Rows(rows);
            }
        }

        private static string Key(IReadOnlyDictionary<string, double> m, string key, string label) =>
            m.TryGetValue(key, out var v) ? $" {label} {v:0.000}" : "";

        private string Metrics(bool plain)
        {
            lock (_gate)
                return string.Join(plain ? " " : "   ", Shown.Where(s => _metrics.ContainsKey(s.Key)).Select(s => $"{s.Label} {_metrics[s.Key]:0.000}"));
        }
    }
}
