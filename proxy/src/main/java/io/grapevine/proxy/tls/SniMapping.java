package io.grapevine.proxy.tls;

import io.netty.util.Mapping;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Which certificate a handshake gets, from the host name the client sent in its ClientHello (SNI, RFC 6066
 * section 3):
 * <ol>
 *   <li>a certificate that has exactly that name;</li>
 *   <li>else one with a wildcard name for it: {@code *.example.com} stands for {@code a.example.com}, not for
 *       {@code example.com} and not for {@code a.b.example.com} (RFC 6125 section 6.4.3);</li>
 *   <li>else, and when the client sent no name, the default: the first certificate configured.</li>
 * </ol>
 * Names compare case-insensitively, without a trailing dot. When two certificates have the same name, the first
 * configured wins. Immutable: {@link #map} runs on the event loops without a lock.
 *
 * @param <T> what is chosen (an {@code SslContext} in service)
 */
final class SniMapping<T> implements Mapping<String, T> {

    /** A certificate's names and what to serve for them. */
    record Candidate<T>(List<String> names, T value) {
    }

    private final Map<String, T> exact = new HashMap<>();
    /** Wildcard names by the part after {@code "*."}. */
    private final Map<String, T> wildcard = new HashMap<>();
    private final T fallback;

    /** @param candidates in configuration order; the first is the default; not empty */
    SniMapping(List<Candidate<T>> candidates) {
        this.fallback = candidates.get(0).value();
        for (Candidate<T> c : candidates) {
            for (String name : c.names()) {
                String n = normalize(name);
                if (n.startsWith("*.")) {
                    wildcard.putIfAbsent(n.substring(2), c.value());
                } else {
                    exact.putIfAbsent(n, c.value());
                }
            }
        }
    }

    /** @param hostname the SNI host name, or {@code null} when the client sent none */
    @Override
    public T map(String hostname) {
        if (hostname == null) {
            return fallback;
        }
        String name = normalize(hostname);
        T chosen = exact.get(name);
        if (chosen != null) {
            return chosen;
        }
        int dot = name.indexOf('.');
        if (dot > 0) {
            chosen = wildcard.get(name.substring(dot + 1));
        }
        return chosen != null ? chosen : fallback;
    }

    private static String normalize(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        return lower.endsWith(".") ? lower.substring(0, lower.length() - 1) : lower;
    }
}
