using System.Numerics;

namespace RlGaf.Engine.Corpora.SyntheticReviews;

/// <summary>
/// A compiled finite (non-recursive) probabilistic context-free grammar: sampling, the exact
/// inside probability of a terminal sequence summed over all derivations, derivation counts
/// and derivation entropy. Immutable and thread-safe.
/// </summary>
public sealed class Pcfg
{
    /// <summary>Characters that are terminals on their own.</summary>
    public const string Punctuation = ",.!?;:";

    private readonly string[] _terminals;
    private readonly Dictionary<string, int> _terminalIds = new(StringComparer.Ordinal);
    private readonly string[] _names;
    private readonly Dictionary<string, int> _ntIds = new(StringComparer.Ordinal);
    // Symbols in an alternative: terminal id t >= 0, nonterminal id n encoded as ~n (< 0).
    private readonly int[][][] _alts;
    private readonly double[][] _probs;
    private readonly double[][] _logProbs;
    private readonly int[][][] _suffixMin;   // [nt][alt][k] = min length of symbols k.. end
    private readonly int[] _order;           // children before parents
    private readonly int[] _minLen, _maxLen;
    private readonly bool[] _nullable;
    private readonly bool[][] _first;        // [nt][terminal]: can a non-empty yield start with it
    private readonly double[]?[] _lexical;   // [nt][terminal] for nonterminals whose alternatives are single terminals

    internal Pcfg(GrammarBuilder builder, string root)
    {
        var rules = builder.Rules;
        _names = rules.Select(r => r.Name).ToArray();
        for (int i = 0; i < _names.Length; i++) _ntIds[_names[i]] = i;
        if (!_ntIds.TryGetValue(root, out int rootId)) throw new ArgumentException($"Root '{root}' is not defined.", nameof(root));
        Root = rootId;

        var terminals = new List<string>();
        _alts = new int[rules.Count][][];
        _probs = new double[rules.Count][];
        _logProbs = new double[rules.Count][];
        for (int n = 0; n < rules.Count; n++)
        {
            var alts = rules[n].Alternatives;
            double total = alts.Sum(a => a.Weight);
            _alts[n] = new int[alts.Count][];
            _probs[n] = new double[alts.Count];
            _logProbs[n] = new double[alts.Count];
            for (int a = 0; a < alts.Count; a++)
            {
                _probs[n][a] = alts[a].Weight / total;
                _logProbs[n][a] = Math.Log(_probs[n][a]);
                _alts[n][a] = alts[a].Rhs.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
                    .Select(s => Symbol(s, rules[n].Name, terminals)).ToArray();
            }
        }
        _terminals = terminals.ToArray();

        _order = TopologicalOrder();
        int nt = _names.Length, tc = _terminals.Length;
        _minLen = new int[nt]; _maxLen = new int[nt]; _nullable = new bool[nt];
        _first = new bool[nt][]; _lexical = new double[]?[nt]; _suffixMin = new int[nt][][];
        foreach (int n in _order)
        {
            _first[n] = new bool[tc];
            int min = int.MaxValue, max = 0;
            _suffixMin[n] = new int[_alts[n].Length][];
            for (int a = 0; a < _alts[n].Length; a++)
            {
                var alt = _alts[n][a];
                var suf = new int[alt.Length + 1];
                int altMax = 0;
                for (int k = alt.Length - 1; k >= 0; k--)
                {
                    suf[k] = suf[k + 1] + (alt[k] >= 0 ? 1 : _minLen[~alt[k]]);
                    altMax += alt[k] >= 0 ? 1 : _maxLen[~alt[k]];
                }
                _suffixMin[n][a] = suf;
                min = Math.Min(min, suf[0]);
                max = Math.Max(max, altMax);
                // FIRST: symbols up to and including the first non-nullable one.
                foreach (int s in alt)
                {
                    if (s >= 0) { _first[n][s] = true; break; }
                    for (int t = 0; t < tc; t++) _first[n][t] |= _first[~s][t];
                    if (!_nullable[~s]) break;
                }
            }
            _minLen[n] = min; _maxLen[n] = max; _nullable[n] = min == 0;
            if (_alts[n].All(alt => alt.Length == 1 && alt[0] >= 0))
            {
                var lex = new double[tc];
                for (int a = 0; a < _alts[n].Length; a++) lex[_alts[n][a][0]] += _probs[n][a];
                _lexical[n] = lex;
            }
        }
    }

