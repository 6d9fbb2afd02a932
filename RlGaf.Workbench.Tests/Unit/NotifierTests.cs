using RlGaf.Engine.Runs;
using RlGaf.Workbench.Api;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench.Tests.Unit;

public class NotifierTests
{
    [Fact]
    public void A_full_subscriber_drops_its_oldest_updates_and_never_blocks_the_publisher()
    {
        var n = new RunNotifier();
        using var slow = n.Subscribe("a", capacity: 3);
        using var other = n.Subscribe("b");
        for (int i = 0; i < 10; i++) n.Publish(new MetricsUpdate("a", i, new Dictionary<string, double>()));
        var got = new List<int>();
        while (slow.Reader.TryRead(out var u)) got.Add(((MetricsUpdate)u).Step);
        Assert.Equal([7, 8, 9], got);
        Assert.False(other.Reader.TryRead(out _)); // another run's subscriber sees nothing
    }

    [Fact]
    public void Unsubscribing_completes_the_channel()
    {
        var n = new RunNotifier();
        var s = n.Subscribe(null);
        Assert.Equal(1, n.SubscriberCount);
        s.Dispose();
        Assert.Equal(0, n.SubscriberCount);
        Assert.True(s.Reader.Completion.IsCompleted);
    }

    [Fact]
    public void Metrics_csv_has_one_column_per_metric_and_keeps_nan()
    {
        var csv = RunsApi.MetricsCsv([
            new MetricPoint { Step = 0, Values = new() { ["b"] = 1.5 } },
            new MetricPoint { Step = 1, Values = new() { ["a"] = double.NaN, ["b"] = 2 } },
        ]);
        Assert.Equal("step,a,b\n0,,1.5\n1,NaN,2\n", csv);
    }

    [Fact]
    public void Metrics_csv_quotes_a_metric_name_holding_a_comma_or_quote()
    {
        var csv = RunsApi.MetricsCsv([new MetricPoint { Step = 3, Values = new() { ["a,b"] = 0.25, ["q\"x"] = -1e-7 } }]);
        Assert.Equal("step,\"a,b\",\"q\"\"x\"\n3,0.25,-1E-07\n", csv);
    }

    [Fact]
    public void Create_body_takes_settings_or_a_preset_with_changes()
    {
        var (s, name) = RunsApi.ParseCreate(System.Text.Json.JsonDocument.Parse("""{"preset":"ppo","set":{"steps":5,"kl_coef":0.1}}""").RootElement);
        Assert.Equal(TrainingMethod.Ppo, s.Method);
        Assert.Equal(5, s.Steps);
        Assert.Equal("ppo", name);
        var (t, _) = RunsApi.ParseCreate(System.Text.Json.JsonDocument.Parse("""{"method":"gumbel","steps":3}""").RootElement);
        Assert.Equal(TrainingMethod.Gumbel, t.Method);
        var e = Assert.Throws<ArgumentException>(() => RunsApi.ParseCreate(System.Text.Json.JsonDocument.Parse("""{"preset":"ppo","set":{"gen_lr":2}}""").RootElement));
        Assert.Contains("gen_lr", e.Message);

        // The command line's form: complete settings and a name.
        var (u, named) = RunsApi.ParseCreate(System.Text.Json.JsonDocument.Parse("""{"settings":{"method":"ppo","steps":7},"name":"cli run"}""").RootElement);
        Assert.Equal((TrainingMethod.Ppo, 7, "cli run"), (u.Method, u.Steps, named));
        Assert.Contains("unknown field 'preset'", Assert.Throws<ArgumentException>(() =>
            RunsApi.ParseCreate(System.Text.Json.JsonDocument.Parse("""{"settings":{"steps":7},"preset":"ppo"}""").RootElement)).Message);
        Assert.Contains("steps", Assert.Throws<ArgumentException>(() =>
            RunsApi.ParseCreate(System.Text.Json.JsonDocument.Parse("""{"settings":{"steps":0}}""").RootElement)).Message);
    }
}
