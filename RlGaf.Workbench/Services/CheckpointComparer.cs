using Microsoft.Extensions.Options;
using RlGaf.Engine.Evaluation;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Runtime;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Services;

/// <summary>A generator the Compare page offers: a run's checkpoint, a run's starting (SFT) model, or a model of the library.</summary>
/// <param name="Key">"RUNID@STEP", "RUNID@sft", "model:NAME" or "path:DIR" (the form of links and of the API).</param>
/// <param name="Group">The run's name, or "Models".</param>
/// <param name="HasDiscriminator">Whether it can judge (a checkpoint of an RLGAF run).</param>
public sealed record CompareSourceOption(string Key, string Label, string Group, bool HasDiscriminator);

/// <summary>A checkpoint comparison as asked by the page or the API, sources and judge given by key.</summary>
/// <param name="Judge">A key; null = the first picked checkpoint that has a discriminator; <see cref="CheckpointComparer.NoJudge"/> = none.</param>
/// <param name="MaxNewTokens">Null = the first picked run's max_new_tokens.</param>
public sealed record CompareKeysRequest(IReadOnlyList<string> Sources, string? Judge = null, int Prompts = 16, long? Seed = null,
    double Temperature = 1.0, int? MaxNewTokens = null);

/// <summary>
/// Resolves the Compare page's and the API's source keys to run checkpoints and model directories, and
/// runs <see cref="CheckpointComparison"/> on a dedicated thread (TorchSharp's grad mode and dispose
/// scopes are thread-local), one comparison at a time: a second one is refused while one runs, so
/// clicks never queue minutes of CPU. Typed directories go through <see cref="PathPolicy"/>.
/// </summary>
public sealed class CheckpointComparer(RunStore store, ModelLibrary models, PathPolicy paths, IOptions<WorkbenchOptions> options)
{
    public const string NoJudge = "none";
    private const string ModelPrefix = "model:", PathPrefix = "path:", SftStep = "sft";
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Every run's start (SFT) and kept checkpoints, newest run first, then the library's models.</summary>
    public IReadOnlyList<CompareSourceOption> Options()
    {
        var list = new List<CompareSourceOption>();
        foreach (var run in store.List())
        {
            if (Directory.Exists(Path.Combine(run.RunDir, RunSetup.SftDir)))
                list.Add(new CompareSourceOption($"{run.Id}@{SftStep}", $"{run.Name} · sft", run.Name, false));
            foreach (var (step, dir) in RunCheckpoint.List(run.RunDir))
                list.Add(new CompareSourceOption($"{run.Id}@{step}", $"{run.Name} · step {step}", run.Name, RunCheckpoint.HasDiscriminator(dir)));
        }
        foreach (var m in models.List().Where(m => m.Error is null))
            list.Add(new CompareSourceOption(ModelPrefix + m.Name, m.Name, "Models", false));
        return list;
    }

    /// <summary>A run's newest checkpoint against its start: the pair a "compare checkpoints" link opens with.</summary>
    public static string? RunLinkQuery(RunRecord run)
    {
        var checkpoints = RunCheckpoint.List(run.RunDir);
        if (checkpoints.Count == 0) return null;
        var keys = new[] { $"{run.Id}@{SftStep}", $"{run.Id}@{checkpoints[^1].Step}" };
        return $"checkpoints={Uri.EscapeDataString(string.Join(',', keys))}";
    }

    /// <summary>The engine's source for a key. ArgumentException for a malformed key or a refused path; KeyNotFoundException for an unknown run or model.</summary>
    public GeneratorSource Resolve(string key)
    {
        key = key.Trim();
        if (key.StartsWith(ModelPrefix, StringComparison.Ordinal))
        {
            var name = key[ModelPrefix.Length..];
            var entry = models.List().FirstOrDefault(m => m.Name == name) ?? throw new KeyNotFoundException($"model '{name}' is not in the model library ({models.ModelsRoot}).");
            if (entry.Error is not null) throw new ArgumentException($"model '{name}': {entry.Error}");
            return GeneratorSource.Model(name, entry.Path);
        }
        if (key.StartsWith(PathPrefix, StringComparison.Ordinal))
        {
            var dir = paths.Resolve("source", key[PathPrefix.Length..]);
            return GeneratorSource.Model(key[PathPrefix.Length..], dir);
        }
        int at = key.LastIndexOf('@');
        if (at <= 0) throw new ArgumentException($"source '{key}': expected RUNID@STEP, RUNID@sft, model:NAME or path:DIR.");
        var id = key[..at];
        var run = store.Get(id) ?? throw new KeyNotFoundException($"run '{id}' does not exist.");
        var step = key[(at + 1)..];
        if (step == SftStep) return GeneratorSource.Model($"{run.Name} · sft", Path.Combine(run.RunDir, RunSetup.SftDir));
        if (!int.TryParse(step, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var s))
            throw new ArgumentException($"source '{key}': '{step}' is not a step (a number, or 'sft').");
        return GeneratorSource.Checkpoint($"{run.Name} · step {s}", run.RunDir, s);
    }

    /// <summary>The engine request for keys: labels made unique, the default judge filled in.</summary>
    public ComparisonRequest Build(CompareKeysRequest r)
    {
        var sources = r.Sources.Select(Resolve).ToList();
        // Two runs may share a name: their labels then carry the key, so columns and errors stay unambiguous.
        var clashes = sources.GroupBy(s => s.Label).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet();
        sources = sources.Select((s, i) => clashes.Contains(s.Label) ? s with { Label = $"{s.Label} ({r.Sources[i].Trim()})" } : s).ToList();
        GeneratorSource? judge = r.Judge switch
        {
            NoJudge => null,
            null => sources.FirstOrDefault(s => s.Step is not null && RunCheckpoint.List(s.Path).Any(c => c.Step == s.Step && RunCheckpoint.HasDiscriminator(c.Path))),
            var key => Resolve(key),
        };
        if (judge is not null && sources.FirstOrDefault(s => s.Path == judge.Path && s.Step == judge.Step) is { } same) judge = same;
        return new ComparisonRequest
        {
            Sources = sources, Judge = judge, Prompts = r.Prompts, Temperature = r.Temperature, MaxNewTokens = r.MaxNewTokens,
            Seed = r.Seed ?? ComparisonRequest.EvalSeed, ModelsRoot = store.ModelsRoot,
        }.Validate();
    }

    /// <summary>
    /// Completes the prompts with every source on a dedicated thread. Refusals: ArgumentException (naming
    /// the source when one is the cause), KeyNotFoundException (unknown run or model), InvalidOperationException
    /// (another comparison is running).
    /// </summary>
    public async Task<ComparisonResult> CompareAsync(CompareKeysRequest r, Action<ComparisonProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var request = Build(r);
        if (!_gate.Wait(0)) throw new InvalidOperationException("another comparison is running; try again when it has finished.");
        try
        {
            var device = TorchRuntime.ResolveDevice(TorchRuntime.ParsePreference(options.Value.Device, "RlGaf:Device"));
            return await CheckpointComparison.RunOnThread(request, device, progress, cancellationToken);
        }
        finally { _gate.Release(); }
    }
}
