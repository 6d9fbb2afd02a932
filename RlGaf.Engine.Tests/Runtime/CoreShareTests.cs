using RlGaf.Engine.Runtime;

namespace RlGaf.Engine.Tests.Runtime;

/// <summary>The machine-wide registry of trainings that share the cores: held claims count, dead ones are removed.</summary>
public class CoreShareTests
{
    [Fact]
    public void A_held_claim_counts_and_a_claim_nobody_holds_is_removed()
    {
        Directory.CreateDirectory(CoreShare.Folder);
        var held = Path.Combine(CoreShare.Folder, $"test-{Guid.NewGuid():N}.claim");
        var stale = Path.Combine(CoreShare.Folder, $"test-{Guid.NewGuid():N}.claim");
        File.WriteAllText(stale, ""); // what a killed process leaves: a file, no lock
        int before;
        using (var claim = new FileStream(held, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None))
        {
            before = CoreShare.Active();
            Assert.False(File.Exists(stale), "a claim nobody holds is stale and removed");
            Assert.True(File.Exists(held));
            Assert.True(before >= 1, "the held claim counts");
        }
        // Released (the process's lock is gone): the next count drops it.
        int after = CoreShare.Active();
        Assert.False(File.Exists(held));
        Assert.True(after <= before - 1, $"{before} -> {after}");
    }
}
