using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Data;
using static TorchSharp.torch;

namespace RlGaf.Engine.Tasks;

/// <summary>
/// A frozen scorer of (prompt, completion) batches: logits [B] on the batch's device, higher = better.
/// The shape the RLHF-proxy reward needs; <see cref="Discriminator.Score"/> has the same signature.
/// </summary>
public interface IRewardScorer
{
    Tensor Score(SequenceBatch batch);
}

/// <summary>The IMDB sentiment classifier as a reward: the logit of P(positive) of the decoded prompt + completion.</summary>
public sealed class ClassifierRewardScorer(ImdbSentimentClassifier classifier, Text.Vocabulary vocabulary) : IRewardScorer
{
    public Tensor Score(SequenceBatch batch)
    {
        int eot = vocabulary.EndOfTextId;
        var logits = new float[batch.Count];
        for (int r = 0; r < batch.Count; r++)
        {
            var text = vocabulary.Decode(batch.Prompts[r].Where(t => t != eot)) + vocabulary.Decode(batch.Completions[r].Where(t => t != eot));
            logits[r] = (float)classifier.Logit(text);
        }
        return tensor(logits, device: batch.Tokens.device);
    }
}
