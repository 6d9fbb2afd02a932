namespace RlGaf.Engine.Tests.Models;

/// <summary>
/// GPT-2 written out as plain loops in double precision, straight from the math (and reading
/// Conv1D weights as [in, out] the way HF stores them): the independent reference the torch
/// model is compared with. Slow and obvious on purpose.
/// </summary>
internal static class ReferenceGpt2
{
    /// <summary>Logits [T][V] for one unpadded sequence.</summary>
    public static double[][] Logits(TinyHfCheckpoint c, int[] ids)
    {
        int t = ids.Length, e = c.Embd;
        var wte = c.W("wte.weight");
        var wpe = c.W("wpe.weight");
        var x = new double[t][];
        for (int i = 0; i < t; i++)
        {
            x[i] = new double[e];
            for (int j = 0; j < e; j++) x[i][j] = wte[ids[i] * e + j] + wpe[i * e + j];
        }
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"h.{l}.";
            var a = Attention(c, LayerNorm(x, c.W(p + "ln_1.weight"), c.W(p + "ln_1.bias"), c.Eps), p);
            x = Add(x, a);
            var h = Conv1D(LayerNorm(x, c.W(p + "ln_2.weight"), c.W(p + "ln_2.bias"), c.Eps), c.W(p + "mlp.c_fc.weight"), c.W(p + "mlp.c_fc.bias"));
            foreach (var row in h) for (int j = 0; j < row.Length; j++) row[j] = GeluNew(row[j]);
            x = Add(x, Conv1D(h, c.W(p + "mlp.c_proj.weight"), c.W(p + "mlp.c_proj.bias")));
        }
        x = LayerNorm(x, c.W("ln_f.weight"), c.W("ln_f.bias"), c.Eps);
        // Tied head: logits[v] = <x, wte[v]>.
        var logits = new double[t][];
        for (int i = 0; i < t; i++)
        {
            logits[i] = new double[c.Vocab];
            for (int v = 0; v < c.Vocab; v++)
                for (int j = 0; j < e; j++) logits[i][v] += x[i][j] * wte[v * e + j];
        }
        return logits;
    }

    public static double GeluNew(double x) =>
        0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    private static double[][] Attention(TinyHfCheckpoint c, double[][] x, string p)
    {
        int t = x.Length, e = c.Embd, d = e / c.Heads;
        var qkv = Conv1D(x, c.W(p + "attn.c_attn.weight"), c.W(p + "attn.c_attn.bias"));
        var y = new double[t][];
        for (int i = 0; i < t; i++) y[i] = new double[e];
        for (int hd = 0; hd < c.Heads; hd++)
        {
            for (int i = 0; i < t; i++)
            {
                // Query i sees keys 0..i only (causal).
                var s = new double[i + 1];
                for (int j = 0; j <= i; j++)
                {
                    for (int k = 0; k < d; k++) s[j] += qkv[i][hd * d + k] * qkv[j][e + hd * d + k];
                    s[j] /= Math.Sqrt(d);
                }
                double max = s.Max(), sum = 0;
                for (int j = 0; j <= i; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                for (int j = 0; j <= i; j++)
                    for (int k = 0; k < d; k++) y[i][hd * d + k] += s[j] / sum * qkv[j][2 * e + hd * d + k];
            }
        }
        return Conv1D(y, c.W(p + "attn.c_proj.weight"), c.W(p + "attn.c_proj.bias"));
    }

    /// <summary>HF Conv1D: out[o] = b[o] + sum_i x[i] * W[i, o], W stored [in, out] row-major.</summary>
    private static double[][] Conv1D(double[][] x, float[] w, float[] b)
    {
        int nIn = x[0].Length, nOut = b.Length;
        return x.Select(row =>
        {
            var o = new double[nOut];
            for (int k = 0; k < nOut; k++) o[k] = b[k];
            for (int i = 0; i < nIn; i++)
                for (int k = 0; k < nOut; k++) o[k] += row[i] * w[i * nOut + k];
            return o;
        }).ToArray();
    }

    private static double[][] LayerNorm(double[][] x, float[] g, float[] b, double eps) =>
        x.Select(row =>
        {
            double mean = row.Average(), var = row.Select(v => (v - mean) * (v - mean)).Average();
            return row.Select((v, j) => (v - mean) / Math.Sqrt(var + eps) * g[j] + b[j]).ToArray();
        }).ToArray();

    private static double[][] Add(double[][] a, double[][] b) =>
        a.Select((row, i) => row.Select((v, j) => v + b[i][j]).ToArray()).ToArray();
}
