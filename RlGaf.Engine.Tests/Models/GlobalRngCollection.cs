namespace RlGaf.Engine.Tests.Models;

/// <summary>
/// Tests that assert the global torch RNG is untouched must not run beside tests that seed or
/// draw from it (the RNG is process-wide): this collection runs alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRngCollection
{
    public const string Name = "Global torch RNG";
}
