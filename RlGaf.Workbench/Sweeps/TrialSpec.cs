using RlGaf.Engine.Runs;

namespace RlGaf.Workbench.Sweeps;

/// <summary>
/// One trial of a sweep, complete: <see cref="Settings"/> is a full, validated RunSettings (the base,
/// the sampled parameters and <see cref="Seed"/> already applied: <c>Settings.Seed == Seed</c>), so an
/// executor runs exactly <c>Settings.ToJson()</c> (<c>train --config TRIAL.json --out OutDir</c>).
/// </summary>
/// <param name="SweepId">The sweep it belongs to.</param>
/// <param name="Index">0-based, unique in the sweep, stable across restarts (Slurm: the array task id).</param>
/// <param name="ConfigIndex">The configuration it replicates: trials differing only by seed share it (a seed group).</param>
/// <param name="Seed">The replicate's seed (the sweep's <c>seeds</c> axis).</param>
/// <param name="Parameters">The searched values, as text, key = RunSettings key (for names, tables, importance).</param>
/// <param name="Settings">What to run.</param>
/// <param name="OutDir">The trial's own folder (absolute) under the sweep's folder: <c>SWEEP/trials/NNNN</c>; the executor may write there (config, live files, export).</param>
public sealed record TrialSpec(
    string SweepId,
    int Index,
    int ConfigIndex,
    int Seed,
    IReadOnlyDictionary<string, string> Parameters,
    RunSettings Settings,
    string OutDir)
{
    /// <summary>A display name for the run: "sweep-name #3 gen_lr=0.001 seed=2".</summary>
    public string RunName(string sweepName) =>
        $"{sweepName} #{Index} {string.Join(" ", Parameters.Select(p => $"{p.Key}={p.Value}"))} seed={Seed}".Trim();
}
