using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Security;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Tests.Infrastructure;

namespace RlGaf.Workbench.Tests.Api;

/// <summary>
/// The workbench attacked as a web page in the user's browser (cross-site requests and WebSockets, DNS
/// rebinding) or a local program without the token would attack it: every request refused with a clear
/// 4xx, the store unchanged, and the same request with the right credentials accepted (so the refusal is
/// the check's doing). All on loopback; a held training slot keeps anything that got through from training.
/// </summary>
[Collection(HostedCollection.Name)]
public class SecurityTests
{
    private const string Evil = "http://evil.example";

    /// <summary>An interrupted run: stop, resume, clone and delete would all succeed on it if let through.</summary>
    private static string Victim(TestApp app)
    {
        var r = app.Store.Create(new RunSettings { Steps = 10 }, "victim");
        app.Store.SetStatus(r.Id, RunStatus.Interrupted, "for the test");
        app.Store.AddSamples(r.Id, [new SampleRecord(0, 0, "prompt", "secret-sample-text", 0.5, 0.1, null)]);
        return r.Id;
    }

    internal static string Snapshot(TestApp app) => string.Join("\n", app.Store.List().Select(r =>
        $"{r.Id}|{r.Name}|{r.Status}|{r.Step}|{r.Message}|{r.SettingsJson}|{app.Store.GetSamples(r.Id).Count}|{app.Store.GetEvents(r.Id).Count}"));

