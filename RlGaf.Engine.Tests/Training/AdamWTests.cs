using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tests.Training;

public class AdamWTests
{
    private static nn.Module<Tensor, Tensor> Net(long seed)
    {
        using var _ = no_grad();
        var net = nn.Sequential(nn.Linear(7, 16), nn.Tanh(), nn.Linear(16, 3));
        using var g = new Generator((ulong)seed);
        foreach (var p in net.parameters()) p.copy_(randn(p.shape, generator: g).mul(0.3));
        return net;
    }

    private static TorchSharp.Modules.AdamW.ParamGroup[] Groups(nn.Module<Tensor, Tensor> net) =>
    [
        new(net.parameters().Where(p => p.dim() >= 2), 3e-3, 0.9, 0.95, 1e-8, 0.1, false, false),
        new(net.parameters().Where(p => p.dim() < 2), 3e-3, 0.9, 0.95, 1e-8, 0.0, true, false), // amsgrad: its branch too
    ];

    private static void Step(nn.Module<Tensor, Tensor> net, optim.Optimizer opt, int i)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator((ulong)(100 + i));
        var x = randn([32, 7], generator: g);
        var y = randn([32, 3], generator: g);
        var loss = nn.functional.mse_loss(net.forward(x), y);
        opt.zero_grad();
        loss.backward();
        foreach (var group in opt.ParamGroups) group.LearningRate = 3e-3 * (1.0 - 0.1 * i); // a schedule, as the trainers run
        opt.step();
    }

    private static void AssertSameBits(nn.Module<Tensor, Tensor> a, nn.Module<Tensor, Tensor> b)
    {
        foreach (var (pa, pb) in a.parameters().Zip(b.parameters()))
            Assert.True(pa.eq(pb).all().item<bool>(), "parameters differ");
    }

    [Fact]
    public void Every_parameter_matches_TorchSharps_AdamW_bit_for_bit_and_state_files_are_interchangeable()
    {
        using var netA = Net(1);
        using var netB = Net(1);
        using var reference = new TorchSharp.Modules.AdamW(Groups(netA), 3e-3, 0.9, 0.95);
        using var safe = new Engine.Optim.AdamW(Groups(netB), 3e-3, 0.9, 0.95);
        for (int i = 0; i < 5; i++) { Step(netA, reference, i); Step(netB, safe, i); }
        AssertSameBits(netA, netB);
        Assert.False(netA.parameters().First().eq(Net(1).parameters().First()).all().item<bool>(), "training did not move the weights");

        // A checkpoint written by one continues in the other, identically.
        var dir = Directory.CreateTempSubdirectory("adamw").FullName;
        try
        {
            reference.save_state_dict(Path.Combine(dir, "reference.bin"));
            safe.save_state_dict(Path.Combine(dir, "safe.bin"));
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "reference.bin")), File.ReadAllBytes(Path.Combine(dir, "safe.bin")));
                        using var netC = Net(2);
            using (no_grad()) foreach (var (pc, pb) in netC.parameters().Zip(netB.parameters())) pc.copy_(pb);
            using var resumed = new Engine.Optim.AdamW(Groups(netC), 3e-3, 0.9, 0.95);
            resumed.load_state_dict(Path.Combine(dir, "reference.bin"));
            for (int i = 5; i < 8; i++) { Step(netA, reference, i); Step(netC, resumed, i); }
            AssertSameBits(netA, netC);
        }
        finally { Directory.Delete(dir, true); }
    }
}
