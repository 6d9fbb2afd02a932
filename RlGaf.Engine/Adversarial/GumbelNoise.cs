using RlGaf.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RlGaf.Engine.Adversarial;

/// <summary>
/// The Gumbel noise g = -log(-log u) of one Gumbel-max sampling run, drawn one step [B, V] at a time
/// from a generator seeded with <c>seed</c>. It remembers the generator's state before each step
/// (a few KB), so any run of steps can be drawn again, bit for bit, when the soft samples are built
/// chunk by chunk: no [B, L, V] noise tensor is ever kept.
/// </summary>
public sealed class GumbelNoise(ulong seed, long rows, long vocab, Device device)
{
    // The uniform draw's clamp (held for the process: see Scalars).
    private static readonly Scalar UniformMin = 1e-10.ToScalar(), UniformMax = (1 - 1e-7).ToScalar();
    private readonly List<byte[]> _stateBefore = [];
    private byte[]? _stateAfter;

    /// <summary>Rows B of every step.</summary>
    public long Rows => rows;
    /// <summary>Vocabulary size V.</summary>
    public long Vocab => vocab;
    /// <summary>Steps drawn so far.</summary>
    public int Steps => _stateBefore.Count;

    /// <summary>The next step's noise [B, V].</summary>
    public Tensor Next()
    {
        using var gen = new Generator(seed, device);
        if (_stateAfter is not null) SetState(gen, _stateAfter);
        _stateBefore.Add(GetState(gen));
        var g = Draw(gen);
        _stateAfter = GetState(gen);
        return g;
    }

    /// <summary>The noise of steps <paramref name="from"/> .. from+count-1 again, [count, B, V].</summary>
    public Tensor Replay(int from, int count)
    {
        if (from < 0 || count < 1 || from + count > Steps)
            throw new ArgumentOutOfRangeException(nameof(count), $"steps {from}..{from + count - 1} were not all drawn (have {Steps}).");
        using var scope = NewDisposeScope();
        using var gen = new Generator(seed, device);
        SetState(gen, _stateBefore[from]);
        var steps = new Tensor[count];
        for (int i = 0; i < count; i++) steps[i] = Draw(gen);
        return stack(steps, 0).MoveToOuterDisposeScope();
    }

    private Tensor Draw(Generator gen)
    {
        using var scope = NewDisposeScope();
        var u = rand([rows, vocab], generator: gen, device: device).clamp(UniformMin, UniformMax);
        return u.log().neg().log().neg().MoveToOuterDisposeScope();
    }

    private static byte[] GetState(Generator gen)
    {
        using var s = gen.get_state();
        return s.data<byte>().ToArray();
    }

    private static void SetState(Generator gen, byte[] state)
    {
        using var s = tensor(state, dtype: ScalarType.Byte);
        gen.set_state(s);
    }
}