    private int Symbol(string s, string rule, List<string> terminals)
    {
        if (s.StartsWith('<'))
        {
            if (!s.EndsWith('>') || !_ntIds.TryGetValue(s[1..^1], out int id))
                throw new ArgumentException($"Rule '{rule}' uses undefined nonterminal {s}.");
            return ~id;
        }
        bool punct = s.Length == 1 && Punctuation.Contains(s[0]);
        bool word = s.Length > 0 && char.IsAsciiLetter(s[0]) && s.All(c => char.IsAsciiLetter(c) || c == '-' || c == '\'');
        if (!punct && !word) throw new ArgumentException($"Rule '{rule}' has terminal '{s}' that is neither an ASCII word nor one punctuation mark.");
        if (!_terminalIds.TryGetValue(s, out int t))
        {
            t = terminals.Count;
            terminals.Add(s);
            _terminalIds[s] = t;
        }
        return t;
    }

    private int[] TopologicalOrder()
    {
        var state = new byte[_names.Length]; // 0 new, 1 on stack, 2 done
        var order = new List<int>();
        void Visit(int n, List<string> path)
        {
            if (state[n] == 2) return;
            if (state[n] == 1) throw new ArgumentException($"The grammar is recursive: {string.Join(" -> ", path)} -> {_names[n]}.");
            state[n] = 1;
            path.Add(_names[n]);
            foreach (var alt in _alts[n])
                foreach (int s in alt)
                    if (s < 0) Visit(~s, path);
            path.RemoveAt(path.Count - 1);
            state[n] = 2;
            order.Add(n);
        }
        for (int n = 0; n < _names.Length; n++) Visit(n, []);
        return order.ToArray();
    }

    /// <summary>The root nonterminal's id.</summary>
    public int Root { get; }

    /// <summary>All terminals, indexed by terminal id.</summary>
    public IReadOnlyList<string> Terminals => _terminals;

    /// <summary>All nonterminal names, indexed by nonterminal id.</summary>
    public IReadOnlyList<string> Nonterminals => _names;

    public int NonterminalId(string name) =>
        _ntIds.TryGetValue(name, out int id) ? id : throw new ArgumentException($"No nonterminal '{name}'.", nameof(name));

    public bool TryGetTerminalId(string terminal, out int id) => _terminalIds.TryGetValue(terminal, out id);

    /// <summary>Alternatives of a nonterminal as (probability, symbols) with nonterminals written as &lt;Name&gt;.</summary>
    public IReadOnlyList<(double Probability, string Rhs)> Alternatives(int nonterminal) =>
        _alts[nonterminal].Select((alt, a) => (_probs[nonterminal][a],
            string.Join(' ', alt.Select(s => s >= 0 ? _terminals[s] : $"<{_names[~s]}>")))).ToList();

    /// <summary>Fewest and most terminals a nonterminal can yield.</summary>
    public (int Min, int Max) LengthRange(int nonterminal) => (_minLen[nonterminal], _maxLen[nonterminal]);

    // ---------------------------------------------------------------- sampling

    /// <summary>
    /// Draws one derivation of <paramref name="nonterminal"/>, appending its terminal ids to
    /// <paramref name="output"/>. Returns the index of the alternative chosen at the top.
    /// </summary>
    public int Sample(int nonterminal, ref SplitMix64 rng, List<int> output, out double logProb)
    {
        logProb = 0;
        return Expand(nonterminal, ref rng, output, ref logProb);
    }

    private int Expand(int n, ref SplitMix64 rng, List<int> output, ref double logProb)
    {
        int a = Choose(_probs[n], rng.NextDouble());
        logProb += _logProbs[n][a];
        foreach (int s in _alts[n][a])
        {
            if (s >= 0) output.Add(s);
            else Expand(~s, ref rng, output, ref logProb);
        }
        return a;
    }

    private static int Choose(double[] probs, double u)
    {
        for (int a = 0; a < probs.Length - 1; a++)
        {
            u -= probs[a];
            if (u < 0) return a;
        }
        return probs.Length - 1;
    }

    // ---------------------------------------------------------------- inside algorithm

