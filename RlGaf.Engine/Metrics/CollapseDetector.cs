using System.Globalization;

namespace RlGaf.Engine.Metrics;

/// <summary>A collapse rule that fired: at which evaluation, which rule, and why in words.</summary>
public sealed record CollapseAlert(int Step, string Rule, string Reason);

/// <summary>Thresholds of <see cref="CollapseDetector"/>; the defaults are the ones docs/metrics.md lists.</summary>
/// <param name="DiversityFraction">unique-ratio or distinct-2 below this fraction of the reference fires.</param>
/// <param name="SelfBleuMax">self-BLEU-4 above this fires.</param>
/// <param name="FakeScoreFloor">disc/fake_score below this for <paramref name="Consecutive"/> evaluations fires.</param>
/// <param name="RewardStdFloor">reward/std below this for <paramref name="Consecutive"/> evaluations fires.</param>
/// <param name="Consecutive">K, evaluations in a row for the two pinned-signal rules.</param>
public sealed record CollapseThresholds(double DiversityFraction = 0.5, double SelfBleuMax = 0.9,
    double FakeScoreFloor = 0.05, double RewardStdFloor = 1e-4, int Consecutive = 3);

/// <summary>
/// Watches successive evaluations for mode collapse and a discriminator that wins too fast.
/// Each rule raises one alert when its condition starts to hold and stays silent until the
/// condition has cleared (an evaluation where it is false), so a collapsed run is reported
/// once per episode, not at every step. A metric missing from an observation, or not finite,
/// leaves that rule's state (and its run of consecutive evaluations) untouched.
/// </summary>
public sealed class CollapseDetector
{
    public const string UniqueRatioDrop = "unique-ratio-drop";
    public const string Distinct2Drop = "distinct-2-drop";
    public const string SelfBleuHigh = "self-bleu-high";
    public const string DiscriminatorWins = "disc-wins";
    public const string RewardStdZero = "reward-std-zero";

    private readonly IReadOnlyDictionary<string, double> _reference;
    private readonly HashSet<string> _active = [];
    private readonly Dictionary<string, (int Run, int FirstStep)> _runs = [];

    /// <param name="reference">Metrics of the starting (SFT) model, at least <c>div/unique-ratio</c> and
    /// <c>div/distinct-2</c>; a rule whose reference is missing or not finite never fires.</param>
    /// <param name="thresholds">Null for the defaults.</param>
    public CollapseDetector(IReadOnlyDictionary<string, double> reference, CollapseThresholds? thresholds = null)
    {
        _reference = new Dictionary<string, double>(reference);
        Thresholds = thresholds ?? new CollapseThresholds();
        ArgumentOutOfRangeException.ThrowIfLessThan(Thresholds.Consecutive, 1);
    }

    public CollapseDetector(DiversityReport reference, CollapseThresholds? thresholds = null)
        : this(reference.ToMetrics(), thresholds) { }

    public CollapseThresholds Thresholds { get; }

    /// <summary>Rules whose condition held at the last evaluation that measured them.</summary>
    public IReadOnlyCollection<string> ActiveRules => _active;

    /// <summary>Feeds one evaluation's metrics; returns the alerts that start at this step.</summary>
    public IReadOnlyList<CollapseAlert> Observe(int step, IReadOnlyDictionary<string, double> metrics)
    {
        var alerts = new List<CollapseAlert>();
        var t = Thresholds;
        DropRule(UniqueRatioDrop, DiversityReport.UniqueRatioName, "the generator repeats whole completions");
        DropRule(Distinct2Drop, DiversityReport.Distinct2Name, "the generator reuses the same phrases");

        if (Value(DiversityReport.SelfBleu4Name) is double bleu)
            Update(SelfBleuHigh, bleu > t.SelfBleuMax, () =>
                $"{DiversityReport.SelfBleu4Name} = {F(bleu)} is above {F(t.SelfBleuMax)}: the samples are near copies of each other (mode collapse).");

        RunRule(DiscriminatorWins, "disc/fake_score", v => v < t.FakeScoreFloor, (v, first) =>
            $"disc/fake_score = {F(v)} stayed below {F(t.FakeScoreFloor)} for {t.Consecutive} evaluations (since step {first}): " +
            "the discriminator wins too fast and the generator's reward vanishes.");
        RunRule(RewardStdZero, "reward/std", v => v < t.RewardStdFloor, (v, first) =>
            $"reward/std = {F(v)} stayed below {F(t.RewardStdFloor)} for {t.Consecutive} evaluations (since step {first}): " +
            "every sample gets the same reward, so the policy gradient carries no signal.");
        return alerts;

        double? Value(string name) =>
            metrics.TryGetValue(name, out double v) && double.IsFinite(v) ? v : null;

        void DropRule(string rule, string name, string meaning)
        {
            if (Value(name) is not double v || !_reference.TryGetValue(name, out double r) || !double.IsFinite(r)) return;
            double floor = t.DiversityFraction * r;
            Update(rule, v < floor, () =>
                $"{name} = {F(v)} fell below {F(t.DiversityFraction)} x reference {F(r)} = {F(floor)}: {meaning} (mode collapse).");
        }

        void RunRule(string rule, string name, Func<double, bool> pinned, Func<double, int, string> reason)
        {
            if (Value(name) is not double v) return;
            var (run, first) = _runs.GetValueOrDefault(rule);
            (run, first) = pinned(v) ? (run + 1, run == 0 ? step : first) : (0, 0);
            _runs[rule] = (run, first);
            Update(rule, run >= t.Consecutive, () => reason(v, first));
        }

        void Update(string rule, bool holds, Func<string> reason)
        {
            if (!holds) _active.Remove(rule);
            else if (_active.Add(rule)) alerts.Add(new CollapseAlert(step, rule, reason()));
        }
    }

    private static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
