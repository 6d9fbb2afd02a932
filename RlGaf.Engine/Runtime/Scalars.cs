using TorchSharp;

namespace RlGaf.Engine.Runtime;

/// <summary>
/// TorchSharp 0.107 turns a number into a <see cref="Scalar"/> implicitly (<c>x * 0.5</c>), and only
/// the scalar's handle crosses into native code: the temporary can be finalized, freeing its native
/// memory, while the op that reads it still runs. Seen once under heavy load as libtorch's
/// "c10::Scalar::toFloat: Expected false to be true" from gelu_new. Hot paths therefore use these
/// scalars, which live as long as the process, or <c>using var s = value.ToScalar();</c> for values that change.
/// </summary>
public static class Scalars
{
    public static readonly Scalar Half = 0.5.ToScalar();
    public static readonly Scalar One = 1.0.ToScalar();
    public static readonly Scalar Three = 3.ToScalar();
    public static readonly Scalar NegativeInfinity = float.NegativeInfinity.ToScalar();
}