    /// <summary>
    /// P(<paramref name="nonterminal"/> =>* tokens), the exact total over all derivations
    /// (inside algorithm: a memoised DP over (nonterminal, start) that yields the
    /// probability of every end position).
    /// </summary>
    public double Inside(int nonterminal, ReadOnlySpan<int> tokens)
    {
        if (tokens.Length < _minLen[nonterminal] || tokens.Length > _maxLen[nonterminal]) return 0;
        var chart = Chart.Get(this, tokens);
        Fill(chart, nonterminal, 0);
        return chart.Cells[chart.Row(nonterminal, 0) + tokens.Length];
    }

    /// <summary>Inside probabilities of several nonterminals over the same whole sequence, sharing one chart.</summary>
    internal void Inside(ReadOnlySpan<int> tokens, ReadOnlySpan<int> nonterminals, Span<double> result)
    {
        var chart = Chart.Get(this, tokens);
        for (int k = 0; k < nonterminals.Length; k++)
        {
            int n = nonterminals[k];
            if (tokens.Length < _minLen[n] || tokens.Length > _maxLen[n]) { result[k] = 0; continue; }
            Fill(chart, n, 0);
            result[k] = chart.Cells[chart.Row(n, 0) + tokens.Length];
        }
    }

    private sealed class Chart
    {
        [ThreadStatic] private static Chart? s_current;
        public double[] Cells = [];
        public int[] Stamp = [];
        public int Generation;
        public int[] Tokens = [];
        public int N;
        private int _width;

        public static Chart Get(Pcfg g, ReadOnlySpan<int> tokens)
        {
            var c = s_current ??= new Chart();
            int n = tokens.Length, width = n + 1, rows = g._names.Length * width;
            if (c.Stamp.Length < rows) c.Stamp = new int[Math.Max(rows, c.Stamp.Length * 2)];
            if (c.Cells.Length < rows * width) c.Cells = new double[Math.Max(rows * width, c.Cells.Length * 2)];
            if (c.Tokens.Length < n) c.Tokens = new int[Math.Max(n, 2 * c.Tokens.Length)];
            tokens.CopyTo(c.Tokens);
            c.N = n; c._width = width;
            if (++c.Generation == int.MaxValue) { Array.Clear(c.Stamp); c.Generation = 1; }
            return c;
        }

        public int Row(int nt, int start) => (nt * _width + start) * _width;
        public int StampIndex(int nt, int start) => nt * _width + start;
    }

    private void Fill(Chart c, int nt, int i)
    {
        int si = c.StampIndex(nt, i);
        if (c.Stamp[si] == c.Generation) return;
        c.Stamp[si] = c.Generation;
        int n = c.N, row = c.Row(nt, i);
        var cells = c.Cells;
        Array.Clear(cells, row, n + 1);

        var lex = _lexical[nt];
        if (lex is not null)
        {
            if (i < n) cells[row + i + 1] = lex[c.Tokens[i]];
            return;
        }
        bool firstOk = i < n && _first[nt][c.Tokens[i]];
        if (!firstOk && !_nullable[nt]) return;

        Span<double> cur = stackalloc double[n + 1];
        Span<double> nxt = stackalloc double[n + 1];
        var alts = _alts[nt];
        for (int a = 0; a < alts.Length; a++)
        {
            var alt = alts[a];
            var suf = _suffixMin[nt][a];
            if (i + suf[0] > n) continue;
            cur.Clear();
            cur[i] = _probs[nt][a];
            int lo = i, hi = i;
            for (int k = 0; k < alt.Length && hi >= 0; k++)
            {
                int s = alt[k];
                nxt.Clear();
                int nlo = int.MaxValue, nhi = -1;
                for (int p = lo; p <= hi; p++)
                {
                    double w = cur[p];
                    if (w == 0 || p + suf[k] > n) continue;
                    if (s >= 0)
                    {
                        if (p < n && c.Tokens[p] == s)
                        {
                            nxt[p + 1] += w;
                            nlo = Math.Min(nlo, p + 1); nhi = Math.Max(nhi, p + 1);
                        }
                        continue;
                    }
                    int child = ~s;
                    Fill(c, child, p);
                    int crow = c.Row(child, p);
                    int jmax = Math.Min(n, p + _maxLen[child]);
                    for (int j = p + _minLen[child]; j <= jmax; j++)
                    {
                        double v = cells[crow + j];
                        if (v == 0) continue;
                        nxt[j] += w * v;
                        nlo = Math.Min(nlo, j); nhi = Math.Max(nhi, j);
                    }
                }
                var tmp = cur; cur = nxt; nxt = tmp;
                lo = nlo; hi = nhi;
            }
            for (int p = lo; p <= hi; p++) cells[row + p] += cur[p];
        }
    }

