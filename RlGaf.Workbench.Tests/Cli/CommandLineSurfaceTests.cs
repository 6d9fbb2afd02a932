using System.CommandLine;
using System.Text.RegularExpressions;
using RlGaf.Workbench.Cli;

namespace RlGaf.Workbench.Tests.Cli;

/// <summary>
/// The command line as System.CommandLine builds it from Cli/Verbs.cs: per-verb help with every option,
/// typo suggestions, completion, and verb bodies that read only what their verb declares.
/// </summary>
[Collection("cli")]
public partial class CommandLineSurfaceTests
{
    private static readonly string CliSources = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../RlGaf.Workbench/Cli"));

    [Fact]
    public void Every_verb_help_lists_every_option_it_declares()
    {
        foreach (var verb in CommandLine.Build().Subcommands.Where(c => c.Name != "completion"))
        {
            var (code, @out, err) = CommandLineTests.Run(verb.Name, "--help");
            Assert.True(code == 0, $"{verb.Name} --help: {err}");
            Assert.Contains($"RlGaf.Workbench {verb.Name}", @out);
            foreach (var option in verb.Options.Where(o => o.Name != "--help" && !o.Hidden))
            {
                Assert.Contains(option.Name, @out);
                Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{verb.Name} {option.Name} has no help text");
            }
        }
    }

    [Fact]
    public void A_mistyped_verb_or_option_is_a_usage_error_with_a_suggestion_and_starts_nothing()
    {
        var (code, @out, err) = CommandLineTests.Run("trian", "--preset", "reinforce");
        Assert.Equal(2, code);
        Assert.Contains("'trian' was not matched. Did you mean", err);
        Assert.Contains("train", err);
        Assert.DoesNotContain("Now listening", @out); // not mistaken for the web app's arguments

        (code, _, err) = CommandLineTests.Run("train", "--preset", "reinforce", "--stepz", "3");
        Assert.Equal(2, code);
        Assert.Contains("Unrecognized command or argument '--stepz'", err);
        Assert.Contains("--steps", err[err.IndexOf("Did you mean", StringComparison.Ordinal)..]);

        // Range errors keep their wording, naming the option.
        (code, _, err) = CommandLineTests.Run("train", "--preset", "reinforce", "--steps", "0");
        Assert.Equal(2, code);
        Assert.Contains("error: train: --steps: 0 is out of range [1, inf].", err);
        (code, _, err) = CommandLineTests.Run("train", "--preset", "reinforce", "--seed", "one");
        Assert.Equal(2, code);
        Assert.Contains("error: train: --seed: 'one' is not an integer.", err);
    }

    [Fact]
    public void Completion_suggests_verbs_and_options_through_the_suggest_directive()
    {
        var (code, @out, _) = CommandLineTests.Run("[suggest:18]", "RlGaf.Workbench tr");
        Assert.Equal(0, code);
        Assert.Contains("train", @out.Split('\n', StringSplitOptions.TrimEntries));
        (_, @out, _) = CommandLineTests.Run("[suggest:27]", "RlGaf.Workbench train --ste");
        Assert.Equal(["--steps"], @out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        (code, @out, _) = CommandLineTests.Run("completion", "bash");
        Assert.Equal(0, code);
        Assert.Contains("complete -o default -F _rlgaf_workbench RlGaf.Workbench", @out);
        Assert.Contains("[suggest:${COMP_POINT}]", @out);
        (code, _, _) = CommandLineTests.Run("completion", "fish");
        Assert.Equal(2, code);
    }

    /// <summary>
    /// A body that reads an option its verb does not declare fails only when that line runs; this reads the
    /// command-line sources and checks each args.X("--name") against the declarations, so it fails at test
    /// time: within a verb's own method body where it is a block, and for every file against all verbs.
    /// </summary>
    [Fact]
    public void Every_option_a_verb_body_reads_is_declared_for_that_verb()
    {
        Assert.True(Directory.Exists(CliSources), CliSources);
        var declared = CommandLine.Build().Subcommands.ToDictionary(c => c.Name, c => c.Options.Select(o => o.Name).ToHashSet());
        var anyVerb = declared.Values.SelectMany(o => o).ToHashSet();
        var verbs = File.ReadAllText(Path.Combine(CliSources, "Verbs.cs"));
        int checkedBodies = 0, verbLines = 0;
        foreach (Match m in VerbLine().Matches(verbs))
        {
            verbLines++;
            string verb = m.Groups[1].Value, cls = m.Groups[2].Value, method = m.Groups[3].Value;
            var source = File.ReadAllText(Path.Combine(CliSources, cls + ".cs"));
            int start = source.IndexOf($"public static int {method}(ArgParser args)", StringComparison.Ordinal);
            Assert.True(start >= 0, $"{cls}.{method} not found");
            if (source.IndexOf('\n', start) is var eol && source[start..eol].TrimEnd().EndsWith(';')) continue; // expression-bodied: the file check covers it
            int end = source.IndexOf("\n    }\n", start, StringComparison.Ordinal);
            var body = source[start..end];
            var read = OptionRead().Matches(body).Select(r => r.Groups[1].Value).ToHashSet();
            if (body.Contains("DataRoot(args)")) read.Add("--data-root");
            if (body.Contains("SetUpTorch(args)")) { read.Add("--device"); read.Add("--threads"); }
            Assert.Empty(read.Except(declared[verb]));
            checkedBodies++;
        }
        Assert.True(verbLines >= 10 && checkedBodies >= 7, $"only {verbLines} verbs and {checkedBodies} block bodies found in Verbs.cs");
        foreach (var file in Directory.GetFiles(CliSources, "*.cs"))
        {
            var read = OptionRead().Matches(File.ReadAllText(file)).Select(r => r.Groups[1].Value).ToHashSet();
            Assert.True(read.IsSubsetOf(anyVerb), $"{Path.GetFileName(file)} reads {string.Join(", ", read.Except(anyVerb))}, which no verb declares");
        }
    }

    [Fact]
    public void Runs_tag_takes_words_that_start_with_a_dash()
    {
        var root = Directory.CreateTempSubdirectory("rlgaf-cli-words-").FullName;
        try
        {
            // Parsed, not refused as unknown options: the run does not exist, so the verb itself answers.
            var (code, _, err) = CommandLineTests.Run("runs", "tag", "no-such-run", "+keep", "-old", "--data-root", root);
            Assert.Equal(2, code);
            Assert.Contains("run 'no-such-run' is not in", err);
            Assert.DoesNotContain("Unrecognized", err);
        }
        finally { Directory.Delete(root, true); }
    }

    [GeneratedRegex("""Verb\("([a-z-]+)", \w+\.\w+, (\w+)\.(\w+)""")]
    private static partial Regex VerbLine();

    [GeneratedRegex("""args\.\w+\("(--[a-z-]+)"[,)]""")]
    private static partial Regex OptionRead();
}
