namespace RlGaf.Workbench.Cluster;

/// <summary>
/// The "RlGaf:Slurm" section of appsettings.json: how trials are submitted to a Slurm cluster
/// (docs/cluster.md). Every field maps onto one sbatch option or one line of the array script.
/// </summary>
public sealed class SlurmOptions
{
    /// <summary>--partition; empty: the cluster's default partition.</summary>
    public string? Partition { get; set; }
    /// <summary>--time of each array task (Slurm's formats: "MM", "MM:SS", "HH:MM:SS", "D-HH:MM"); a task past it ends as TIMEOUT.</summary>
    public string Time { get; set; } = "02:00:00";
    /// <summary>--cpus-per-task; a trial whose threads setting is 0 trains with this many threads.</summary>
    public int CpusPerTask { get; set; } = 2;
    /// <summary>--mem per task (e.g. "8G"); empty: the partition's default. A task past it ends as OUT_OF_MEMORY where the site enforces memory.</summary>
    public string? Mem { get; set; } = "8G";
    /// <summary>GPUs per task: &gt; 0 adds --gres=gpu:N (trials with device auto then train on CUDA_VISIBLE_DEVICES).</summary>
    public int Gpus { get; set; }
    /// <summary>Lines run before the trial on the node, e.g. "module load dotnet/10.0" or "source ~/env.sh" (one per line).</summary>
    public string? Setup { get; set; }
    /// <summary>Put in front of the executable, e.g. "apptainer exec --nv rlgaf.sif" for a container.</summary>
    public string? Launcher { get; set; }
    /// <summary>How a node starts the workbench executable; empty: this process's own (dotnet + RlGaf.Workbench.dll), which the nodes must see at the same path.</summary>
    public string? Executable { get; set; }
    /// <summary>A folder on the cluster's shared filesystem: trial folders must lie under it (refused otherwise, as the nodes could not write them). Empty: not checked.</summary>
    public string? SharedFolder { get; set; }
    /// <summary>Further sbatch options, one per entry, e.g. "--account=proj42", "--qos=short".</summary>
    public string[] ExtraOptions { get; set; } = [];
    /// <summary>Folder of sbatch/squeue/scontrol/scancel/sacct; empty: the PATH.</summary>
    public string? BinDir { get; set; }
    /// <summary>SLURM_CONF for those commands (a second cluster, the tests' one-node cluster); empty: Slurm's default.</summary>
    public string? SlurmConf { get; set; }
    /// <summary>A jobcomp/filetxt file (JobCompLoc) read for ended tasks when neither scontrol nor sacct knows them any more (clusters without accounting).</summary>
    public string? JobCompFile { get; set; }

    /// <summary>ArgumentException naming the RlGaf:Slurm field that is out of range.</summary>
    public SlurmOptions Validate()
    {
        if (CpusPerTask < 1) throw new ArgumentException($"RlGaf:Slurm:CpusPerTask: {CpusPerTask} must be at least 1.");
        if (Gpus < 0) throw new ArgumentException($"RlGaf:Slurm:Gpus: {Gpus} must be 0 or more.");
        if (string.IsNullOrWhiteSpace(Time) || !System.Text.RegularExpressions.Regex.IsMatch(Time.Trim(), @"^(\d+-)?\d+(:\d+){0,2}$|^(\d+-\d+)$|^(UNLIMITED|INFINITE)$"))
            throw new ArgumentException($"RlGaf:Slurm:Time: '{Time}' is not a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS).");
        if (Mem is { Length: > 0 } m && !System.Text.RegularExpressions.Regex.IsMatch(m.Trim(), @"^\d+[KMGT]?$"))
            throw new ArgumentException($"RlGaf:Slurm:Mem: '{Mem}' is not a Slurm memory size (e.g. 8G, 500M).");
        foreach (var o in ExtraOptions)
            if (!o.StartsWith("--", StringComparison.Ordinal) || o.Contains('\n'))
                throw new ArgumentException($"RlGaf:Slurm:ExtraOptions: '{o}' is not one sbatch option (--name=value).");
        return this;
    }
}
