using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Tests.Infrastructure;
using RlGaf.Workbench.Training;
using Xunit.Abstractions;

namespace RlGaf.Workbench.Tests.Load;

/// <summary>
/// Many watchers on one training run: 50 SignalR clients, 10 browser tabs on the run page, and one
/// client that stops reading. Everyone else must receive every point; latency from the server's
/// publication to the client (and to the chart) is reported, and memory must stay bounded.
/// </summary>
[Collection(HostedCollection.Name)]
[Trait("Category", "Load")]
public class LoadTests(ITestOutputHelper output)
{
    private const int HubClients = 50, Tabs = 10, Steps = 40;
    /// <summary>
    /// Updates of a second (synthetic) run that only the stalled client watches, about 1.6 KB each: 6 MB,
    /// more than its socket (loopback send buffers grow to 4 MB) and pipes hold, so it really pushes back.
    /// </summary>
    private const int Flood = 4000;
    private const string FloodRun = "load-flood";

    private sealed record Arrival(string RunId, int Step, bool HasReward, DateTime Sent, DateTime Received);

    [Fact]
    public async Task Every_watcher_of_a_run_gets_every_point_while_one_client_stops_reading()
    {
        await using var app = await TestApp.StartAsync();
        var (ws0, heap0) = Memory();

        // The run pauses after its set-up, so every watcher is in place before its points flow.
        var id = app.Host.Create(TinyModel.Settings(TrainingMethod.Reinforce, Steps), "load").Id;
        await TestApp.WaitFor(() => app.Host.IsActive(id) && app.Store.Get(id)?.Status == RunStatus.Running, "the run starts", 120);
        app.Host.Pause(id);
        await TestApp.WaitFor(() => app.Store.Get(id)?.Status == RunStatus.Paused, "the run pauses", 120);
        int pausedAt = app.Store.Get(id)!.Step;

        var arrivals = Enumerable.Range(0, HubClients).Select(_ => new ConcurrentQueue<Arrival>()).ToArray();
        var errors = new ConcurrentQueue<string>();
        var clients = new List<HubConnection>();
        try
        {
            for (int i = 0; i < HubClients; i++)
            {
                var c = new HubConnectionBuilder().WithUrl(new Uri(app.BaseAddress, "/hubs/runs"), o => o.AccessTokenProvider = () => Task.FromResult(app.Token))
                    .AddJsonProtocol(o => o.PayloadSerializerOptions.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals).Build();
                var mine = arrivals[i];
                c.On<JsonElement>("metrics", m =>
                {
                    var received = DateTime.UtcNow;
                    try
                    {
                        mine.Enqueue(new Arrival(m.GetProperty("runId").GetString()!, m.GetProperty("step").GetInt32(),
                            m.GetProperty("values").TryGetProperty("reward/mean", out _), m.GetProperty("timeUtc").GetDateTime().ToUniversalTime(), received));
                    }
                    catch (Exception e) { errors.Enqueue($"{e.GetType().Name}: {e.Message} in {m}"); }
                });
                await c.StartAsync();
                await c.InvokeAsync("JoinRun", id);
                clients.Add(c);
            }

            // What the run publishes, as the server stamped it (the reference for every watcher).
            var published = new ConcurrentQueue<MetricsUpdate>();
            using var reference = app.Notifier.Subscribe(id);
            var recorder = Task.Run(async () =>
            {
                await foreach (var u in reference.Reader.ReadAllAsync()) if (u is MetricsUpdate m && m.RunId != FloodRun) published.Enqueue(m);
            });

            // The one that stops reading: joined to every run, it gets a burst it never reads, so from
            // here on it pushes back on the server (with one shared send loop, that stalled everyone).
            using var stalled = await StalledHubClient(app.BaseAddress, app.Token);
            var values = Enumerable.Range(0, 40).ToDictionary(k => $"flood/metric-{k:D2}", k => k * 0.123456789);
            for (int s = 0; s < Flood; s++) app.Notifier.Publish(new MetricsUpdate(FloodRun, s, values));

            bool browser = File.Exists(BrowserSession.ExecutablePath);
            await using var session = browser ? await BrowserSession.LaunchAsync() : null;
            var pages = new List<IPage>();
            var clock = Stopwatch.StartNew();
            if (session is not null)
            {
                for (int i = 0; i < Tabs; i++) pages.Add(await session.OpenAsync(app, $"/runs/{id}"));
                foreach (var p in pages)
                {
                    await p.WaitForFunctionAsync("() => window.Plotly && document.getElementById('plot-reward')?.data", null, new PageWaitForFunctionOptions { Timeout = 60_000 });
                    await p.EvaluateAsync(ArrivalHook);
                }
                output.WriteLine($"{Tabs} tabs open in {clock.Elapsed.TotalSeconds:0.0} s");
            }
            else output.WriteLine($"no Chromium at {BrowserSession.ExecutablePath}: hub clients only");

            app.Host.Resume(id);
            clock.Restart();
            await TestApp.WaitFor(() => app.Store.Get(id)?.Status is RunStatus.Completed or RunStatus.Failed, "the run completes", 240);
            Assert.Equal(RunStatus.Completed, app.Store.Get(id)!.Status);
            double trainSeconds = clock.Elapsed.TotalSeconds;

            // Every client but the stalled one gets every point the run logged after they joined, once.
            var expected = app.Store.GetMetrics(id, pausedAt).GroupBy(p => p.Step).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(Enumerable.Range(pausedAt + 1, Steps - pausedAt), expected.Keys.Order());
            try
            {
                await TestApp.WaitFor(() => arrivals.All(a => a.Count(x => x.RunId == id) == expected.Values.Sum()), "every hub client has every point", 60);
            }
            catch (TimeoutException)
            {
                var runCounts = arrivals.Select(a => a.Count(x => x.RunId == id)).ToList();
                Assert.Fail($"hub clients got {runCounts.Min()}..{runCounts.Max()} of the {expected.Values.Sum()} points the run logged after they joined; " +
                            $"{errors.Count} handler errors: {errors.FirstOrDefault()}");
            }
            for (int i = 0; i < HubClients; i++)
            {
                var got = arrivals[i].Where(x => x.RunId == id).GroupBy(x => x.Step).ToDictionary(g => g.Key, g => g.Count());
                Assert.Equal(expected.OrderBy(kv => kv.Key), got.OrderBy(kv => kv.Key));
                Assert.DoesNotContain(arrivals[i], x => x.RunId == FloodRun);
            }

            var hubLatency = arrivals.SelectMany(a => a.Where(x => x.RunId == id)).Select(x => (x.Received - x.Sent).TotalMilliseconds).ToList();
            output.WriteLine($"{HubClients} hub clients: {hubLatency.Count} run points, publication to client p50 {Pct(hubLatency, 50):0.0} ms, " +
                             $"p95 {Pct(hubLatency, 95):0.0} ms, max {hubLatency.Max():0.0} ms; run trained {Steps} steps in {trainSeconds:0.0} s");
            // Not the 250 ms target (that depends on the machine): the stalled client must not hold the others up.
            // With one shared send loop the median was 4.5 s here (everyone waited until the server dropped the stalled
            // connection); with a feed per connection it is tens of milliseconds, on a loaded machine too.
            Assert.True(Pct(hubLatency, 50) < 1000, $"hub clients waited a median {Pct(hubLatency, 50):0} ms for a point: the stalled client holds them up");

            if (pages.Count > 0)
            {
                // Each tab's reward chart has every training step exactly once (history and live points together).
                var sent = published.Where(m => m.RunId == id && m.Values.ContainsKey("reward/mean"))
                    .GroupBy(m => m.Step).ToDictionary(g => g.Key, g => g.Min(m => m.TimeUtc));
                var chartLatency = new List<double>();
                foreach (var p in pages)
                {
                    await BrowserSession.WaitUntil(async () => (await RewardSteps(p)).Length == Steps, $"the tab's chart reaches step {Steps}", 60);
                    Assert.Equal(Enumerable.Range(1, Steps), await RewardSteps(p));
                    var arrived = await p.EvaluateAsync<Dictionary<string, double>>("() => window.__rlgafArrivals['plot-reward'] || {}");
                    foreach (var (step, t) in arrived)
                        if (t >= 0 && sent.TryGetValue(int.Parse(step), out var at))
                            chartLatency.Add(t - (at - DateTime.UnixEpoch).TotalMilliseconds);
                }
                Assert.NotEmpty(chartLatency);
                output.WriteLine($"{pages.Count} tabs: {chartLatency.Count} live chart points, publication to chart p50 {Pct(chartLatency, 50):0.0} ms, " +
                                 $"p95 {Pct(chartLatency, 95):0.0} ms, max {chartLatency.Max():0.0} ms (target p95 <= 250 ms)");
                foreach (var p in pages) await p.CloseAsync();
            }

            foreach (var c in clients) await c.DisposeAsync();
            clients.Clear();
            reference.Dispose();
            await recorder;
            var (ws1, heap1) = Memory();
            if (File.Exists("/proc/loadavg")) output.WriteLine($"machine load average (1, 5, 15 min) at the end: {File.ReadAllText("/proc/loadavg").Trim()}; cores: {Environment.ProcessorCount}");
            output.WriteLine($"test process (server and the 50 clients): working set {ws0 / 1e6:0} -> {ws1 / 1e6:0} MB, managed heap {heap0 / 1e6:0.0} -> {heap1 / 1e6:0.0} MB");
            // Bounded: the stalled client holds at most its own queue (RunNotifier.DefaultCapacity updates), not the stream.
            Assert.True(heap1 - heap0 < 150e6, $"managed heap grew by {(heap1 - heap0) / 1e6:0} MB");
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }

    private static (long WorkingSet, long Heap) Memory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var p = Process.GetCurrentProcess();
        return (p.WorkingSet64, GC.GetTotalMemory(true));
    }

