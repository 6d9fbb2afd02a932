using RlGaf.Engine.Runs;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;

namespace RlGaf.Workbench.Tests.Unit;

/// <summary>The run table's query language: what each term matches, and errors that name the token and its position.</summary>
public class RunQueryTests
{
    private static RunRow Row(RunStatus status, TrainingMethod method, double tau, string[] tags, string note = "", string name = "run",
        params (string Metric, int Step, double Value)[] metrics)
    {
        var settings = new RunSettings { Method = method, GumbelTau = tau };
        var r = new RunRecord
        {
            Id = "20260101-000000-abcd", Name = name, Status = status, Method = RunStore.Kebab(method.ToString()), Dataset = "synthetic-reviews",
            SettingsJson = settings.ToJson(), Tags = [.. tags], Note = note,
        };
        foreach (var (m, step, v) in metrics)
        {
            if (!r.Summaries.TryGetValue(m, out var s)) r.Summaries[m] = s = new MetricSummary();
            s.Add(step, v);
        }
        var values = RunSettings.Keys.ToDictionary(k => k, settings.Get);
        return new RunRow(r, _ => values);
    }

    private static bool M(string filter, RunRow row) => RunQuery.Parse(filter).Matches(row);

    [Fact]
    public void Fields_settings_metrics_text_and_negation_match_what_they_name()
    {
        var ppo = Row(RunStatus.Completed, TrainingMethod.Ppo, 0.7, ["baseline", "v2"], note: "lowered the KL at step 100", name: "ppo sweep",
            ("align/positive-rate", 0, 0.4), ("align/positive-rate", 50, 0.9), ("align/positive-rate", 100, 0.8), ("oracle/nll", 0, 3.0), ("oracle/nll", 100, 2.5));

        Assert.True(M("status:completed method:ppo tag:baseline gumbel_tau>0.5", ppo));
        Assert.True(M("STATUS:Completed", ppo)); // case does not matter in fields
        Assert.False(M("tag:Baseline", ppo)); // it does in tags
        Assert.False(M("status:running", ppo));
        Assert.True(M("-status:running", ppo));
        Assert.True(M("status!=running", ppo));
        Assert.False(M("-tag:baseline", ppo));
        Assert.False(M("gumbel_tau>0.7", ppo));
        Assert.True(M("gumbel_tau>=0.7 gumbel_tau<=0.7 gumbel_tau=0.7 gumbel_tau:0.7", ppo));
        Assert.True(M("method=ppo", ppo));
        Assert.True(M("collapse_action:WARN kl_coef=0.1", ppo)); // text settings compare ignoring case
        Assert.False(M("collapse_action:pause", ppo));

        // Metrics: the bare name is the last value; max/min/best read the history.
        Assert.True(M("align/positive-rate>=0.8 align/positive-rate<0.81", ppo));
        Assert.True(M("max(align/positive-rate)>0.85", ppo));
        Assert.True(M("min(align/positive-rate)<0.5", ppo));
        Assert.True(M("best(align/positive-rate)=0.9", ppo)); // higher is better
        Assert.True(M("best(oracle/nll)=2.5", ppo)); // lower is better
        Assert.False(M("div/distinct-2>0", ppo)); // a metric the run never logged matches no comparison
        Assert.True(M("-div/distinct-2>0", ppo));

        // Free text: a word or a quoted phrase, in the name, note, tags, method or dataset.
        Assert.True(M("sweep", ppo));
        Assert.True(M("\"the KL at step\"", ppo));
        Assert.False(M("\"the KL at stop\"", ppo));
        Assert.True(M("v2 synthetic", ppo));
        Assert.True(M("tag:\"baseline\"", ppo));
        Assert.True(M("", ppo));
        Assert.True(M("   ", ppo));
    }

    [Theory]
    [InlineData("status:done", "'status:done' at position 1", "unknown status 'done'")]
    [InlineData("method:ppo gumbel_tau>", "'gumbel_tau>' at position 12", "'>' needs a value")]
    [InlineData("method:ppo  foo:bar", "'foo:bar' at position 13", "'foo' is not a field")]
    [InlineData("tag>3", "'tag>3' at position 1", "'tag' takes ':'")]
    [InlineData("reward/mean>high", "'reward/mean>high' at position 1", "'high' is not a number")]
    [InlineData("gumbel_tau<abc", "'gumbel_tau<abc' at position 1", "'abc' is not a number")]
    [InlineData("ok \"unfinished phrase", "'\"unfinished phrase' at position 4", "closing '\"' is missing")]
    [InlineData("mean(reward/mean)>1", "'mean(reward/mean)>1' at position 1", "unknown aggregate 'mean'")]
    [InlineData("max(steps)>1", "'max(steps)>1' at position 1", "not a metric name")]
    [InlineData(">3", "'>3' at position 1", "nothing before '>'")]
    [InlineData("name>3", "'name>3' at position 1", "'name' takes ':'")]
    [InlineData("created>3", "'created>3' at position 1", "cannot be compared")]
    [InlineData("a!b", "'a!b' at position 1", "'!' must be followed by '='")]
    public void Errors_name_the_token_its_position_and_the_reason(string filter, string where, string reason)
    {
        var e = Assert.Throws<RunQueryException>(() => RunQuery.Parse(filter));
        Assert.StartsWith("filter: " + where + ":", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Columns_parse_fields_settings_and_metric_aggregates()
    {
        Assert.Equal(new RunColumn(ColumnKind.Field, "name"), RunColumn.Parse("name", "sort"));
        Assert.Equal(new RunColumn(ColumnKind.Setting, "gumbel_tau"), RunColumn.Parse(" gumbel_tau ", "sort"));
        Assert.Equal(new RunColumn(ColumnKind.Metric, "reward/mean"), RunColumn.Parse("reward/mean", "sort"));
        Assert.Equal(new RunColumn(ColumnKind.Metric, "reward/mean", MetricAggregate.Max), RunColumn.Parse("MAX(reward/mean)", "sort"));
        Assert.Equal("best(oracle/nll)", RunColumn.Parse("best(oracle/nll)", "columns").Label);
        var e = Assert.Throws<RunQueryException>(() => RunColumn.Parse("rewrd", "sort"));
        Assert.StartsWith("sort: 'rewrd' at position 1: not a field", e.Message);
        Assert.Contains("columns: 'max(reward/mean' at position 13", Assert.Throws<RunQueryException>(() => RlGaf.Workbench.Api.RunsApi.ParseColumns("reward/mean,max(reward/mean")).Message);
    }
}
