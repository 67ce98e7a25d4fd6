package io.grapevine.proxy.http;

import static io.grapevine.proxy.http.HttpChars.CR;
import static io.grapevine.proxy.http.HttpChars.LF;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Captures the values of named header fields and cookies from a validated request head, for the balancers that
 * hash them and for sticky sessions, and writes a {@code Cookie} line without the proxy's own cookies.
 *
 * <p>A header's value is that of its first field line. Cookies are read from every {@code Cookie} line (HTTP/2
 * may split them, RFC 9113 section 8.2.3) as {@code name=value} pairs separated by {@code ;} (RFC 6265 section
 * 4.2.1, read leniently as browsers write it: whitespace around pairs is ignored, a value in double quotes loses
 * them, a pair without {@code =} is skipped); the first pair with a name counts, names are case-sensitive.
 *
 * <p>Configured by the parser's owner per table generation; one instance per parser (per event loop).
 */
final class FieldCapture {

    private static final byte[] COOKIE = "cookie".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] COOKIE_FIELD = "Cookie: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] PAIR_SEPARATOR = {';', ' '};
    private static final byte[][] NONE = new byte[0][];

    private List<String> headerList = List.of();
    private List<String> cookieList = List.of();
    private List<String> proxyCookieList = List.of();
    /** Header names in lower case. */
    private byte[][] headers = NONE;
    /** Cookie names, exact. */
    private byte[][] cookies = NONE;
    /** The proxy's own cookie names, removed from the forwarded head. */
    private byte[][] proxyCookies = NONE;

    /** Start and end of one cookie pair, its name and its value (see {@link #nextPair}). */
    private final int[] pair = new int[6];

    /**
     * Captures {@code headerNames} and {@code cookieNames} from now on; {@code proxyCookies} (a subset of the
     * cookie names) are removed from forwarded heads. Nearly free when the lists are those of the last call.
     */
    void configure(List<String> headerNames, List<String> cookieNames, List<String> proxyCookies) {
        if (headerNames == headerList && cookieNames == cookieList && proxyCookies == proxyCookieList) {
            return;
        }
        headerList = headerNames;
        cookieList = cookieNames;
        proxyCookieList = proxyCookies;
        headers = headerNames.stream().map(h -> h.toLowerCase(Locale.ROOT).getBytes(StandardCharsets.US_ASCII))
                .toArray(byte[][]::new);
        cookies = cookieNames.stream().map(c -> c.getBytes(StandardCharsets.US_ASCII)).toArray(byte[][]::new);
        this.proxyCookies = proxyCookies.stream().map(c -> c.getBytes(StandardCharsets.US_ASCII))
                .toArray(byte[][]::new);
    }

    boolean isActive() {
        return headers.length > 0 || cookies.length > 0;
    }

    /**
     * Fills {@link RequestHead#capturedHeaders} and {@link RequestHead#capturedCookies} from the fields not
     * {@link FieldLines#DROP}ped, and gives every {@code Cookie} line that carries a proxy cookie the kind
     * {@code rewriteKind}, to be written by {@link #putCookieLine}.
     */
    void capture(byte[] b, FieldLines fl, int count, RequestHead out, byte rewriteKind) {
        byte[][] headerValues = headers.length == 0 ? null : new byte[headers.length][];
        byte[][] cookieValues = cookies.length == 0 ? null : new byte[cookies.length][];
        for (int fi = 0; fi < count; fi++) {
            if (fl.kinds[fi] == FieldLines.DROP) {
                continue;
            }
            for (int h = 0; h < headers.length; h++) {
                if (headerValues[h] == null && fl.nameIs(b, fi, headers[h])) {
                    headerValues[h] = Arrays.copyOfRange(b, fl.valueStart(fi), fl.valueEnd(fi));
                }
            }
            if (cookieValues != null && fl.nameIs(b, fi, COOKIE) && readCookies(b, fl.valueStart(fi), fl.valueEnd(fi),
                    cookieValues)) {
                fl.kinds[fi] = rewriteKind;
            }
        }
        out.capturedHeaders = headerValues;
        out.capturedCookies = cookieValues;
    }

    /** Captures the cookies of one Cookie value; whether it carries a proxy cookie. */
    private boolean readCookies(byte[] b, int from, int to, byte[][] values) {
        boolean carriesProxyCookie = false;
        int[] p = pair;
        for (int i = from; (i = nextPair(b, i, to, p)) >= 0; ) {
            if (p[2] < 0) {
                continue;
            }
            for (int c = 0; c < cookies.length; c++) {
                if (values[c] == null && nameEquals(b, p, cookies[c])) {
                    values[c] = Arrays.copyOfRange(b, p[4], p[5]);
                }
            }
            carriesProxyCookie |= isProxyCookie(b, p);
        }
        return carriesProxyCookie;
    }

    /** Writes the Cookie line of field {@code fi} without the proxy's cookies; nothing if none is left. */
    void putCookieLine(HeadBuilder head, byte[] b, FieldLines fl, int fi) {
        int from = fl.valueStart(fi);
        int to = fl.valueEnd(fi);
        int[] p = pair;
        boolean first = true;
        for (int i = from; (i = nextPair(b, i, to, p)) >= 0; ) {
            if (p[2] >= 0 && isProxyCookie(b, p)) {
                continue;
            }
            head.put(first ? COOKIE_FIELD : PAIR_SEPARATOR);
            head.put(b, p[0], p[1] - p[0]);
            first = false;
        }
        if (!first) {
            head.put(CR).put(LF);
        }
    }

    private boolean isProxyCookie(byte[] b, int[] p) {
        for (byte[] name : proxyCookies) {
            if (nameEquals(b, p, name)) {
                return true;
            }
        }
        return false;
    }

    private static boolean nameEquals(byte[] b, int[] p, byte[] name) {
        return p[3] - p[2] == name.length && Arrays.equals(b, p[2], p[3], name, 0, name.length);
    }

    /**
     * Finds the next pair of a cookie-string in {@code b[i, to)}: {@code p[0..1]} the pair without surrounding
     * whitespace, {@code p[2..3]} its name ({@code p[2] = -1} when it has no {@code =}), {@code p[4..5]} its value
     * without quotes.
     *
     * @return where the search goes on, or -1 when no pair is left
     */
    private static int nextPair(byte[] b, int i, int to, int[] p) {
        while (i < to && (b[i] == ';' || HttpChars.isOws(b[i]))) {
            i++;
        }
        if (i >= to) {
            return -1;
        }
        int start = i;
        int eq = -1;
        while (i < to && b[i] != ';') {
            if (b[i] == '=' && eq < 0) {
                eq = i;
            }
            i++;
        }
        int end = i;
        while (end > start && HttpChars.isOws(b[end - 1])) {
            end--;
        }
        p[0] = start;
        p[1] = end;
        if (eq < 0) {
            p[2] = -1;
            return i;
        }
        int nameEnd = eq;
        while (nameEnd > start && HttpChars.isOws(b[nameEnd - 1])) {
            nameEnd--;
        }
        int vs = eq + 1;
        while (vs < end && HttpChars.isOws(b[vs])) {
            vs++;
        }
        int ve = end;
        if (ve - vs >= 2 && b[vs] == '"' && b[ve - 1] == '"') {
            vs++;
            ve--;
        }
        p[2] = start;
        p[3] = nameEnd;
        p[4] = vs;
        p[5] = ve;
        return i;
    }
}
