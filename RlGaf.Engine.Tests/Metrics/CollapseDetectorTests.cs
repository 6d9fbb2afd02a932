using RlGaf.Engine.Metrics;

namespace RlGaf.Engine.Tests.Metrics;

public sealed class CollapseDetectorTests
{
    private static readonly Dictionary<string, double> Reference = new()
    {
        ["div/unique-ratio"] = 0.9,
        ["div/distinct-2"] = 0.4,
        ["div/self-bleu-4"] = 0.3,
    };

    private static CollapseDetector New() => new(Reference);

    private static Dictionary<string, double> M(params (string Name, double Value)[] values) =>
        values.ToDictionary(v => v.Name, v => v.Value);

    [Fact]
    public void Unique_ratio_below_half_the_reference_fires_with_a_reason_naming_value_threshold_and_reference()
    {
        var d = New();
        Assert.Empty(d.Observe(0, M(("div/unique-ratio", 0.9))));
        Assert.Empty(d.Observe(10, M(("div/unique-ratio", 0.46)))); // 0.46 >= 0.5 * 0.9
        var a = Assert.Single(d.Observe(20, M(("div/unique-ratio", 0.2))));
        Assert.Equal(new CollapseAlert(20, CollapseDetector.UniqueRatioDrop, a.Reason), a);
        Assert.Contains("div/unique-ratio = 0.2", a.Reason);
        Assert.Contains("0.5 x reference 0.9 = 0.45", a.Reason);
    }

    [Fact]
    public void Distinct_2_below_half_the_reference_fires()
    {
        var d = New();
        var a = Assert.Single(d.Observe(5, M(("div/distinct-2", 0.1))));
        Assert.Equal(CollapseDetector.Distinct2Drop, a.Rule);
        Assert.Contains("div/distinct-2 = 0.1", a.Reason);
    }

    [Fact]
    public void Self_bleu_above_the_threshold_fires()
    {
        var d = New();
        Assert.Empty(d.Observe(1, M(("div/self-bleu-4", 0.9))));
        var a = Assert.Single(d.Observe(2, M(("div/self-bleu-4", 0.95))));
        Assert.Equal(CollapseDetector.SelfBleuHigh, a.Rule);
        Assert.Contains("0.95", a.Reason);
        Assert.Contains("0.9", a.Reason);
    }

    [Fact]
    public void Fake_score_pinned_low_fires_only_after_k_consecutive_evaluations()
    {
        var d = New();
        Assert.Empty(d.Observe(1, M(("disc/fake_score", 0.01))));
        Assert.Empty(d.Observe(2, M(("disc/fake_score", 0.01))));
        Assert.Empty(d.Observe(3, M(("disc/fake_score", 0.2))));      // the run breaks
        Assert.Empty(d.Observe(4, M(("disc/fake_score", 0.01))));
        Assert.Empty(d.Observe(5, M(("gen/loss", 1.0))));             // not measured: run untouched
        Assert.Empty(d.Observe(6, M(("disc/fake_score", double.NaN)))); // not finite: run untouched
        Assert.Empty(d.Observe(7, M(("disc/fake_score", 0.03))));
        var a = Assert.Single(d.Observe(8, M(("disc/fake_score", 0.02))));
        Assert.Equal(CollapseDetector.DiscriminatorWins, a.Rule);
        Assert.Contains("since step 4", a.Reason);
        Assert.Contains("below 0.05 for 3 evaluations", a.Reason);
    }

    [Fact]
    public void Reward_std_pinned_at_zero_fires_after_k_evaluations()
    {
        var d = new CollapseDetector(Reference, new CollapseThresholds(Consecutive: 2));
        Assert.Empty(d.Observe(1, M(("reward/std", 0.0))));
        var a = Assert.Single(d.Observe(2, M(("reward/std", 1e-7))));
        Assert.Equal(CollapseDetector.RewardStdZero, a.Rule);
        Assert.Contains("for 2 evaluations", a.Reason);
    }

    [Fact]
    public void A_rule_fires_once_until_it_clears_then_can_fire_again()
    {
        var d = New();
        Assert.Single(d.Observe(1, M(("div/self-bleu-4", 0.95))));
        Assert.Empty(d.Observe(2, M(("div/self-bleu-4", 0.99))));
        Assert.Empty(d.Observe(3, M(("gen/loss", 2.0))));   // silence does not clear it
        Assert.Contains(CollapseDetector.SelfBleuHigh, d.ActiveRules);
        Assert.Empty(d.Observe(4, M(("div/self-bleu-4", 0.5))));
        Assert.Empty(d.ActiveRules);
        Assert.Equal(5, Assert.Single(d.Observe(5, M(("div/self-bleu-4", 0.97)))).Step);

        // The pinned-signal rules too: one alert for a long run, a new one after it breaks and re-forms.
        for (int s = 10; s < 13; s++) d.Observe(s, M(("disc/fake_score", 0.0)));
        Assert.Empty(d.Observe(13, M(("disc/fake_score", 0.0))));
        Assert.Empty(d.Observe(14, M(("disc/fake_score", 0.5))));
        Assert.Empty(d.Observe(15, M(("disc/fake_score", 0.0))));
        Assert.Empty(d.Observe(16, M(("disc/fake_score", 0.0))));
        Assert.Single(d.Observe(17, M(("disc/fake_score", 0.0))));
    }

    [Fact]
    public void Several_rules_can_fire_at_once_and_missing_references_disable_their_rule()
    {
        var d = new CollapseDetector(new Dictionary<string, double> { ["div/distinct-2"] = double.NaN });
        var alerts = d.Observe(3, M(("div/unique-ratio", 0.0), ("div/distinct-2", 0.0), ("div/self-bleu-4", 1.0)));
        Assert.Equal([CollapseDetector.SelfBleuHigh], alerts.Select(a => a.Rule));

        var both = New().Observe(3, M(("div/unique-ratio", 0.1), ("div/distinct-2", 0.1)));
        Assert.Equal([CollapseDetector.UniqueRatioDrop, CollapseDetector.Distinct2Drop], both.Select(a => a.Rule));
    }

    [Fact]
    public void Takes_its_reference_from_a_diversity_report()
    {
        var reference = Diversity.Compute([[1, 2, 3], [4, 5, 6]]);   // unique ratio 1
        var d = new CollapseDetector(reference);
        var a = Assert.Single(d.Observe(1, Diversity.Compute([[1, 2, 3], [1, 2, 3], [1, 2, 3]]).ToMetrics()
            .Where(kv => kv.Key == "div/unique-ratio").ToDictionary()));
        Assert.Equal(CollapseDetector.UniqueRatioDrop, a.Rule);
    }
}
