using System.Diagnostics;
using RlGaf.Engine.Runs;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using Xunit.Abstractions;

namespace RlGaf.Workbench.Tests.Storage;

/// <summary>
/// The run table over a store of 2,000 runs: filter, sort by a metric column and page, checked against
/// the same selection computed here from the values written, and timed on the server side.
/// </summary>
public class RunTableTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("rlgaf-runtable-").FullName;

    public void Dispose() => Infrastructure.TestApp.TryDelete(_root);

    private sealed record Written(string Id, TrainingMethod Method, double Tau, int Seed, bool Baseline, double[] Positive);

    /// <summary>2,000 runs: three methods, four taus, five seeds, every third tagged baseline, three evaluations each.</summary>
    private static List<Written> Fill(RunStore store, int count)
    {
        var methods = new[] { TrainingMethod.Reinforce, TrainingMethod.Ppo, TrainingMethod.Gumbel };
        var taus = new[] { 0.0, 0.25, 0.5, 1.0 };
        var rng = new Random(7);
        var written = new List<Written>();
        for (int i = 0; i < count; i++)
        {
            var s = new RunSettings { Method = methods[i % 3], GumbelTau = taus[i / 3 % 4], Seed = 1 + i / 12 % 5 };
            var r = store.Create(s, $"run {i}");
            var positive = new[] { rng.NextDouble(), rng.NextDouble(), rng.NextDouble() };
            for (int k = 0; k < 3; k++)
                store.AddMetrics(r.Id, k * 50, new Dictionary<string, double> { ["align/positive-rate"] = positive[k], ["oracle/nll"] = 3 - positive[k] });
            if (i % 3 == 1 || i % 7 == 0) store.SetTags(r.Id, [i % 3 == 1 ? "baseline" : "other"], []);
            written.Add(new Written(r.Id, s.Method, s.GumbelTau, s.Seed, i % 3 == 1, positive));
        }
        return written;
    }

    [Fact]
    public void Two_thousand_runs_filter_sort_and_page_fast_and_right()
    {
        using var store = new RunStore(_root);
        var fill = Stopwatch.StartNew();
        var written = Fill(store, 2000);
        output.WriteLine($"filled 2000 runs in {fill.Elapsed.TotalSeconds:0.0} s");
        var table = new RunTable(store);
        var columns = RlGaf.Workbench.Api.RunsApi.ParseColumns("align/positive-rate, max(align/positive-rate), best(oracle/nll), gumbel_tau");
        var request = new RunListRequest("method:ppo tag:baseline gumbel_tau>0.3", "-max(align/positive-rate)", columns, Page: 1, PageSize: 50);

        // The first query reads the runs from the database and parses their settings once; later ones reuse both.
        var cold = Stopwatch.StartNew();
        table.Query(request);
        double coldMs = cold.Elapsed.TotalMilliseconds;
        var times = new List<double>();
        RunListResult result = null!;
        for (int i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            result = table.Query(request);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        string figure = $"run table, 2000 runs, filter + sort by max(metric) + page: median {times[2]:0.0} ms, worst {times[^1]:0.0} ms, " +
                        $"first query {coldMs:0.0} ms (server side; machine shared with other jobs)";
        output.WriteLine(figure);
        Console.WriteLine(figure);
        // The target is 300 ms; the bound is generous so that a loaded machine cannot make it flake.
        Assert.True(times[2] < 3000, figure);

        // The same selection computed from the values written: ppo, baseline, tau 0.5 or 1.0, by max positive rate descending.
        var expected = written.Where(w => w.Method == TrainingMethod.Ppo && w.Baseline && w.Tau > 0.3)
            .OrderByDescending(w => w.Positive.Max()).ToList();
        Assert.Equal(expected.Count, result.Total);
        Assert.True(expected.Count > 100, $"only {expected.Count} runs match: the test would not page");
        Assert.Equal(expected.Skip(50).Take(50).Select(w => w.Id), result.Runs.Select(r => r.Id));
        var first = result.Runs[0];
        var w0 = expected[50];
        var view = RlGaf.Workbench.Api.RunView.From(first, columns);
        Assert.Equal(w0.Positive[2], (double)view.Columns!["align/positive-rate"]!, 12); // last
        Assert.Equal(w0.Positive.Max(), (double)view.Columns["max(align/positive-rate)"]!, 12);
        Assert.Equal(3 - w0.Positive.Max(), (double)view.Columns["best(oracle/nll)"]!, 12); // lower is better
        Assert.Equal(w0.Tau, (double)view.Columns["gumbel_tau"]!);
    }

    [Fact]
    public void Seeds_group_into_one_row_with_mean_and_sample_std()
    {
        using var store = new RunStore(_root);
        var written = Fill(store, 60);
        var columns = RlGaf.Workbench.Api.RunsApi.ParseColumns("max(align/positive-rate)");
        var result = new RunTable(store).Query(new RunListRequest("method:gumbel", null, columns, GroupBy: RunTable.SeedsGroup));
        // Gumbel runs differ in tau and seed: one group per tau, its seeds inside.
        var gumbel = written.Where(w => w.Method == TrainingMethod.Gumbel).ToList();
        Assert.Equal(gumbel.Select(w => w.Tau).Distinct().Count(), result.Groups!.Count);
        foreach (var g in result.Groups)
        {
            var members = gumbel.Where(w => g.Runs.Any(r => r.Id == w.Id)).ToList();
            Assert.Single(members.Select(m => m.Tau).Distinct());
            Assert.True(members.Select(m => m.Seed).Distinct().Count() > 1, $"group {g.Key} holds one seed");
            var values = members.Select(m => m.Positive.Max()).ToList();
            double mean = values.Average();
            double std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
            var stats = g.Stats["max(align/positive-rate)"];
            Assert.Equal(mean, stats.Mean, 12);
            Assert.Equal(std, stats.Std, 12);
            Assert.Equal(values.Count, stats.Count);
            Assert.DoesNotContain("seed=", g.Key);
        }
        Assert.Throws<ArgumentException>(() => new RunTable(store).Query(new RunListRequest(GroupBy: "nonsense")));
    }

    [Fact]
    public void Summaries_follow_truncation_and_tags_and_notes_are_bounded()
    {
        using var store = new RunStore(_root);
        var r = store.Create(new RunSettings());
        store.AddMetrics(r.Id, 0, new Dictionary<string, double> { ["reward/mean"] = 1 });
        store.AddMetrics(r.Id, 5, new Dictionary<string, double> { ["reward/mean"] = 9 });
        store.AddMetrics(r.Id, 10, new Dictionary<string, double> { ["reward/mean"] = double.NaN });
        var s = store.Get(r.Id)!.Summaries["reward/mean"];
        Assert.True(double.IsNaN(s.Last)); // the last value is what was logged, NaN included
        Assert.Equal((1.0, 9.0, 3), (s.Min, s.Max, s.Count)); // min and max skip it
        store.TruncateAfter(r.Id, 0); // a resume from step 0 voids the later points
        s = store.Get(r.Id)!.Summaries["reward/mean"];
        Assert.Equal((1.0, 1.0, 1.0, 1), (s.Last, s.Min, s.Max, s.Count));

        Assert.Equal(["a", "b"], store.SetTags(r.Id, ["a", "b", "a"], []).Tags);
        Assert.Equal(["b", "c"], store.SetTags(r.Id, ["c"], ["a"]).Tags);
        Assert.Contains("tags: tag 'two words' is not one word", Assert.Throws<ArgumentException>(() => store.SetTags(r.Id, ["two words"], [])).Message);
        Assert.Contains("at most 40", Assert.Throws<ArgumentException>(() => store.SetTags(r.Id, [new string('x', 41)], [])).Message);
        Assert.Contains("at most 32 are allowed", Assert.Throws<ArgumentException>(() => store.SetTags(r.Id, Enumerable.Range(0, 31).Select(i => $"t{i}"), [])).Message);
        Assert.Equal(["b", "c"], store.Get(r.Id)!.Tags); // refused: nothing applied
        Assert.Equal("line one\nline two", store.SetNote(r.Id, "line one\nline two  ").Note);
        Assert.Contains("note: control character U+0007 at position 2", Assert.Throws<ArgumentException>(() => store.SetNote(r.Id, "ab\acd")).Message);
        Assert.Contains("at most 4000", Assert.Throws<ArgumentException>(() => store.SetNote(r.Id, new string('n', 4001))).Message);
        Assert.Throws<KeyNotFoundException>(() => store.SetNote("nope", "x"));
    }
}
