using TorchSharp;
using RlGaf.Engine.Runtime;
using RlGaf.Engine.Models;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// SeqGAN's Monte-Carlo rewards from a lagged rollout policy it owns: Q[i, t-1] = mean over N rollouts
/// of the reward of completing y_1..t, for t below the row's length; at the last token, the reward of
/// the whole sequence. After each generator update the rollout policy follows: beta &lt;- rate beta +
/// (1 - rate) theta, embeddings copied outright.
/// </summary>
public sealed class RolloutReward : IRewardEstimator
{
    /// <summary>Checkpoint file of the rollout policy.</summary>
    public const string File = "rollout.safetensors";

    private readonly TrainerCore _core;

    /// <summary>The lagged rollout policy (no gradient).</summary>
    public Gpt2Model RolloutPolicy { get; }

    public RolloutReward(TrainerCore core, Gpt2Model sft)
    {
        _core = core;
        RolloutPolicy = TrainerCore.Clone(sft, core.Device);
        foreach (var p in RolloutPolicy.parameters()) p.requires_grad = false;
    }

    public bool PerPosition => true;
    public IEnumerable<(string File, nn.Module Module)> Modules => [(File, RolloutPolicy)];

    /// <summary>
    /// All prefixes of all rows are rolled out together in large left-padded batches (a rollout from
    /// y_1..t may add at most max_new_tokens - t tokens; longer ones are cut).
    /// </summary>
    public Tensor Returns(SequenceBatch batch, Tensor sequenceReward, Func<SequenceBatch, Tensor> rewardOf, double reference)
    {
        var s = _core.Settings;
        int b = batch.Count, l = batch.CompletionWidth, n = s.Rollouts;
        var q = new float[b * l];
        var full = sequenceReward.cpu().data<float>().ToArray();
        var jobs = new List<(int Row, int T)>();
        for (int r = 0; r < b; r++)
        {
            int len = batch.Completions[r].Length;
            if (len > 0) q[r * l + len - 1] = full[r];
            for (int t = 1; t < len; t++) jobs.Add((r, t));
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        // Every prefix of a row is a prefix of the row itself: one forward pass of each row gives the
        // keys, values and next-token logits of all its prefixes, so rollouts skip recomputing them.
        using var prefixStates = ReusePrefixCache && jobs.Count > 0 ? new PrefixStates(RolloutPolicy, batch, _core.Eot) : null;
        const int chunk = 256; // prefixes per generation call (x N rollouts)
        for (int start = 0; start < jobs.Count; start += chunk)
        {
            using var scope = NewDisposeScope();
            var part = jobs.Skip(start).Take(chunk).ToList();
            var prefixes = part.SelectMany(j => Enumerable.Repeat<int[]>([.. batch.Prompts[j.Row], .. batch.Completions[j.Row][..j.T]], n)).ToList();
            ulong seed = _core.SeedFor(_core.Step, Purpose.Rollout, start);
            IReadOnlyList<int[]> generated = prefixStates is null
                ? _core.Generate(RolloutPolicy, prefixes, s.SampleTemperature, seed, s.MaxNewTokens - 1).Batch.Completions
                : prefixStates.Rollouts(part.SelectMany(j => Enumerable.Repeat(j, n)).ToList(), prefixes, s.SampleTemperature, seed, s.MaxNewTokens - 1);
            // Cut each rollout to its own budget so every prefix completes to at most max_new_tokens.
            var completions = generated.Select((c, k) => c[..Math.Min(c.Length, s.MaxNewTokens - part[k / n].T)]).ToList();
            var cut = new SequenceBatch(prefixes, completions, _core.Eot, _core.Device);
            var scores = rewardOf(cut).cpu().data<float>().ToArray();
            for (int k = 0; k < part.Count; k++)
            {
                float sum = 0;
                for (int m = 0; m < n; m++) sum += scores[k * n + m];
                q[part[k].Row * l + part[k].T - 1] = sum / n;
            }
        }
        LastRolloutMs = sw.Elapsed.TotalMilliseconds;
        return tensor(q, [b, l], device: _core.Device);
    }

    /// <summary>
    /// Rollouts start from the rows' shared forward pass (true, the default) or recompute every prefix
    /// (false): the same draws, the same rewards; the switch exists so a test can prove it.
    /// </summary>
    internal bool ReusePrefixCache { get; set; } = true;

    /// <summary>Milliseconds the last <see cref="Returns"/> spent on rollouts (their generation and scoring), for time/rollouts.</summary>
    public double LastRolloutMs { get; private set; } = double.NaN;

    /// <summary>Keys, values and hidden states of every row's prompt + completion (but its last token), left-padded.</summary>
    private sealed class PrefixStates : IDisposable
    {
        private readonly Gpt2Model _model;
        private readonly int _eot;
        private readonly KvCache _cache;
        private readonly Tensor _hidden;
        private readonly int[] _pad;
        private readonly int _width;

        public PrefixStates(Gpt2Model model, SequenceBatch batch, int eot)
        {
            _model = model;
            _eot = eot;
            var rows = batch.Prompts.Select((p, r) => p.Concat(batch.Completions[r].Take(Math.Max(0, batch.Completions[r].Length - 1))).ToArray()).ToList();
            _width = rows.Max(x => x.Length);
            _pad = rows.Select(x => _width - x.Length).ToArray();
            var ids = new long[rows.Count * _width];
            var mask = new long[rows.Count * _width];
            Array.Fill(ids, eot);
            for (int r = 0; r < rows.Count; r++)
                for (int i = 0; i < rows[r].Length; i++) { ids[r * _width + _pad[r] + i] = rows[r][i]; mask[r * _width + _pad[r] + i] = 1; }
            _cache = new KvCache(model.Config.NLayer);
            bool was = model.training;
            model.eval();
            using (no_grad())
            using (var scope = NewDisposeScope())
            {
                _hidden = model.ForwardHidden(tensor(ids, [rows.Count, _width], device: model.Device), tensor(mask, [rows.Count, _width], device: model.Device), _cache)
                    .DetachFromDisposeScope();
            }
            model.train(was);
        }

        /// <summary>Completions sampled from each (row, t) prefix exactly as TrainerCore.Generate would from its tokens.</summary>
        public IReadOnlyList<int[]> Rollouts(IReadOnlyList<(int Row, int T)> jobs, IReadOnlyList<int[]> prefixes, double temperature, ulong seed, int maxNew)
        {
            using var scope = NewDisposeScope();
            var cfg = _model.Config;
            int count = jobs.Count, s = prefixes.Max(p => p.Length);
            int budget = Math.Min(maxNew, cfg.NPositions - s);
            if (budget < 1) throw new ArgumentException($"max_new_tokens: prefixes of {s} tokens leave no room in the model's window ({cfg.NPositions}).");
            // Prefix j = the first len_j tokens of its row; right-aligned at width s, its column c reads the row's column pad + c - (s - len_j).
            var rowIdx = new long[count];
            var colIdx = new long[count * s];
            var lastCol = new long[count];
            for (int j = 0; j < count; j++)
            {
                int r = jobs[j].Row, len = prefixes[j].Length, shift = _pad[r] - (s - len);
                rowIdx[j] = r;
                for (int c = 0; c < s; c++) colIdx[j * s + c] = Math.Clamp(c + shift, 0, _width - 1); // clamped columns are padding: masked
                lastCol[j] = _pad[r] + len - 1;
            }
            var device = _model.Device;
            var rowsT = tensor(rowIdx, [count], device: device);
            var cols = tensor(colIdx, [count, 1, s, 1], device: device);
            var cache = new KvCache(cfg.NLayer);
            try
            {
                using (no_grad())
                {
                    for (int layer = 0; layer < cfg.NLayer; layer++)
                    {
                        var (k, v) = _cache.Layer(layer);
                        var at = cols.expand(count, k.shape[1], s, k.shape[3]);
                        cache.Preload(layer, k.index_select(0, rowsT).gather(2, at), v.index_select(0, rowsT).gather(2, at));
                    }
                    var last = _hidden.index_select(0, rowsT).gather(1, tensor(lastCol, [count, 1, 1], device: device).expand(count, 1, _hidden.shape[2])).squeeze(1);
                    var first = _model.Logits(last);
                    var result = TextGenerator.ContinuePrefilled(_model, prefixes.Select(p => (IReadOnlyList<int>)p).ToList(),
                        TextGenerator.CompletionOptions(_eot, temperature, seed, budget), cache, first);
                    return result.Sequences.Select(x => x.Tokens).ToList();
                }
            }
            finally
            {
                cache.Dispose();
            }
        }

        public void Dispose()
        {
            _cache.Dispose();
            _hidden.Dispose();
        }
    }

    public void AfterUpdate()
    {
        using var _ = no_grad();
        var theta = _core.Policy.state_dict();
        double rate = _core.Settings.RolloutUpdateRate;
        using var rateS = rate.ToScalar();
        using var keep = (1 - rate).ToScalar();
        foreach (var (name, p) in RolloutPolicy.named_parameters())
        {
            if (name.StartsWith("wte", StringComparison.Ordinal) || name.StartsWith("wpe", StringComparison.Ordinal)) p.copy_(theta[name]);
            else p.mul_(rateS).add_(theta[name], alpha: keep);
        }
    }

    public void Dispose() => RolloutPolicy.Dispose();
}
