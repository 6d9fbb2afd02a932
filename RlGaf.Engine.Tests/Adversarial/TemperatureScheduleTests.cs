using RlGaf.Engine.Adversarial;

namespace RlGaf.Engine.Tests.Adversarial;

public sealed class TemperatureScheduleTests
{
    // N = 11 steps, beta_max = 101, so beta_max - 1 = 100 and N - 1 = 10 keep the hand values round.
    private const int N = 11;
    private const double BetaMax = 101;

    [Theory]
    // kind, i, expected (worked by hand from RelGAN's formulas)
    [InlineData(ScheduleKind.None, 0, 101.0)]
    [InlineData(ScheduleKind.None, 5, 101.0)]
    [InlineData(ScheduleKind.Linear, 0, 1.0)]
    [InlineData(ScheduleKind.Linear, 5, 51.0)]                 // 1 + 5/10 * 100
    [InlineData(ScheduleKind.Linear, 10, 101.0)]
    [InlineData(ScheduleKind.Exponential, 0, 1.0)]              // 101^0
    [InlineData(ScheduleKind.Exponential, 5, 8.148077852435037)] // 101^(5/11)
    [InlineData(ScheduleKind.Exponential, 10, 66.39117268934235)] // 101^(10/11): exp never reaches beta_max
    [InlineData(ScheduleKind.Log, 0, 1.0)]                      // ln 1 = 0
    [InlineData(ScheduleKind.Log, 5, 75.7221736309214)]         // 1 + 100 ln 6 / ln 11
    [InlineData(ScheduleKind.Log, 10, 101.0)]                   // 1 + 100 ln 11 / ln 11
    [InlineData(ScheduleKind.Sigmoid, 0, 1.0045397868702435)]   // 1 + 100 / (1 + e^10)
    [InlineData(ScheduleKind.Sigmoid, 5, 29.718590138250264)]   // 1 + 100 / (1 + e^(10/11))
    [InlineData(ScheduleKind.Sigmoid, 10, 100.97203852613508)]  // 1 + 100 / (1 + e^(-90/11))
    [InlineData(ScheduleKind.Quadratic, 0, 1.0)]
    [InlineData(ScheduleKind.Quadratic, 5, 26.0)]               // 1 + 100 * 25 / 100
    [InlineData(ScheduleKind.Quadratic, 10, 101.0)]
    [InlineData(ScheduleKind.Sqrt, 0, 1.0)]
    [InlineData(ScheduleKind.Sqrt, 5, 71.71067811865474)]       // 1 + 100 sqrt(5)/sqrt(10)
    [InlineData(ScheduleKind.Sqrt, 10, 101.0)]
    public void Formulas_match_hand_values(ScheduleKind kind, int step, double expected) =>
        Assert.Equal(expected, TemperatureSchedule.InverseTemperature(kind, step, N, BetaMax), 1e-9);

    [Theory]
    [InlineData(ScheduleKind.Linear)]
    [InlineData(ScheduleKind.Exponential)]
    [InlineData(ScheduleKind.Log)]
    [InlineData(ScheduleKind.Sigmoid)]
    [InlineData(ScheduleKind.Quadratic)]
    [InlineData(ScheduleKind.Sqrt)]
    public void Schedules_rise_from_one_towards_beta_max_and_hold_past_the_end(ScheduleKind kind)
    {
        const int total = 2000;
        const double betaMax = 1000;
        double previous = 0;
        for (int i = 0; i < total + 50; i++)
        {
            double beta = TemperatureSchedule.InverseTemperature(kind, i, total, betaMax);
            Assert.True(beta >= previous, $"{kind} falls at step {i}: {previous} -> {beta}");
            Assert.InRange(beta, 1, betaMax);
            previous = beta;
        }
        // Starts at 1 (sigmoid: within (beta_max - 1)/(1 + e^10) of it).
        Assert.Equal(1, TemperatureSchedule.InverseTemperature(kind, 0, total, betaMax), 0.05);
        double end = TemperatureSchedule.InverseTemperature(kind, total - 1, total, betaMax);
        // The end is beta_max, except exp (beta_max^((N-1)/N)) and sigmoid (1 + 999/(1 + e^-10)).
        Assert.True(end >= 0.95 * betaMax, $"{kind} ends at {end}");
        // Past the end the schedule holds its end value instead of running on (RelGAN's fixed-N trap).
        Assert.Equal(end, TemperatureSchedule.InverseTemperature(kind, 10 * total, total, betaMax));
    }

    [Fact]
    public void Edge_cases_are_defined_or_rejected_clearly()
    {
        Assert.Equal(7.0, TemperatureSchedule.InverseTemperature(ScheduleKind.Linear, 0, 1, 7.0));
        Assert.Equal(1.0, TemperatureSchedule.InverseTemperature(ScheduleKind.Exponential, 3, 10, 1.0));
        Assert.Equal(0.5, TemperatureSchedule.Temperature(ScheduleKind.Linear, 9, 10, 2.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => TemperatureSchedule.InverseTemperature(ScheduleKind.Linear, -1, 10, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => TemperatureSchedule.InverseTemperature(ScheduleKind.Linear, 0, 0, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => TemperatureSchedule.InverseTemperature(ScheduleKind.Linear, 0, 10, 0.5));
    }

    [Theory]
    [InlineData("none", ScheduleKind.None)]
    [InlineData("no", ScheduleKind.None)]
    [InlineData("Linear", ScheduleKind.Linear)]
    [InlineData("lin", ScheduleKind.Linear)]
    [InlineData("exp", ScheduleKind.Exponential)]
    [InlineData(" log ", ScheduleKind.Log)]
    [InlineData("sigmoid", ScheduleKind.Sigmoid)]
    [InlineData("quad", ScheduleKind.Quadratic)]
    [InlineData("sqrt", ScheduleKind.Sqrt)]
    public void Parses_names_and_relgan_spellings(string name, ScheduleKind kind)
    {
        Assert.Equal(kind, TemperatureSchedule.Parse(name));
        Assert.Equal(kind, TemperatureSchedule.Parse(TemperatureSchedule.Name(kind)));
    }

    [Fact]
    public void Unknown_name_names_the_setting_and_the_choices()
    {
        var e = Assert.Throws<ArgumentException>(() => TemperatureSchedule.Parse("cosine", "gumbel.schedule"));
        Assert.Contains("gumbel.schedule", e.Message);
        Assert.Contains("'cosine'", e.Message);
        Assert.Contains(TemperatureSchedule.Names, e.Message);
    }
}
