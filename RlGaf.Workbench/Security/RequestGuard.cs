using Microsoft.Extensions.Primitives;

namespace RlGaf.Workbench.Security;

/// <summary>
/// The first middleware: every request passes three checks, in this order, each refusal a 4xx with the
/// reason, logged (path only: a query may carry a token guess).
/// <list type="number">
/// <item>Host: a loopback name, a host the workbench listens on, or one in RlGaf:AllowedHosts; anything
/// else is 403 whatever the token (a DNS-rebinding page sends its own name).</item>
/// <item>Origin: on state-changing methods, WebSocket upgrades and the hubs (/hubs, Blazor's /_blazor),
/// an Origin header that is present and not the workbench's own is 403 (cross-site requests and
/// WebSockets; browsers always send Origin there).</item>
/// <item>Token (unless opted out): "Authorization: Bearer TOKEN", the per-port HttpOnly cookie, or
/// "?access_token=TOKEN" on a GET. A page opened with the token in its address gets the cookie and a
/// redirect to the same address without it. Missing or wrong: 401; too many different wrong ones from
/// one address: 429 (<see cref="FailedAttempts"/>).</item>
/// </list>
/// </summary>
public sealed class RequestGuard
{
    private static readonly string[] HubPrefixes = ["/hubs", "/_blazor"];

    private readonly byte[]? _digest;
    private readonly HashSet<string> _hosts;
    private readonly bool _anyHost;
    private readonly FailedAttempts _attempts;
    private readonly ILogger _log;

    /// <param name="token">Null: no token (the opt-out); Host and Origin are checked all the same.</param>
    /// <param name="allowedHosts">Host names besides the loopback ones ("*": any, an explicit choice).</param>
    public RequestGuard(string? token, IEnumerable<string> allowedHosts, FailedAttempts attempts, ILogger log)
    {
        _digest = token is null ? null : AccessToken.Digest(token);
        _hosts = new HashSet<string>(allowedHosts.Select(h => h.Trim().TrimEnd('.')).Where(h => h.Length > 0), StringComparer.OrdinalIgnoreCase);
        _anyHost = _hosts.Contains("*");
        _attempts = attempts;
        _log = log;
    }

