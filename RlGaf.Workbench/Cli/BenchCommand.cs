using System.Globalization;
using System.Text.Json;
using RlGaf.Engine.Benchmarks;
using RlGaf.Engine.Runs;

namespace RlGaf.Workbench.Cli;

/// <summary>bench: the performance benchmark of issue 6 (figures, ratios and targets) in one process.</summary>
internal static class BenchCommand
{
    public const string Summary = "performance benchmark: bench [--quick] [--json] [--hf-model DIR] [--rss-steps A,B] [--methods a,b,...] [--threads N] [--device D] [--peer pytorch] [--python PATH] [--shared] [--only-comparisons]" +
        " | bench --memory [--quick] [--json] [--rss-steps A,B] [--ppo-head chunked|legacy|both] [--ppo-layers N]";

    public static int Run(ArgParser args)
    {
        bool quick = args.Flag("--quick"), json = args.Flag("--json");
        string? hf = args.String("--hf-model");
        string? rss = args.String("--rss-steps");
        string? methods = args.String("--methods");
        var memory = MemoryBenchArgs.Parse(args);
        string? peer = args.String("--peer");
        string python = args.String("--python") ?? PeerBench.DefaultPython;
        bool shared = args.Flag("--shared"), onlyComparisons = args.Flag("--only-comparisons");
        int? probe = args.Int("--probe-mle", min: 10);
        var device = CliCommon.SetUpTorch(args);
        args.EnsureAllUsed();
        if (probe is int probeSteps) return BenchComparisons.Probe(probeSteps, device);
        if (peer is not null && peer != "pytorch") throw new UsageException($"--peer: '{peer}' is not a known peer (pytorch).");
        if (onlyComparisons && peer is null && !shared) throw new UsageException("--only-comparisons needs --peer pytorch or --shared.");
        var compare = new BenchComparisonOptions(peer is not null, shared, !onlyComparisons, quick, python, quick ? 60 : 300);
        if (hf is not null && !Directory.Exists(hf)) throw new UsageException($"--hf-model: folder '{hf}' does not exist.");

        var o = new BenchOptions { HfModelDir = hf, Device = device };
        if (quick) o = BenchOptions.QuickDefaults(o);
        if (rss is not null)
        {
            var parts = rss.Split(',');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int a)
                || !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int b) || a < 1 || b <= a)
                throw new UsageException($"--rss-steps: '{rss}' is not A,B with 1 <= A < B.");
            o = o with { RssFirstStep = a, RssSecondStep = b };
        }
        if (methods is not null)
        {
            var list = methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var m in list)
                if (!Presets.All.ContainsKey(m)) throw new UsageException($"--methods: '{m}' is not one of {string.Join(", ", Presets.All.Keys)}.");
            o = o with { Methods = list };
        }

        if (memory is not null && (peer is not null || shared)) throw new UsageException("--memory runs on its own: leave out --peer and --shared.");
        BenchReport report;
        PeerReport? peerReport = null;
        SharedCoresReport? sharedReport = null;
        using (var status = new BenchStatus(Terminal.Error()))
        {
            if (memory is not null)
                report = MemoryBench.Run((quick ? MemoryBenchOptions.QuickDefaults(memory) : memory) with { FirstStep = o.RssFirstStep, Steps = o.RssSecondStep },
                    device, status.Log, status.Section);
            else
            {
                report = compare.MainFigures ? Benchmark.Run(o, status.Log, status.Section) : new BenchReport(TorchSharp.torch.get_num_threads(), quick, device.ToString(), [], []);
                (peerReport, sharedReport) = BenchComparisons.Run(compare, device, status.Log, status.Section);
            }
            status.Finish();
        }
        if (json)
        {
            var figures = report.Figures.ToDictionary(f => f.Key, f => (object)new
            {
                value = f.Value, unit = f.Unit, note = f.Note, target = f.Target?.Text, met = f.Met,
            });
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                threads = report.Threads, quick = report.Quick, device = report.Device, mfu_formula = Benchmark.MfuFormula,
                figures, notes = report.Notes,
                peer = BenchComparisons.PeerJson(peerReport), shared_cores = BenchComparisons.SharedJson(sharedReport),
            }, CliCommon.JsonLine));
            return 0;
        }
        Console.WriteLine($"bench on {report.Device}, {report.Threads} libtorch threads{(report.Quick ? " (QUICK: smoke test, not a measurement)" : "")}");
        foreach (var f in report.Figures)
        {
            string target = f.Target is null ? "" : $"  target {f.Target.Text}: {(f.Met == true ? "met" : f.Met == false ? "MISSED" : "n/a")}";
            Console.WriteLine($"  {f.Key,-42} {Format(f.Value),12} {f.Unit,-18}{target}");
        }
        Console.WriteLine($"  {Benchmark.MfuFormula}");
        foreach (var n in report.Notes) Console.WriteLine($"  note: {n}");
        BenchComparisons.Print(peerReport, sharedReport);
        return 0;
    }

    private static string Format(double v) =>
        !double.IsFinite(v) ? "-" : Math.Abs(v) >= 100 ? v.ToString("N0", CultureInfo.InvariantCulture) : v.ToString("0.000", CultureInfo.InvariantCulture);
}

/// <summary>bench --memory: the options of issue 13's memory section (null when --memory is absent).</summary>
internal static class MemoryBenchArgs
{
    public static MemoryBenchOptions? Parse(ArgParser args)
    {
        bool memory = args.Flag("--memory");
        string? head = args.String("--ppo-head");
        string? layers = args.String("--ppo-layers");
        if (!memory)
        {
            if (head is not null || layers is not null) throw new UsageException("--ppo-head and --ppo-layers belong to bench --memory.");
            return null;
        }
        var o = new MemoryBenchOptions();
        if (head is not null)
            o = o with
            {
                Head = head switch
                {
                    "chunked" => PpoHead.Chunked, "legacy" => PpoHead.Legacy, "both" => PpoHead.Both,
                    _ => throw new UsageException($"--ppo-head: '{head}' is not one of chunked, legacy, both."),
                },
            };
        if (layers is not null)
        {
            if (!int.TryParse(layers, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n is < 0 or > 48)
                throw new UsageException($"--ppo-layers: '{layers}' is not a whole number in [0, 48] (0 skips the PPO step).");
            o = o with { PpoLayers = n };
        }
        return o;
    }
}
