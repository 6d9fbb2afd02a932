using System.Text;
using RlGaf.Workbench.Sweeps;

namespace RlGaf.Workbench.Cluster;

/// <summary>
/// The one sbatch script of a batch of trials: a job array whose task id is the trial's index
/// (<c>--array=0-N%K</c>, or a list when a resubmission leaves gaps), the resources of
/// <see cref="SlurmOptions"/>, the site's setup lines, then per task one
/// <c>train --config DIR/trial.json --out DIR --live</c> of the workbench executable.
/// </summary>
public static class SlurmArrayScript
{
    public const string TrialConfigFile = "trial.json";

    /// <summary>Where the scripts and the tasks' output (JOBID_TASK.out) of the trials in <paramref name="trialDir"/>'s sweep go.</summary>
    public static string SlurmDirOf(string trialDir) => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(trialDir).TrimEnd('/'))!, "..", "slurm"));

    public static string LogOf(string trialDir, string jobId, int task) => Path.Combine(SlurmDirOf(trialDir), $"{jobId}_{task}.out");

    /// <summary>"0-3" for a run of indices, "0,2,5" otherwise; "%K" caps how many run at once.</summary>
    public static string ArraySpec(IReadOnlyList<int> indices, int maxParallel)
    {
        var sorted = indices.Order().ToList();
        bool contiguous = sorted.Zip(sorted.Skip(1)).All(p => p.Second == p.First + 1);
        var range = sorted.Count == 1 ? $"{sorted[0]}" : contiguous ? $"{sorted[0]}-{sorted[^1]}" : string.Join(',', sorted);
        return maxParallel > 0 && maxParallel < sorted.Count ? $"{range}%{maxParallel}" : range;
    }

    /// <summary>The executable as a node starts it: RlGaf:Slurm:Executable, or this process's dotnet host and RlGaf.Workbench.dll.</summary>
    public static string DefaultExecutable()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "RlGaf.Workbench.dll");
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (string.IsNullOrEmpty(host))
            host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        return $"{Quote(host)} {Quote(dll)}";
    }

    public static string Build(string jobName, IReadOnlyList<TrialSpec> trials, int maxParallel, SlurmOptions o, string slurmDir)
    {
        var sb = new StringBuilder();
        sb.Append("#!/bin/bash\n");
        sb.Append("# Written by RlGaf.Workbench: one array task per trial (task id = trial index). See docs/cluster.md.\n");
        sb.Append($"#SBATCH --job-name={Sanitize(jobName)}\n");
        sb.Append($"#SBATCH --array={ArraySpec(trials.Select(t => t.Index).ToList(), maxParallel)}\n");
        sb.Append($"#SBATCH --output={slurmDir}/%A_%a.out\n");
        if (!string.IsNullOrWhiteSpace(o.Partition)) sb.Append($"#SBATCH --partition={o.Partition.Trim()}\n");
        sb.Append($"#SBATCH --time={o.Time.Trim()}\n");
        sb.Append($"#SBATCH --cpus-per-task={o.CpusPerTask}\n");
        if (!string.IsNullOrWhiteSpace(o.Mem)) sb.Append($"#SBATCH --mem={o.Mem.Trim()}\n");
        if (o.Gpus > 0) sb.Append($"#SBATCH --gres=gpu:{o.Gpus}\n");
        foreach (var extra in o.ExtraOptions) sb.Append($"#SBATCH {extra.Trim()}\n");
        sb.Append("set -eo pipefail\n");
        if (!string.IsNullOrWhiteSpace(o.Setup))
        {
            sb.Append("# site setup (RlGaf:Slurm:Setup)\n");
            foreach (var line in o.Setup.Split('\n')) sb.Append(line.TrimEnd('\r')).Append('\n');
        }
        sb.Append("case \"$SLURM_ARRAY_TASK_ID\" in\n");
        var exe = string.IsNullOrWhiteSpace(o.Executable) ? DefaultExecutable() : o.Executable.Trim();
        var launcher = string.IsNullOrWhiteSpace(o.Launcher) ? "" : o.Launcher.Trim() + " ";
        foreach (var t in trials)
        {
            // Threads 0 would take every core of a shared node: the task's own CPUs instead.
            var threads = t.Settings.Threads == 0 ? " --threads \"$SLURM_CPUS_PER_TASK\"" : "";
            var dir = Quote(t.OutDir);
            sb.Append($"  {t.Index}) exec {launcher}{exe} train --config {Quote(Path.Combine(t.OutDir, TrialConfigFile))} --out {dir} --live{threads} ;;\n");
        }
        sb.Append("  *) echo \"error: no trial for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\n");
        sb.Append("esac\n");
        return sb.ToString();
    }

    /// <summary>Single quotes for bash (a quote inside closes, escapes and reopens).</summary>
    public static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    private static string Sanitize(string name) => new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray());
}
