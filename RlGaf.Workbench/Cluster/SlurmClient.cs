using System.Diagnostics;
using System.Globalization;

namespace RlGaf.Workbench.Cluster;

/// <summary>What Slurm says about one array task: its state and reason in Slurm's own words, and its exit code ("1:0").</summary>
public sealed record SlurmTaskState(string State, string? Reason, string? ExitCode, string Source);

/// <summary>A Slurm command failed: the message has the command and what it printed.</summary>
public sealed class SlurmException(string message) : InvalidOperationException(message);

/// <summary>
/// Talks to Slurm through its commands (sbatch, squeue, scontrol, sacct, scancel) and their stable
/// plain-text formats (<c>--parsable</c>, <c>-o</c>, <c>scontrol -o</c>): <c>--json</c> changes schema between
/// Slurm versions. Where each state comes from: squeue while a task is queued or running; scontrol while
/// the controller still holds the ended job (MinJobAge, 5 minutes by default); sacct where accounting is
/// on (real clusters); the jobcomp/filetxt file otherwise (test clusters).
/// </summary>
public sealed class SlurmClient(SlurmOptions options)
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    public bool IsInstalled => File.Exists(Resolve("sbatch")) || (options.BinDir is null && OnPath("sbatch"));

    /// <summary>sbatch --parsable SCRIPT: the job id (a "JOBID;CLUSTER" answer is cut at the ';').</summary>
    public string Submit(string script)
    {
        var (code, output, error) = Run("sbatch", "--parsable", script);
        if (code != 0) throw new SlurmException($"sbatch {script} failed ({code}): {(error + output).Trim()}");
        var id = output.Trim().Split(';')[0].Trim();
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out _)) throw new SlurmException($"sbatch answered '{output.Trim()}', not a job id.");
        return id;
    }

    /// <summary>scancel JOB or JOB_TASK. A job Slurm no longer knows is not an error (it ended).</summary>
    public void Cancel(string jobOrTask)
    {
        var (code, output, error) = Run("scancel", jobOrTask);
        if (code != 0 && !(error + output).Contains("Invalid job id", StringComparison.OrdinalIgnoreCase))
            throw new SlurmException($"scancel {jobOrTask} failed ({code}): {(error + output).Trim()}");
    }

    /// <summary>Every task of array <paramref name="jobId"/> that Slurm can still tell about, by task id.</summary>
    public Dictionary<int, SlurmTaskState> Query(string jobId, IReadOnlyCollection<int> wanted)
    {
        var states = new Dictionary<int, SlurmTaskState>();
        // 1. squeue: queued and running tasks, one line each (-r expands pending ranges).
        var (code, output, _) = Run("squeue", "-h", "-r", "-j", jobId, "-o", "%K|%T|%r");
        if (code == 0)
            foreach (var line in Lines(output))
            {
                var f = line.Split('|');
                if (f.Length >= 3 && int.TryParse(f[0], out int task)) states[task] = new(f[1], Reason(f[2]), null, "squeue");
            }
        if (wanted.All(states.ContainsKey)) return states;
        // 2. scontrol: the ended ones too, while the controller keeps them.
        (code, output, _) = Run("scontrol", "-o", "show", "job", jobId);
        if (code == 0)
            foreach (var line in Lines(output))
            {
                var kv = Fields(line);
                if (kv.GetValueOrDefault("ArrayJobId") != jobId || !int.TryParse(kv.GetValueOrDefault("ArrayTaskId"), out int task) || states.ContainsKey(task)) continue;
                if (kv.GetValueOrDefault("JobState") is { } st) states[task] = new(st, Reason(kv.GetValueOrDefault("Reason")), kv.GetValueOrDefault("ExitCode"), "scontrol");
            }
        if (wanted.All(states.ContainsKey)) return states;
        // 3. sacct, where accounting storage is on.
        (code, output, _) = Run("sacct", "-X", "-n", "-P", "-j", jobId, "-o", "JobID,State,ExitCode,Reason");
        if (code == 0)
            foreach (var line in Lines(output))
            {
                var f = line.Split('|');
                var id = f[0].Split('_');
                if (f.Length < 3 || id.Length != 2 || id[0] != jobId || !int.TryParse(id[1], out int task) || states.ContainsKey(task)) continue;
                // sacct writes "CANCELLED by 0": the state is the first word.
                states[task] = new(f[1].Split(' ')[0], f.Length > 3 ? Reason(f[3]) : null, f[2], "sacct");
            }
        if (wanted.All(states.ContainsKey)) return states;
        // 4. The jobcomp/filetxt file: one line per ended job.
        if (options.JobCompFile is { Length: > 0 } comp && File.Exists(comp))
        {
            foreach (var line in File.ReadLines(comp))
            {
                var kv = Fields(line);
                if (kv.GetValueOrDefault("ArrayJobId") != jobId || !int.TryParse(kv.GetValueOrDefault("ArrayTaskId"), out int task) || states.ContainsKey(task)) continue;
                if (kv.GetValueOrDefault("JobState") is { } st) states[task] = new(st, null, kv.GetValueOrDefault("ExitCode"), "jobcomp");
            }
        }
        return states;
    }

    private static string? Reason(string? r) => string.IsNullOrWhiteSpace(r) || r is "None" or "(null)" ? null : r.Trim();

    private static IEnumerable<string> Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>"Key=Value Key=Value ..." (scontrol -o, jobcomp): values without spaces, which holds for the keys read here.</summary>
    private static Dictionary<string, string> Fields(string line)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq > 0) d.TryAdd(part[..eq], part[(eq + 1)..]);
        }
        return d;
    }

    private string Resolve(string command) => options.BinDir is { Length: > 0 } bin ? Path.Combine(bin, command) : command;

    private static bool OnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => d.Length > 0 && File.Exists(Path.Combine(d, command)));

    /// <summary>Runs one Slurm command (bounded); a missing binary is a <see cref="SlurmException"/> that says so.</summary>
    public (int Code, string Output, string Error) Run(string command, params string[] args)
    {
        var psi = new ProcessStartInfo(Resolve(command)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (options.SlurmConf is { Length: > 0 } conf) psi.Environment["SLURM_CONF"] = conf;
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new SlurmException($"{command} cannot be run ({e.Message}): is Slurm installed here, or RlGaf:Slurm:BinDir set to the folder of its commands?");
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(CommandTimeout))
            {
                p.Kill(entireProcessTree: true);
                throw new SlurmException($"{command} {string.Join(' ', args)} did not answer within {CommandTimeout.TotalSeconds:0} s (is slurmctld reachable?).");
            }
            return (p.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
