namespace RlGaf.Engine.Tasks;

/// <summary>
/// What a data-backed task needs beyond its vocabulary: where to cache what it trains (the IMDB
/// sentiment classifier), the generator's window and completion length (prompts and real completions
/// are cut to fit), and a log. The built-in synthetic task ignores it.
/// </summary>
/// <param name="ModelsRoot">Cache folder for trained judges; null = train in memory each time (seconds).</param>
/// <param name="MaxNewTokens">Most tokens of a completion (the run's max_new_tokens).</param>
/// <param name="Window">The generator's n_positions: prompt + completion never exceed it.</param>
public sealed record TaskContext(string? ModelsRoot = null, int MaxNewTokens = 48, int Window = 64, Action<string>? Log = null);
