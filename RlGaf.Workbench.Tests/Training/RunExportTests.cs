using RlGaf.Workbench.Api;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Tests.Infrastructure;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Training;

/// <summary>export --out never deletes or overwrites files it did not write.</summary>
public sealed class RunExportTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("rlgaf-export-").FullName;

    public void Dispose() => TestApp.TryDelete(_root);

    private void Export(string outDir) =>
        RunExport.Write("{\"steps\": 3}", [new MetricPoint { Step = 1, Values = new() { ["gen/loss"] = 0.5 } }], [], new List<EventView>(),
            Path.Combine(_root, "no-run-folder"), outDir);

    [Fact]
    public void A_folder_with_files_it_did_not_write_is_refused_untouched()
    {
        var target = Path.Combine(_root, "mine");
        Directory.CreateDirectory(Path.Combine(target, "checkpoint"));
        File.WriteAllText(Path.Combine(target, "config.json"), "my own config");
        File.WriteAllText(Path.Combine(target, "checkpoint", "notes.txt"), "precious");

        var e = Assert.Throws<ArgumentException>(() => Export(target));
        Assert.StartsWith("--out:", e.Message);
        Assert.Contains(target, e.Message);
        Assert.Equal("my own config", File.ReadAllText(Path.Combine(target, "config.json")));
        Assert.Equal("precious", File.ReadAllText(Path.Combine(target, "checkpoint", "notes.txt")));
        Assert.Equal(3, Directory.GetFileSystemEntries(target, "*", SearchOption.AllDirectories).Length); // checkpoint/, its note, config.json: nothing added

        File.WriteAllText(Path.Combine(_root, "a-file"), "x");
        Assert.Contains("is a file", Assert.Throws<ArgumentException>(() => Export(Path.Combine(_root, "a-file"))).Message);
    }

    [Fact]
    public void A_new_or_empty_folder_or_an_earlier_export_is_written()
    {
        var fresh = Path.Combine(_root, "fresh", "deeper");
        Export(fresh);
        Assert.Contains("\"gen/loss\":0.5", File.ReadAllText(Path.Combine(fresh, "metrics.jsonl")));
        Assert.True(File.Exists(Path.Combine(fresh, RunExport.MarkerFile)));
        Export(fresh); // its own earlier export: rewritten
        Assert.Equal("{\"steps\": 3}", File.ReadAllText(Path.Combine(fresh, "config.json")));

        var empty = Path.Combine(_root, "empty");
        Directory.CreateDirectory(empty);
        Export(empty);
        Assert.True(File.Exists(Path.Combine(empty, "events.jsonl")));
    }
}