    /// <summary>The host names of concrete listen addresses (not wildcards): the workbench answers to those too.</summary>
    public static IEnumerable<string> ListenHosts(IEnumerable<string> urls)
    {
        foreach (var url in urls)
        {
            if (url.Contains("://*", StringComparison.Ordinal) || url.Contains("://+", StringComparison.Ordinal)) continue;
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)) continue;
            if (uri.Host is "0.0.0.0" or "[::]") continue;
            yield return uri.Host;
        }
    }

    public async Task InvokeAsync(HttpContext ctx, RequestDelegate next)
    {
        var request = ctx.Request;
        var headers = ctx.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY"; // no framing: a foreign page cannot overlay the controls
        headers["Referrer-Policy"] = "no-referrer";

        if (!HostAllowed(request.Host))
        {
            await Refuse(ctx, StatusCodes.Status403Forbidden,
                $"host '{request.Host.Value}' is not allowed: the workbench answers to localhost, 127.0.0.1, [::1], the addresses it listens on " +
                "and RlGaf:AllowedHosts (this guards against DNS rebinding).");
            return;
        }
        if (NeedsOriginCheck(ctx) && ForeignOrigin(request) is { } origin)
        {
            await Refuse(ctx, StatusCodes.Status403Forbidden,
                $"origin '{origin}' is not this workbench ({request.Scheme}://{request.Host.Value}): cross-site {(ctx.WebSockets.IsWebSocketRequest ? "WebSockets" : "requests")} are refused.");
            return;
        }
        if (_digest is null) { await next(ctx); return; }

        var (bearer, query, cookie) = Credentials(ctx);
        if (bearer is null && query is null && cookie is null)
        {
            await Refuse(ctx, StatusCodes.Status401Unauthorized, Required(request));
            return;
        }
        var remote = ctx.Connection.RemoteIpAddress?.MapToIPv6().ToString() ?? "unknown";
        if (_attempts.IsLocked(remote, out var retryAfter))
        {
            headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await Refuse(ctx, StatusCodes.Status429TooManyRequests,
                $"too many wrong access tokens from this address: try again in {(int)Math.Ceiling(retryAfter.TotalSeconds)} s.", quiet: true);
            return;
        }
        bool queryOk = AccessToken.Matches(query, _digest);
        if (!queryOk && !AccessToken.Matches(bearer, _digest) && !AccessToken.Matches(cookie, _digest))
        {
            foreach (var wrong in new[] { bearer, query, cookie })
                if (wrong is not null && _attempts.Fail(remote, wrong))
                    _log.LogWarning("{Limit} different wrong access tokens from {Remote} within {Window} s: its tokens are refused (429) for {Window} s",
                        _attempts.Limit, remote, _attempts.Window.TotalSeconds, _attempts.Window.TotalSeconds);
            await Refuse(ctx, StatusCodes.Status401Unauthorized, "wrong access token. " + Required(request));
            return;
        }
        if (queryOk)
        {
            ctx.Response.Cookies.Append(AccessToken.CookieNameFor(ctx.Connection.LocalPort), query!, new CookieOptions
            {
                HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = request.IsHttps, Path = "/", IsEssential = true,
            });
            if (IsNavigation(request))
            {
                // The cookie carries the token from here on: drop it from the address bar, the history and any Referer.
                headers.CacheControl = "no-store";
                ctx.Response.Redirect(request.PathBase + request.Path + WithoutToken(request.QueryString));
                return;
            }
        }
        await next(ctx);
    }

    /// <summary>The query less its access_token parameters, the rest exactly as sent.</summary>
    private static string WithoutToken(QueryString query)
    {
        var kept = (query.Value ?? "").TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Where(part => Uri.UnescapeDataString(part.Split('=')[0]) != AccessToken.QueryName);
        var rest = string.Join('&', kept);
        return rest.Length == 0 ? "" : "?" + rest;
    }

    private bool HostAllowed(HostString host)
    {
        if (!host.HasValue) return false;
        var name = host.Host.TrimEnd('.');
        return AccessToken.IsLoopbackHost(name) || _anyHost || _hosts.Contains(name);
    }

    private static bool NeedsOriginCheck(HttpContext ctx)
    {
        var r = ctx.Request;
        if (!(HttpMethods.IsGet(r.Method) || HttpMethods.IsHead(r.Method) || HttpMethods.IsOptions(r.Method))) return true;
        return ctx.WebSockets.IsWebSocketRequest || HubPrefixes.Any(p => r.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The Origin header when it is present and names another origin ("null" included), else null.</summary>
    private static string? ForeignOrigin(HttpRequest r)
    {
        StringValues values = r.Headers.Origin;
        if (StringValues.IsNullOrEmpty(values)) return null;
        var origin = values.ToString();
        if (values.Count != 1 || !Uri.TryCreate(origin, UriKind.Absolute, out var uri)) return origin;
        int ownPort = r.Host.Port ?? (r.IsHttps ? 443 : 80);
        bool same = uri.Scheme.Equals(r.Scheme, StringComparison.OrdinalIgnoreCase)
                    && uri.Host.Equals(r.Host.Host, StringComparison.OrdinalIgnoreCase)
                    && uri.Port == ownPort
                    && uri.AbsolutePath == "/";
        return same ? null : origin;
    }

    /// <summary>
    /// The places a token is read from; anywhere else (a POST's query, another header, the body) it is not one.
    /// A browser's cross-site subrequest (an img or fetch from another site: Sec-Fetch-Site cross-site, not a
    /// top-level navigation) carries none: its page could never read the answer, and counting its guesses
    /// would let any page lock the user out.
    /// </summary>
    private static (string? Bearer, string? Query, string? Cookie) Credentials(HttpContext ctx)
    {
        var r = ctx.Request;
        if (r.Headers["Sec-Fetch-Site"] == "cross-site" && !(r.Headers["Sec-Fetch-Mode"] == "navigate" && r.Headers["Sec-Fetch-Dest"] == "document"))
            return (null, null, null);
        string? bearer = null;
        var auth = r.Headers.Authorization.ToString();
        if (auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) bearer = auth["Bearer ".Length..].Trim();
        string? query = HttpMethods.IsGet(r.Method) && r.Query.TryGetValue(AccessToken.QueryName, out var q) ? q.ToString() : null;
        var cookie = r.Cookies[AccessToken.CookieNameFor(ctx.Connection.LocalPort)];
        return (bearer, query, cookie);
    }

    /// <summary>A browser opening a page (not a script, not the hub's WebSocket with ?access_token).</summary>
    private static bool IsNavigation(HttpRequest r) =>
        HttpMethods.IsGet(r.Method) && !r.HttpContext.WebSockets.IsWebSocketRequest
        && !HubPrefixes.Any(p => r.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase))
        && r.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase);

    private static string Required(HttpRequest r) =>
        "An access token is required: open the address the workbench printed at start (http://HOST:PORT/?access_token=...), " +
        "or send 'Authorization: Bearer TOKEN'" + (HttpMethods.IsGet(r.Method) ? "." : " (?access_token= is read on GET only).");

    private async Task Refuse(HttpContext ctx, int status, string reason, bool quiet = false)
    {
        var level = quiet ? LogLevel.Debug : LogLevel.Warning;
        // The path only, never the query: it may hold a token guess.
        _log.Log(level, "refused {Method} {Path} from {Remote} with {Status}: {Reason}", ctx.Request.Method, ctx.Request.Path.Value,
            ctx.Connection.RemoteIpAddress, status, reason);
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain; charset=utf-8";
        await ctx.Response.WriteAsync(reason + "\n");
    }
}
