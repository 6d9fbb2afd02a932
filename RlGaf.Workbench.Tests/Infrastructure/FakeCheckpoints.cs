using System.Security.Cryptography;
using System.Text.Json;
using RlGaf.Engine.Runs;

namespace RlGaf.Workbench.Tests.Infrastructure;

/// <summary>
/// Checkpoint folders holding only a state and its manifest: listed and verified like real ones (so a fork's
/// checks and the run page's checkpoint menu see them) without training anything.
/// </summary>
public static class FakeCheckpoints
{
    public static void Write(string runDir, RunSettings settings, params int[] steps)
    {
        foreach (int step in steps)
        {
            var dir = Path.Combine(RunCheckpoint.Directory(runDir), $"ckpt-{step:D7}");
            Directory.CreateDirectory(dir);
            var state = Path.Combine(dir, "state.json");
            File.WriteAllText(state, JsonSerializer.Serialize(new RunState { Step = step, Settings = settings }, RunSettings.Json));
            var hash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(state)));
            File.WriteAllText(Path.Combine(dir, "manifest.json"), JsonSerializer.Serialize(new Dictionary<string, string> { ["state.json"] = hash }));
        }
        // The run's SFT model folder, which a fork copies (a placeholder file stands for the weights).
        Directory.CreateDirectory(Path.Combine(runDir, RunSetup.SftDir));
        File.WriteAllText(Path.Combine(runDir, RunSetup.SftDir, "config.json"), "{}");
    }
}
