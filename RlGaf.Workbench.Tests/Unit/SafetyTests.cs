using RlGaf.Engine.Runs;
using RlGaf.Workbench.Security;
using RlGaf.Workbench.Services;

namespace RlGaf.Workbench.Tests.Unit;

public class SafetyTests
{
    [Theory]
    [InlineData("http://127.0.0.1:5180", true)]
    [InlineData("http://localhost:5000", true)]
    [InlineData("http://[::1]:5000", true)]
    [InlineData("http://0.0.0.0:5000", false)]
    [InlineData("http://*:5000", false)]
    [InlineData("http://+:5000", false)]
    [InlineData("http://192.168.1.4:5000", false)]
    public void Loopback_is_recognised(string url, bool loopback) => Assert.Equal(loopback, AccessToken.IsLoopback(url));

    [Fact]
    public void Listening_beyond_loopback_without_a_token_is_refused_with_the_reason()
    {
        var e = Assert.Throws<InvalidOperationException>(() => AccessToken.EnsureSafeBinding(["http://0.0.0.0:5180"], null));
        Assert.Contains("RlGaf:AccessToken", e.Message);
        AccessToken.EnsureSafeBinding(["http://0.0.0.0:5180"], "secret");
        AccessToken.EnsureSafeBinding(["http://127.0.0.1:5180"], null);
    }

    [Fact]
    public void Paths_resolve_only_under_the_data_roots()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-paths-").FullName;
        var policy = new PathPolicy([root]);
        Assert.Equal(Path.Combine(root, "models", "a"), policy.Resolve("generator", "models/a"));
        Assert.Equal(Path.Combine(root, "m"), policy.Resolve("generator", Path.Combine(root, "m")));
        var e = Assert.Throws<ArgumentException>(() => policy.Resolve("generator", "/etc"));
        Assert.StartsWith("generator: '/etc' is outside the data roots", e.Message);
        Assert.Throws<ArgumentException>(() => policy.Resolve("generator", "../escape"));
        Assert.Throws<ArgumentException>(() => policy.Resolve("generator", root + "-sibling/x"));
        Assert.Throws<ArgumentException>(() => policy.Apply(new RunSettings { Dataset = "/etc/passwd" }));
        Assert.Throws<ArgumentException>(() => policy.Apply(new RunSettings { DiscInit = DiscriminatorInit.Checkpoint, DiscCheckpoint = "/tmp/x" }));
        Assert.Equal("synthetic-reviews", policy.Apply(new RunSettings()).Dataset);
    }
}
