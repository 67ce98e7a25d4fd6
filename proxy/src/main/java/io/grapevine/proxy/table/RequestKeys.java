package io.grapevine.proxy.table;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.RateLimit;
import io.grapevine.proxy.config.RouteSpec;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * What the request heads read under one table generation must capture for its pools, decided once per generation
 * so that requests to pools that neither hash nor stick pay nothing: the header values of {@code header:NAME}
 * pools and of rate limits (pools' and routes') keyed by a header, the cookie values of {@code cookie:NAME} pools and of sticky cookies, whether {@code uri} pools need the
 * path, and which cookies are the proxy's own (removed from the forwarded request: HAProxy's {@code indirect}).
 *
 * <p>The request head reader captures {@link #headers()} and {@link #cookies()} into arrays in the same order; a
 * pool finds its value at its {@link ServerPool#keyIndex()} / {@link ServerPool#stickyIndex()}. Immutable.
 */
public final class RequestKeys {

    static final RequestKeys NONE = new RequestKeys(List.of(), List.of(), List.of(), false);

    private final List<String> headers;
    private final List<String> cookies;
    private final List<String> proxyCookies;
    private final boolean path;

    private RequestKeys(List<String> headers, List<String> cookies, List<String> proxyCookies, boolean path) {
        this.headers = headers;
        this.cookies = cookies;
        this.proxyCookies = proxyCookies;
        this.path = path;
    }

    /** What the heads must capture for the pools of {@code policies} and the rate limits of {@code routes}. */
    static RequestKeys of(Collection<PoolPolicy> policies, List<RouteSpec> routes) {
        List<String> headers = new ArrayList<>();
        for (RouteSpec r : routes) {
            String rateHeader = r.rateLimit().enabled() ? r.rateLimit().header() : null;
            if (rateHeader != null && !headers.contains(rateHeader)) {
                headers.add(rateHeader);
            }
        }
        List<String> cookies = new ArrayList<>();
        List<String> proxyCookies = new ArrayList<>();
        boolean path = false;
        for (PoolPolicy p : policies) {
            if (p.balance() == Balance.HEADER && !headers.contains(p.hashField())) {
                headers.add(p.hashField());
            } else if (p.balance() == Balance.COOKIE && !cookies.contains(p.hashField())) {
                cookies.add(p.hashField());
            }
            String rateHeader = p.rateLimit().enabled() ? p.rateLimit().header() : null;
            if (rateHeader != null && !headers.contains(rateHeader)) {
                headers.add(rateHeader);
            }
            path |= p.balance() == Balance.URI;
            if (p.sticky() != null && !proxyCookies.contains(p.sticky().cookie())) {
                proxyCookies.add(p.sticky().cookie());
                if (!cookies.contains(p.sticky().cookie())) {
                    cookies.add(p.sticky().cookie());
                }
            }
        }
        if (headers.isEmpty() && cookies.isEmpty() && !path) {
            return NONE;
        }
        return new RequestKeys(List.copyOf(headers), List.copyOf(cookies), List.copyOf(proxyCookies), path);
    }

    /** Header names (lower case) whose value (of the first such field line) a request head must capture. */
    public List<String> headers() {
        return headers;
    }

    /** Cookie names whose value (of the first such cookie) a request head must capture. */
    public List<String> cookies() {
        return cookies;
    }

    /** The sticky-session cookies: captured, and removed from the request forwarded to the backend. */
    public List<String> proxyCookies() {
        return proxyCookies;
    }

    /** Whether some pool hashes the request path and query. */
    public boolean path() {
        return path;
    }

    /** Where a pool of {@code policy} finds its hash key among the captured values, or -1. */
    int keyIndex(PoolPolicy policy) {
        return switch (policy.balance()) {
            case HEADER -> headers.indexOf(policy.hashField());
            case COOKIE -> cookies.indexOf(policy.hashField());
            default -> -1;
        };
    }

    /** Where a pool of {@code policy} finds the header its rate limit is keyed by, or -1. */
    int rateKeyIndex(PoolPolicy policy) {
        return rateKeyIndex(policy.rateLimit());
    }

    /** Where a request finds the header {@code limit} is keyed by, or -1. */
    int rateKeyIndex(RateLimit limit) {
        String header = limit.enabled() ? limit.header() : null;
        return header == null ? -1 : headers.indexOf(header);
    }

    /** Where a pool of {@code policy} finds its sticky cookie among the captured cookies, or -1. */
    int stickyIndex(PoolPolicy policy) {
        return policy.sticky() == null ? -1 : cookies.indexOf(policy.sticky().cookie());
    }
}
