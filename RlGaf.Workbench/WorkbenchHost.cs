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
    /// "--RlGaf:DataRoot=DIR" "--urls=http://127.0.0.1:0". Throws <see cref="StartupRefusedException"/>
    /// when the access token or the addresses are unsafe (see <see cref="AccessToken.Resolve"/>),
    /// <see cref="StoreLockException"/> (naming the holder) when another process (a command-line run,
    /// another workbench) holds the data root, and <see cref="StoreCorruptException"/> when its database is damaged.
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
        var dataRoot = WorkbenchPaths.DataRoot(options.DataRoot);
        var urls = ListenUrls(builder.Configuration).ToList();
        // Raw, not bound: "" (the opt-out) and absent (generate one) must stay apart.
        var access = AccessToken.Resolve(builder.Configuration[AccessToken.ConfigKey], urls);
        // Production unless asked otherwise; an unpublished build then needs this to serve the packages' _content/* assets.
        if (!builder.Environment.IsDevelopment()) builder.WebHost.UseStaticWebAssets();

        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        // Snackbars bottom right: the run controls live top right.
        builder.Services.AddMudServices(c => c.SnackbarConfiguration.PositionClass = MudBlazor.Defaults.Classes.Position.BottomRight);
        builder.Services.Configure<WorkbenchOptions>(builder.Configuration.GetSection("RlGaf"));
        builder.Services.ConfigureHttpJsonOptions(o => RunsApi.Configure(o.SerializerOptions));
        builder.Services.AddSignalR().AddJsonProtocol(o => RunsApi.Configure(o.PayloadSerializerOptions));
        builder.Services.AddSingleton<ModelLibrary>();
        builder.Services.AddSingleton<CheckpointComparer>();
        // Suites live under DATA/experiments (listed after a restart) and share the training host's slots.
        builder.Services.AddSingleton(sp => new ExperimentService(Path.Combine(dataRoot, "experiments"),
            sp.GetRequiredService<PathPolicy>(), sp.GetRequiredService<TrainingHost>(), options.PresetOverrides, options.Threads));
        builder.Services.AddSingleton<PathPolicy>();
        builder.Services.AddSingleton<DatasetCatalog>();
        // The store holds the data root's one-writer lock as the workbench for the life of the app.
        builder.Services.AddSingleton(_ => new RunStore(dataRoot,
            StoreLock.Acquire(dataRoot, StoreHolder.Workbench), options.RebuildStore));
        builder.Services.AddSingleton<RunNotifier>();
        builder.Services.AddSingleton<TrainingHost>();
        builder.Services.AddSingleton(sp => new RunTable(sp.GetRequiredService<RunStore>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TrainingHost>());
        // Sweeps under DATA/sweeps; registered after the host: resumed once it has marked their runs interrupted, detached before it stops.
        builder.Services.AddSingleton(sp => new Sweeps.SweepService(new Sweeps.SweepStore(dataRoot), sp.GetRequiredService<TrainingHost>(),
            sp.GetRequiredService<RunViews>().Preset, sp, sp.GetRequiredService<ILogger<Sweeps.SweepService>>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Sweeps.SweepService>());
        builder.Services.AddSingleton<RunsHubFeeds>();
        builder.Services.AddSingleton(sp => new RunViews(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<WorkbenchOptions>>()));

        var app = builder.Build();
        var securityLog = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RlGaf.Workbench.Security");
        RefuseDataRootInWebRoot(dataRoot, app.Environment.WebRootPath);
        RunStore claimed;
        try { claimed = app.Services.GetRequiredService<RunStore>(); }
        catch (Exception e) when (e is StoreLockException or StoreCorruptException) { ((IDisposable)app).Dispose(); throw; } // another process writes this data root, or its database is damaged
        if (claimed.MovedAside is { } aside)
        {
            var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RlGaf.Workbench.Storage");
            log.LogWarning("{Db} could not be opened: moved aside as {Aside}; rebuilt the run list from the run folders:\n{Report}",
                Path.Combine(claimed.DataRoot, RunStore.DatabaseFile), aside, string.Join("\n", claimed.RebuildReport));
        }
        claimed.ClaimForWorkbench(null, access.Token);
        // Once listening, the claim carries an address (and the token), so the command line hands its runs to this process.
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var reachable = ReachableUrl(app.Urls);
            claimed.ClaimForWorkbench(reachable, access.Token);
            if (access.Generated) securityLog.LogInformation("Open the workbench at {Url}/?{Query}={Token}", reachable, AccessToken.QueryName, access.Token);
            else if (access.Token is null)
                securityLog.LogWarning("{Key} is empty: no access token. Any program on this machine can use the workbench; " +
                                       "Host and Origin checks still refuse other sites and DNS rebinding.", AccessToken.ConfigKey);
            else securityLog.LogInformation("Open the workbench at {Url}/?{Query}=<{Key}>", reachable, AccessToken.QueryName, AccessToken.ConfigKey);
        });
        app.Lifetime.ApplicationStopped.Register(claimed.ReleaseWorkbenchClaim);
        // No developer exception page unless the developer asked for Development; the log has the details.
        if (!app.Environment.IsDevelopment())
            app.UseExceptionHandler(new ExceptionHandlerOptions
            {
                ExceptionHandler = ctx => ctx.Response.WriteAsync("internal error: the workbench's log has the details.\n"),
            });
        var guard = new RequestGuard(access.Token, options.AllowedHosts.Concat(RequestGuard.ListenHosts(urls)), new FailedAttempts(), securityLog);
        app.Use(guard.InvokeAsync);
        app.UseAntiforgery();
        app.MapStaticAssets();
        RunsApi.Map(app);
        ExperimentsApi.Map(app);
        SweepsApi.Map(app);
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

    /// <summary>Static files come from the web root: a data root inside it could publish the database and the claim file.</summary>
    private static void RefuseDataRootInWebRoot(string dataRoot, string? webRoot)
    {
        if (string.IsNullOrEmpty(webRoot)) return;
        var web = Path.GetFullPath(webRoot).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        if ((Path.GetFullPath(dataRoot).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar).StartsWith(web, StringComparison.Ordinal))
            throw new StartupRefusedException($"refusing to start: RlGaf:DataRoot '{dataRoot}' is inside the web root '{webRoot}', whose files are served.");
    }

    private static IEnumerable<string> ListenUrls(IConfiguration config)
    {
        foreach (var u in (config["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            yield return u;
        foreach (var ep in config.GetSection("Kestrel:Endpoints").GetChildren())
            if (ep["Url"] is { } url) yield return url;
    }
}
