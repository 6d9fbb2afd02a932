using RlGaf.Engine.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RlGaf.Engine.Optim;

/// <summary>
/// TorchSharp 0.107's AdamW with its scalars kept alive. TorchSharp's own step converts each coefficient
/// to a temporary <see cref="Scalar"/> that the GC may free while libtorch reads it (<see cref="Scalars"/>);
/// this one runs the same ops on the same values in the same order, so every parameter and moment is
/// bit-identical to <see cref="TorchSharp.Modules.AdamW"/>'s. Its name is TorchSharp's too, because
/// TorchSharp writes the optimizer's class name into state files and refuses a file written under another:
/// checkpoints of either load into the other. Every optimizer of the engine is this one (ScalarLifetimeTests).
/// </summary>
public sealed class AdamW : TorchSharp.Modules.AdamW
{
    public AdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : base(parameters, lr, beta1, beta2, eps, weightDecay, amsgrad: false, maximize: false) { }

    public AdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : base(groups, lr, beta1, beta2, eps, weightDecay, amsgrad: false, maximize: false) { }

    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var o = (Options)group.Options;
        double beta1 = o.beta1!.Value, beta2 = o.beta2!.Value, weightDecay = o.weight_decay!.Value, eps = o.eps!.Value;
        double lr = o.LearningRate!.Value;
        bool amsgrad = o.amsgrad!.Value, maximize = o.maximize!.Value;
        using var decay = (1 - lr * weightDecay).ToScalar();
        using var b1 = beta1.ToScalar();
        using var keep1 = (1 - beta1).ToScalar();
        using var b2 = beta2.ToScalar();
        using var keep2 = (1 - beta2).ToScalar();
        using var epsS = eps.ToScalar();
        foreach (var param in group.Parameters)
        {
            var state = (State)_state[param.Handle];
            var grad = param.grad;
            if (grad is null) continue;
            if (maximize) grad = -grad;
            state.step += 1;
            param.mul_(decay);
            double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
            double biasCorrection2 = 1 - Math.Pow(beta2, state.step);
            state.exp_avg.mul_(b1).add_(grad, keep1);
            state.exp_avg_sq.mul_(b2).addcmul_(grad, grad, keep2);
            if (amsgrad)
            {
                var previous = state.max_exp_avg_sq;
                state.max_exp_avg_sq = maximum(previous, state.exp_avg_sq).DetachFromDisposeScope();
                previous.Dispose();
            }
            using var sqrtCorrection2 = Math.Sqrt(biasCorrection2).ToScalar();
            var denom = (amsgrad ? state.max_exp_avg_sq : state.exp_avg_sq).sqrt().div(sqrtCorrection2).add_(epsS, Scalars.IntOne);
            using var stepSize = (-(lr / biasCorrection1)).ToScalar();
            param.addcdiv_(state.exp_avg, denom, stepSize);
        }
    }, closure);
}
