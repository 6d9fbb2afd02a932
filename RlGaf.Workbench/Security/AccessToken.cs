using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace RlGaf.Workbench.Security;

/// <summary>
/// Who may talk to the workbench. By default it listens on 127.0.0.1 only. Listening on any other
/// address requires RlGaf:AccessToken (without one the app refuses to start and says why); with a
/// token, every page, API call and hub connection must present it: "Authorization: Bearer TOKEN" or
/// "?access_token=TOKEN" once, which sets an HttpOnly cookie for the rest of the session.
/// </summary>
public static class AccessToken
{
    public const string DefaultUrl = "http://127.0.0.1:5180";
    public const string CookieName = "rlgaf_token";

    /// <summary>The listen addresses that are not loopback.</summary>
    public static IReadOnlyList<string> NonLoopback(IEnumerable<string> urls) =>
        urls.Where(u => !IsLoopback(u)).ToList();

    public static bool IsLoopback(string url)
    {
        // Kestrel also accepts "http://*:5000" and "http://+:5000", which are not valid URIs.
        var host = url.Replace("://*", "://any-host").Replace("://+", "://any-host");
        if (!Uri.TryCreate(host, UriKind.Absolute, out var uri)) return false;
        if (uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>Throws with the reason when a non-loopback address is configured without a token.</summary>
    public static void EnsureSafeBinding(IEnumerable<string> urls, string? token)
    {
        var exposed = NonLoopback(urls);
        if (exposed.Count > 0 && string.IsNullOrWhiteSpace(token))
            throw new InvalidOperationException(
                $"refusing to listen on {string.Join(", ", exposed)} without an access token: anyone who can reach that address could start " +
                "training runs and read model files. Set RlGaf:AccessToken (e.g. environment variable RlGaf__AccessToken) or listen on 127.0.0.1.");
    }

    /// <summary>Middleware: with a token configured, requests without it get 401.</summary>
    public static IApplicationBuilder UseAccessToken(this IApplicationBuilder app, string token)
    {
        var expected = Encoding.UTF8.GetBytes(token);
        return app.Use(async (ctx, next) =>
        {
            if (Matches(ctx.Request.Cookies[CookieName], expected)) { await next(); return; }
            string? given = null;
            var auth = ctx.Request.Headers.Authorization.ToString();
            if (auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) given = auth["Bearer ".Length..].Trim();
            given ??= ctx.Request.Query["access_token"].FirstOrDefault();
            if (Matches(given, expected))
            {
                ctx.Response.Cookies.Append(CookieName, token, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = ctx.Request.IsHttps });
                await next();
                return;
            }
            ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await ctx.Response.WriteAsync("access token required: send 'Authorization: Bearer TOKEN' or open the page once with ?access_token=TOKEN.");
        });
    }

    private static bool Matches(string? given, byte[] expected) =>
        given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), expected);
}