    // ---------------------------------------------------------------- exact dynamic programs

    /// <summary>Number of derivations of each nonterminal (equals the number of distinct strings when unambiguous).</summary>
    public BigInteger CountDerivations(int nonterminal)
    {
        var count = new BigInteger[_names.Length];
        foreach (int n in _order)
        {
            BigInteger total = 0;
            foreach (var alt in _alts[n])
            {
                BigInteger product = 1;
                foreach (int s in alt) if (s < 0) product *= count[~s];
                total += product;
            }
            count[n] = total;
        }
        return count[nonterminal];
    }

    /// <summary>
    /// Number of distinct terminal strings a nonterminal yields, exact even for an ambiguous
    /// grammar (subset construction over the unrolled grammar; see DistinctStringCounter).
    /// Throws when the automata grow past the given sizes.
    /// </summary>
    public BigInteger CountDistinctStrings(int nonterminal, int maxNfaStates = 1_000_000, int maxDfaStates = 2_000_000) =>
        new DistinctStringCounter(_alts, nonterminal, maxNfaStates, maxDfaStates).Count();

    /// <summary>
    /// Entropy in nats of the derivation distribution of a nonterminal:
    /// H(N) = sum_alt p(alt) [ -ln p(alt) + sum_children H(child) ]. Equals the entropy of the
    /// yielded strings when the grammar is unambiguous.
    /// </summary>
    public double DerivationEntropy(int nonterminal) =>
        Expectation(nonterminal, (n, a) => -_logProbs[n][a], _ => 0)[nonterminal];

    /// <summary>Expected number of terminals for which <paramref name="countTerminal"/> is true in a derivation of the nonterminal.</summary>
    public double ExpectedTerminalCount(int nonterminal, Func<string, bool> countTerminal)
    {
        var weight = _terminals.Select(t => countTerminal(t) ? 1.0 : 0.0).ToArray();
        return Expectation(nonterminal, (_, _) => 0, t => weight[t])[nonterminal];
    }

    private double[] Expectation(int root, Func<int, int, double> altValue, Func<int, double> terminalValue)
    {
        var e = new double[_names.Length];
        foreach (int n in _order)
        {
            double total = 0;
            for (int a = 0; a < _alts[n].Length; a++)
            {
                double v = altValue(n, a);
                foreach (int s in _alts[n][a]) v += s >= 0 ? terminalValue(s) : e[~s];
                total += _probs[n][a] * v;
            }
            e[n] = total;
        }
        return e;
    }

    /// <summary>
    /// Every derivation of a nonterminal as (terminal ids, probability). Throws when there are
    /// more than <paramref name="limit"/> derivations. For checks of small sub-grammars.
    /// </summary>
    public IReadOnlyList<(int[] Tokens, double Probability)> EnumerateDerivations(int nonterminal, int limit = 1_000_000)
    {
        if (CountDerivations(nonterminal) > limit)
            throw new InvalidOperationException($"'{_names[nonterminal]}' has more than {limit} derivations.");
        var memo = new Dictionary<int, List<(int[], double)>>();
        List<(int[], double)> Enum(int n)
        {
            if (memo.TryGetValue(n, out var done)) return done;
            var result = new List<(int[], double)>();
            for (int a = 0; a < _alts[n].Length; a++)
            {
                var partial = new List<(int[], double)> { ([], _probs[n][a]) };
                foreach (int s in _alts[n][a])
                {
                    var next = new List<(int[], double)>();
                    var options = s >= 0 ? [([s], 1.0)] : Enum(~s);
                    foreach (var (prefix, p) in partial)
                        foreach (var (suffix, q) in options)
                            next.Add(([.. prefix, .. suffix], p * q));
                    partial = next;
                }
                result.AddRange(partial);
            }
            memo[n] = result;
            return result;
        }
        return Enum(nonterminal);
    }
}
