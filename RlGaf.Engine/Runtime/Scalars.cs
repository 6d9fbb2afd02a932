using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Runtime;

/// <summary>
/// TorchSharp 0.107 turns a number into a <see cref="Scalar"/> implicitly (<c>x * 0.5</c>), and only
/// the scalar's handle crosses into native code: the temporary can be finalized, freeing its native
/// memory, while the op that reads it still runs. TorchSharp does the same inside some of its own
/// overloads: <c>a + b</c> and <c>a.add(b)</c> pass a temporary alpha of 1, <c>square()</c> a temporary
/// exponent 2, <c>arange(start, stop)</c> a temporary step (upstream: dotnet/TorchSharp#1434, open).
/// Seen as libtorch's "c10::Scalar::toFloat: Expected false to be true": once from gelu_new under heavy
/// load, once from <c>inputsEmbeds + positions</c> in an IMDB suite's worker (2026-12-04), which killed it.
/// The engine therefore uses these scalars, which live as long as the process, or
/// <c>using var s = value.ToScalar();</c> for values that change, and <see cref="ScalarSafe"/> for the
/// overloads that hide a temporary. ScalarLifetimeTests reads the engine's IL and fails on any call to
/// an implicit conversion or to a TorchSharp method that makes one.
/// </summary>
public static class Scalars
{
    public static readonly Scalar Half = 0.5.ToScalar();
    public static readonly Scalar One = 1.0.ToScalar();
    public static readonly Scalar Three = 3.ToScalar();
    public static readonly Scalar NegativeInfinity = float.NegativeInfinity.ToScalar();
    /// <summary>The integer 1 TorchSharp passes as alpha and as arange's step (valid for integer tensors too).</summary>
    public static readonly Scalar IntOne = 1.ToScalar();
    /// <summary>The integer exponent TorchSharp's square() passes to pow.</summary>
    public static readonly Scalar IntTwo = 2.ToScalar();
    public static readonly Scalar IntZero = 0.ToScalar();
}

/// <summary>
/// The TorchSharp overloads that hide a temporary <see cref="Scalar"/>, written with scalars that stay
/// alive: the same native op with the same values, so results are bit-identical to the overloads they replace.
/// </summary>
public static class ScalarSafe
{
    /// <summary><c>a + b</c>.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, Scalars.IntOne);

    /// <summary><c>a.add_(b)</c>.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, Scalars.IntOne);

    /// <summary><c>a + value</c>.</summary>
    public static Tensor Plus(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.add(s, Scalars.IntOne);
    }

    /// <summary><c>a.square()</c> (pow with the integer exponent 2).</summary>
    public static Tensor Squared(this Tensor a) => a.pow(Scalars.IntTwo);

    /// <summary><c>arange(start, stop)</c> with step 1.</summary>
    public static Tensor Range(long start, long stop, ScalarType dtype, Device device)
    {
        using var from = start.ToScalar();
        using var to = stop.ToScalar();
        return torch.arange(from, to, Scalars.IntOne, dtype, device);
    }

    private static readonly Scalar SoftplusThreshold = 20.ToScalar();

    /// <summary>
    /// <c>softplus(x)</c> at TorchSharp's defaults (beta 1, threshold 20): x above the threshold, else
    /// log1p(exp(x)), libtorch's formula (TorchSharp's only overload takes doubles and converts them to
    /// temporaries inside). Equal to the fused kernel to 1e-6 relative, not in every bit (ScalarLifetimeTests);
    /// the reward neg_log_one_minus_d is the only user, and no preset or committed suite uses it.
    /// </summary>
    public static Tensor Softplus(Tensor x)
    {
        using var scope = NewDisposeScope();
        return where(x.gt(SoftplusThreshold), x, x.exp().log1p()).MoveToOuterDisposeScope();
    }
}
