using System.Globalization;
using System.Text;
using RlGaf.Engine.Adversarial;
using RlGaf.Engine.Runs;
using RlGaf.Engine.Tensorboard;
using RlGaf.Engine.Tests.Runs;
using Reader = RlGaf.Engine.Tests.Tensorboard.EventFileReader;

namespace RlGaf.Engine.Tests.Tensorboard;

/// <summary>Event files read back by the tests' own reader (its own CRC32C and protobuf parser).</summary>
[Collection("runs")]
public class TensorboardTests
{
    /// <summary>CRC32C check values from outside this code: "123456789" (the CRC catalogue) and RFC 3720's B.4 vectors.</summary>
    [Theory]
    [InlineData("123456789", 0xE3069283u)]
    [InlineData("zeros32", 0x8A9136AAu)]
    [InlineData("ones32", 0x62A8AB43u)]
    [InlineData("ascending32", 0x46DD794Eu)]
    public void Crc32C_matches_published_check_values(string input, uint expected)
    {
        byte[] data = input switch
        {
            "zeros32" => new byte[32],
            "ones32" => Enumerable.Repeat((byte)0xFF, 32).ToArray(),
            "ascending32" => Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(),
            _ => Encoding.ASCII.GetBytes(input),
        };
        Assert.Equal(expected, Reader.Crc32C(data));
        Assert.Equal(expected, TfRecord.Crc32C(data));
    }

    [Fact]
    public void Crc32C_agrees_with_the_table_version_on_every_length()
    {
        var rng = new Random(7);
        for (int n = 0; n < 300; n++)
        {
            var data = new byte[n];
            rng.NextBytes(data);
            Assert.Equal(Reader.Crc32C(data), TfRecord.Crc32C(data));
        }
    }

