using System.CommandLine;

namespace RlGaf.Workbench.Cli;

/// <summary>
/// Every verb and every option of the command line, in one place: System.CommandLine builds the parser,
/// the per-verb --help (each option with its default), typo suggestions and shell completion from it.
/// A verb body reads only what is declared here (<see cref="ArgParser"/> refuses anything else).
/// </summary>
internal static class Verbs
{
    public static IEnumerable<Command> All() =>
    [
        Verb("pretrain", PretrainCommand.Summary, PretrainCommand.Run,
            Text("--out", "DIR", "model directory to write (required)"),
            Text("--corpus", "NAME", "corpus: synthetic-reviews, or a text file/folder (default: synthetic-reviews)"),
            Number("--train-docs", "N", "training documents drawn from the corpus"),
            Number("--heldout-docs", "N", "held-out documents"),
            Number("--n-embd", "N", "embedding width"), Number("--n-layer", "N", "transformer blocks"), Number("--n-head", "N", "attention heads"),
            Number("--n-positions", "N", "context window"), Number("--eval-samples", "N", "samples judged by the grammar oracle at the end"),
            Number("--max-vocab", "N", "largest compact vocabulary"),
            Number("--steps", "N", "optimizer steps"), Number("--seed", "N", "seed of every draw"), Number("--batch-size", "N", "sequences per step"),
            Number("--lr", "X", "peak learning rate"), Number("--warmup", "N", "warm-up steps"), Number("--weight-decay", "X", "AdamW weight decay"),
            Number("--grad-clip", "X", "gradient-norm clip"), Number("--eval-every", "N", "steps between held-out losses"),
            Flag("--json", "one JSON line of figures on stdout"), Device(), Threads()),
        Verb("sample", SampleCommand.Summary, SampleCommand.Run,
            Text("--model", "DIR", "model directory (required)"), Text("--prompt", "TEXT", "prompt text (default: empty)"),
            Number("--max-new-tokens", "N", "most new tokens (default: 40)"), Flag("--greedy", "argmax decoding"),
            Number("--temperature", "T", "sampling temperature"), Number("--top-k", "K", "keep the K most likely tokens"),
            Number("--top-p", "P", "nucleus sampling mass in [0, 1]"), Number("--seed", "N", "seed (default: 0)"),
            Number("--num", "N", "completions (default: 1)"), Flag("--json", "one JSON line per completion"), Device(), Threads()),
        Verb("train", TrainCommand.TrainSummary, TrainCommand.Train,
            Text("--preset", "NAME", "a preset (reinforce, ppo, gumbel, ...; imdb-* and squad-* need --data)"),
            Text("--config", "FILE", "a settings file (JSON)"), Text("--data", "PATH", "dataset of an imdb-*/squad-* preset"),
            Many("--set", "KEY=VALUE", "change one setting (repeatable)"),
            Number("--steps", "N", "generator updates"), Number("--seed", "N", "seed"), Number("--stop-at", "N", "pause at this step (resume continues)"),
            Text("--fork", "RUN_ID@STEP", "start from that kept checkpoint of another run, with --set's changes (docs/tensorboard-and-forks.md)"),
            Text("--name", "TEXT", "run name"), Text("--out", "DIR", "export the run's files here when it ends"),
            Flag("--live", "a cluster trial: append metrics, samples and events to --out as they come, data root OUT/data (docs/cluster.md)"),
            Flag("--json", "one JSON line with the final metrics"), DataRoot(), Device(), Threads()),
        Verb("resume", TrainCommand.ResumeSummary, TrainCommand.Resume, RunId(),
            Number("--steps", "N", "extend the run to N steps"), Text("--out", "DIR", "export the run's files here when it ends"),
            Flag("--json", "one JSON line with the final metrics"), DataRoot()),
        Verb("runs", TrainCommand.RunsSummary, TrainCommand.Runs, Words("tag RUN_ID +TAG -TAG ... | note RUN_ID TEXT"),
            Flag("--json", "one JSON line per run"), Text("--filter", "EXPR", "run table query, e.g. 'status:completed method:ppo gumbel_tau>0.5' (docs/workbench.md)"),
            Text("--sort", "[-]COL", "sort by a column (- for descending)"), Text("--columns", "COL,...", "columns: a metric, best(m), min(m), max(m) or a setting"),
            DataRoot()),
        Verb("export", TrainCommand.ExportSummary, TrainCommand.Export, RunId(), Text("--out", "DIR", "folder to write (required; new or empty)"),
            Text("--format", "files|tensorboard", "run files (default) or one TensorBoard event file"), DataRoot()),
        Verb("eval-squad", EvalSquadCommand.Summary, EvalSquadCommand.Run,
            Text("--data", "DEV.json", "official SQuAD 2.0 file (required)"), Text("--predictions", "PRED.json", "id -> answer (required)"),
            Flag("--json", "one JSON line"), Flag("--skip-missing", "score only the questions that have a prediction")),
        Verb("bench", BenchCommand.Summary, BenchCommand.Run,
            Flag("--quick", "a smoke test, not a measurement"), Flag("--json", "one JSON line of figures"),
            Text("--hf-model", "DIR", "also time a Hugging Face GPT-2 checkpoint"), Text("--rss-steps", "A,B", "steps at which resident memory is read"),
            Text("--methods", "a,b,...", "adversarial methods to time"),
            Flag("--memory", "where resident memory goes, and the peak of a full-vocabulary PPO step"),
            Text("--ppo-head", "chunked|legacy|both", "bench --memory: the PPO step's log-prob head"), Number("--ppo-layers", "N", "bench --memory: layers of the GPT-2 shape"),
            Text("--peer", "pytorch", "run the same work in PyTorch (Debian's python3-torch) in this invocation and report each pair's ratio"),
            Text("--python", "PATH", "the peer's Python (default: /usr/bin/python3)"), Flag("--shared", "also two trainings at once on the same cores: each one's share of its solo speed"),
            Flag("--only-comparisons", "only the --peer/--shared figures"), new Option<string?>("--probe-mle") { Description = "internal: one timed MLE probe of N steps (what --shared runs twice)", Hidden = true },
            Device(), Threads()),
        Verb("eval", EvalCommand.Summary, EvalCommand.Run,
            Text("--resume", "DIR", "continue an interrupted suite in DIR (finished runs kept, the cut-off run from its checkpoint)"),
            Text("--executor", "local|slurm", "where the runs train (default: local; slurm: one array task each, docs/cluster.md)"),
            Number("--max-parallel", "K", "runs at once: local, K worker processes sharing the suite folder (each run claimed by one); slurm, array tasks at once"),
            new Option<string?>("--worker") { Description = "internal: helper worker I of K of a local suite (what --max-parallel starts)", Hidden = true },
            new Option<bool>("--exit-with-parent") { Description = "internal: a helper stops when its standard input closes (its worker 0 died)", Hidden = true },
            Text("--suite", "NAME", "synthetic-reviews, imdb or squad (required unless --resume)"), Number("--seeds", "N", "seeds per method (default: 3)"),
            Number("--steps-budget", "N", "generator updates per run (default: 120)"), Text("--out", "DIR", "suite folder (default: eval-out/SUITE)"),
            Text("--data", "PATH", "dataset of the imdb/squad suites"), Text("--methods", "a,b,...", "methods to compare (default: all)"),
            Many("--set", "KEY=VALUE", "change one setting of every run (repeatable)"), Flag("--json", "one JSON line with the results"),
            Threads()),
        Verb("sweep", SweepCommand.Summary, SweepCommand.Run,
            Text("--config", "FILE", "sweep file, W&B format, YAML or JSON (required; docs/sweeps.md)"),
            Text("--executor", "local|slurm", "where trials train (default: local)"), Number("--max-parallel", "K", "trials at once"),
            Text("--out", "DIR", "write the trials table and best configuration here"), Flag("--json", "one JSON line with the results"), DataRoot()),
    ];

