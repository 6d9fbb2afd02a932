namespace RlGaf.Workbench.Sweeps;

/// <summary>
/// Asynchronous successive halving (ASHA; W&B's hyperband early_terminate): rungs at
/// <c>min_iter * eta^k</c> training steps. When a trial reaches a rung its metric there (the last value
/// logged at or before the rung's step) is ranked with the values of every trial that reached that rung
/// before it, itself included; it continues only while its rank is within the top <c>ceil(n / eta)</c>
/// (so the first trial at a rung always continues). Ties keep the earlier trial ahead. Decisions are
/// made once per trial and rung, in the order trials are reported, so the same reports give the same stops.
/// </summary>
public sealed class AshaScheduler(EarlyTermination rule, SweepMetric metric)
{
    /// <summary>Per rung step: the values recorded there, in arrival order.</summary>
    private readonly SortedDictionary<int, List<(int Trial, double Value)>> _rungs = [];
    private readonly HashSet<(int Trial, int Rung)> _decided = [];

    /// <summary>Values already recorded at each rung (for the page and for a resume).</summary>
    public IReadOnlyDictionary<int, IReadOnlyList<(int Trial, double Value)>> Recorded =>
        _rungs.ToDictionary(r => r.Key, r => (IReadOnlyList<(int, double)>)r.Value);

    /// <summary>
    /// Records what trial <paramref name="trial"/> logged (all its values, ascending step) and says at which
    /// rung it loses, or null while it may continue. A trial that lost is not looked at again.
    /// </summary>
    public int? Report(int trial, int totalSteps, IReadOnlyList<MetricValue> values)
    {
        if (values.Count == 0) return null;
        int reached = values[^1].Step;
        foreach (var rung in rule.Rungs(totalSteps))
        {
            if (rung > reached) break;
            if (!_decided.Add((trial, rung))) continue;
            var at = ValueAt(values, rung);
            if (at is not { } value) continue; // nothing logged up to this rung: no basis to stop it
            if (!_rungs.TryGetValue(rung, out var list)) _rungs[rung] = list = [];
            list.Add((trial, value));
            int better = list.Count(x => x.Trial != trial && metric.Better(x.Value, value)) + list.TakeWhile(x => x.Trial != trial).Count(x => x.Value == value);
            int keep = (int)Math.Ceiling(list.Count / (double)rule.Eta);
            if (better + 1 > keep) return rung;
        }
        return null;
    }

    /// <summary>Puts back what a previous process recorded (trials.json), in its order: decisions already made are not made again.</summary>
    public void Restore(IEnumerable<AshaRecord> records)
    {
        foreach (var r in records)
        {
            if (!_rungs.TryGetValue(r.Rung, out var list)) _rungs[r.Rung] = list = [];
            list.Add((r.Trial, r.Value));
            _decided.Add((r.Trial, r.Rung));
        }
    }

    /// <summary>Everything recorded, rung by rung in arrival order (what <see cref="Restore"/> takes).</summary>
    public IReadOnlyList<AshaRecord> Records() =>
        _rungs.SelectMany(r => r.Value.Select(x => new AshaRecord(r.Key, x.Trial, x.Value))).ToList();

    /// <summary>The last value logged at or before <paramref name="step"/>.</summary>
    public static double? ValueAt(IReadOnlyList<MetricValue> values, int step)
    {
        double? v = null;
        foreach (var x in values)
        {
            if (x.Step > step) break;
            if (double.IsFinite(x.Value)) v = x.Value;
        }
        return v;
    }
}

/// <summary>One trial's metric value recorded at one rung.</summary>
public sealed record AshaRecord(int Rung, int Trial, double Value);
