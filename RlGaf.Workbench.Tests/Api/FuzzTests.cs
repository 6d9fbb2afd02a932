using System.Net;
using System.Net.Http.Headers;
using System.Text;
using RlGaf.Workbench.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RlGaf.Workbench.Tests.Api;

/// <summary>
/// A bounded, seeded fuzz of the HTTP API with the token (so every request reaches the endpoints):
/// malformed JSON, wrong types, huge and negative numbers, NaN, duplicate and unknown keys, long
/// strings, deep nesting, odd bytes, path tricks and odd methods. Never a 5xx, the app stays up, and a
/// refused request leaves the store as it was; a create or compare body of the wrong shape is 400, not
/// 409. A held training slot keeps anything accepted from training.
/// </summary>
[Collection(HostedCollection.Name)]
public class FuzzTests(ITestOutputHelper output)
{
    private const int Seed = 20261202;
    private const int Generated = 1500;

    private static readonly string[] Values =
    [
        "null", "true", "false", "0", "-0", "-1", "1.5", "-1e-320", "1e308", "-1e308", "1e400", "-1e400", "2147483648", "-2147483649",
        "9223372036854775808", "123456789012345678901234567890", "\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "\"1e999\"", "\"\"", "\"   \"",
        "\"0x10\"", "\"1,000\"", "\"\uff11\uff12\"", "\"-\"", "\"\\u0000\"", "\"\\ud800\"", "\"../../etc/passwd\"", "\"/etc/passwd\"",
        "\"imdb:/etc\"", "\"squad:../../x.json\"", "\"%2e%2e%2f\"", "\"C:\\\\Windows\"", "\"\\\\\\\\server\\\\share\"", "[]", "{}", "[1,2]",
        "{\"a\":{\"b\":[null]}}", "\"pretrain\"", "\"reinforce\"", "\"gumbel\"",
        "\"" + new string('x', 100_000) + "\"", Nested(200),
    ];

    private static readonly string[] Keys =
    [
        "gen_lr", "disc_lr", "steps", "batch_size", "seed", "method", "dataset", "generator", "disc_init", "disc_checkpoint", "gumbel_tau",
        "gumbel_beta_max", "gumbel_schedule", "max_new_tokens", "eval_every", "eval_prompts", "kl_coef", "temperature", "top_k", "threads",
        "nonsense", "__proto__", "constructor", "", " steps", "STEPS", new string('k', 5000),
    ];

