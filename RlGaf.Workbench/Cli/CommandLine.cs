using System.CommandLine;
using System.CommandLine.Invocation;

namespace RlGaf.Workbench.Cli;

/// <summary>
/// The headless verbs of the workbench executable, parsed by System.CommandLine from the declarations in
/// <see cref="Verbs"/>: `RlGaf.Workbench VERB --help` lists every option with its default, a mistyped verb
/// or option gets suggestions, and `completion bash|zsh` prints a shell completion script.
/// </summary>
public static class CommandLine
{
    private const string App = "RlGaf.Workbench";

    /// <summary>
    /// True when the command line asks for a verb (or help, or completion); otherwise the web app starts.
    /// ASP.NET's own arguments are options (--urls ...) or key=value pairs, so a first word that is
    /// neither is a verb, known or mistyped: a typo gets a suggestion instead of starting a server.
    /// </summary>
    public static bool IsVerb(string[] args) =>
        args.Length > 0 && (args[0] is "help" or "--help" or "-h" || args[0].StartsWith("[suggest", StringComparison.Ordinal)
                            || (!args[0].StartsWith('-') && !args[0].Contains('=') && !args[0].Contains(':')));

    public static RootCommand Build()
    {
        var root = new RootCommand($"{App}: with no verb, serve the web workbench (http://127.0.0.1:5180); with a verb, run it headless.");
        foreach (var verb in Verbs.All()) root.Subcommands.Add(verb);
        root.Subcommands.Add(Completion());
        return root;
    }

    public static int Run(string[] args)
    {
        if (args[0] == "help") args = args.Length > 1 ? [args[1], "--help"] : ["--help"];
        var parsed = Build().Parse(args);
        if (parsed.Errors.Count > 0 && parsed.Action is ParseErrorAction errorAction)
        {
            // System.CommandLine's own report (each error, "did you mean" suggestions, the verb's help) on stderr; usage errors exit 2.
            errorAction.ShowTypoCorrections = true;
            parsed.Invoke(new InvocationConfiguration { Output = Console.Error, Error = Console.Error });
            return 2;
        }
        return parsed.Invoke();
    }

    /// <summary>A verb's body, with its known failures as one line naming the verb (2: a usage error, 1: bad input) instead of a stack trace.</summary>
    internal static int Guarded(string verb, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"error: {verb}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is KeyNotFoundException or ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or Engine.Runtime.TorchRuntimeException
                                   or Storage.StoreCorruptException or Storage.StoreLockException)
        {
            Console.Error.WriteLine($"error: {verb}: {e.Message}");
            return 1;
        }
    }

    /// <summary>`completion bash|zsh`: a script that asks this executable for completions through System.CommandLine's [suggest] directive.</summary>
    private static Command Completion()
    {
        var shell = new Argument<string>("SHELL") { Description = "bash or zsh" };
        shell.AcceptOnlyFromAmong("bash", "zsh");
        var command = new Command("completion", "print a shell completion script: source <(RlGaf.Workbench completion bash)") { shell };
        command.SetAction(result =>
        {
            // How this executable was started: the apphost itself, or `dotnet path/RlGaf.Workbench.dll`.
            string exe = Environment.ProcessPath ?? App;
            string invoke = Path.GetFileNameWithoutExtension(exe) == "dotnet" ? $"\"{exe}\" \"{typeof(CommandLine).Assembly.Location}\"" : $"\"{exe}\"";
            Console.WriteLine(result.GetValue(shell) == "zsh" ? ZshScript(invoke) : BashScript(invoke));
            return 0;
        });
        return command;
    }

    private static string BashScript(string invoke) => $$"""
        # {{App}} completion for bash: source <({{App}} completion bash)
        _rlgaf_workbench() {
          local IFS=$'\n'
          COMPREPLY=( $({{invoke}} "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null) )
        }
        complete -o default -F _rlgaf_workbench {{App}} rlgaf
        """;

    private static string ZshScript(string invoke) => $$"""
        # {{App}} completion for zsh: source <({{App}} completion zsh)
        _rlgaf_workbench() {
          local -a items
          items=( ${(f)"$({{invoke}} "[suggest:${#BUFFER}]" "$BUFFER" 2>/dev/null)"} )
          compadd -a items
        }
        compdef _rlgaf_workbench {{App}} rlgaf
        """;
}
