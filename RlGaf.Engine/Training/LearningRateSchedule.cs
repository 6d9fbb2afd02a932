namespace RlGaf.Engine.Training;

/// <summary>Learning-rate schedules as small pure functions of the step (testable, resumable).</summary>
public static class LearningRateSchedule
{
    /// <summary>
    /// Linear warmup then cosine decay (nanoGPT's get_lr): 1) for <paramref name="warmup"/> steps rise
    /// linearly to <paramref name="maxLr"/>; 2) decay along a half cosine to <paramref name="minLr"/> at
    /// <paramref name="total"/>; 3) hold <paramref name="minLr"/> after.
    /// </summary>
    public static double WarmupCosine(int step, int warmup, int total, double maxLr, double minLr)
    {
        if (step < warmup) return maxLr * (step + 1) / warmup;
        if (step >= total) return minLr;
        double progress = (double)(step - warmup) / Math.Max(1, total - warmup);
        double coeff = 0.5 * (1.0 + Math.Cos(Math.PI * progress));
        return minLr + coeff * (maxLr - minLr);
    }
}
