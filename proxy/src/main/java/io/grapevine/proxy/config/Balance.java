package io.grapevine.proxy.config;

import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Load-balancing algorithm of a pool; the JSON names are those HAProxy users know. The hashing ones read a key
 * from each request ({@link #SOURCE}, {@link #URI}, or the field named after the colon of {@code header:NAME} /
 * {@code cookie:NAME}) and map it onto one consistent hash of the pool's servers.
 */
public enum Balance {
    /** Smooth weighted round robin (nginx's algorithm): even, interleaved, weight-proportional. */
    ROUNDROBIN("roundrobin"),
    /** Fewest in-flight requests, weight-scaled; ties broken round robin. */
    LEASTCONN("leastconn"),
    /** Power of two choices: two servers drawn at random, the less loaded one (per unit of weight) wins. */
    P2C("p2c"),
    /** Consistent hash of the client's IP address (the one a PROXY protocol header announced, if any). */
    SOURCE("source"),
    /** Consistent hash of the request target's path and query. */
    URI("uri"),
    /** Consistent hash of a request header's value: {@code header:NAME}. */
    HEADER("header"),
    /** Consistent hash of a cookie's value: {@code cookie:NAME}. */
    COOKIE("cookie");

    /** Older name of {@link #P2C}, still accepted in configuration files. */
    static final String P2C_ALIAS = "random";

    /** RFC 9110 section 5.6.2 token: what a header name and a cookie name (RFC 6265 section 4.1.1) are made of. */
    static final Pattern TOKEN = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}");

    /** What a {@code balance} value may be, as an error message says it. */
    static final String EXPECTED = "one of: roundrobin, leastconn, p2c, source, uri, header:NAME, cookie:NAME";

    private final String configName;

    Balance(String configName) {
        this.configName = configName;
    }

    public String configName() {
        return configName;
    }

    /** Whether requests are placed by a consistent hash of a key they carry. */
    public boolean hashes() {
        return this == SOURCE || this == URI || this == HEADER || this == COOKIE;
    }

    /** Whether the configuration names a field after a colon ({@code header:NAME}, {@code cookie:NAME}). */
    public boolean namesField() {
        return this == HEADER || this == COOKIE;
    }

    /** The algorithm a configuration value names ({@code random} is read as {@code p2c}). */
    public static Optional<Balance> fromConfigName(String value) {
        int colon = value.indexOf(':');
        String name = colon < 0 ? value : value.substring(0, colon);
        if (P2C_ALIAS.equals(name) && colon < 0) {
            return Optional.of(P2C);
        }
        for (Balance b : values()) {
            if (b.configName.equals(name) && b.namesField() == (colon >= 0)) {
                return Optional.of(b);
            }
        }
        return Optional.empty();
    }

    /**
     * A configuration value in canonical form ({@code random} becomes {@code p2c}, a header name lower case;
     * a cookie name keeps its case: cookie names are case-sensitive), or {@code null} if it names no algorithm.
     */
    static String normalize(String value) {
        Optional<Balance> b = fromConfigName(value);
        if (b.isEmpty()) {
            return null;
        }
        if (!b.get().namesField()) {
            return b.get().configName;
        }
        String field = value.substring(value.indexOf(':') + 1);
        if (!TOKEN.matcher(field).matches()) {
            return null;
        }
        return b.get().configName + ":" + (b.get() == HEADER ? field.toLowerCase(Locale.ROOT) : field);
    }

    /** The field named after the colon of a normalized value, or {@code null}. */
    static String fieldOf(String normalized) {
        int colon = normalized.indexOf(':');
        return colon < 0 ? null : normalized.substring(colon + 1);
    }
}
