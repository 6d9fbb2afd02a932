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
    public void Listening_beyond_loopback_needs_a_configured_token_of_16_characters()
    {
        string[] exposed = ["http://0.0.0.0:5180"], loopback = ["http://127.0.0.1:5180"];
        var none = Assert.Throws<StartupRefusedException>(() => AccessToken.Resolve(null, exposed));
        Assert.Contains("RlGaf:AccessToken", none.Message);
        Assert.Contains("a generated token is for loopback only", none.Message);
        var optOut = Assert.Throws<StartupRefusedException>(() => AccessToken.Resolve("", exposed));
        Assert.Contains("opting out of the token is for loopback only", optOut.Message);
        var shortOne = Assert.Throws<StartupRefusedException>(() => AccessToken.Resolve("secret", exposed));
        Assert.Contains("RlGaf:AccessToken has 6 characters, at least 16", shortOne.Message);
        Assert.Throws<StartupRefusedException>(() => AccessToken.Resolve("secret", loopback)); // too short anywhere
        Assert.Throws<StartupRefusedException>(() => AccessToken.Resolve("sixteen chars ok", loopback)); // a space: not header-safe
        Assert.Equal(new TokenSetting("a-configured-token", false), AccessToken.Resolve("a-configured-token", exposed));
        Assert.Equal(new TokenSetting(null, false), AccessToken.Resolve("", loopback));
    }

    [Fact]
    public void Without_configuration_a_fresh_url_safe_token_of_32_random_bytes_is_generated()
    {
        var a = AccessToken.Resolve(null, ["http://127.0.0.1:5180"]);
        var b = AccessToken.Resolve(null, ["http://localhost:5180"]);
        Assert.True(a.Generated && b.Generated);
        Assert.NotEqual(a.Token, b.Token);
        Assert.Equal(43, a.Token!.Length); // base64url of 32 bytes, no padding
        Assert.Matches("^[A-Za-z0-9_-]{43}$", a.Token);
        Assert.Equal(32, System.Buffers.Text.Base64Url.DecodeFromChars(a.Token).Length);
    }

    [Fact]
    public void Wrong_tokens_lock_an_address_out_after_ten_different_ones_within_the_window()
    {
        var now = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var limit = new FailedAttempts(limit: 10, window: TimeSpan.FromMinutes(1), capacity: 4, clock: () => now);
        // The same stale value again and again (a tab with an old cookie) is one guess, not many.
        for (int i = 0; i < 50; i++) Assert.False(limit.Fail("a", "stale"));
        Assert.False(limit.IsLocked("a", out _));
        for (int i = 1; i < 9; i++) Assert.False(limit.Fail("a", $"guess{i}"));
        Assert.True(limit.Fail("a", "guess9")); // the tenth different one
        Assert.True(limit.IsLocked("a", out var retry));
        Assert.Equal(TimeSpan.FromMinutes(1), retry);
        Assert.False(limit.IsLocked("b", out _)); // per address
        now = now.AddSeconds(61);
        Assert.False(limit.IsLocked("a", out _));

        // Bounded: a flood of addresses shares one extra entry once the table is full.
        for (int i = 0; i < 100; i++) for (int g = 0; g < 10; g++) limit.Fail($"10.0.0.{i}", $"g{g}");
        Assert.InRange(limit.Tracked, 1, 5);
        Assert.True(limit.IsLocked("10.0.0.99", out _));
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

    [Fact]
    public void Symbolic_links_are_resolved_before_the_policy_decides()
    {
        var tmp = Directory.CreateTempSubdirectory("rlgaf-links-").FullName;
        try
        {
            var root = Directory.CreateDirectory(Path.Combine(tmp, "data")).FullName;
            var outside = Directory.CreateDirectory(Path.Combine(tmp, "secret", "inner")).FullName;
            File.WriteAllText(Path.Combine(tmp, "secret", "key.json"), "{}");
            Directory.CreateDirectory(Path.Combine(root, "models", "real"));
            var policy = new PathPolicy([root]);

            // A link under the root that points outside it: refused, also for anything below it.
            Directory.CreateSymbolicLink(Path.Combine(root, "escape"), outside);
            var e = Assert.Throws<ArgumentException>(() => policy.Resolve("generator", "escape"));
            Assert.StartsWith("generator: 'escape' is outside the data roots through a symbolic link", e.Message);
            Assert.DoesNotContain(outside, e.Message); // where the link leads is not told
            Assert.Throws<ArgumentException>(() => policy.Resolve("dataset", "escape/x.jsonl"));
            Assert.Throws<ArgumentException>(() => policy.Apply(new RunSettings { Dataset = "jsonl:escape/x.jsonl" }));

            // ".." after a link applies to the link's target (as the kernel does), not to the text:
            // escape/../key.json is TMP/secret/key.json, not ROOT/key.json.
            Assert.Throws<ArgumentException>(() => policy.Resolve("dataset", "escape/../key.json"));
            Assert.Throws<ArgumentException>(() => policy.Resolve("dataset", Path.Combine(root, "escape", "..", "key.json")));

            // A chain: a -> b -> c -> outside; and a relative target climbing out.
            Directory.CreateSymbolicLink(Path.Combine(root, "c"), outside);
            Directory.CreateSymbolicLink(Path.Combine(root, "b"), Path.Combine(root, "c"));
            Directory.CreateSymbolicLink(Path.Combine(root, "a"), "b");
            Assert.Throws<ArgumentException>(() => policy.Resolve("disc_checkpoint", "a"));
            File.CreateSymbolicLink(Path.Combine(root, "models", "key.json"), Path.Combine("..", "..", "secret", "key.json"));
            Assert.Throws<ArgumentException>(() => policy.Apply(new RunSettings { Dataset = "squad:models/key.json" }));

            // A loop ends with a clear refusal instead of hanging.
            Directory.CreateSymbolicLink(Path.Combine(root, "loop1"), Path.Combine(root, "loop2"));
            Directory.CreateSymbolicLink(Path.Combine(root, "loop2"), Path.Combine(root, "loop1"));
            Assert.Contains("more than 40 symbolic links", Assert.Throws<ArgumentException>(() => policy.Resolve("generator", "loop1/x")).Message);

            // Links that stay inside are fine and resolve to the physical path that was checked.
            Directory.CreateSymbolicLink(Path.Combine(root, "latest"), Path.Combine(root, "models", "real"));
            Assert.Equal(Path.Combine(root, "models", "real"), policy.Resolve("generator", "latest"));
            Assert.Equal(Path.Combine(root, "models", "real", "x.jsonl"), policy.Resolve("dataset", "escape/../../data/latest/x.jsonl"));

            // The dataset catalog neither lists nor opens what such links lead to.
            File.WriteAllText(Path.Combine(outside, "pairs.jsonl"), "{\"prompt\": \"a\", \"completion\": \"b\"}\n");
            File.CreateSymbolicLink(Path.Combine(root, "linked.jsonl"), Path.Combine(outside, "pairs.jsonl"));
            File.WriteAllText(Path.Combine(root, "models", "real", "own.jsonl"), "{\"prompt\": \"a\", \"completion\": \"b\"}\n");
            var listed = new DatasetCatalog(policy).Discover().Select(c => c.Label).ToList();
            Assert.DoesNotContain(listed, l => l.Contains("pairs.jsonl") || l.Contains("linked.jsonl"));
            Assert.Contains(Path.Combine("latest", "own.jsonl"), listed); // a link that stays inside is still searched

            // A root that is itself a link is allowed, and paths under it are compared physically.
            var alias = Path.Combine(tmp, "alias");
            Directory.CreateSymbolicLink(alias, root);
            var viaAlias = new PathPolicy([alias]);
            Assert.Equal(Path.Combine(root, "models", "real"), viaAlias.Resolve("generator", Path.Combine(alias, "models", "real")));
            Assert.Throws<ArgumentException>(() => viaAlias.Resolve("generator", Path.Combine(alias, "escape")));
        }
        finally
        {
            Directory.Delete(tmp, true); // deletes the links, not their targets (which are under tmp too)
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1:5180", "http://127.0.0.1:5180")]
    [InlineData("http://0.0.0.0:8080/", "http://127.0.0.1:8080")]
    [InlineData("http://*:8080", "http://127.0.0.1:8080")]
    [InlineData("http://10.1.2.3:80;http://localhost:81", "http://localhost:81")]
    public void The_claim_names_an_address_the_command_line_can_reach(string urls, string expected) =>
        Assert.Equal(expected, WorkbenchHost.ReachableUrl(urls.Split(';')));

    [Fact]
    public void Prefixed_dataset_paths_are_checked_after_their_prefix()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-paths-").FullName;
        var policy = new PathPolicy([root]);
        // Before this was checked, "imdb:/etc/x" became ROOT/imdb:/etc/x: never loadable and never refused.
        var e = Assert.Throws<ArgumentException>(() => policy.Apply(new RunSettings { Dataset = "imdb:/etc/x" }));
        Assert.StartsWith("dataset: '/etc/x' is outside the data roots", e.Message);
        Assert.Throws<ArgumentException>(() => policy.Apply(new RunSettings { Dataset = "squad:../dev.json" }));
        Assert.Equal("squad:" + Path.Combine(root, "squad", "dev.json"), policy.Apply(new RunSettings { Dataset = "squad:squad/dev.json" }).Dataset);
        Assert.Equal("jsonl:" + Path.Combine(root, "a.jsonl"), policy.Apply(new RunSettings { Dataset = "jsonl:" + Path.Combine(root, "a.jsonl") }).Dataset);

        var missing = Assert.Throws<ArgumentException>(() => PathPolicy.RequireDatasetExists("squad:" + Path.Combine(root, "dev.json")));
        Assert.StartsWith("dataset: '", missing.Message);
        File.WriteAllText(Path.Combine(root, "dev.json"), "{}");
        PathPolicy.RequireDatasetExists("squad:" + Path.Combine(root, "dev.json"));
        PathPolicy.RequireDatasetExists("synthetic-reviews");
        Directory.Delete(root, true);
    }

    [Fact]
    public void Dataset_catalog_finds_each_kind_and_round_trips_names()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-datasets-").FullName;
        Directory.CreateDirectory(Path.Combine(root, "imdb", "aclImdb", "train", "pos"));
        Directory.CreateDirectory(Path.Combine(root, "imdb", "aclImdb", "train", "neg"));
        File.WriteAllText(Path.Combine(root, "imdb", "aclImdb", "train", "pos", "x.json"), "{\"data\": [{\"paragraphs\": []}]}"); // inside aclImdb: not scanned
        File.WriteAllText(Path.Combine(root, "reviews.csv"), "review,sentiment\n\"Fine.\",positive\n");
        File.WriteAllText(Path.Combine(root, "other.csv"), "a,b\n1,2\n");
        File.WriteAllText(Path.Combine(root, "dev-v2.0.json"), "{\"version\": \"v2.0\", \"data\": [{\"title\": \"T\", \"paragraphs\": []}]}");
        File.WriteAllText(Path.Combine(root, "config.json"), "{\"n_embd\": 8}");
        File.WriteAllText(Path.Combine(root, "pairs.jsonl"), "{\"prompt\": \"a\", \"completion\": \"b\"}\n");
        Directory.CreateDirectory(Path.Combine(root, "runs", "r1"));
        File.WriteAllText(Path.Combine(root, "runs", "r1", "samples.jsonl"), "{}\n"); // workbench-owned folder: skipped

        var found = new DatasetCatalog(new PathPolicy([root])).Discover();
        Assert.Equal(
            [(DatasetKind.Squad, "dev-v2.0.json"), (DatasetKind.Imdb, "imdb/aclImdb"), (DatasetKind.Jsonl, "pairs.jsonl"), (DatasetKind.Imdb, "reviews.csv")],
            found.Select(c => (c.Kind, c.Label)).OrderBy(x => x.Label, StringComparer.Ordinal).ToList());
        Assert.All(found, c => Assert.True(Path.IsPathRooted(c.Path)));

        foreach (var name in new[] { "synthetic-reviews", "imdb:/d/aclImdb", "squad:/d/dev.json", "jsonl:/d/p.jsonl", "something-else" })
        {
            var (kind, path) = DatasetCatalog.Parse(name);
            Assert.Equal(name, DatasetCatalog.Compose(kind, path));
        }
        Directory.Delete(root, true);
    }
}
