using System.Numerics;

namespace RlGaf.Engine.Corpora.SyntheticReviews;

/// <summary>
/// Counts the distinct terminal strings a nonterminal yields, exactly, whether or not the
/// grammar is ambiguous. A finite grammar is a finite automaton: the grammar is inlined into an
/// NFA (one state per position in the unrolled rules, word lists as parallel edges), which is
/// determinised on the fly (subset construction) while counting accepted paths of the acyclic
/// DFA with memoisation. Distinct strings == derivations proves the grammar unambiguous.
/// </summary>
internal sealed class DistinctStringCounter
{
    private readonly List<List<(int Terminal, int Target)>> _edges = [];
    private readonly List<List<int>> _epsilon = [];
    private readonly int _start, _final;
    private readonly int _maxStates;
    private readonly Dictionary<int[], BigInteger> _memo = new(new SetComparer());

    public DistinctStringCounter(int[][][] alts, int nonterminal, int maxNfaStates, int maxDfaStates)
    {
        _maxStates = maxDfaStates;
        _start = NewState(maxNfaStates);
        _final = Inline(alts, nonterminal, _start, maxNfaStates);
    }

    public BigInteger Count() => Count(Closure([_start]));

    private int NewState(int max)
    {
        if (_edges.Count >= max) throw new InvalidOperationException($"The unrolled grammar has more than {max} states.");
        _edges.Add([]);
        _epsilon.Add([]);
        return _edges.Count - 1;
    }

    // Adds the paths of nonterminal n starting at state `entry`; returns the state where they end.
    private int Inline(int[][][] alts, int n, int entry, int max)
    {
        int exit = NewState(max);
        foreach (var alt in alts[n])
        {
            int cur = entry;
            for (int k = 0; k < alt.Length; k++)
            {
                int s = alt[k];
                if (s >= 0)
                {
                    int next = k == alt.Length - 1 ? exit : NewState(max);
                    _edges[cur].Add((s, next));
                    cur = next;
                }
                else cur = Inline(alts, ~s, cur, max);
            }
            if (cur != exit) _epsilon[cur].Add(exit);
        }
        return exit;
    }

    private int[] Closure(IEnumerable<int> states)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>(states);
        while (stack.Count > 0)
        {
            int s = stack.Pop();
            if (!seen.Add(s)) continue;
            foreach (int t in _epsilon[s]) stack.Push(t);
        }
        var result = seen.ToArray();
        Array.Sort(result);
        return result;
    }

    private BigInteger Count(int[] set)
    {
        if (_memo.TryGetValue(set, out var known)) return known;
        if (_memo.Count >= _maxStates) throw new InvalidOperationException($"The deterministic automaton has more than {_maxStates} states.");
        BigInteger total = Array.BinarySearch(set, _final) >= 0 ? 1 : 0;
        var byTerminal = new Dictionary<int, List<int>>();
        foreach (int s in set)
            foreach (var (t, target) in _edges[s])
            {
                if (!byTerminal.TryGetValue(t, out var list)) byTerminal[t] = list = [];
                list.Add(target);
            }
        foreach (var targets in byTerminal.Values) total += Count(Closure(targets));
        _memo[set] = total;
        return total;
    }

    public int DfaStates => _memo.Count;
    public int NfaStates => _edges.Count;

    private sealed class SetComparer : IEqualityComparer<int[]>
    {
        public bool Equals(int[]? a, int[]? b) => a.AsSpan().SequenceEqual(b);
        public int GetHashCode(int[] a)
        {
            var h = new HashCode();
            foreach (int x in a) h.Add(x);
            return h.ToHashCode();
        }
    }
}
