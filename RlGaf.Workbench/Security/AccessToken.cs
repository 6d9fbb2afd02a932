using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace RlGaf.Workbench.Security;

/// <summary>The workbench refuses to start, with the reason (Program.cs prints it and exits with 2).</summary>
public sealed class StartupRefusedException(string message) : InvalidOperationException(message);

/// <summary>The token in force: null when the user opted out (loopback only); <c>Generated</c> when made at start.</summary>
public sealed record TokenSetting(string? Token, bool Generated);

/// <summary>
/// The access token, decided once at start (the Jupyter Server model). RlGaf:AccessToken absent: a random
/// token is generated and the start-up log prints the address that carries it. Set: it is used (at least
/// <see cref="MinimumLength"/> printable ASCII characters). Set to "": no token (an explicit opt-out, loopback
/// only, logged as a warning). Listening on anything but loopback needs a token the user configured.
/// </summary>
public static class AccessToken
{
    public const string DefaultUrl = "http://127.0.0.1:5180";
    public const string ConfigKey = "RlGaf:AccessToken";
    public const string QueryName = "access_token";
    /// <summary>For configured tokens; a generated one has 43 characters (32 random bytes).</summary>
    public const int MinimumLength = 16;

    /// <summary>Per port: browsers share cookies between ports of one host, and two workbenches may run side by side.</summary>
    public static string CookieNameFor(int port) => $"rlgaf_token_{port}";

    /// <summary>The listen addresses that are not loopback.</summary>
    public static IReadOnlyList<string> NonLoopback(IEnumerable<string> urls) =>
        urls.Where(u => !IsLoopback(u)).ToList();

    public static bool IsLoopback(string url)
    {
        // Kestrel also accepts "http://*:5000" and "http://+:5000", which are not valid URIs.
        var host = url.Replace("://*", "://any-host").Replace("://+", "://any-host");
        return Uri.TryCreate(host, UriKind.Absolute, out var uri) && IsLoopbackHost(uri.Host);
    }

    /// <summary>"localhost" or a loopback IP literal (127.0.0.0/8, ::1): names no DNS answer can point elsewhere.</summary>
    public static bool IsLoopbackHost(string host)
    {
        host = host.TrimEnd('.');
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>32 random bytes, base64url (43 characters, safe in a URL, a header and a cookie).</summary>
    public static string Generate() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// The token for a workbench listening on <paramref name="urls"/>, given RlGaf:AccessToken's raw value
    /// (null when absent). Throws <see cref="StartupRefusedException"/> naming RlGaf:AccessToken when it is
    /// too short or unusable, or when a non-loopback address would be served without a configured token.
    /// </summary>
    public static TokenSetting Resolve(string? configured, IEnumerable<string> urls)
    {
        var exposed = NonLoopback(urls);
        var where = string.Join(", ", exposed);
        if (configured is null)
        {
            if (exposed.Count > 0)
                throw new StartupRefusedException(
                    $"refusing to listen on {where} without an access token: anyone who can reach that address could start training runs and " +
                    $"read model files, and a generated token is for loopback only. Set {ConfigKey} (e.g. environment variable RlGaf__AccessToken, " +
                    $"at least {MinimumLength} characters) or listen on 127.0.0.1.");
            return new TokenSetting(Generate(), Generated: true);
        }
        if (configured.Length == 0)
        {
            if (exposed.Count > 0)
                throw new StartupRefusedException(
                    $"refusing to listen on {where} with {ConfigKey} empty (no token): opting out of the token is for loopback only. " +
                    $"Set {ConfigKey} to a token of at least {MinimumLength} characters, or listen on 127.0.0.1.");
            return new TokenSetting(null, Generated: false);
        }
        if (configured.Length < MinimumLength)
            throw new StartupRefusedException(
                $"refusing to start: {ConfigKey} has {configured.Length} characters, at least {MinimumLength} are required " +
                "(leave it unset for a generated one, or set it to \"\" to opt out on loopback).");
        if (configured.Any(c => c <= ' ' || c > '~'))
            throw new StartupRefusedException(
                $"refusing to start: {ConfigKey} may hold printable ASCII characters only, without spaces (it travels in headers, URLs and cookies).");
        return new TokenSetting(configured, Generated: false);
    }

    /// <summary>SHA-256 of a token: comparing digests of equal length in constant time leaks neither content nor length.</summary>
    internal static byte[] Digest(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    internal static bool Matches(string? given, byte[] expectedDigest) =>
        given is not null && CryptographicOperations.FixedTimeEquals(Digest(given), expectedDigest);
}
