using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RlGaf.Workbench.Cluster;

namespace RlGaf.Workbench.Tests.Infrastructure;

/// <summary>
/// A real one-node Slurm cluster on 127.0.0.1 for the tests (Debian's slurm-wlm + munge): slurm.conf and
/// gres.conf (two fake GPUs, character devices) under a temp folder, free ports, munged started when none
/// runs, then slurmctld and slurmd as daemons; ready once the node is idle. Disposing cancels what is left
/// and stops the daemons it started by their process ids. Without the binaries (or root, which slurmd
/// needs here) <see cref="SkipReason"/> says why and tests call <see cref="SkipIfUnavailable"/>.
/// Accounting (slurmdbd) is not set up: ended tasks are read from scontrol and the jobcomp/filetxt file.
/// </summary>
public sealed class SlurmCluster : IDisposable
{
    public string Dir { get; }
    public string ConfFile => Path.Combine(Dir, "slurm.conf");
    public string JobCompFile => Path.Combine(Dir, "jobcomp.txt");
    public string NodeName { get; }
    public string? SkipReason { get; }
    private readonly List<int> _started = [];
    private int? _munged;

    public SlurmCluster()
    {
        Dir = Path.Combine(Path.GetTempPath(), $"rlgaf-slurm-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        NodeName = ShortHostName();
        var missing = new[] { "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch", "/usr/bin/squeue", "/usr/bin/scontrol", "/usr/bin/sinfo" }
            .Where(p => !File.Exists(p)).ToList();
        if (missing.Count > 0) { SkipReason = $"Slurm is not installed (missing {string.Join(", ", missing)}; apt-get install slurm-wlm munge): Slurm tests skipped."; return; }
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root") { SkipReason = "the one-node Slurm cluster needs root here (slurmd, mknod, SlurmUser=root): Slurm tests skipped."; return; }
        Directory.CreateDirectory(Dir);
        foreach (var d in new[] { "state", "spool", "log", "gpu" }) Directory.CreateDirectory(Path.Combine(Dir, d));
        StartMunge();
        bool gpus = Sh("mknod", Path.Combine(Dir, "gpu", "gpu0"), "c", "1", "3").Code == 0 && Sh("mknod", Path.Combine(Dir, "gpu", "gpu1"), "c", "1", "3").Code == 0;
        int ctld = FreePort(), slurmd = FreePort();
        File.WriteAllText(ConfFile, $"""
            ClusterName=rlgaftest
            SlurmctldHost={NodeName}(127.0.0.1)
            SlurmctldPort={ctld}
            SlurmdPort={slurmd}
            SlurmUser=root
            SlurmdUser=root
            AuthType=auth/munge
            StateSaveLocation={Dir}/state
            SlurmdSpoolDir={Dir}/spool
            SlurmctldPidFile={Dir}/slurmctld.pid
            SlurmdPidFile={Dir}/slurmd.pid
            SlurmctldLogFile={Dir}/log/slurmctld.log
            SlurmdLogFile={Dir}/log/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core_Memory
            ReturnToService=2
            JobCompType=jobcomp/filetxt
            JobCompLoc={JobCompFile}
            MpiDefault=none
            SchedulerType=sched/backfill
            SchedulerParameters=sched_interval=2
            KillWait=5
            MinJobAge=600
            InactiveLimit=0
            Waittime=0
            {(gpus ? "GresTypes=gpu" : "")}
            NodeName={NodeName} NodeAddr=127.0.0.1 CPUs=2 RealMemory=4000 {(gpus ? "Gres=gpu:2" : "")} State=UNKNOWN
            PartitionName=debug Nodes={NodeName} Default=YES MaxTime=INFINITE State=UP
            """);
        File.WriteAllText(Path.Combine(Dir, "gres.conf"), gpus ? $"NodeName={NodeName} Name=gpu File={Dir}/gpu/gpu[0-1]\n" : "");
        foreach (var daemon in new[] { "slurmctld", "slurmd" })
        {
            var (code, output) = Sh($"/usr/sbin/{daemon}", "-f", ConfFile);
            var pid = WaitForPid(Path.Combine(Dir, $"{daemon}.pid"));
            if (pid is { } p) _started.Add(p);
            if (code != 0 || pid is null) { Dispose(); throw new InvalidOperationException($"{daemon} did not start ({code}): {output}\n{Log(daemon)}"); }
        }
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Sh("/usr/bin/sinfo", "-h", "-n", NodeName, "-o", "%t").Output.Trim() != "idle")
        {
            if (DateTime.UtcNow > deadline) { var why = Log("slurmctld") + Log("slurmd"); Dispose(); throw new TimeoutException($"the Slurm node did not become idle within 60 s:\n{why}"); }
            Thread.Sleep(250);
        }
    }

