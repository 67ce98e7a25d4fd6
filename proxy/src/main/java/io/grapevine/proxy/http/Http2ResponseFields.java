package io.grapevine.proxy.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.util.AsciiString;
import java.util.Arrays;

/**
 * The names and values of backend response fields as HTTP/2 heads carry them ({@link Http2Fields#responseHead}),
 * kept from one response to the next so that a head like the last one costs no copies: the lower-case names of
 * the fields servers commonly send are constants, and for each of those names the last value seen is reused
 * while the backend sends the same bytes again (its {@code Server}, {@code Content-Type}, its {@code Date}
 * within a second), as is the last {@code content-length}.
 *
 * <p>Thread: one instance per event loop ({@link ResponseHeadParser}'s). The strings handed out are immutable;
 * a connection's HPACK table may keep them after the head is written.
 */
final class Http2ResponseFields {

    /** Lower-case names of fields common in responses (hop-by-hop ones never reach a head). */
    private static final AsciiString[] NAMES = {
        HttpHeaderNames.SERVER, HttpHeaderNames.DATE, HttpHeaderNames.CONTENT_TYPE, HttpHeaderNames.CONTENT_LENGTH,
        HttpHeaderNames.LAST_MODIFIED, HttpHeaderNames.ETAG, HttpHeaderNames.ACCEPT_RANGES,
        HttpHeaderNames.CACHE_CONTROL, HttpHeaderNames.EXPIRES, HttpHeaderNames.VARY, HttpHeaderNames.LOCATION,
        HttpHeaderNames.SET_COOKIE, HttpHeaderNames.CONTENT_ENCODING, HttpHeaderNames.CONTENT_LANGUAGE,
        HttpHeaderNames.CONTENT_DISPOSITION, HttpHeaderNames.CONTENT_RANGE, HttpHeaderNames.AGE,
        HttpHeaderNames.ALLOW, HttpHeaderNames.PRAGMA, HttpHeaderNames.RETRY_AFTER, HttpHeaderNames.VIA,
        HttpHeaderNames.WWW_AUTHENTICATE, AsciiString.cached("strict-transport-security"),
        HttpHeaderNames.CONTENT_SECURITY_POLICY, HttpHeaderNames.X_FRAME_OPTIONS,
        HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, HttpHeaderNames.ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HttpHeaderNames.ACCESS_CONTROL_EXPOSE_HEADERS, AsciiString.cached("link"),
        AsciiString.cached("x-content-type-options"), AsciiString.cached("referrer-policy"),
        AsciiString.cached("x-powered-by"), AsciiString.cached("x-request-id"), AsciiString.cached("alt-svc"),
    };
    /** Indexes into {@link #NAMES} by name length. */
    private static final int[][] BY_LENGTH;

    static {
        int longest = 0;
        for (AsciiString n : NAMES) {
            longest = Math.max(longest, n.length());
        }
        BY_LENGTH = new int[longest + 1][0];
        for (int i = 0; i < NAMES.length; i++) {
            int[] same = BY_LENGTH[NAMES[i].length()];
            same = Arrays.copyOf(same, same.length + 1);
            same[same.length - 1] = i;
            BY_LENGTH[NAMES[i].length()] = same;
        }
    }

    /** The last value seen for each of {@link #NAMES}, or {@code null}. */
    private final AsciiString[] lastValues = new AsciiString[NAMES.length];
    private long lastContentLength = -1;
    private AsciiString lastContentLengthText;

    /** The index in {@link #NAMES} of the name {@code b[start, start+length)} (any case), or -1. */
    int known(byte[] b, int start, int length) {
        if (length >= BY_LENGTH.length) {
            return -1;
        }
        for (int i : BY_LENGTH[length]) {
            if (HttpChars.equalsLower(b, start, length, NAMES[i].array())) {
                return i;
            }
        }
        return -1;
    }

    /** The name {@code b[start, start+length)} in lower case; {@code known}: its {@link #known} index. */
    AsciiString name(int known, byte[] b, int start, int length) {
        if (known >= 0) {
            return NAMES[known];
        }
        byte[] name = new byte[length];
        for (int k = 0; k < length; k++) {
            name[k] = HttpChars.lower(b[start + k]);
        }
        return new AsciiString(name, false);
    }

    /** The value {@code b[start, start+length)}, a copy (b is scratch space), or the last one of that name if equal. */
    AsciiString value(int known, byte[] b, int start, int length) {
        if (known < 0) {
            return new AsciiString(b, start, length, true);
        }
        AsciiString last = lastValues[known];
        if (last != null && last.length() == length
                && Arrays.equals(last.array(), last.arrayOffset(), last.arrayOffset() + length, b, start, start + length)) {
            return last;
        }
        return lastValues[known] = new AsciiString(b, start, length, true);
    }

    /** {@code n} in decimal. */
    AsciiString contentLength(long n) {
        if (n != lastContentLength || lastContentLengthText == null) {
            lastContentLength = n;
            lastContentLengthText = AsciiString.of(Long.toString(n));
        }
        return lastContentLengthText;
    }
}