    private static Command Verb(string name, string summary, Func<ArgParser, int> run, params Symbol[] symbols)
    {
        var command = new Command(name, summary);
        foreach (var s in symbols)
        {
            if (s is Option o) command.Options.Add(o);
            else if (s is Argument a) command.Arguments.Add(a);
        }
        // runs tag ID -old: "-old" is a word, so a verb with free words keeps unmatched tokens (ArgParser adds them to its positionals).
        if (symbols.OfType<Argument>().Any(a => a.Name == "WORDS")) command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(result => CommandLine.Guarded(name, () => run(new ArgParser(result, command))));
        return command;
    }

    private static Option<bool> Flag(string name, string help) => new(name) { Description = help };

    private static Option<string?> Text(string name, string valueName, string help) => new(name) { Description = help, HelpName = valueName };

    /// <summary>A number, parsed by the verb so that its range errors name the option (see <see cref="ArgParser.Int"/>).</summary>
    private static Option<string?> Number(string name, string valueName, string help) => Text(name, valueName, help);

    private static Option<string[]> Many(string name, string valueName, string help) =>
        new(name) { Description = help, HelpName = valueName, Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };

    /// <summary>Free words after the verb (runs tag ID +a -b): a leading '-' is a word here, not an option.</summary>
    private static Argument<string[]> Words(string help) => new("WORDS") { Description = help, Arity = ArgumentArity.ZeroOrMore };

    private static Argument<string[]> RunId() => new("RUN_ID") { Description = "the run's id (see 'runs')", Arity = ArgumentArity.ZeroOrMore };

    private static Option<string?> DataRoot() => Text("--data-root", "DIR", "data root (default: RlGaf:DataRoot, data/ next to the app)");

    private static Option<string?> Device() => Text("--device", "D", "cpu, cuda, cuda:N or auto (default: auto)");

    private static Option<string?> Threads() => Number("--threads", "N", "libtorch threads (default: the machine's cores)");
}