    public void SkipIfUnavailable() => Skip.If(SkipReason is not null, SkipReason);

    /// <summary>Executor settings for this cluster: small tasks (1 CPU, 400 MB), its SLURM_CONF and jobcomp file.</summary>
    public SlurmOptions Options(string time = "10:00") => new()
    {
        SlurmConf = ConfFile, JobCompFile = JobCompFile, CpusPerTask = 1, Mem = "400M", Time = time, Partition = "debug",
    };

    /// <summary>What a Slurm command prints with this cluster's configuration.</summary>
    public string Command(string command, params string[] args)
    {
        var (_, output) = Sh(command, args);
        return output;
    }

    public string Log(string daemon)
    {
        var p = Path.Combine(Dir, "log", $"{daemon}.log");
        return File.Exists(p) ? string.Join('\n', File.ReadLines(p).TakeLast(20)) : "";
    }

    private void StartMunge()
    {
        if (Sh("/usr/bin/munge", "-n").Code == 0) return; // one runs already (its owner stops it)
        foreach (var d in new[] { "/run/munge", "/var/log/munge", "/var/lib/munge" })
        {
            Directory.CreateDirectory(d);
            Sh("chown", "munge:munge", d);
        }
        var (code, output) = Sh("runuser", "-u", "munge", "--", "/usr/sbin/munged");
        if (code != 0) throw new InvalidOperationException($"munged did not start ({code}): {output}");
        _munged = WaitForPid("/run/munge/munged.pid");
    }

    private static int? WaitForPid(string file)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), out int pid)) return pid;
            Thread.Sleep(100);
        }
        return null;
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static string ShortHostName()
    {
        var name = Dns.GetHostName();
        int dot = name.IndexOf('.');
        return dot > 0 ? name[..dot] : name;
    }

    private (int Code, string Output) Sh(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (File.Exists(ConfFile)) psi.Environment["SLURM_CONF"] = ConfFile;
        try
        {
            using var p = Process.Start(psi)!;
            var o = p.StandardOutput.ReadToEndAsync();
            var e = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(60))) { p.Kill(true); return (-1, "timed out"); }
            return (p.ExitCode, o.Result + e.Result);
        }
        catch (System.ComponentModel.Win32Exception e) { return (-1, e.Message); }
    }

    /// <summary>Cancels what is left, then stops the daemons this fixture started, each by its process id.</summary>
    public void Dispose()
    {
        if (_started.Count > 0)
        {
            Sh("/usr/bin/scancel", "--user=root", "--full");
            Thread.Sleep(1000);
        }
        var pids = _started.AsEnumerable().Reverse().ToList();
        if (_munged is { } m) pids.Add(m);
        foreach (var pid in pids) Stop(pid);
        _started.Clear();
        _munged = null;
        try { if (Directory.Exists(Dir)) Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static void Stop(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            Sh2("kill", "-TERM", pid.ToString());
            if (!p.WaitForExit(TimeSpan.FromSeconds(15))) p.Kill();
        }
        catch (ArgumentException) { } // already gone
        catch (InvalidOperationException) { }
    }

    private static void Sh2(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit(5000);
    }
}
