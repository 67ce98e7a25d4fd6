package io.grapevine.proxy.config;

import java.util.List;
import java.util.Locale;

/**
 * A pool's request rate limit (the {@code rate_limit} key of {@code servers.conf}, top level or per pool): each
 * client, told apart by its address or by a request header, may send {@link #requests} requests per
 * {@link #periodMillis}, and up to {@link #burst} of them at once; a request beyond that is answered 429 with a
 * {@code Retry-After}, and never reaches a server. A token bucket of {@code burst} tokens refilled at
 * {@code requests / period}, as nginx's {@code limit_req} with {@code burst} and {@code nodelay}, Traefik's
 * {@code rateLimit} and Envoy's local rate limit count.
 *
 * @param enabled      whether the pool limits at all
 * @param requests     requests a client may send per period (0 only when not enabled)
 * @param periodMillis the period, in milliseconds
 * @param burst        requests a client may send at once, after a quiet period
 * @param header       the request header (lower case) whose value tells clients apart, or {@code null}: the client's
 *                     address (after a PROXY protocol header, the address it announced)
 * @param maxKeys      clients tracked at once; beyond them, the one closest to a full bucket is forgotten
 * @param exempt       networks (CIDRs) whose clients are never limited, by the address a request came from
 */
public record RateLimit(boolean enabled, long requests, long periodMillis, long burst, String header, int maxKeys,
                        List<String> exempt) {

    /** The client's address, the default key. */
    public static final String SOURCE = "source";
    /** The prefix of a header key: {@code header:x-api-key}. */
    public static final String HEADER_PREFIX = "header:";
    /** What a pool gets when nothing is configured: off. The other values are the defaults of an object. */
    public static final RateLimit OFF = new RateLimit(false, 0, 1000, 0, null, 65_536);

    /** A limit without exempt networks. */
    public RateLimit(boolean enabled, long requests, long periodMillis, long burst, String header, int maxKeys) {
        this(enabled, requests, periodMillis, burst, header, maxKeys, List.of());
    }

    public RateLimit {
        if (enabled && (requests < 1 || periodMillis < 1 || burst < 1)) {
            throw new IllegalArgumentException(requests + " per " + periodMillis + " ms, burst " + burst);
        }
        if (maxKeys < 1) {
            throw new IllegalArgumentException("max_keys " + maxKeys);
        }
        header = header == null ? null : header.toLowerCase(Locale.ROOT);
        exempt = List.copyOf(exempt);
    }

    /** The {@code key} as written in servers.conf: {@code source} or {@code header:x-api-key}. */
    public String keyName() {
        return header == null ? SOURCE : HEADER_PREFIX + header;
    }

    /**
     * The key of a {@code rate_limit} object in canonical form (a header's name lower case), or {@code null} if it
     * is neither {@code source} nor {@code header:} and a field name.
     */
    static String normalizeKey(String value) {
        if (SOURCE.equals(value)) {
            return value;
        }
        if (!value.startsWith(HEADER_PREFIX)) {
            return null;
        }
        String field = value.substring(HEADER_PREFIX.length());
        return Balance.TOKEN.matcher(field).matches() ? HEADER_PREFIX + field.toLowerCase(Locale.ROOT) : null;
    }

    /** The header a canonical key names, or {@code null} for {@code source}. */
    static String headerOf(String key) {
        return key.startsWith(HEADER_PREFIX) ? key.substring(HEADER_PREFIX.length()) : null;
    }

    /** How the page and {@code /table} show it: {@code 100 per 1 s by source, burst 100}. */
    public String describe() {
        String period = periodMillis % 1000 == 0 ? periodMillis / 1000 + " s" : periodMillis + " ms";
        return requests + " per " + period + " by " + keyName() + ", burst " + burst
                + (exempt.isEmpty() ? "" : ", " + String.join(" ", exempt) + " exempt");
    }
}
