using RlGaf.Engine.Runs;
using RlGaf.Workbench.Services;

namespace RlGaf.Workbench.Tests.Unit;

public class RunViewsTests
{
    [Fact]
    public void Smoothing_is_a_debiased_ema_worked_by_hand()
    {
        // w = 0.5: ema1 = 0.5*1 = 0.5, debias 1-0.5 = 0.5 -> 1; ema2 = 0.25 + 0.5*3 = 1.75, debias 0.75 -> 2.3333
        var s = RunViews.Smooth([1, 3], 0.5);
        Assert.Equal(1.0, s[0], 12);
        Assert.Equal(1.75 / 0.75, s[1], 12);
        // The first point is never pulled towards zero, whatever the weight.
        Assert.Equal(10.0, RunViews.Smooth([10], 0.99)[0], 9);
        // Weight 0 leaves the raw values.
        Assert.Equal([1.0, 3.0], RunViews.Smooth([1, 3], 0));
    }

    [Fact]
    public void Smoothing_passes_non_finite_values_through_without_poisoning_the_average()
    {
        var s = RunViews.Smooth([1, double.NaN, 1], 0.9);
        Assert.True(double.IsNaN(s[1]));
        Assert.Equal(1.0, s[2], 12);
        Assert.Null(RunViews.PlotValue(double.PositiveInfinity));
        Assert.Equal(2.0, RunViews.PlotValue(2.0));
    }

    [Fact]
    public void Repeated_completions_are_found_ignoring_surrounding_space()
    {
        var r = RunViews.Repeated(["great film.", "great film. ", "bad", "ok"]);
        Assert.Equal(["great film."], r);
    }

    [Fact]
    public void Settings_diff_shows_only_what_differs()
    {
        var a = new RunSettings { Seed = 1 };
        var b = new RunSettings { Seed = 2, GenLr = 3e-4 };
        var diff = RunViews.Diff([a, b]);
        Assert.Equal(["seed", "gen_lr"], diff.Select(d => d.Key).Order().Reverse());
        Assert.Equal(["1", "2"], diff.Single(d => d.Key == "seed").Values);
    }

    [Fact]
    public void Settings_of_other_methods_are_hidden()
    {
        Assert.True(RunViews.AppliesTo("gumbel_tau", TrainingMethod.Gumbel));
        Assert.False(RunViews.AppliesTo("gumbel_tau", TrainingMethod.Reinforce));
        Assert.False(RunViews.AppliesTo("ppo_epochs", TrainingMethod.Reinforce));
        Assert.True(RunViews.AppliesTo("ppo_epochs", TrainingMethod.RlhfProxy));
        Assert.False(RunViews.AppliesTo("d_steps", TrainingMethod.Sft));
        Assert.False(RunViews.AppliesTo("pretrain_steps", TrainingMethod.Sft, "/some/model"));
    }

    [Fact]
    public void Every_setting_has_a_default_and_most_have_help()
    {
        var views = new RunViews();
        Assert.Equal(RunSettings.Keys.Count, views.Settings.Count);
        Assert.All(views.Settings, s => Assert.NotNull(s.Default));
        // Help comes from the [Setting] attribute of each RunSettings property.
        Assert.Contains("Generator update", views.Setting("method").Help);
        Assert.Contains("learning rate", views.Setting("disc_lr").Help);
        Assert.True(views.Settings.Count(s => s.Help.Length > 0) > views.Settings.Count * 3 / 4);
        Assert.Equal(["ema", "batch", "none", "rloo"], views.Setting("baseline").Options);
    }

    [Fact]
    public void Preset_overrides_apply_on_top_of_presets()
    {
        var views = new RunViews(new Dictionary<string, string> { ["steps"] = "7", ["batch_size"] = "6" });
        var s = views.Preset("gumbel");
        Assert.Equal(7, s.Steps);
        Assert.Equal(TrainingMethod.Gumbel, s.Method);
    }
}
