using MudBlazor.Services;
using RlGaf.Workbench.Components;

namespace RlGaf.Workbench;

/// <summary>Builds the web application: services, middleware and endpoints in one place.</summary>
public static class WorkbenchHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddMudServices();
        builder.Services.Configure<WorkbenchOptions>(builder.Configuration.GetSection("RlGaf"));
        builder.Services.AddSingleton<Services.ModelLibrary>();
        builder.Services.AddSingleton<Training.ExperimentService>();

        var app = builder.Build();
        if (!app.Environment.IsDevelopment())
            app.UseExceptionHandler("/Error", createScopeForErrors: true);
        app.UseAntiforgery();
        app.MapStaticAssets();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        return app;
    }
}
