package io.grapevine.proxy.http;

import java.nio.charset.StandardCharsets;

/**
 * The path of an origin-form request target as a backend resolves it: percent-encoded unreserved characters
 * decoded (RFC 3986 section 6.2.2.2: {@code %61} is {@code a}, {@code %2E} is {@code .}) and then dot segments
 * removed (section 5.2.4: {@code /api/../admin} is {@code /admin}). The query is left as sent, and so is every
 * other percent-encoding ({@code %2F} stays: decoded, it would be a segment separator the client did not send).
 * Routes must see the path the backend serves, or {@code /api/../admin} is routed by its {@code /api} and
 * served as {@code /admin}, passing by a route meant for {@code /admin}.
 *
 * <p>A run of slashes is one slash to routes ({@link #routingText}), as to nginx's {@code merge_slashes} and the
 * servers that merge them too (Apache httpd, Tomcat): otherwise {@code //admin} is routed by no {@code /admin}
 * prefix and served as {@code /admin}. It is forwarded as sent: {@code //} means something to servers that keep
 * it (an URL inside a path, {@code /fetch/https://example.com/}, or an empty path parameter).
 *
 * <p>Servers that read {@code ;} in a segment as the start of its parameters (Tomcat, Jetty, Spring) drop them before
 * they resolve the path: {@code /api/..;/admin} is {@code /admin} to them, and {@code /admin;x/secret} is
 * {@code /admin/secret}. So a segment that is {@code .} or {@code ..} before its {@code ;} is a dot segment here too
 * (removed with its parameters, for routes and the backend alike), and routes read each segment up to its
 * {@code ;}; the parameters of other segments are forwarded as sent.
 *
 * <p>Most paths have neither a {@code %}, nor a segment starting with {@code .}, nor an empty segment, nor a
 * {@code ;}: one scan finds that and copies nothing. Not thread-safe: one instance per {@link RequestHeadParser}
 * (per event loop); {@link #array()} holds the result until the next {@link #normalize}.
 */
public final class TargetPath {

    private byte[] out = new byte[256];
    /**
     * The path last given to {@link #normalize} has an empty segment ({@code //}) or a parameter ({@code ;}): routes
     * read it otherwise than it is forwarded.
     */
    private boolean routedOtherwise;

    TargetPath() {
    }

    /**
     * The form of {@code prefix} (a route's path prefix: starts with {@code /}, printable ASCII) that routes can
     * match: the start of a path as {@link #routingText} gives it. Its last segment is read as the start of a longer
     * one, so {@code /api/..} stays (it starts {@code /api/..x}); a {@code ;} in it ends the prefix.
     */
    public static String routingPrefix(String prefix) {
        byte[] b = (prefix + "z").getBytes(StandardCharsets.US_ASCII); // "z": a segment goes on, and is not hex
        TargetPath t = new TargetPath();
        int n = t.normalize(b, 0, b.length);
        String routed = n < 0 ? t.routingText(b, 0, b.length) : t.routingText(t.out, 0, n);
        int query = prefix.indexOf('?');
        boolean lastSegmentHasParameters = query < 0 && prefix.lastIndexOf(';') > prefix.lastIndexOf('/');
        return lastSegmentHasParameters ? routed : routed.substring(0, routed.length() - 1);
    }

    /**
     * Normalizes the target {@code b[from, to)}, which starts with {@code /} (a query may follow the path).
     *
     * @return -1 when the target is normal already (use it as it is), otherwise the length of the normalized
     *         target (path and query) at the start of {@link #array()}, never more than {@code to - from}
     */
    int normalize(byte[] b, int from, int to) {
        int query = from + 1;
        boolean needed = false;
        boolean otherwise = false;
        while (query < to && b[query] != '?') {
            byte c = b[query];
            if (c == '%' || (c == '.' && b[query - 1] == '/')) {
                needed = true;
            } else if ((c == '/' && b[query - 1] == '/') || c == ';') {
                otherwise = true;
            }
            query++;
        }
        // Decoding brings no '/' nor ';', and removing dot segments makes no "//" that was not there: seen here, or
        // never.
        routedOtherwise = otherwise;
        if (!needed) {
            return -1;
        }
        if (out.length < to - from) {
            out = new byte[Math.max(to - from, out.length * 2)];
        }
        final byte[] o = out;
        int n = 0;
        for (int i = from; i < query; i++) {
            byte c = b[i];
            if (c == '%' && i + 2 < query) {
                int hi = HttpChars.hexValue(b[i + 1]);
                int lo = HttpChars.hexValue(b[i + 2]);
                if (hi >= 0 && lo >= 0 && isUnreserved(hi << 4 | lo)) {
                    o[n++] = (byte) (hi << 4 | lo);
                    i += 2;
                    continue;
                }
            }
            o[n++] = c;
        }
        // Dot segments, in place: what is written never gets ahead of what is read. o[0] is '/'.
        int w = 0;
        int r = 0;
        while (r < n) {
            int end = r + 1;
            while (end < n && o[end] != '/') {
                end++;
            }
            int length = 0; // of the segment's name, before its parameters
            while (r + 1 + length < end && o[r + 1 + length] != ';') {
                length++;
            }
            if (length == 1 && o[r + 1] == '.') {
                if (end == n) {
                    o[w++] = '/'; // "/a/." is "/a/"
                }
            } else if (length == 2 && o[r + 1] == '.' && o[r + 2] == '.') {
                while (w > 0 && o[--w] != '/') {
                    // back to the '/' that starts the last segment written: it goes with it
                }
                if (end == n) {
                    o[w++] = '/'; // "/a/b/.." is "/a/"
                }
            } else {
                System.arraycopy(o, r, o, w, end - r);
                w += end - r;
            }
            r = end;
        }
        if (w == 0) {
            o[w++] = '/';
        }
        System.arraycopy(b, query, o, w, to - query);
        return w + to - query;
    }

    byte[] array() {
        return out;
    }

    /**
     * The target {@code t[from, to)} (as normalized, or normal already) as routes see it: each run of slashes in its
     * path one slash, each segment without its parameters, the query as sent. Valid for the target last given to
     * {@link #normalize}, and for one without a path ({@code *}, a query alone), which it leaves as it is.
     */
    String routingText(byte[] t, int from, int to) {
        if (!routedOtherwise) {
            return new String(t, from, to - from, StandardCharsets.US_ASCII);
        }
        char[] text = new char[to - from];
        int n = 0;
        boolean path = true;
        boolean parameters = false;
        for (int i = from; i < to; i++) {
            byte c = t[i];
            path &= c != '?';
            if (path) {
                parameters = c == ';' || (parameters && c != '/');
                if (parameters || (c == '/' && n > 0 && text[n - 1] == '/')) {
                    continue;
                }
            }
            text[n++] = (char) c;
        }
        return new String(text, 0, n);
    }

    /** ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 section 2.3). */
    private static boolean isUnreserved(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '-' || c == '.' || c == '_' || c == '~';
    }
}
