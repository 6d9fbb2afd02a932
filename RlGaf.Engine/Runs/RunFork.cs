using RlGaf.Engine.Runtime;

namespace RlGaf.Engine.Runs;

/// <summary>
/// A fork: a new run that starts from one kept checkpoint of a parent run, with settings changed. Its
/// folder gets the parent's SFT model (and reward model), a copy of that checkpoint recording the fork
/// (<see cref="ForkOrigin"/>) and its own settings.json; <see cref="AdversarialRun.Open"/> then continues
/// it from that step. With no setting changed it reproduces the parent's later steps bit for bit (draws
/// are seeded from seed and step; same thread count); a changed setting acts from the fork step on, as a
/// live change made there would.
/// </summary>
public static class RunFork
{
    /// <summary>
    /// Settings a fork keeps from its parent: those read when the run was set up (the generator, pretraining,
    /// the discriminator's start, the reward model) and those that decide what a checkpoint holds (method,
    /// dataset, rlhf_algorithm).
    /// </summary>
    public static readonly IReadOnlySet<string> FixedKeys = RunSettings.Metadata.Where(m => m.AtSetup).Select(m => m.Key)
        .Concat(["method", "dataset", "rlhf_algorithm"]).ToHashSet();

    /// <summary>The parent's checkpoint at <paramref name="step"/>; an ArgumentException naming the kept steps when there is none.</summary>
    public static (int Step, string Path) RequireCheckpoint(string parentRunDir, string parentId, int step)
    {
        var kept = RunCheckpoint.List(parentRunDir).Where(c => RunCheckpoint.Verify(c.Path) is null).ToList();
        foreach (var c in kept) if (c.Step == step) return c;
        string steps = kept.Count == 0 ? "it has none" : $"kept checkpoints are at step{(kept.Count == 1 ? "" : "s")} {string.Join(", ", kept.Select(c => c.Step))}";
        throw new ArgumentException($"step: run {parentId} has no kept checkpoint at step {step} ({steps}); a fork starts from a kept checkpoint.");
    }

    /// <summary>The settings the parent had in force at its checkpoint <paramref name="checkpointDir"/>.</summary>
    public static RunSettings ParentSettings(string checkpointDir) => RunCheckpoint.ReadState(checkpointDir).Settings;

    /// <summary>
    /// The fork's settings: the parent's at the checkpoint with <paramref name="changes"/> applied, validated.
    /// A change to a <see cref="FixedKeys"/> setting is refused naming it; steps must lie beyond the fork step.
    /// </summary>
    public static RunSettings Settings(RunSettings parent, int step, IEnumerable<(string Key, string Value)> changes)
    {
        var s = parent;
        foreach (var (key, value) in changes)
        {
            s = s.With(key, value);
            if (FixedKeys.Contains(key) && s.Get(key) != parent.Get(key))
                throw new ArgumentException($"{key}: fixed when the parent run was set up (a fork continues its models), so a fork keeps '{parent.Get(key)}'; " +
                                            $"start a new run to change it. Settings a fork cannot change: {string.Join(", ", FixedKeys.Order(StringComparer.Ordinal))}.");
        }
        s.Validate();
        if (s.Steps <= step) throw new ArgumentException($"steps: {s.Steps} must be above the fork step {step} (the fork trains from there).");
        return s;
    }

    /// <summary>
    /// Writes the fork's folder <paramref name="runDir"/> (new or empty) from the parent's checkpoint; afterwards
    /// <see cref="AdversarialRun.Open"/> continues it. A failure removes what was written.
    /// </summary>
    public static void Prepare(string parentRunDir, string parentId, int step, string runDir, RunSettings settings)
    {
        var checkpoint = RequireCheckpoint(parentRunDir, parentId, step);
        if (Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
            throw new IOException($"{runDir}: the fork's folder is not empty.");
        try
        {
            Directory.CreateDirectory(runDir);
            var sft = Path.Combine(parentRunDir, RunSetup.SftDir);
            if (!Directory.Exists(sft)) throw new InvalidDataException($"{parentRunDir}: no {RunSetup.SftDir} model folder; the parent run cannot be forked.");
            RunSetup.CopyDirectory(sft, Path.Combine(runDir, RunSetup.SftDir));
            var rewardModel = Path.Combine(parentRunDir, RunSetup.RewardModelFile);
            if (File.Exists(rewardModel)) File.Copy(rewardModel, Path.Combine(runDir, RunSetup.RewardModelFile));
            RunCheckpoint.CopyForFork(checkpoint.Path, runDir, new ForkOrigin(parentId, step, settings));
            // Last: a folder with settings.json is taken for a run to open.
            DurableFiles.WriteAllTextAtomic(Path.Combine(runDir, AdversarialRun.SettingsFile), settings.ToJson());
        }
        catch
        {
            try { Directory.Delete(runDir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
