namespace RlGaf.Engine.Tests.Runs;

/// <summary>Run tests train models: they share the 2 cores better one at a time.</summary>
[CollectionDefinition("runs", DisableParallelization = true)]
public class RunsCollection;