    private static double Pct(List<double> xs, double pct)
    {
        var sorted = xs.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(pct / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static Task<int[]> RewardSteps(IPage page) => page.EvaluateAsync<int[]>(
        "() => { const t = (document.getElementById('plot-reward')?.data || []).find(t => t.name === 'reward/mean (raw)'); return t ? Array.from(t.x) : []; }");

    /// <summary>
    /// Records, per step of the reward chart, when Plotly finished drawing it (the browser's wall clock):
    /// at each plotly_afterplot, the steps of the raw reward trace not seen before. Independent of how
    /// the page feeds its charts.
    /// </summary>
    private const string ArrivalHook = """
        () => {
          if (window.__rlgafArrivals) return;
          const seen = {};
          window.__rlgafArrivals = { 'plot-reward': seen };
          const el = document.getElementById('plot-reward');
          const mark = () => {
            const t = performance.timeOrigin + performance.now();
            const trace = (el.data || []).find(d => d.name === 'reward/mean (raw)');
            if (trace) for (const x of trace.x) if (!(x in seen)) seen[x] = t;
          };
          mark(); // what the page drew before the hook: not live points, dropped below
          for (const k of Object.keys(seen)) seen[k] = -1;
          el.on('plotly_afterplot', mark);
        }
        """;

    /// <summary>
    /// A hub client that joins every run and then never reads: a raw WebSocket over a socket with a
    /// tiny receive buffer, so what the server sends piles up on the server's side at once.
    /// </summary>
    private static async Task<Socket> StalledHubClient(Uri baseAddress, string? token)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(IPAddress.Loopback, baseAddress.Port);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /hubs/runs HTTP/1.1\r\n{(token is null ? "" : $"Authorization: Bearer {token}\r\n")}Host: 127.0.0.1:{baseAddress.Port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                                                       $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"));
        var head = new StringBuilder();
        var buffer = new byte[1024];
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while (!head.ToString().Contains("\r\n\r\n"))
            {
                int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0) break;
                head.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
        }
        Assert.StartsWith("HTTP/1.1 101", head.ToString());
        await socket.SendAsync(TextFrame("{\"protocol\":\"json\",\"version\":1}\u001e"));
        await socket.SendAsync(TextFrame("{\"type\":1,\"target\":\"JoinAll\",\"arguments\":[]}\u001e"));
        return socket;
    }

    /// <summary>One masked WebSocket text frame (a client must mask), payload under 126 bytes.</summary>
    private static byte[] TextFrame(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        var mask = RandomNumberGenerator.GetBytes(4);
        var frame = new byte[2 + 4 + payload.Length];
        frame[0] = 0x81;
        frame[1] = (byte)(0x80 | payload.Length);
        mask.CopyTo(frame, 2);
        for (int i = 0; i < payload.Length; i++) frame[6 + i] = (byte)(payload[i] ^ mask[i % 4]);
        return frame;
    }
}
