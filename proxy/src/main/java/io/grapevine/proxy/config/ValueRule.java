package io.grapevine.proxy.config;

import io.grapevine.proxy.http.TargetPath;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

import static io.grapevine.proxy.config.ConfigModule.quote;

/**
 * What a string value in {@code servers.conf} must look like. Each rule normalizes a valid value and maps an invalid
 * one to {@code null}; {@link #expected} is the text an error message shows after "expected".
 */
enum ValueRule {
    TEXT("a string", s -> s),
    HOST("an IP address or a host name that resolves", Hosts::normalizeResolvable),
    HOST_NAME("a host name or IP address without port", Hosts::normalize),
    HOST_PORT("host:port or [ipv6]:port, such as 127.0.0.1:9000", ValueRule::hostPort),
    /** A Host field's value (RFC 9110 section 7.2), an IPv6 address bracketed. */
    AUTHORITY("a host name or IP address, with :port or without, such as api.example.com", ValueRule::authority),
    POOL("a pool name: 1 to 64 of A-Z a-z 0-9 _ . -", matching("[A-Za-z0-9_.-]{1,64}")),
    SERVER_NAME("a server name: 1 to 128 of A-Z a-z 0-9 _ . : @ / % [ ] -",
            matching("[A-Za-z0-9_.:@/%\\[\\]-]{1,128}")),
    PATH("a path that starts with / and has no spaces", matching("/[\\x21-\\x7e]*")),
    /** A {@link #PATH} as routes compare request paths with it ({@link TargetPath#routingPrefix}). */
    PATH_PREFIX(PATH.expected, s -> PATH.apply(s) != null && TargetPath.routingPrefix(s).equals(s) ? s : null),
    /** The algorithm names, a hash's with its field; the old name of p2c, {@code random}, is accepted too. */
    BALANCE(Balance.EXPECTED, Balance::normalize),
    COOKIE_NAME("a cookie name: 1 to 128 of A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~",
            s -> Balance.TOKEN.matcher(s).matches() ? s : null),
    /** Whom a rate limit counts: the client's address, or a request header's value. */
    RATE_LIMIT_KEY("source, or header: and a field name such as header:x-api-key", RateLimit::normalizeKey),
    PROXY_PROTOCOL(Arrays.stream(ProxyProtocolConfig.Version.values()).map(ProxyProtocolConfig.Version::configName)
            .toList()),
    STATE(Arrays.stream(ServerSpec.AdminState.values()).map(s -> s.name().toLowerCase(Locale.ROOT)).toList()),
    CIDR("a network such as 10.0.0.0/8 or fd00::/8", Hosts::normalizeCidr),
    FILE("a file name", matching("[^\\x00]+")),
    /** A media type without parameters (RFC 9110 section 8.3.1), or a type's every subtype: {@code text/*}. */
    MEDIA_TYPE("a media type such as text/html, or text/* for every subtype of text",
            matching("[A-Za-z0-9!#$&^_.+-]{1,127}/([A-Za-z0-9!#$&^_.+-]{1,127}|\\*)")),
    TLS_PROVIDER(Arrays.stream(TlsConfig.Provider.values()).map(TlsConfig.Provider::configName).toList()),
    FILE_PATH("a file path", s -> s.isBlank() || s.indexOf('\0') >= 0 ? null : s),
    ACCESS_LOG_FORMAT(Arrays.stream(AccessLogConfig.Format.values()).map(AccessLogConfig.Format::configName).toList());

    private final String expected;
    private final UnaryOperator<String> normalizer;

    ValueRule(String expected, UnaryOperator<String> normalizer) {
        this.expected = expected;
        this.normalizer = normalizer;
    }

    ValueRule(List<String> choices) {
        this("one of: " + String.join(", ", choices), s -> choices.contains(s) ? s : null);
    }

    /** The normalized value, or {@code null} if {@code value} breaks the rule. */
    String apply(String value) {
        return normalizer.apply(value);
    }

    String expected() {
        return expected;
    }

    /**
     * What was expected instead of {@code value}, a string that breaks the rule: {@link #expected}, except for a host
     * that is no host name at all (a {@code _} in it, say), which "a host name that resolves" would not explain; one
     * with its port, as HAProxy's and nginx's server lines write it, where the syntax would hide the mistake; and a
     * name whose lookup did not answer in time, where the DNS server is at fault, not the name.
     */
    String expectedInstead(String value) {
        if (this == PATH_PREFIX && PATH.apply(value) != null) {
            return quote(TargetPath.routingPrefix(value)) + ": routes compare the path with a run of slashes as one,"
                    + " without ;parameters, dot segments resolved and letters, digits and -._~ not percent-encoded";
        }
        if (this != HOST) {
            return expected;
        }
        if (Hosts.normalize(value) != null) {
            return Hosts.lookupGivenUp(value) ? expected + ": its lookup did not answer within " + Hosts.LOOKUP_MILLIS
                    + " ms" : expected;
        }
        return hostPort(value) != null ? HOST_WITHOUT_PORT : HOST_SYNTAX;
    }

    /** What {@link #HOST} requires of a value that is a host and a port. */
    private static final String HOST_WITHOUT_PORT = "an IP address or a host name without the port, which goes in "
            + "\"port\"";

    /** The syntax {@link #HOST} requires: IP literals, and host names as RFC 1123 writes them. */
    private static final String HOST_SYNTAX = "an IP address or a host name of letters, digits, '-' and '.'";

    private static UnaryOperator<String> matching(String regex) {
        Pattern pattern = Pattern.compile(regex);
        return s -> pattern.matcher(s).matches() ? s : null;
    }

    private static String authority(String text) {
        String host = Hosts.normalize(text);
        if (host != null) {
            return host.indexOf(':') >= 0 ? "[" + host + "]" : host;
        }
        return hostPort(text);
    }

    private static String hostPort(String text) {
        try {
            return HostPort.parse(text).toString();
        } catch (IllegalArgumentException e) {
            return null;
        }
    }
}
