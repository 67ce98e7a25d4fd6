package io.grapevine.proxy.http;

import static io.grapevine.proxy.http.HttpChars.CR;
import static io.grapevine.proxy.http.HttpChars.LF;
import static io.grapevine.proxy.http.HttpChars.SP;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Map;

/**
 * The field sections of HTTP/2 streams (RFC 9113 section 8), checked and translated to and from the
 * HTTP/1.1 field lines the rest of the proxy speaks.
 *
 * <p>A request header block is checked against what RFC 9113 section 8.2 and 8.3.1 call malformed:
 * field names that are empty, not tokens or not lower-case; NUL, CR or LF in any value, or whitespace at
 * either end of one; connection-specific fields (Connection, Keep-Alive, Proxy-Connection,
 * Transfer-Encoding, Upgrade) and TE other than {@code trailers}; pseudo-header fields that are unknown,
 * repeated, meant for responses, or missing ({@code :method}, {@code :scheme}, a non-empty {@code :path}
 * in origin-form or {@code *}); Host disagreeing with {@code :authority} (once both are normalized as a proxy
 * must: an empty port or the scheme's default is no port). Such a request is a stream
 * error of type PROTOCOL_ERROR. Netty's codec already rejects part of this (upper-case names,
 * connection-specific fields, TE); the checks here do not rely on it, because the translation below is
 * only safe on input that passed them. A pseudo-header field after a regular one is Netty's to catch: its
 * HPACK decoder sees the order, which {@code DefaultHttp2Headers} does not keep (it moves pseudo-header
 * fields first).
 *
 * <p>A request that passed is written as an HTTP/1.1 head ({@code :authority} as Host, the Cookie
 * fields joined with {@code "; "} as section 8.2.3 requires, {@code Transfer-Encoding: chunked} when a
 * body of unknown length follows) for {@link RequestHeadParser}, which applies every HTTP/1.1 rule
 * (field and target characters, Host syntax, Content-Length, limits) and writes the canonical upstream
 * head, exactly as for an HTTP/1.1 client.
 *
 * <p>Not thread-safe: the request translation reuses scratch space; one instance per connection.
 */
public final class Http2Fields {

    /** {@link #requestHead} result: the request is malformed (RFC 9113 section 8.1.1): reset the stream. */
    public static final int MALFORMED = -1;

    private static final AsciiString METHOD = AsciiString.cached(":method");
    private static final AsciiString SCHEME = AsciiString.cached(":scheme");
    private static final AsciiString AUTHORITY = AsciiString.cached(":authority");
    private static final AsciiString PATH = AsciiString.cached(":path");
    private static final AsciiString CONTENT_LENGTH = AsciiString.cached("content-length");