    [Fact]
    public void A_damaged_record_is_detected_by_the_reader()
    {
        var dir = Directory.CreateTempSubdirectory("rlgaf-tb-crc-").FullName;
        try
        {
            string path;
            using (var w = new EventFileWriter(dir)) { w.Scalars(3, [new("a/b", 0.5)]); path = w.FilePath; }
            Assert.Equal(2, Reader.Records(path).Count);
            var bytes = File.ReadAllBytes(path);
            bytes[^6] ^= 0x01; // inside the scalar's data
            File.WriteAllBytes(path, bytes);
            Assert.Contains("data CRC wrong", Assert.Throws<InvalidDataException>(() => Reader.Records(path)).Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_live_run_writes_every_metric_sample_event_and_setting()
    {
        var settings = TinySft.Settings(TrainingMethod.Reinforce) with { Tensorboard = true };
        var root = Directory.CreateTempSubdirectory("rlgaf-tb-run-").FullName;
        try
        {
            var logged = new List<(long Step, string Tag, float Value)>();
            var samples = new List<SampleRecord>();
            var events = new List<RunEvent>();
            var dir = Path.Combine(root, "r");
            using (var run = AdversarialRun.Create(dir, settings, root))
            {
                run.MetricsLogged += (step, m) => logged.AddRange(m.Select(kv => ((long)step, kv.Key, (float)kv.Value)));
                run.SamplesLogged += samples.AddRange;
                run.EventRaised += events.Add;
                run.RequestChange("gen_lr", "0.0002"); // a setting-change event at the first step
                run.Execute();
                Assert.Equal(RunStatus.Completed, run.Status);
            }
            var read = Reader.ReadDirectory(Path.Combine(dir, RunTensorboardLog.Folder));
            Assert.Single(read.Select(r => r.File).Distinct());
            Assert.Equal("brain.Event:2", read[0].Event.FileVersion);
            Assert.All(read, r => Assert.InRange(r.Event.WallTime, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 3600, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1));

            // Every metric value at its step, nothing else (simple_value is float32).
            var scalars = read.SelectMany(r => r.Event.Values.Where(v => v.SimpleValue is not null).Select(v => (r.Event.Step, v.Tag, v.SimpleValue!.Value))).ToList();
            Assert.Equal(logged.Count, scalars.Count);
            Assert.Equal(Key(logged), Key(scalars));
            Assert.Contains(scalars, s => s.Tag == "disc/fake_score" && s.Step == settings.Steps);
            Assert.Contains(scalars, s => s.Tag == "oracle/valid-rate" && s.Step == 0);

            // Samples: a markdown table per evaluation step, each row one sample as logged.
            var texts = read.SelectMany(r => r.Event.Values.Where(v => v.PluginName == "text").Select(v => (r.Event.Step, v))).ToList();
            Assert.All(texts, t => Assert.Equal(7, t.v.TensorDtype)); // DT_STRING
            var sampleTexts = texts.Where(t => t.v.Tag == EventFileWriter.SamplesTag).ToList();
            Assert.Equal(samples.Select(s => (long)s.Step).Distinct().Order(), sampleTexts.Select(t => t.Step));
            foreach (var (step, v) in sampleTexts)
            {
                var rows = Reader.TableRows(v.Strings.Single());
                var expected = samples.Where(s => s.Step == step).OrderBy(s => s.PromptIndex).ToList();
                Assert.Equal(expected.Count, rows.Count);
                for (int i = 0; i < rows.Count; i++)
                {
                    Assert.Equal(expected[i].PromptIndex.ToString(CultureInfo.InvariantCulture), rows[i][0]);
                    Assert.Equal(Flat(expected[i].Prompt), rows[i][1]);
                    Assert.Equal(Flat(expected[i].Completion), rows[i][2]);
                    Assert.Equal(expected[i].DiscScore, double.Parse(rows[i][3], CultureInfo.InvariantCulture), 4);
                    Assert.Equal(expected[i].Reward, double.Parse(rows[i][4], CultureInfo.InvariantCulture), 4);
                    Assert.Equal(expected[i].Verdict ?? "", rows[i][5]);
                }
            }

            // Events as text at their steps: the setting change with old and new value.
            var eventTexts = texts.Where(t => t.v.Tag == EventFileWriter.EventsTag).Select(t => (t.Step, Text: t.v.Strings.Single())).ToList();
            Assert.Equal(events.Count, eventTexts.Count);
            var change = events.Single(e => e.Kind == RunEventKinds.Setting);
            Assert.Contains(eventTexts, t => t.Step == change.Step && t.Text.Contains("gen\\_lr: 0.0001 -> 0.0002"));

            // HParams: every setting with its typed value as the run started, the experiment listing them and every metric, the end status.
            var hp = read.SelectMany(r => r.Event.Values.Where(v => v.PluginName == "hparams")).ToList();
            var start = Reader.SessionStartHParams(hp.Single(v => v.Tag == "_hparams_/session_start_info").PluginContent!);
            Assert.Equal(RunSettings.Keys.Order(), start.Keys.Order());
            Assert.Equal(settings.BatchSize, (double)start["batch_size"]);
            Assert.Equal(1e-4, (double)start["gen_lr"]);
            Assert.Equal("reinforce", start["method"]);
            Assert.Equal(true, start["tensorboard"]);
            Assert.Equal(settings.Generator, start["generator"]);
            var (types, metricTags) = Reader.Experiment(hp.Single(v => v.Tag == "_hparams_/experiment").PluginContent!);
            Assert.Equal(RunSettings.Keys.Order(), types.Keys.Order());
            Assert.Equal(3, types["kl_coef"]); // DATA_TYPE_FLOAT64
            Assert.Equal(2, types["whiten_rewards"]); // DATA_TYPE_BOOL
            Assert.Equal(1, types["method"]); // DATA_TYPE_STRING
            // Fixed sets of values are the dashboard's discrete domains: every method as a settings file spells it, bools false/true; free values none.
            var domains = Reader.ExperimentDomains(hp.Single(v => v.Tag == "_hparams_/experiment").PluginContent!);
            Assert.Equal(Enum.GetValues<TrainingMethod>().Length, domains["method"].Count);
            Assert.Contains("seqgan-rollout", domains["method"]);
            Assert.Contains("rlhf-proxy", domains["method"]);
            Assert.Equal([false, true], domains["whiten_rewards"].Cast<bool>());
            Assert.False(domains.ContainsKey("kl_coef"));
            Assert.False(domains.ContainsKey("generator"));
            Assert.All(domains["method"], v => Assert.Equal(v, new RunSettings().With("method", (string)v).Get("method"))); // each value is one a setting accepts
            Assert.Equal(logged.Select(l => l.Tag).Distinct().Order(StringComparer.Ordinal), metricTags.Order(StringComparer.Ordinal));
            Assert.Equal(1, Reader.SessionEndStatus(hp.Single(v => v.Tag == "_hparams_/session_end_info").PluginContent!)); // STATUS_SUCCESS
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void A_resumed_run_starts_a_new_file_that_marks_the_restart()
    {
        var settings = TinySft.Settings(TrainingMethod.Sft) with { Tensorboard = true };
        var root = Directory.CreateTempSubdirectory("rlgaf-tb-resume-").FullName;
        try
        {
            var dir = Path.Combine(root, "r");
            using (var run = AdversarialRun.Create(dir, settings, root)) run.Execute(stopAtStep: 3);
            var second = new List<(long, string, float)>();
            using (var run = AdversarialRun.Open(dir, root))
            {
                run.MetricsLogged += (step, m) => second.AddRange(m.Select(kv => ((long)step, kv.Key, (float)kv.Value)));
                run.Execute();
            }
            var read = Reader.ReadDirectory(Path.Combine(dir, RunTensorboardLog.Folder));
            var files = read.Select(r => r.File).Distinct().ToList();
            Assert.Equal(2, files.Count);
            var later = read.Where(r => r.File == files[1]).Select(r => r.Event).ToList();
            Assert.Equal("brain.Event:2", later[0].FileVersion);
            // TensorBoard drops what the first file logged after the checkpoint (step 3) when it reads this.
            var restart = later.Single(e => e.SessionLogStatus is not null);
            Assert.Equal(1, restart.SessionLogStatus); // START
            Assert.Equal(4, restart.Step);
            var scalars = later.SelectMany(e => e.Values.Where(v => v.SimpleValue is not null).Select(v => (e.Step, v.Tag, v.SimpleValue!.Value))).ToList();
            Assert.Equal(Key(second), Key(scalars));
            Assert.All(scalars, s => Assert.True(s.Step > 3));
        }
        finally { Directory.Delete(root, true); }
    }

    private static List<string> Key(IEnumerable<(long Step, string Tag, float Value)> xs) =>
        xs.Select(x => $"{x.Step}|{x.Tag}|{BitConverter.SingleToInt32Bits(x.Value)}").Order(StringComparer.Ordinal).ToList();

    private static string Flat(string text) => text.Replace('\r', ' ').Replace('\n', ' ').Trim();
}
