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
