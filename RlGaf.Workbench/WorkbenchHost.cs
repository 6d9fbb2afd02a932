using MudBlazor.Services;
using RlGaf.Workbench.Api;
using RlGaf.Workbench.Components;
using RlGaf.Workbench.Hubs;
using RlGaf.Workbench.Security;
using RlGaf.Workbench.Services;
using RlGaf.Workbench.Storage;
using RlGaf.Workbench.Training;

namespace RlGaf.Workbench;

/// <summary>Builds the web application: services, middleware and endpoints in one place.</summary>
public static class WorkbenchHost
{
    /// <summary>
    /// The app, not yet started. Everything is configuration, so tests host it in-process with
    /// "--RlGaf:DataRoot=DIR" "--urls=http://127.0.0.1:0". Throws InvalidOperationException when a
    /// non-loopback address is configured without RlGaf:AccessToken.
    /// </summary>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // Fixed, so static web assets resolve when a test process (not this assembly) is the entry point.
            ApplicationName = typeof(WorkbenchHost).Assembly.GetName().Name,
        });
        // Loopback unless told otherwise (--urls, ASPNETCORE_URLS, Kestrel:Endpoints).
        if (string.IsNullOrWhiteSpace(builder.Configuration["urls"]) && !builder.Configuration.GetSection("Kestrel:Endpoints").Exists())
            builder.WebHost.UseUrls(AccessToken.DefaultUrl);
        var options = builder.Configuration.GetSection("RlGaf").Get<WorkbenchOptions>() ?? new WorkbenchOptions();
        AccessToken.EnsureSafeBinding(ListenUrls(builder.Configuration), options.AccessToken);

        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        // Snackbars bottom right: the run controls live top right.
        builder.Services.AddMudServices(c => c.SnackbarConfiguration.PositionClass = MudBlazor.Defaults.Classes.Position.BottomRight);
        builder.Services.Configure<WorkbenchOptions>(builder.Configuration.GetSection("RlGaf"));
        builder.Services.ConfigureHttpJsonOptions(o => RunsApi.Configure(o.SerializerOptions));
        builder.Services.AddSignalR().AddJsonProtocol(o => RunsApi.Configure(o.PayloadSerializerOptions));
        builder.Services.AddSingleton<ModelLibrary>();
        builder.Services.AddSingleton<CheckpointComparer>();
        // Suites live under DATA/experiments (listed after a restart) and share the training host's slots.
        builder.Services.AddSingleton(sp => new ExperimentService(Path.Combine(WorkbenchPaths.DataRoot(options.DataRoot), "experiments"),
            sp.GetRequiredService<PathPolicy>(), sp.GetRequiredService<TrainingHost>(), options.PresetOverrides, options.Threads));
        builder.Services.AddSingleton<PathPolicy>();
        builder.Services.AddSingleton<DatasetCatalog>();
        builder.Services.AddSingleton(_ => new RunStore(WorkbenchPaths.DataRoot(options.DataRoot)));
        builder.Services.AddSingleton<RunNotifier>();
        builder.Services.AddSingleton<TrainingHost>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TrainingHost>());
        builder.Services.AddSingleton<RunsHubFeeds>();
        builder.Services.AddSingleton(sp => new RunViews(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<WorkbenchOptions>>()));

        var app = builder.Build();
        var claimed = app.Services.GetRequiredService<RunStore>();
        claimed.ClaimForWorkbench();
        // Once listening, the claim carries an address, so the command line hands its runs to this process.
        app.Lifetime.ApplicationStarted.Register(() => claimed.ClaimForWorkbench(ReachableUrl(app.Urls)));
        app.Lifetime.ApplicationStopped.Register(claimed.ReleaseWorkbenchClaim);
        if (!app.Environment.IsDevelopment())
            app.UseExceptionHandler("/Error", createScopeForErrors: true);
        if (!string.IsNullOrWhiteSpace(options.AccessToken))
            app.UseAccessToken(options.AccessToken);
        app.UseAntiforgery();
        app.MapStaticAssets();
        RunsApi.Map(app);
        ExperimentsApi.Map(app);
        app.MapHub<RunsHub>(RunsHub.Path);
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        return app;
    }

    /// <summary>An address a process on this machine can reach: a loopback one if any, wildcard hosts as 127.0.0.1.</summary>
    public static string? ReachableUrl(IEnumerable<string> urls)
    {
        var list = urls.ToList();
        var url = list.FirstOrDefault(AccessToken.IsLoopback) ?? list.FirstOrDefault();
        if (url is null) return null;
        foreach (var wildcard in new[] { "://*", "://+", "://0.0.0.0", "://[::]" })
            url = url.Replace(wildcard, "://127.0.0.1");
        return url.TrimEnd('/');
    }

    private static IEnumerable<string> ListenUrls(IConfiguration config)
    {
        foreach (var u in (config["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            yield return u;
        foreach (var ep in config.GetSection("Kestrel:Endpoints").GetChildren())
            if (ep["Url"] is { } url) yield return url;
    }
}