    /// <summary>Body-less POSTs and DELETEs (a page needs no preflight for those), a create, and the hubs' negotiation.</summary>
    private static IEnumerable<HttpRequestMessage> StateChanging(string id)
    {
        foreach (var action in new[] { "stop", "pause", "resume", "clone" })
            yield return new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{id}/{action}");
        yield return new HttpRequestMessage(HttpMethod.Delete, $"/api/runs/{id}");
        yield return new HttpRequestMessage(HttpMethod.Post, "/api/runs") { Content = new StringContent("{\"preset\": \"reinforce\"}", Encoding.UTF8, "text/plain") };
        yield return new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{id}/settings") { Content = new StringContent("{\"gen_lr\": 0.5}", Encoding.UTF8, "application/json") };
        yield return new HttpRequestMessage(HttpMethod.Post, "/api/experiments") { Content = new StringContent("{}", Encoding.UTF8, "text/plain") };
        yield return new HttpRequestMessage(HttpMethod.Post, "/hubs/runs/negotiate?negotiateVersion=1");
        yield return new HttpRequestMessage(HttpMethod.Post, "/_blazor/negotiate?negotiateVersion=1");
    }

    private static IEnumerable<HttpRequestMessage> Reads(string id) =>
        new[] { "/", "/runs/new", "/api/runs", $"/api/runs/{id}", $"/api/runs/{id}/samples.jsonl", "/api/experiments", "/api/compare/sources",
                "/_content/MudBlazor/MudBlazor.min.css", "/_framework/blazor.web.js", "/app.css" }
            .Select(p => new HttpRequestMessage(HttpMethod.Get, p));

    private static HttpClient Raw(TestApp app) =>
        new(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = app.BaseAddress };

    private static async Task<(HttpStatusCode Status, string Body)> Send(HttpClient http, HttpRequestMessage request)
    {
        using (request)
        using (var response = await http.SendAsync(request))
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_foreign_host_is_refused_even_with_the_token_so_dns_rebinding_gets_nothing()
    {
        foreach (var tokenArg in new[] { null, "RlGaf:AccessToken=" }) // the default token, and the explicit opt-out
        {
            await using var app = tokenArg is null ? await TestApp.StartAsync() : await TestApp.StartAsync(null, tokenArg);
            using var hold = app.Host.ReserveSlot("the security test");
            var id = Victim(app);
            var before = Snapshot(app);
            using var http = Raw(app);
            foreach (var host in new[] { "evil.example", $"evil.example:{app.BaseAddress.Port}", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.1" })
                foreach (var request in Reads(id).Concat(StateChanging(id)))
                {
                    var what = $"{request.Method} {request.RequestUri} Host: {host}";
                    request.Headers.Host = host;
                    if (app.Token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", app.Token);
                    var (status, body) = await Send(http, request);
                    Assert.True(status == HttpStatusCode.Forbidden, $"{what}: {(int)status}");
                    Assert.Contains($"host '{host}' is not allowed", body);
                    Assert.DoesNotContain(id, body);
                }
            Assert.Equal(before, Snapshot(app));
            // Control: the workbench's own names pass.
            foreach (var host in new[] { $"127.0.0.1:{app.BaseAddress.Port}", $"localhost:{app.BaseAddress.Port}", $"[::1]:{app.BaseAddress.Port}" })
            {
                using var ok = new HttpRequestMessage(HttpMethod.Get, "/api/runs");
                ok.Headers.Host = host;
                if (app.Token is not null) ok.Headers.Authorization = new AuthenticationHeaderValue("Bearer", app.Token);
                var (status, body) = await Send(http, ok);
                Assert.True(status == HttpStatusCode.OK, $"Host {host}: {(int)status} {body}");
            }
        }
    }

    [Fact]
    public async Task A_configured_allowed_host_is_served()
    {
        await using var app = await TestApp.StartAsync(null, "RlGaf:AllowedHosts:0=workbench.lab.internal");
        using var http = Raw(app);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/runs");
        request.Headers.Host = "workbench.lab.internal";
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", app.Token);
        Assert.Equal(HttpStatusCode.OK, (await Send(http, request)).Status);
    }

    [Fact]
    public async Task A_foreign_origin_on_state_changing_requests_and_hub_negotiation_is_refused()
    {
        foreach (var tokenArg in new[] { "RlGaf:AccessToken=", null }) // without a token the Origin check is all there is
        {
            await using var app = tokenArg is null ? await TestApp.StartAsync() : await TestApp.StartAsync(null, tokenArg);
            using var hold = app.Host.ReserveSlot("the security test");
            var id = Victim(app);
            var before = Snapshot(app);
            using var http = Raw(app);
            var port = app.BaseAddress.Port;
            foreach (var origin in new[] { Evil, "null", $"http://127.0.0.1:{port + 1}", $"https://127.0.0.1:{port}", $"http://localhost:{port}", "http://127.0.0.1" })
                foreach (var request in StateChanging(id))
                {
                    var what = $"{request.Method} {request.RequestUri} Origin: {origin}";
                    request.Headers.Add("Origin", origin);
                    if (app.Token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", app.Token);
                    var (status, body) = await Send(http, request);
                    Assert.True(status == HttpStatusCode.Forbidden, $"{what}: {(int)status} {body}");
                    Assert.Contains($"origin '{origin}' is not this workbench", body);
                }
            Assert.Equal(before, Snapshot(app));

            // Control: the workbench's own origin (its pages' requests) and no Origin (scripts) go through.
            using var own = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{id}/stop");
            own.Headers.Add("Origin", $"http://127.0.0.1:{port}");
            if (app.Token is not null) own.Headers.Authorization = new AuthenticationHeaderValue("Bearer", app.Token);
            Assert.Equal(HttpStatusCode.Accepted, (await Send(http, own)).Status);
            Assert.Equal(RunStatus.Stopped, app.Store.Get(id)!.Status);
            using var negotiate = new HttpRequestMessage(HttpMethod.Post, "/hubs/runs/negotiate?negotiateVersion=1");
            if (app.Token is not null) negotiate.Headers.Authorization = new AuthenticationHeaderValue("Bearer", app.Token);
            var (ns, nbody) = await Send(http, negotiate);
            Assert.True(ns == HttpStatusCode.OK, nbody);
            Assert.Contains("connectionToken", nbody);
        }
    }

    [Fact]
    public async Task A_cross_site_websocket_to_the_hubs_is_refused_while_the_workbench_own_one_can_join_all()
    {
        // The opt-out: no token, so this is the attack the issue describes (a page opens /hubs/runs and calls JoinAll).
        await using var app = await TestApp.StartAsync(null, "RlGaf:AccessToken=");
        foreach (var path in new[] { "/hubs/runs", "/_blazor" })
            foreach (var origin in new[] { Evil, "null", $"http://localhost:{app.BaseAddress.Port + 1}" })
            {
                var (open, status, _) = await WebSocket(app, path, origin, token: null, joinAll: false);
                Assert.False(open, $"{path} from {origin} opened");
                Assert.Equal(HttpStatusCode.Forbidden, status);
            }
        var control = await WebSocket(app, "/hubs/runs", $"http://127.0.0.1:{app.BaseAddress.Port}", token: null, joinAll: true);
        Assert.True(control.Open);
        Assert.Contains("\"invocationId\":\"1\"", control.Reply); // JoinAll completed

        // With the token: a foreign origin is refused even with a (stolen) token; without it, refused too.
        await using var guarded = await TestApp.StartAsync();
        Assert.Equal(HttpStatusCode.Forbidden, (await WebSocket(guarded, "/hubs/runs", Evil, guarded.Token, joinAll: false)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await WebSocket(guarded, "/hubs/runs", null, token: null, joinAll: false)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await WebSocket(guarded, "/hubs/runs", null, token: "wrong-token-0123456789", joinAll: false)).Status);
        var ok = await WebSocket(guarded, "/hubs/runs", null, guarded.Token, joinAll: true);
        Assert.True(ok.Open);
        Assert.Contains("\"invocationId\":\"1\"", ok.Reply);
    }

    /// <summary>A raw WebSocket as a page would open it (SignalR allows skipping negotiation); optionally the JSON handshake and JoinAll.</summary>
    private static async Task<(bool Open, HttpStatusCode Status, string Reply)> WebSocket(TestApp app, string path, string? origin, string? token, bool joinAll)
    {
        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        if (origin is not null) ws.Options.SetRequestHeader("Origin", origin);
        var uri = new UriBuilder(app.BaseAddress) { Scheme = "ws", Path = path, Query = token is null ? "" : $"access_token={Uri.EscapeDataString(token)}" }.Uri;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try { await ws.ConnectAsync(uri, cts.Token); }
        catch (WebSocketException) { return (false, (HttpStatusCode)ws.HttpStatusCode, ""); }
        var reply = new StringBuilder();
        if (joinAll)
        {
            async Task SendText(string text) => await ws.SendAsync(Encoding.UTF8.GetBytes(text + "\u001e"), WebSocketMessageType.Text, true, cts.Token);
            var buffer = new byte[4096];
            await SendText("{\"protocol\":\"json\",\"version\":1}");
            await SendText("{\"type\":1,\"invocationId\":\"1\",\"target\":\"JoinAll\",\"arguments\":[]}");
            while (!reply.ToString().Contains("\"type\":3", StringComparison.Ordinal))
            {
                var got = await ws.ReceiveAsync(buffer, cts.Token);
                if (got.MessageType == WebSocketMessageType.Close) break;
                reply.Append(Encoding.UTF8.GetString(buffer, 0, got.Count));
            }
        }
        bool open = ws.State == WebSocketState.Open;
        if (open) await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
        return (open, (HttpStatusCode)ws.HttpStatusCode, reply.ToString());
    }

    [Fact]
    public async Task No_token_a_wrong_token_or_a_token_in_the_wrong_place_is_401_and_changes_nothing()
    {
        await using var app = await TestApp.StartAsync();
        using var hold = app.Host.ReserveSlot("the security test");
        var id = Victim(app);
        var before = Snapshot(app);
        using var http = Raw(app);
        var token = app.Token!;
        var port = app.BaseAddress.Port;

        async Task Refused(HttpRequestMessage request, string what)
        {
            var (status, body) = await Send(http, request);
            Assert.True(status == HttpStatusCode.Unauthorized, $"{what}: {request.Method} {request.RequestUri}: {(int)status}");
            Assert.Contains("access token", body);
            Assert.DoesNotContain(id, body);
            Assert.DoesNotContain("secret-sample-text", body);
        }

        foreach (var r in Reads(id).Concat(StateChanging(id))) await Refused(r, "no token");
        foreach (var r in Reads(id).Concat(StateChanging(id)))
        {
            r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "wrong-token-0123456789");
            await Refused(r, "wrong bearer");
        }
        foreach (var r in Reads(id))
        {
            r.Headers.Add("Cookie", $"{AccessToken.CookieNameFor(port)}=wrong-cookie-0123456789");
            await Refused(r, "wrong cookie");
        }
        await Refused(new HttpRequestMessage(HttpMethod.Get, "/api/runs?access_token=wrong-query-0123456789"), "wrong query");
        await Refused(new HttpRequestMessage(HttpMethod.Get, $"/api/runs?access_token={token[..^1]}"), "the token less its last character");

        // The right token, but where the workbench does not read one.
        var misplaced = new List<(string What, HttpRequestMessage Request)>
        {
            ("query on a POST", new(HttpMethod.Post, $"/api/runs/{id}/stop?access_token={token}")),
            ("query on a DELETE", new(HttpMethod.Delete, $"/api/runs/{id}?access_token={token}")),
            ("X-Access-Token header", new(HttpMethod.Post, $"/api/runs/{id}/stop") { Headers = { { "X-Access-Token", token } } }),
            ("Authorization without a scheme", new(HttpMethod.Post, $"/api/runs/{id}/stop") { Headers = { { "Authorization", token } } }),
            ("Basic authorization", new(HttpMethod.Post, $"/api/runs/{id}/stop") { Headers = { Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("user:" + token))) } }),
            ("cookie of the old name", new(HttpMethod.Post, $"/api/runs/{id}/stop") { Headers = { { "Cookie", $"rlgaf_token={token}" } } }),
            ("cookie of another port", new(HttpMethod.Post, $"/api/runs/{id}/stop") { Headers = { { "Cookie", $"{AccessToken.CookieNameFor(port + 1)}={token}" } } }),
            ("Referer", new(HttpMethod.Post, $"/api/runs/{id}/stop") { Headers = { { "Referer", $"{app.BaseAddress}?access_token={token}" } } }),
            ("JSON body", new(HttpMethod.Post, "/api/runs") { Content = new StringContent($"{{\"access_token\": \"{token}\", \"preset\": \"reinforce\"}}", Encoding.UTF8, "application/json") }),
            ("form body", new(HttpMethod.Post, $"/api/runs/{id}/stop") { Content = new FormUrlEncodedContent([new("access_token", token)]) }),
            ("path segment", new(HttpMethod.Post, $"/{token}/api/runs/{id}/stop")),
        };
        foreach (var (what, request) in misplaced) await Refused(request, what);
        Assert.Equal(before, Snapshot(app));

        // Control: the same stop with the token in its place works.
        using var stop = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{id}/stop");
        stop.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.Accepted, (await Send(http, stop)).Status);
        Assert.Equal(RunStatus.Stopped, app.Store.Get(id)!.Status);
    }

    [Fact]
    public async Task Ten_different_wrong_tokens_lock_the_address_out_with_429_the_right_token_included()
    {
        await using var app = await TestApp.StartAsync();
        using var http = Raw(app);
        HttpRequestMessage With(string token) => new(HttpMethod.Get, "/api/runs") { Headers = { Authorization = new("Bearer", token) } };
        // A stale value repeated (a tab from before a restart) is one guess however often it comes.
        for (int i = 0; i < 25; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await Send(http, With("stale-token-from-before"))).Status);
        Assert.Equal(HttpStatusCode.OK, (await Send(http, With(app.Token!))).Status);
        for (int i = 1; i < 10; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await Send(http, With($"guess-number-{i:D4}-xxxxxxxx"))).Status);
        // Ten different wrong ones now (the stale one and nine guesses): locked out, the right token too.
        using var locked = With(app.Token!);
        using var response = await http.SendAsync(locked);
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.InRange(response.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
        Assert.Contains("too many wrong access tokens", await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(http, new HttpRequestMessage(HttpMethod.Get, "/api/runs"))).Status);
    }

    [Fact]
    public async Task A_cross_site_page_guessing_through_img_tags_neither_gets_in_nor_locks_the_user_out()
    {
        await using var app = await TestApp.StartAsync();
        using var http = Raw(app);
        HttpRequestMessage Img(string token) => new(HttpMethod.Get, $"/?access_token={token}")
        {
            Headers = { { "Sec-Fetch-Site", "cross-site" }, { "Sec-Fetch-Mode", "no-cors" }, { "Sec-Fetch-Dest", "image" } },
        };
        for (int i = 0; i < 30; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await Send(http, Img($"guess-number-{i:D4}-xxxxxxxx"))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(http, Img(app.Token!))).Status); // even the right one: a subrequest carries no token
        // The user, opening the printed address, is not locked out.
        using var user = new HttpRequestMessage(HttpMethod.Get, $"/api/runs?access_token={app.Token}") { Headers = { { "Sec-Fetch-Site", "none" } } };
        Assert.Equal(HttpStatusCode.OK, (await Send(http, user)).Status);
    }

    [Fact]
    public async Task The_first_visit_sets_an_httponly_strict_cookie_and_redirects_the_token_out_of_the_address()
    {
        await using var app = await TestApp.StartAsync();
        using var http = Raw(app);
        var port = app.BaseAddress.Port;
        using var first = new HttpRequestMessage(HttpMethod.Get, $"/compare?runs=a,b&access_token={app.Token}");
        first.Headers.Accept.ParseAdd("text/html,application/xhtml+xml");
        using var redirect = await http.SendAsync(first);
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Equal("/compare?runs=a,b", redirect.Headers.Location!.OriginalString);
        Assert.True(redirect.Headers.CacheControl!.NoStore);
        var cookie = Assert.Single(redirect.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith($"{AccessToken.CookieNameFor(port)}={app.Token};", cookie);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/", cookie, StringComparison.OrdinalIgnoreCase);

        // The cookie alone then opens pages and the packages' assets.
        foreach (var path in new[] { "/compare?runs=a,b", "/_content/MudBlazor/MudBlazor.min.css" })
        {
            using var next = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { { "Cookie", cookie.Split(';')[0] } } };
            var (status, _) = await Send(http, next);
            Assert.True(status == HttpStatusCode.OK, $"{path}: {(int)status}");
        }
        // A script's GET with ?access_token= is answered directly, not redirected.
        var (apiStatus, apiBody) = await Send(http, new HttpRequestMessage(HttpMethod.Get, $"/api/runs?access_token={app.Token}"));
        Assert.Equal(HttpStatusCode.OK, apiStatus);
        Assert.Equal("[]", apiBody);
    }

    [Fact]
    public async Task The_claim_file_carries_address_and_token_readable_by_its_owner_only_and_is_never_served()
    {
        await using var app = await TestApp.StartAsync();
        var path = Path.Combine(app.DataRoot, "workbench.pid");
        var claim = JsonSerializer.Deserialize<WorkbenchClaim>(File.ReadAllText(path))!;
        Assert.Equal(app.Token, claim.Token);
        Assert.Equal(app.BaseAddress.ToString().TrimEnd('/'), claim.Url);
        Assert.Equal(Environment.ProcessId, claim.Pid);
        Assert.DoesNotContain(app.Token!, claim.ToString());
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Empty(Directory.GetFiles(app.DataRoot, "*.tmp"));

        using var http = app.Client();
        foreach (var probe in new[]
        {
            "/workbench.pid", "/data/workbench.pid", "/rlgaf.db", "/wwwroot/../workbench.pid", "/_content/../workbench.pid",
            "/api/experiments/..%2Fworkbench.pid", "/api/experiments/..%2F/files/workbench.pid", "/api/experiments/x/files/..%2F..%2Fworkbench.pid",
            "/api/experiments/%2E%2E/files/..%2Fworkbench.pid", "/api/runs/..%2Fworkbench.pid", "/api/runs/..%2F..%2Fworkbench.pid/events",
        })
        {
            using var response = await http.GetAsync(probe);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode < 500, $"{probe}: {(int)response.StatusCode}");
            Assert.DoesNotContain(app.Token!, body);
            Assert.DoesNotContain("\"Pid\"", body);
        }
    }

    [Fact]
    public void The_claim_is_replaced_atomically_with_mode_0600_even_over_a_world_readable_one()
    {
        var dir = Directory.CreateTempSubdirectory("rlgaf-claim-").FullName;
        try
        {
            var path = Path.Combine(dir, "workbench.pid");
            File.WriteAllText(path, "{\"Pid\":1,\"Url\":null}");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100); // 0644, as before this change
            RunStore.WriteClaim(path, new WorkbenchClaim(42, "http://127.0.0.1:5180", "t0ken-of-sixteen-chars"));
            Assert.Equal(new WorkbenchClaim(42, "http://127.0.0.1:5180", "t0ken-of-sixteen-chars"), JsonSerializer.Deserialize<WorkbenchClaim>(File.ReadAllText(path)));
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal([path], Directory.GetFiles(dir));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task In_production_the_unpublished_build_serves_the_packages_assets()
    {
        await using var app = await TestApp.StartAsync(null, "environment=Production");
        Assert.Equal("Production", app.App.Environment.EnvironmentName);
        using var http = app.Client();
        using var css = await http.GetAsync("/_content/MudBlazor/MudBlazor.min.css");
        Assert.Equal(HttpStatusCode.OK, css.StatusCode);
        Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);
        Assert.True((await css.Content.ReadAsByteArrayAsync()).Length > 10_000);
        using var js = await http.GetAsync("/_framework/blazor.web.js");
        Assert.Equal(HttpStatusCode.OK, js.StatusCode);
        using var page = await http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("_content/MudBlazor/MudBlazor.min.css", await page.Content.ReadAsStringAsync());
    }

    [Fact]
    public void Startup_refuses_a_short_token_naming_the_key_and_a_data_root_inside_the_web_root()
    {
        var root = TestApp.NewDataRoot();
        try
        {
            var e = Assert.Throws<StartupRefusedException>(() => WorkbenchHost.Build([$"--RlGaf:DataRoot={root}", "--urls=http://127.0.0.1:0", "--RlGaf:AccessToken=short"]));
            Assert.Contains("RlGaf:AccessToken has 5 characters, at least 16", e.Message);
            var exposed = Assert.Throws<StartupRefusedException>(() => WorkbenchHost.Build([$"--RlGaf:DataRoot={root}", "--urls=http://0.0.0.0:0", "--RlGaf:AccessToken="]));
            Assert.Contains("opting out of the token is for loopback only", exposed.Message);
            var web = Path.Combine(root, "wwwroot");
            Directory.CreateDirectory(web);
            var inWeb = Assert.Throws<StartupRefusedException>(() => WorkbenchHost.Build(
                [$"--RlGaf:DataRoot={Path.Combine(web, "data")}", "--urls=http://127.0.0.1:0", $"--webroot={web}"]));
            Assert.Contains("inside the web root", inWeb.Message);
        }
        finally { TestApp.TryDelete(root); }
    }
}
