using RlGaf.Engine.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Models;

/// <summary>Generation: cache vs recomputation, padding, sampling controls, EOS, log-probabilities.</summary>
[Collection(GlobalRngCollection.Name)]
public sealed class GenerationTests : IDisposable
{
    private readonly Gpt2Model model = TestModels.Tiny();
    private static readonly int[][] Prompts = [[5, 9, 1, 30, 2], [7], [12, 0, 36]];

    public void Dispose() => model.Dispose();

    private GenerationResult Gen(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions o) =>
        TextGenerator.Generate(model, prompts, o);

    private static GenerationOptions Greedy => new() { MaxNewTokens = 10 };
    private static GenerationOptions Sampled => new() { MaxNewTokens = 10, DoSample = true, Seed = 42, Temperature = 1.5 };

    [Fact]
    public void Kv_cache_and_full_recomputation_give_identical_tokens()
    {
        foreach (var o in new[] { Greedy, Sampled, Sampled with { TopK = 5, TopP = 0.8, Seed = 3 } })
        {
            var cached = Gen(Prompts, o);
            var full = Gen(Prompts, o with { UseCache = false });
            for (int r = 0; r < Prompts.Length; r++)
            {
                Assert.Equal(full.Sequences[r].Tokens, cached.Sequences[r].Tokens);
                Assert.Equal(10, cached.Sequences[r].Tokens.Length);
                for (int i = 0; i < 10; i++) Assert.Equal(full.Sequences[r].LogProbs[i], cached.Sequences[r].LogProbs[i], 1e-4);
            }
        }
    }

    [Fact]
    public void Left_padded_batch_gives_the_same_tokens_as_each_prompt_alone()
    {
        var batch = Gen(Prompts, Greedy);
        for (int r = 0; r < Prompts.Length; r++)
        {
            var alone = Gen([Prompts[r]], Greedy).Sequences[0];
            Assert.Equal(alone.Tokens, batch.Sequences[r].Tokens);
            for (int i = 0; i < alone.LogProbs.Length; i++) Assert.Equal(alone.LogProbs[i], batch.Sequences[r].LogProbs[i], 1e-4);
        }
        // The rows really differ, so the comparison above is not trivially satisfied.
        Assert.NotEqual(batch.Sequences[0].Tokens, batch.Sequences[1].Tokens);
    }

    [Fact]
    public void Log_probs_equal_log_softmax_of_a_full_forward_pass()
    {
        foreach (var o in new[] { Greedy, Sampled with { TopK = 4 } })
        {
            var result = Gen(Prompts, o);
            for (int r = 0; r < Prompts.Length; r++)
            {
                var s = result.Sequences[r];
                var all = Prompts[r].Concat(s.Tokens).Select(i => (long)i).ToArray();
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var logp = model.Forward(TestModels.Ids(all)).log_softmax(2)[0];
                for (int i = 0; i < s.Tokens.Length; i++)
                {
                    // The token at position p is predicted by the logits at p - 1.
                    int pos = Prompts[r].Length + i - 1;
                    Assert.Equal(logp[pos, s.Tokens[i]].item<float>(), s.LogProbs[i], 1e-4);
                }
            }
        }
    }

    [Fact]
    public void Top_k_one_equals_greedy()
    {
        var greedy = Gen(Prompts, Greedy);
        var topk1 = Gen(Prompts, Sampled with { TopK = 1, Seed = 99 });
        for (int r = 0; r < Prompts.Length; r++) Assert.Equal(greedy.Sequences[r].Tokens, topk1.Sequences[r].Tokens);
    }

    [Fact]
    public void Tiny_top_p_equals_greedy()
    {
        var greedy = Gen(Prompts, Greedy);
        var nucleus = Gen(Prompts, Sampled with { TopP = 1e-6 });
        for (int r = 0; r < Prompts.Length; r++) Assert.Equal(greedy.Sequences[r].Tokens, nucleus.Sequences[r].Tokens);
    }

    [Fact]
    public void Same_seed_repeats_and_other_seed_differs_without_touching_the_global_rng()
    {
        torch.manual_seed(1234);
        using var expectedGlobal = torch.rand(4);
        torch.manual_seed(1234);
        var a = Gen(Prompts, Sampled);
        var b = Gen(Prompts, Sampled);
        var c = Gen(Prompts, Sampled with { Seed = 43 });
        using var global = torch.rand(4);
        Assert.True(global.allclose(expectedGlobal, 0, 0), "generation changed the global RNG");
        for (int r = 0; r < Prompts.Length; r++) Assert.Equal(a.Sequences[r].Tokens, b.Sequences[r].Tokens);
        Assert.NotEqual(a.Sequences.SelectMany(s => s.Tokens), c.Sequences.SelectMany(s => s.Tokens));
        // Sampling really samples: not the greedy continuation.
        Assert.NotEqual(Gen(Prompts, Greedy).Sequences.SelectMany(s => s.Tokens), a.Sequences.SelectMany(s => s.Tokens));
    }

    [Fact]
    public void Eos_stops_each_sequence_on_its_own_and_is_included()
    {
        var free = Gen(Prompts, Greedy);
        int eos = free.Sequences[0].Tokens[2];
        var stopped = Gen(Prompts, Greedy with { EosId = eos, PadId = 4 });
        for (int r = 0; r < Prompts.Length; r++)
        {
            var f = free.Sequences[r].Tokens;
            int at = Array.IndexOf(f, eos);
            var s = stopped.Sequences[r];
            // Up to and including the first EOS the tokens are those of the free run; nothing after it.
            Assert.Equal(at < 0 ? f : f[..(at + 1)], s.Tokens);
            Assert.Equal(at >= 0, s.EndedWithEos);
            Assert.Equal(s.Tokens.Length, s.LogProbs.Length);
        }
        Assert.True(stopped.Sequences[0].Tokens.Length <= 3);
    }

    [Fact]
    public void Empty_prompt_starts_from_bos_and_is_an_error_without_it()
    {
        var fromBos = Gen([Array.Empty<int>(), [5]], Greedy with { BosId = 3 });
        var explicitBos = Gen([[3]], Greedy);
        Assert.Equal(explicitBos.Sequences[0].Tokens, fromBos.Sequences[0].Tokens);
        var e = Assert.Throws<ArgumentException>(() => Gen([Array.Empty<int>()], Greedy));
        Assert.Contains("BosId", e.Message);
    }

    [Fact]
    public void Invalid_requests_fail_with_a_clear_message()
    {
        Assert.Contains("n_positions", Assert.Throws<ArgumentException>(() => Gen(Prompts, Greedy with { MaxNewTokens = 12 })).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() => Gen([[37]], Greedy)).Message);
        Assert.Contains("TopP", Assert.Throws<ArgumentException>(() => Gen(Prompts, Sampled with { TopP = 0 })).Message);
    }

    [Fact]
    public void Generation_restores_training_mode_and_frees_its_tensors()
    {
        model.train();
        Gen(Prompts, Sampled); // warm-up: lazily created library tensors are not leaks
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Gen(Prompts, Sampled);
        Gen(Prompts, Greedy with { UseCache = false });
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.True(model.training);
    }
}