    private static readonly string[] Malformed =
    [
        "", " ", "{", "}", "[", "{\"a\":}", "{\"a\":1,}", "{'a':1}", "nul", "NaN", "{\"steps\": NaN}", "{\"steps\": Infinity}", "{\"a\":1}{\"b\":2}",
        "\uFEFF{\"preset\": \"reinforce\", \"set\": {\"steps\": -5}}", "{\"preset\": \"reinforce\" \"name\": 1}", "\"just a string\"", "123", "[{}]",
        new string('[', 5000) + new string(']', 5000), new string('{', 3000), "{\"a\":\"\\x41\"}", "{\"a\":\"\u0001\"}", "{\"a\":01}", "{\"a\":+1}",
        "{\"a\":.5}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":tru}",
    ];

    private static string Nested(int depth) => new StringBuilder().Insert(0, "{\"a\":", depth).Append("1").Append('}', depth).ToString();

    private sealed record Case(string What, HttpMethod Method, string Path, byte[]? Body, string? ContentType = "application/json");

    private static Case Json(string what, string path, string body, string? contentType = "application/json") =>
        new(what, HttpMethod.Post, path, Encoding.UTF8.GetBytes(body), contentType);

    private static IEnumerable<Case> Cases(string id)
    {
        var bodyTargets = new[] { "/api/runs", $"/api/runs/{id}/settings", "/api/compare", "/api/experiments" };
        foreach (var target in bodyTargets)
            foreach (var m in Malformed) yield return Json($"malformed {target}: {Short(m)}", target, m);
        foreach (var target in bodyTargets)
        {
            yield return new Case($"invalid UTF-8 {target}", HttpMethod.Post, target, [0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
            yield return new Case($"UTF-16 {target}", HttpMethod.Post, target, Encoding.Unicode.GetBytes("{\"steps\": 5}"));
            yield return new Case($"no content type {target}", HttpMethod.Post, target, Encoding.UTF8.GetBytes("{}"), null);
            yield return Json($"text/plain {target}", target, "{\"steps\": 5}", "text/plain");
            yield return Json($"form {target}", target, "steps=5", "application/x-www-form-urlencoded");
            yield return new Case($"no body {target}", HttpMethod.Post, target, null, null);
        }
        // Duplicate keys: the last value must not slip a bad one past a check of the first (or the reverse).
        yield return Json("duplicate key in settings", $"/api/runs/{id}/settings", "{\"gumbel_tau\": 0.5, \"gumbel_tau\": -1}");
        yield return Json("duplicate key in settings (bad first)", $"/api/runs/{id}/settings", "{\"gumbel_tau\": -1, \"gumbel_tau\": 0.5}");
        yield return Json("duplicate key in create", "/api/runs", "{\"preset\": \"reinforce\", \"set\": {\"gen_lr\": 0.0001, \"gen_lr\": 5}}");
        yield return Json("duplicate preset", "/api/runs", "{\"preset\": \"nope\", \"preset\": \"reinforce\", \"set\": {\"steps\": -1}}");
        yield return Json("duplicate settings", "/api/runs", "{\"settings\": {\"steps\": -1}, \"settings\": {\"steps\": -2}}");
        yield return Json("duplicate sources", "/api/compare", "{\"sources\": [\"a@1\", \"b@1\"], \"sources\": []}");
        yield return Json("duplicate seeds", "/api/experiments", "{\"seeds\": 1, \"seeds\": -1}");

        // Path tricks and odd methods against every route shape.
        foreach (var p in new[]
        {
            "/api/runs/%00", "/api/runs/" + new string('a', 4000), "/api/runs/..%2F..%2F", "/api/runs/%ff%fe", "/api/runs/%C0%AE%C0%AE",
            $"/api/runs/{id}%20/pause", $"/api/runs/{id}/../../api/runs", "/api/runs/%2e%2e/events", "/api/runs/\u00fc/metrics.csv",
            "/api/experiments/%00/files/x", "/api/experiments/x/files/" + new string('b', 4000), "/api/experiments/x/files/%00",
            "/api/runs?id=1&id=2", "/api/compare/sources?x=" + new string('c', 6000), "/api/runs/" + new string('d', 20_000),
            "/api/experiments/x/files/..%5C..%5Cworkbench.pid", "/api//runs", "/api/runs/%", "/api/runs/%zz",
        })
        {
            yield return new Case($"GET {Short(p)}", HttpMethod.Get, p, null, null);
            yield return new Case($"POST {Short(p)}/stop", HttpMethod.Post, p + "/stop", null, null);
        }
        foreach (var method in new[] { "PUT", "PATCH", "OPTIONS", "TRACE", "FOO" })
            foreach (var p in new[] { "/api/runs", $"/api/runs/{id}", "/api/experiments", "/api/compare" })
                yield return new Case($"{method} {p}", new HttpMethod(method), p, Encoding.UTF8.GetBytes("{}"));
        yield return Json("huge body", "/api/runs", "{\"name\": \"" + new string('n', 4_000_000) + "\", \"preset\": \"nope\"}");

        // Seeded combinations of keys and values in every body shape.
        var rng = new Random(Seed);
        string V() => Values[rng.Next(Values.Length)];
        string K() => Keys[rng.Next(Keys.Length)];
        string Q(string s) => System.Text.Json.JsonSerializer.Serialize(s);
        for (int i = 0; i < Generated; i++)
        {
            var (path, body) = rng.Next(9) switch
            {
                0 => ("/api/runs", $"{{\"preset\": {V()}}}"),
                1 => ("/api/runs", $"{{\"preset\": \"reinforce\", \"set\": {{{Q(K())}: {V()}, \"steps\": -1}}}}"),
                2 => ("/api/runs", $"{{\"settings\": {{{Q(K())}: {V()}, \"steps\": {V()}}}, \"name\": {V()}}}"),
                3 => ("/api/runs", $"{{{Q(K())}: {V()}, \"batch_size\": 0}}"),
                4 => ("/api/runs", $"{{\"preset\": \"reinforce\", \"name\": {V()}, \"set\": {V()}}}"),
                5 => ($"/api/runs/{id}/settings", $"{{{Q(K())}: {V()}}}"),
                6 => ($"/api/runs/{id}/settings", $"{{{Q(K())}: {V()}, {Q(K())}: {V()}}}"),
                7 => ("/api/compare", $"{{\"sources\": {V()}, {Q(new[] { "judge", "prompts", "seed", "temperature", "max_new_tokens", "x" }[rng.Next(6)])}: {V()}}}"),
                _ => ("/api/experiments", $"{{{Q(new[] { "suite", "seeds", "steps_budget", "methods", "data", "x" }[rng.Next(6)])}: {V()}, \"seeds\": {V()}}}"),
            };
            yield return Json($"#{i} {path} {Short(body)}", path, body);
        }
    }

    private static string Short(string s) => s.Length <= 80 ? s.Replace("\n", "\\n") : s[..60] + $"...({s.Length} chars)";

    [Fact]
    public async Task A_bounded_fuzz_of_the_api_never_gets_a_5xx_and_refused_requests_change_nothing()
    {
        await using var app = await TestApp.StartAsync();
        using var hold = app.Host.ReserveSlot("the fuzz test");
        var record = app.Store.Create(new Engine.Runs.RunSettings { Steps = 10 }, "fuzz target");
        app.Store.SetStatus(record.Id, Engine.Runs.RunStatus.Interrupted, "for the fuzz test");
        var experiments = Path.Combine(app.DataRoot, "experiments");
        string State() => SecurityTests.Snapshot(app) + "\n" + string.Join(",", Directory.Exists(experiments) ? Directory.GetFileSystemEntries(experiments) : []);
        var baseline = State();

        using var http = app.Client();
        http.Timeout = TimeSpan.FromSeconds(30);
        var started = DateTime.UtcNow;
        var failures = new List<string>();
        var accepted = new List<string>();
        int sent = 0;
        var statuses = new SortedDictionary<int, int>();
        var conflicts = new List<string>();
        foreach (var c in Cases(record.Id))
        {
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromMinutes(4), $"the fuzz ran past its time bound after {sent} requests");
            using var request = new HttpRequestMessage(c.Method, c.Path);
            if (c.Body is not null)
            {
                request.Content = new ByteArrayContent(c.Body);
                if (c.ContentType is not null) request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(c.ContentType);
            }
            int status;
            string body;
            try
            {
                using var response = await http.SendAsync(request);
                status = (int)response.StatusCode;
                body = await response.Content.ReadAsStringAsync();
            }
            catch (HttpRequestException e) { failures.Add($"{c.What}: connection failed: {e.Message}"); continue; }
            sent++;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            if (status == 409) conflicts.Add(c.What);
            // Nothing here can conflict with a state: a body of the wrong shape is the client's error (400), not 409.
            if (status == 409 && c.Path is "/api/runs" or "/api/compare") failures.Add($"{c.What}: 409 for a malformed body: {Short(body)}");
            if (status >= 500) failures.Add($"{c.What}: {status} {Short(body)}");
            else if (status >= 400)
            {
                var now = State();
                if (now != baseline) { failures.Add($"{c.What}: refused with {status} but the store changed"); baseline = now; }
            }
            else
            {
                // Accepted (a valid create queues a run behind the held slot): say so, then put the store back.
                accepted.Add($"{c.What}: {status}");
                foreach (var r in app.Store.List().Where(r => r.Id != record.Id)) app.Host.Delete(r.Id);
                baseline = State();
            }
        }
        output.WriteLine($"{sent} requests in {(DateTime.UtcNow - started).TotalSeconds:F1} s; accepted: {accepted.Count}");
        output.WriteLine("statuses: " + string.Join(", ", statuses.Select(kv => $"{kv.Key} x{kv.Value}")));
        foreach (var a in accepted) output.WriteLine("accepted " + a);
        foreach (var c in conflicts.Take(20)) output.WriteLine("409 " + c);
        foreach (var f in failures) output.WriteLine("FAILED " + f);

        Assert.Empty(failures);
        Assert.True(sent > Generated, $"only {sent} requests were sent");
        // Still up, still answering, the target run as it was.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/runs")).StatusCode);
        Assert.Equal(Engine.Runs.RunStatus.Interrupted, app.Store.Get(record.Id)!.Status);
    }
}