    private static final byte[] HTTP_1_1_CRLF = " HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] HOST_COLON_SP = "host: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] COOKIE_COLON_SP = "cookie: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] COOKIE_SEPARATOR = {';', SP};
    private static final byte[] COLON_SP = {':', SP};
    private static final byte[] CRLF = {CR, LF};
    private static final byte[] CHUNKED_LINE = "transfer-encoding: chunked\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CONTENT_LENGTH_ZERO_LINE = "content-length: 0\r\n".getBytes(StandardCharsets.US_ASCII);

    private static final byte[] HOST = bytes("host");
    private static final byte[] COOKIE = bytes("cookie");
    private static final byte[] TE = bytes("te");
    private static final byte[] TRAILERS = bytes("trailers");
    private static final byte[] HTTP = bytes("http");
    private static final byte[] HTTPS = bytes("https");
    private static final byte[] CONNECT = bytes("CONNECT");
    /** The methods that define a meaning for enclosed content (RFC 9110 sections 9.3.3 and 9.3.4, RFC 5789). */
    private static final byte[][] CONTENT_METHODS = {bytes("POST"), bytes("PUT"), bytes("PATCH")};
    private static final byte[] DEFAULT_HTTP_PORT = bytes(":80");
    private static final byte[] DEFAULT_HTTPS_PORT = bytes(":443");
    /** Connection-specific fields, forbidden in HTTP/2 (RFC 9113 section 8.2.2). TE is checked apart. */
    private static final byte[][] CONNECTION_SPECIFIC = {bytes("connection"), bytes("keep-alive"),
            bytes("proxy-connection"), bytes("transfer-encoding"), bytes("upgrade")};

    private final HeadBuilder head = new HeadBuilder();
    private final ArrayList<CharSequence> cookies = new ArrayList<>(2);
    private byte[] wrapped;
    private ByteBuf headView;
    private int requestLineLength;

    /**
     * Checks a request header block and writes it as an HTTP/1.1 head, readable from {@link #head()}.
     *
     * @param endOfStream the HEADERS frame ended the stream: the request has no body
     * @return the length of the head, {@link #MALFORMED}, or a negated HTTP status to answer with
     *         ({@code -501} for CONNECT, {@code -400} for a scheme other than http or https)
     */
    public int requestHead(Http2Headers headers, boolean endOfStream) {
        HeadBuilder out = head.reset(512);
        cookies.clear();
        CharSequence method = null;
        CharSequence scheme = null;
        CharSequence authority = null;
        CharSequence path = null;
        boolean requestLineWritten = false;
        boolean contentLength = false;
        for (Map.Entry<CharSequence, CharSequence> field : headers) {
            CharSequence name = field.getKey();
            CharSequence value = field.getValue();
            if (!validValue(value)) {
                return MALFORMED;
            }
            if (name.length() > 0 && name.charAt(0) == ':') {
                if (requestLineWritten) {
                    return MALFORMED; // after a regular field (section 8.3)
                }
                if (AsciiString.contentEquals(name, METHOD) && method == null) {
                    method = value;
                } else if (AsciiString.contentEquals(name, SCHEME) && scheme == null) {
                    scheme = value;
                } else if (AsciiString.contentEquals(name, AUTHORITY) && authority == null) {
                    authority = value;
                } else if (AsciiString.contentEquals(name, PATH) && path == null) {
                    path = value;
                } else {
                    return MALFORMED; // repeated, unknown, or a response pseudo-header
                }
                continue;
            }
            if (!requestLineWritten) {
                int r = writeRequestLine(out, method, scheme, authority, path);
                if (r != 0) {
                    return r;
                }
                requestLineWritten = true;
            }
            if (!validName(name) || isConnectionSpecific(name)) {
                return MALFORMED;
            }
            if (equalsBytes(name, TE)) {
                if (!equalsIgnoreCase(value, TRAILERS)) {
                    return MALFORMED;
                }
                continue; // hop-by-hop: not forwarded to an HTTP/1.1 backend either
            }
            if (equalsBytes(name, HOST)) {
                if (authority != null) {
                    // RFC 9113 section 8.3.1: Host and :authority must identify the same entity, compared after
                    // scheme-based normalization (RFC 3986 section 6.2.3), which a proxy must apply.
                    if (!sameAuthority(value, authority, equalsIgnoreCase(scheme, HTTPS))) {
                        return MALFORMED;
                    }
                    continue;
                }
            } else if (equalsBytes(name, COOKIE)) {
                cookies.add(value);
                continue;
            } else if (AsciiString.contentEquals(name, CONTENT_LENGTH)) {
                contentLength = true;
            }
            put(out, name);
            out.put(COLON_SP);
            put(out, value);
            out.put(CRLF);
        }
        if (!requestLineWritten) {
            int r = writeRequestLine(out, method, scheme, authority, path);
            if (r != 0) {
                return r;
            }
        }
        if (!cookies.isEmpty()) {
            // RFC 9113 section 8.2.3: cookie crumbs are joined into one field for HTTP/1.1.
            out.put(COOKIE_COLON_SP);
            for (int i = 0; i < cookies.size(); i++) {
                if (i > 0) {
                    out.put(COOKIE_SEPARATOR);
                }
                put(out, cookies.get(i));
            }
            out.put(CRLF);
        }
        if (!endOfStream && !contentLength) {
            out.put(CHUNKED_LINE); // the body is delimited by END_STREAM: chunked towards the backend
        } else if (endOfStream && !contentLength && definesContent(method)) {
            // RFC 9110 section 8.6: a request whose method gives content a meaning should say how long it is; a
            // POST with neither Content-Length nor Transfer-Encoding gets 411 Length Required from some servers.
            out.put(CONTENT_LENGTH_ZERO_LINE);
        }
        out.put(CRLF);
        return out.length();
    }

    /** The head written by the last {@link #requestHead}, as a heap buffer over scratch space; valid until the next call. */
    public ByteBuf head() {
        byte[] array = head.array();
        if (array != wrapped) {
            wrapped = array;
            headView = Unpooled.wrappedBuffer(array);
        }
        return headView.setIndex(0, head.length());
    }

    /** The length of the request line (method, path, version, CRLF) of the last {@link #requestHead}. */
    public int requestLineLength() {
        return requestLineLength;
    }

    private static boolean definesContent(CharSequence method) {
        for (byte[] m : CONTENT_METHODS) {
            if (equalsBytes(method, m)) {
                return true;
            }
        }
        return false;
    }

    private int writeRequestLine(HeadBuilder out, CharSequence method, CharSequence scheme,
                                 CharSequence authority, CharSequence path) {
        if (method == null) {
            return MALFORMED;
        }
        if (equalsBytes(method, CONNECT)) {
            return -501; // neither CONNECT nor extended CONNECT (RFC 8441) is offered
        }
        if (scheme == null || path == null || path.length() == 0) {
            return MALFORMED;
        }
        char first = path.charAt(0);
        if (first != '/' && !(first == '*' && path.length() == 1)) {
            return MALFORMED; // section 8.3.1: origin-form or "*" (asterisk-form)
        }
        if (!equalsIgnoreCase(scheme, HTTP) && !equalsIgnoreCase(scheme, HTTPS)) {
            return -400;
        }
        put(out, method);
        out.put(SP);
        put(out, path);
        out.put(HTTP_1_1_CRLF);
        requestLineLength = out.length();
        if (authority != null) {
            out.put(HOST_COLON_SP);
            put(out, authority);
            out.put(CRLF);
        }
        return 0;
    }

    // ---------------------------------------------------------------- trailers

    /** Whether a trailer section of a request is acceptable (the names and values rules of a header block). */
    public static boolean validTrailers(Http2Headers trailers) {
        for (Map.Entry<CharSequence, CharSequence> field : trailers) {
            CharSequence name = field.getKey();
            if (!validName(name) || isConnectionSpecific(name) || !validValue(field.getValue())) {
                return false;
            }
        }
        return true;
    }

    /**
     * A request's trailer section as canonical field lines for a chunked body, minus the fields a trailer
     * must not carry (as {@link ChunkedDecoder} drops them); {@code null} when none is left. Call after
     * {@link #validTrailers}.
     */
    public static ByteBuf requestTrailers(Http2Headers trailers, ByteBufAllocator alloc) {
        ByteBuf out = null;
        for (Map.Entry<CharSequence, CharSequence> field : trailers) {
            CharSequence name = field.getKey();
            if (forbiddenInTrailer(name)) {
                continue;
            }
            CharSequence value = field.getValue();
            if (out == null) {
                out = alloc.buffer(128);
            }
            out.writeCharSequence(name, StandardCharsets.ISO_8859_1);
            out.writeByte(':').writeByte(SP);
            out.writeCharSequence(value, StandardCharsets.ISO_8859_1);
            out.writeByte(CR).writeByte(LF);
        }
        return out;
    }

    /**
     * A response's trailer section for an HTTP/2 client, from the canonical field lines {@link ChunkedDecoder}
     * produced ({@code Name: value CRLF} each, already validated): names in lower case. Does not release
     * {@code fieldLines}.
     */
    public static Http2Headers responseTrailers(ByteBuf fieldLines) {
        Http2Headers out = new DefaultHttp2Headers(false, 4);
        int i = fieldLines.readerIndex();
        int end = fieldLines.writerIndex();
        while (i < end) {
            int colon = fieldLines.indexOf(i, end, (byte) ':');
            int cr = fieldLines.indexOf(colon, end, CR);
            if (colon < 0 || cr < 0) {
                break;
            }
            byte[] name = new byte[colon - i];
            for (int k = 0; k < name.length; k++) {
                name[k] = HttpChars.lower(fieldLines.getByte(i + k));
            }
            int valueStart = colon + 2;
            byte[] value = new byte[Math.max(0, cr - valueStart)];
            fieldLines.getBytes(valueStart, value);
            out.add(new AsciiString(name, false), new AsciiString(value, false));
            i = cr + 2;
        }
        return out;
    }

    // ---------------------------------------------------------------- response heads (for ResponseHeadParser)

    /**
     * The head of a response for an HTTP/2 client: {@code :status}, then the fields not marked
     * {@link FieldLines#DROP} with their names in lower case, then {@code content-length} when
     * {@code contentLength >= 0}. Names and values come from {@code known}, which reuses those of the
     * heads before (the head's strings are shared, immutable, and outlive {@code b}).
     */
    static Http2Headers responseHead(int status, byte[] b, FieldLines fl, int count, long contentLength,
                                     Http2ResponseFields known) {
        Http2Headers out = new DefaultHttp2Headers(false, count + 2);
        out.status(HttpResponseStatus.valueOf(status).codeAsText());
        for (int fi = 0; fi < count; fi++) {
            if (fl.kinds[fi] == FieldLines.DROP) {
                continue;
            }
            int ns = fl.nameStart(fi);
            int nl = fl.nameLength(fi);
            int k = known.known(b, ns, nl);
            out.add(known.name(k, b, ns, nl), known.value(k, b, fl.valueStart(fi), fl.valueLength(fi)));
        }
        if (contentLength >= 0) {
            out.add(CONTENT_LENGTH, known.contentLength(contentLength));
        }
        return out;
    }

    /**
     * Adds one field line the proxy made itself ({@code Name: value\r\n}, such as a sticky session's
     * {@code Set-Cookie}) to an HTTP/2 head, its name in lower case.
     */
    static void addFieldLine(Http2Headers headers, byte[] line) {
        int colon = 0;
        while (line[colon] != ':') {
            colon++;
        }
        byte[] name = new byte[colon];
        for (int k = 0; k < colon; k++) {
            name[k] = HttpChars.lower(line[k]);
        }
        int valueStart = colon + 1;
        while (valueStart < line.length && line[valueStart] == ' ') {
            valueStart++;
        }
        int valueEnd = line.length;
        while (valueEnd > valueStart && (line[valueEnd - 1] == '\n' || line[valueEnd - 1] == '\r')) {
            valueEnd--;
        }
        headers.add(new AsciiString(name, false), new AsciiString(line, valueStart, valueEnd - valueStart, true));
    }

    // ---------------------------------------------------------------- character rules

    /** A field name: one or more tchar, none upper-case (RFC 9113 section 8.2.1, RFC 9110 section 5.1). */
    private static boolean validName(CharSequence name) {
        int n = name.length();
        if (n == 0) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = name.charAt(i);
            if (c > 0xFF || !HttpChars.isTchar((byte) c) || (c >= 'A' && c <= 'Z')) {
                return false;
            }
        }
        return true;
    }

    /** No NUL, CR or LF, no whitespace at either end (RFC 9113 section 8.2.1); the rest is checked by the HTTP/1.1 parser. */
    private static boolean validValue(CharSequence value) {
        int n = value.length();
        for (int i = 0; i < n; i++) {
            char c = value.charAt(i);
            if (c == 0 || c == CR || c == LF || c > 0xFF) {
                return false;
            }
        }
        return n == 0 || !(isWhitespace(value.charAt(0)) || isWhitespace(value.charAt(n - 1)));
    }

    /**
     * Whether two authorities are the same once normalized as RFC 3986 section 6.2.3 does for http and https:
     * host case-insensitive, and an empty port or the scheme's default one ({@code :80}, {@code :443}) the same
     * as none.
     */
    private static boolean sameAuthority(CharSequence a, CharSequence b, boolean https) {
        int n = withoutDefaultPort(a, https);
        return n == withoutDefaultPort(b, https) && AsciiString.regionMatchesAscii(a, true, 0, b, 0, n);
    }

    /** The length of an authority without its port when that port is empty or the scheme's default. */
    private static int withoutDefaultPort(CharSequence authority, boolean https) {
        int n = authority.length();
        if (n > 0 && authority.charAt(n - 1) == ':') {
            return n - 1;
        }
        byte[] port = https ? DEFAULT_HTTPS_PORT : DEFAULT_HTTP_PORT;
        int start = n - port.length;
        if (start < 0) {
            return n;
        }
        for (int i = 0; i < port.length; i++) {
            if (authority.charAt(start + i) != port[i]) {
                return n;
            }
        }
        return start;
    }

    private static boolean isWhitespace(char c) {
        return c == SP || c == HttpChars.HTAB;
    }

    private static boolean isConnectionSpecific(CharSequence name) {
        for (byte[] forbidden : CONNECTION_SPECIFIC) {
            if (equalsBytes(name, forbidden)) {
                return true;
            }
        }
        return false;
    }

    private static boolean forbiddenInTrailer(CharSequence name) {
        for (byte[] forbidden : ChunkedDecoder.FORBIDDEN_TRAILERS) {
            if (equalsBytes(name, forbidden)) {
                return true;
            }
        }
        return false;
    }

    /** Exact comparison with an ASCII constant. */
    private static boolean equalsBytes(CharSequence s, byte[] constant) {
        int n = s.length();
        if (n != constant.length) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            if (s.charAt(i) != constant[i]) {
                return false;
            }
        }
        return true;
    }

    private static boolean equalsIgnoreCase(CharSequence s, byte[] lowerConstant) {
        int n = s.length();
        if (n != lowerConstant.length) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c > 0xFF || HttpChars.lower((byte) c) != lowerConstant[i]) {
                return false;
            }
        }
        return true;
    }

    /** Appends an ISO-8859-1 char sequence (checked to be bytes by {@link #validValue} / {@link #validName}). */
    private static void put(HeadBuilder out, CharSequence s) {
        int n = s.length();
        if (s instanceof AsciiString a) {
            out.put(a.array(), a.arrayOffset(), n);
            return;
        }
        out.ensure(n);
        byte[] array = out.array();
        int at = out.length();
        for (int i = 0; i < n; i++) {
            array[at + i] = (byte) s.charAt(i);
        }
        out.advance(n);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }
}
