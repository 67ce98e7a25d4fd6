package io.grapevine.proxy.http;

import static io.grapevine.proxy.http.HttpChars.CR;
import static io.grapevine.proxy.http.HttpChars.LF;

import java.util.Arrays;

/**
 * The field lines of one message head (RFC 9112 section 5), validated and indexed in place: for each
 * field the offsets of its name and of its value with surrounding whitespace removed. Rejects obs-fold,
 * whitespace or any non-token byte before the colon, bare CR, bare LF, NUL and other control characters.
 *
 * <p>Also parses comma-separated token lists (Connection) into a second index. Reused for every message
 * of one parser; not thread-safe.
 */
final class FieldLines {

    /** The kind every parser gives a field it does not forward. */
    static final byte DROP = 1;

    private static final byte[] CONNECTION = "connection".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] KEEP_ALIVE = "keep-alive".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] PROXY_CONNECTION =
            "proxy-connection".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] TE = "te".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] UPGRADE = "upgrade".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] HTTP_1_1 = "http/1.1".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    /** Per field: name start, name end, value start, value end. */
    int[] offsets = new int[4 * 32];
    /** What the message's parser decided to do with each field. */
    byte[] kinds = new byte[32];
    int count;

    /** Start/end offsets of the tokens of the Connection fields. */
    int[] tokens = new int[16];
    int tokenCount;

    /**
     * Indexes the field lines starting at {@code pos} up to and including the empty line.
     *
     * @return the number of fields, or a negated status: -400 malformed, -431 more than {@code maxCount}
     */
    int index(byte[] b, int pos, int end, int maxCount) {
        count = 0;
        tokenCount = 0;
        for (;;) {
            int lf = indexOfLf(b, pos, end);
            if (lf < 0 || lf == pos || b[lf - 1] != CR) {
                return -400;
            }
            int cr = lf - 1;
            if (cr == pos) {
                return count;
            }
            byte c0 = b[pos];
            if (c0 == HttpChars.SP || c0 == HttpChars.HTAB) {
                return -400;
            }
            int j = pos;
            while (j < cr && HttpChars.isTchar(b[j])) {
                j++;
            }
            if (j == pos || j == cr || b[j] != ':') {
                return -400;
            }
            int nameEnd = j++;
            while (j < cr && HttpChars.isOws(b[j])) {
                j++;
            }
            int valueStart = j;
            int valueEnd = cr;
            while (valueEnd > valueStart && HttpChars.isOws(b[valueEnd - 1])) {
                valueEnd--;
            }
            for (int k = valueStart; k < valueEnd; k++) {
                if (!HttpChars.isFieldValueChar(b[k])) {
                    return -400;
                }
            }
            if (count == maxCount) {
                return -431;
            }
            if (kinds.length == count) {
                kinds = Arrays.copyOf(kinds, count * 2);
                offsets = Arrays.copyOf(offsets, count * 8);
            }
            int f = count * 4;
            offsets[f] = pos;
            offsets[f + 1] = nameEnd;
            offsets[f + 2] = valueStart;
            offsets[f + 3] = valueEnd;
            kinds[count] = 0;
            count++;
            pos = lf + 1;
        }
    }

    int nameStart(int field) {
        return offsets[field * 4];
    }

    int nameLength(int field) {
        return offsets[field * 4 + 1] - offsets[field * 4];
    }

    int valueStart(int field) {
        return offsets[field * 4 + 2];
    }

    int valueEnd(int field) {
        return offsets[field * 4 + 3];
    }

    int valueLength(int field) {
        return offsets[field * 4 + 3] - offsets[field * 4 + 2];
    }

    /**
     * Marks a field {@link #DROP} when it is hop-by-hop by name (RFC 9110 section 7.6.1: Connection, TE,
     * Upgrade, plus the legacy Keep-Alive and Proxy-Connection), and collects the tokens of Connection, which
     * name more hop-by-hop fields (see {@link #namedByConnection}). Transfer-Encoding is hop-by-hop as well,
     * but it frames the message: each parser reads it itself.
     *
     * @return 1 when the field was dropped, 0 when it is end-to-end, -1 when a Connection value is malformed
     */
    int dropIfHopByHop(byte[] b, int field) {
        boolean hop;
        switch (nameLength(field)) {
            case 2 -> hop = nameIs(b, field, TE);
            case 7 -> hop = nameIs(b, field, UPGRADE);
            case 10 -> {
                if (nameIs(b, field, CONNECTION)) {
                    if (!addTokens(b, field)) {
                        return -1;
                    }
                    hop = true;
                } else {
                    hop = nameIs(b, field, KEEP_ALIVE);
                }
            }
            case 16 -> hop = nameIs(b, field, PROXY_CONNECTION);
            default -> hop = false;
        }
        if (hop) {
            kinds[field] = DROP;
            return 1;
        }
        return 0;
    }

    /** Whether a field (dropped as hop-by-hop or not) is Upgrade. */
    boolean isUpgrade(byte[] b, int field) {
        return nameLength(field) == 7 && nameIs(b, field, UPGRADE);
    }

    /**
     * Whether an Upgrade value is a valid list of protocols (RFC 9110 section 7.8:
     * {@code protocol = protocol-name ["/" protocol-version]}, both tokens; comma-separated).
     */
    boolean isProtocolList(byte[] b, int field) {
        int i = valueStart(field);
        int to = valueEnd(field);
        boolean any = false;
        while ((i = skipSeparators(b, i, to)) < to) {
            int start = i;
            i = skipToken(b, i, to);
            if (i == start) {
                return false;
            }
            if (i < to && b[i] == '/') {
                int version = ++i;
                i = skipToken(b, i, to);
                if (i == version) {
                    return false;
                }
            }
            i = endOfElement(b, i, to);
            if (i < 0) {
                return false;
            }
            any = true;
        }
        return any;
    }

    /**
     * The protocols of a valid Upgrade value (see {@link #isProtocolList}) whose name is not {@code lowerName},
     * as a list in the order sent ({@code "a, b/1"}), or {@code null} when none remains.
     */
    byte[] protocolsOtherThan(byte[] b, int field, byte[] lowerName) {
        int i = valueStart(field);
        int to = valueEnd(field);
        byte[] list = new byte[valueLength(field) * 2];
        int n = 0;
        while ((i = skipSeparators(b, i, to)) < to) {
            int start = i;
            int nameEnd = skipToken(b, i, to);
            i = nameEnd < to && b[nameEnd] == '/' ? skipToken(b, nameEnd + 1, to) : nameEnd;
            if (HttpChars.equalsLower(b, start, nameEnd - start, lowerName)) {
                continue;
            }
            if (n > 0) {
                list[n++] = ',';
                list[n++] = HttpChars.SP;
            }
            System.arraycopy(b, start, list, n, i - start);
            n += i - start;
        }
        return n == 0 ? null : Arrays.copyOf(list, n);
    }

    /**
     * Whether a valid Upgrade value of a 101 (see {@link #isProtocolList}) switches only to protocols in
     * {@code offered} (such a list as {@link #protocolsOtherThan} makes), name and version compared
     * case-insensitively. RFC 9110 section 7.8: a server must not switch to a protocol the client did not
     * offer; switching several layers, it lists them lowest first, and a layer above may be the HTTP/1.1 the
     * request was sent in ({@code Upgrade: TLS/1.0, HTTP/1.1}, RFC 2817 section 3.3). The first must be
     * offered.
     */
    boolean protocolsOffered(byte[] b, int field, byte[] offered) {
        int i = valueStart(field);
        int to = valueEnd(field);
        boolean first = true;
        while ((i = skipSeparators(b, i, to)) < to) {
            int start = i;
            i = skipProtocol(b, i, to);
            boolean sameHttp = !first && HttpChars.equalsLower(b, start, i - start, HTTP_1_1);
            if (!sameHttp && !containsProtocol(offered, b, start, i - start)) {
                return false;
            }
            first = false;
        }
        return true;
    }

    private static boolean containsProtocol(byte[] list, byte[] b, int start, int length) {
        int i = 0;
        while ((i = skipSeparators(list, i, list.length)) < list.length) {
            int s = i;
            i = skipProtocol(list, i, list.length);
            if (i - s == length && equalsIgnoreCase(list, s, b, start, length)) {
                return true;
            }
        }
        return false;
    }

    /** From the start of a protocol ({@code name ["/" version]}) to its end. */
    private static int skipProtocol(byte[] b, int i, int to) {
        i = skipToken(b, i, to);
        return i < to && b[i] == '/' ? skipToken(b, i + 1, to) : i;
    }

    /** Skips the commas and whitespace between the elements of a list. */
    private static int skipSeparators(byte[] b, int i, int to) {
        while (i < to && (b[i] == ',' || HttpChars.isOws(b[i]))) {
            i++;
        }
        return i;
    }

    private static int skipToken(byte[] b, int i, int to) {
        while (i < to && HttpChars.isTchar(b[i])) {
            i++;
        }
        return i;
    }

    /** After an element: whitespace, then the end or a comma; -1 when something else follows. */
    private static int endOfElement(byte[] b, int i, int to) {
        while (i < to && HttpChars.isOws(b[i])) {
            i++;
        }
        return i < to && b[i] != ',' ? -1 : i;
    }

    boolean nameIs(byte[] b, int field, byte[] lowerName) {
        return HttpChars.equalsLower(b, nameStart(field), nameLength(field), lowerName);
    }

    boolean valueIs(byte[] b, int field, byte[] lowerValue) {
        return HttpChars.equalsLower(b, valueStart(field), valueLength(field), lowerValue);
    }

    /**
     * Adds the tokens of a #token list value (comma-separated, OWS around, empty elements allowed).
     *
     * @return false when an element is not a token
     */
    boolean addTokens(byte[] b, int field) {
        int i = valueStart(field);
        int to = valueEnd(field);
        while ((i = skipSeparators(b, i, to)) < to) {
            int start = i;
            int end = skipToken(b, i, to);
            i = endOfElement(b, end, to);
            if (end == start || i < 0) {
                return false;
            }
            if (tokens.length < (tokenCount + 1) * 2) {
                tokens = Arrays.copyOf(tokens, tokens.length * 2);
            }
            tokens[tokenCount * 2] = start;
            tokens[tokenCount * 2 + 1] = end;
            tokenCount++;
        }
        return true;
    }

    boolean tokenIs(byte[] b, int token, byte[] lowerValue) {
        int s = tokens[token * 2];
        return HttpChars.equalsLower(b, s, tokens[token * 2 + 1] - s, lowerValue);
    }

    /** Whether a field's name equals one of the Connection tokens (then it is hop-by-hop). */
    boolean namedByConnection(byte[] b, int field) {
        int ns = nameStart(field);
        int nl = nameLength(field);
        for (int t = 0; t < tokenCount; t++) {
            int ts = tokens[t * 2];
            if (tokens[t * 2 + 1] - ts == nl && equalsIgnoreCase(b, ns, ts, nl)) {
                return true;
            }
        }
        return false;
    }

    static boolean equalsIgnoreCase(byte[] b, int a, int c, int length) {
        return equalsIgnoreCase(b, a, b, c, length);
    }

    static boolean equalsIgnoreCase(byte[] x, int a, byte[] y, int c, int length) {
        for (int i = 0; i < length; i++) {
            if (HttpChars.lower(x[a + i]) != HttpChars.lower(y[c + i])) {
                return false;
            }
        }
        return true;
    }

    static int indexOfLf(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == LF) {
                return i;
            }
        }
        return -1;
    }
}
