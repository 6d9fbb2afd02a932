using RlGaf.Engine.Models;
using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Runtime;

/// <summary>
/// The engine never hands libtorch a <see cref="Scalar"/> that the GC may finalize mid-op (see <see cref="Scalars"/>):
/// its IL calls no implicit conversion to Scalar, and no TorchSharp method whose own IL makes one (directly or
/// through other TorchSharp methods), and uses no ToScalar() result as a temporary. A found call names the
/// engine method and the TorchSharp member.
/// </summary>
public class ScalarLifetimeTests
{
    private static readonly Lazy<IlCallGraph> TorchSharpCalls = new(() => new IlCallGraph(typeof(Scalar).Assembly.Location));
    private static readonly Lazy<IlCallGraph> EngineCalls = new(() => new IlCallGraph(typeof(Gpt2Model).Assembly.Location));

    /// <summary>TorchSharp methods that create a temporary Scalar, themselves or in what they call.</summary>
    private static readonly Lazy<HashSet<string>> Hazards = new(() =>
    {
        var calls = TorchSharpCalls.Value.Calls;
        var hazard = calls.Keys.Where(IsImplicitScalar).ToHashSet();
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var (caller, callees) in calls)
                if (!hazard.Contains(caller) && callees.Any(hazard.Contains)) grew |= hazard.Add(caller);
        }
        return hazard;
    });

    private static bool IsImplicitScalar(string member) => member.StartsWith("TorchSharp.Scalar::op_Implicit(", StringComparison.Ordinal);

    /// <summary>
    /// An optimizer's step is reached through the virtual Optimizer.step, invisible in the caller's IL: building
    /// one whose own step makes temporaries is the call to refuse (Optim.AdamW's constructors build its base).
    /// </summary>
    private static bool BuildsUnsafeOptimizer(string caller, string callee)
    {
        if (caller.StartsWith("RlGaf.Engine.Optim.AdamW::.ctor(", StringComparison.Ordinal)) return false;
        string? type = callee.StartsWith("TorchSharp.Modules.", StringComparison.Ordinal) && callee.Contains("::.ctor(") ? callee[..callee.IndexOf("::", StringComparison.Ordinal)]
            : callee.StartsWith("TorchSharp.torch+optim::", StringComparison.Ordinal) ? "TorchSharp.Modules." + callee["TorchSharp.torch+optim::".Length..callee.IndexOf('(')]
            : null;
        return type is not null && Hazards.Value.Contains($"{type}::step(System.Func`1<TorchSharp.torch+Tensor>)");
    }

    private static List<string> Offending(IlCallGraph graph) =>
        graph.Calls
            .SelectMany(kv => kv.Value.Distinct()
                .Where(c => IsImplicitScalar(c) || Hazards.Value.Contains(c) || BuildsUnsafeOptimizer(kv.Key, c))
                .Select(c => $"{kv.Key}\n    -> {c}"))
            .Order().ToList();

    [Fact]
    public void The_hazard_list_knows_the_overloads_that_crashed()
    {
        // The two crashes seen: a + b (alpha 1 made inside add) and implicit conversions at the call site.
        Assert.Contains("TorchSharp.torch+Tensor::op_Addition(TorchSharp.torch+Tensor, TorchSharp.torch+Tensor)", Hazards.Value);
        Assert.Contains("TorchSharp.torch+Tensor::add(TorchSharp.torch+Tensor)", Hazards.Value);
        Assert.Contains("TorchSharp.torch+Tensor::square()", Hazards.Value);
        Assert.DoesNotContain("TorchSharp.torch+Tensor::add(TorchSharp.torch+Tensor, TorchSharp.Scalar)", Hazards.Value);
        Assert.DoesNotContain("TorchSharp.torch+Tensor::mul(TorchSharp.torch+Tensor)", Hazards.Value);
        Assert.Contains("TorchSharp.Modules.AdamW::step(System.Func`1<TorchSharp.torch+Tensor>)", Hazards.Value);
        Assert.True(BuildsUnsafeOptimizer("X::Y()", "TorchSharp.torch+optim::AdamW(System.Collections.Generic.IEnumerable`1<TorchSharp.Modules.Parameter>, Double, Double, Double, Double, Double, Boolean, Boolean)"));
    }

    [Fact]
    public void The_engine_makes_no_temporary_scalars()
    {
        var found = Offending(EngineCalls.Value);
        Assert.True(found.Count == 0, $"{found.Count} calls make a Scalar the GC may free mid-op:\n{string.Join("\n", found)}");
        // A ToScalar() result is as short-lived as an implicit one unless it is held: stored in a local (`using var s`)
        // or a field, not passed straight on as an argument (`x.mul(0.5.ToScalar())`).
        var unheld = EngineCalls.Value.UnstoredResults
            .SelectMany(kv => kv.Value.Where(c => c.StartsWith("TorchSharp.ScalarExtensionMethods::ToScalar(", StringComparison.Ordinal)).Select(_ => kv.Key))
            .Distinct().ToList();
        Assert.True(unheld.Count == 0, $"ToScalar() used as a temporary in:\n{string.Join("\n", unheld)}");
    }

    private static void Same(Tensor x, Tensor y)
    {
        Assert.Equal(x.shape, y.shape);
        Assert.Equal(x.dtype, y.dtype);
        Assert.True(x.eq(y).all().item<bool>());
    }

    [Fact]
    public void The_safe_overloads_give_the_same_numbers()
    {
        using var g = new Generator(7);
        using var a = randn([64, 33], generator: g);
        using var b = randn([64, 33], generator: g);
        using var ids = arange(0L, 40L, 1L, ScalarType.Int64);
        Same(a.Plus(b), a + b);
        Same(a.Plus(0.25), a + 0.25);
        Same(a.Squared(), a.square());
        Same(ScalarSafe.Range(3, 40, ScalarType.Int64, CPU), ids.narrow(0, 3, 37));
        Same(ids.Plus(ids), ids + ids); // integer alpha: valid for integer tensors
        using var wide = a.mul(30); // both sides of softplus' threshold (20)
        // Not bit-identical (libtorch's fused kernel rounds differently in the last bit); no preset uses this reward.
        Assert.True(ScalarSafe.Softplus(wide).allclose(nn.functional.softplus(wide), rtol: 1e-6, atol: 1e-7));
        using var above = wide.gt(20);
        Same(ScalarSafe.Softplus(wide).masked_select(above), wide.masked_select(above)); // x itself above the threshold
        using var c = a.clone();
        c.PlusInPlace(b);
        Same(c, a + b);
    }
}
