package io.grapevine.proxy.config;

import io.grapevine.proxy.http.CompressionRule;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Gzip compression of a pool's responses (the {@code compression} key of {@code servers.conf}, top level or per
 * pool): a response is compressed when the request accepts gzip and the response is a 200-203 with a body, of one of
 * {@link #types}, not encoded already, not marked {@code no-transform}, and not known to be shorter than
 * {@link #minLength}. See {@link io.grapevine.proxy.http.ResponseHeadParser} for the whole rule.
 *
 * @param enabled   whether responses are compressed at all
 * @param level     zlib's level, 1 (fastest) to 9 (smallest)
 * @param minLength responses whose Content-Length is below this leave as they are (a length unknown is compressed)
 * @param types     media types compressed, in lower case without parameters; {@code text/*} stands for every
 *                  subtype of {@code text}
 */
public record Compression(boolean enabled, int level, long minLength, List<String> types) implements CompressionRule {

    /** What a pool gets when nothing is configured: off. The other values are those {@code enabled: true} gets. */
    public static final Compression OFF = new Compression(false, 1, 1024, List.of(
            "text/html", "text/plain", "text/css", "text/javascript", "text/xml", "text/csv", "text/markdown",
            "application/javascript", "application/json", "application/xml", "application/x-javascript",
            "application/ld+json", "application/manifest+json", "application/wasm", "image/svg+xml"));

    public Compression {
        Objects.requireNonNull(types, "types");
        if (level < 1 || level > 9) {
            throw new IllegalArgumentException("level " + level);
        }
        types = types.stream().map(t -> t.toLowerCase(Locale.ROOT)).toList();
    }

    @Override
    public boolean compresses(byte[] b, int from, int to) {
        return CompressionRule.listed(b, from, to, types);
    }
}
