using RlGaf.Engine.Runs;

namespace RlGaf.Engine.Tests.Runs;

public class RunSettingsTests
{
    [Theory]
    [InlineData("batch_size", "1", "batch_size")]
    [InlineData("gen_lr", "0", "gen_lr")]
    [InlineData("gumbel_schedule", "cubic", "gumbel_schedule")]
    [InlineData("disc_loss", "wasserstein", "disc_loss")]
    [InlineData("steps", "ten", "steps")]
    [InlineData("label_smoothing", "0.7", "label_smoothing")]
    public void Bad_values_are_refused_naming_the_setting(string key, string value, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => new RunSettings().With(key, value).Validate());
        Assert.StartsWith(named, e.Message);
    }

    [Theory]
    [InlineData("steps", "1000001", "1000000")]
    [InlineData("pretrain_steps", "1000001", "1000000")]
    [InlineData("disc_pretrain_steps", "1000001", "1000000")]
    [InlineData("reward_model_steps", "1000001", "1000000")]
    [InlineData("batch_size", "4097", "4096")]
    [InlineData("max_new_tokens", "1025", "1024")]
    [InlineData("keep_checkpoints", "101", "100")]
    [InlineData("eval_every", "1000001", "1000000")]
    [InlineData("checkpoint_every", "1000001", "1000000")]
    [InlineData("gumbel_schedule_steps", "1000001", "1000000")]
    [InlineData("eval_prompts", "10001", "10000")]
    [InlineData("mle_coef", "1001", "1000")]
    [InlineData("vf_coef", "1001", "1000")]
    [InlineData("kl_target", "1e7", "1000000")]
    [InlineData("kl_horizon", "1e10", "1000000000")]
    [InlineData("gen_grad_clip", "1e7", "1000000")]
    [InlineData("value_clip_range", "1e7", "1000000")]
    public void Every_count_has_an_upper_bound_that_the_error_names(string key, string value, string bound)
    {
        var e = Assert.Throws<ArgumentException>(() => new RunSettings().With(key, value).Validate());
        Assert.StartsWith(key + ":", e.Message);
        Assert.Contains(bound, e.Message);
    }

    [Fact]
    public void The_bounds_themselves_are_accepted()
    {
        new RunSettings { Steps = RunSettings.MaxSteps, PretrainSteps = RunSettings.MaxSteps, KeepCheckpoints = RunSettings.MaxKeepCheckpoints,
            Threads = Environment.ProcessorCount, EvalPrompts = 2000, SamplesPerEval = RunSettings.MaxSamplesPerEval }.Validate();
    }

    [Fact]
    public void Threads_are_at_most_the_machines_cores_and_samples_at_most_the_bound()
    {
        var threads = Assert.Throws<ArgumentException>(() => (new RunSettings { Threads = Environment.ProcessorCount + 1 }).Validate());
        Assert.StartsWith("threads:", threads.Message);
        Assert.Contains($"[1, {Environment.ProcessorCount}]", threads.Message);
        Assert.Contains("cores", threads.Message);
        // Under eval_prompts but over the bound of stored samples.
        var samples = Assert.Throws<ArgumentException>(() => (new RunSettings { EvalPrompts = 5000, SamplesPerEval = 1001 }).Validate());
        Assert.StartsWith("samples_per_eval:", samples.Message);
        Assert.Contains("1000", samples.Message);
        var path = Assert.Throws<ArgumentException>(() => (new RunSettings { Generator = new string('x', RunSettings.MaxPathLength + 1) }).Validate());
        Assert.StartsWith("generator:", path.Message);
        Assert.Contains($"at most {RunSettings.MaxPathLength} characters", path.Message);
        Assert.True(path.Message.Length < 300); // the error quotes the start of the path, not all of it
    }

    [Fact]
    public void Json_round_trips_and_rejects_unknown_keys()
    {
        var s = Presets.Get("gumbel") with { Seed = 7, GumbelTau = 0.5 };
        var back = RunSettings.FromJson(s.ToJson());
        Assert.Equal(s, back);
        var e = Assert.Throws<ArgumentException>(() => RunSettings.FromJson("""{"method":"ppo","gen_lrr":0.1}""", "my.json"));
        Assert.Contains("my.json", e.Message);
        Assert.Contains("gen_lrr", e.Message);
        Assert.Contains("method", Assert.Throws<ArgumentException>(() => RunSettings.FromJson("""{"method":"dpo"}""")).Message);
    }

    [Fact]
    public void Every_preset_is_valid_and_set_parses_typed_values()
    {
        foreach (var (name, (_, settings)) in Presets.All) settings.Validate();
        var s = new RunSettings().With("method", "seqgan-rollout").With("whiten_rewards", "false").With("kl_coef", "0.5");
        Assert.Equal(TrainingMethod.SeqganRollout, s.Method);
        Assert.False(s.WhitenRewards);
        Assert.Equal(0.5, s.KlCoef);
        Assert.Equal("seqgan-rollout", s.Get("method"));
    }

    [Fact]
    public void An_empty_optional_text_is_unset_so_forms_round_trip_to_the_same_json()
    {
        var fromForm = new RunSettings();
        foreach (var key in RunSettings.Keys) fromForm = fromForm.With(key, new RunSettings().Get(key));
        Assert.Null(fromForm.DiscCheckpoint);
        Assert.Equal(new RunSettings().ToJson(), fromForm.ToJson());
        Assert.Equal("", new RunSettings().With("dataset", "").Dataset); // required text stays text (Validate names it)
    }
}
