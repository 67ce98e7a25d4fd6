package io.grapevine.proxy.http;

import static io.grapevine.proxy.http.HttpChars.CR;
import static io.grapevine.proxy.http.HttpChars.LF;
import static io.grapevine.proxy.http.HttpChars.SP;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.NetUtil;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Validates a complete request head strictly and writes the canonical head to forward.
 *
 * <p>Everything RFC 9112 lets a recipient be lenient about, and every request-smuggling vector, is
 * rejected here before any byte leaves the proxy: a bare CR or LF, obs-fold (section 5.2), whitespace
 * between a field name and its colon (5.1), Content-Length together with Transfer-Encoding (6.1),
 * duplicate or non-numeric Content-Length (8.6 of RFC 9110), any Transfer-Encoding other than a single
 * {@code chunked} (6.1), Transfer-Encoding in HTTP/1.0, a missing or duplicate Host in HTTP/1.1 (3.2),
 * an absolute-form target whose authority disagrees with Host (3.2.2; compared as RFC 3986 section 6.2.3
 * normalizes them: {@code http://example.com:80/} agrees with {@code Host: example.com}), invalid characters
 * anywhere.
 *
 * <p>The forwarded head is HTTP/1.1 in origin-form, its path resolved as the backend will resolve it
 * ({@link TargetPath}: the path routes see is the path forwarded, a run of slashes read as one), with the
 * client's fields in their order, minus the hop-by-hop fields (RFC 9110 section 7.6.1: Connection, the fields
 * it names, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade), plus X-Forwarded-For / -Proto,
 * X-Request-ID and exactly one framing field. The proxy's own sticky-session cookies are removed from it (see {@link #setCapture}).
 *
 * <p>Not thread-safe: one instance per event loop; {@link #parse} runs to completion on that loop.
 */
public final class RequestHeadParser {

    public static final int OK = 0;

    private static final byte[] HTTP_1_1 = "HTTP/1.1".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CRLF = {CR, LF};
    private static final byte[] COLON_SP = {':', SP};

    private static final byte[] CONTENT_LENGTH = lowerBytes("content-length");
    private static final byte[] TRANSFER_ENCODING = lowerBytes("transfer-encoding");
    private static final byte[] HOST = lowerBytes("host");
    private static final byte[] KEEP_ALIVE = lowerBytes("keep-alive");
    private static final byte[] EXPECT = lowerBytes("expect");
    private static final byte[] X_FORWARDED_FOR = lowerBytes("x-forwarded-for");
    private static final byte[] ACCEPT_ENCODING = lowerBytes("accept-encoding");
    private static final byte[] CACHE_CONTROL = lowerBytes("cache-control");
    private static final byte[] NO_TRANSFORM = lowerBytes("no-transform");
    private static final byte[] X_FORWARDED_PROTO = lowerBytes("x-forwarded-proto");
    private static final byte[] X_REQUEST_ID = lowerBytes("x-request-id");
    private static final byte[] CHUNKED = lowerBytes("chunked");
    private static final byte[] CLOSE = lowerBytes("close");
    private static final byte[] CONTINUE_100 = lowerBytes("100-continue");

    private static final byte[] H_XFF = "X-Forwarded-For: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_XFP = "X-Forwarded-Proto: http\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_XFP_HTTPS = "X-Forwarded-Proto: https\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_REQUEST_ID = "X-Request-ID: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_CONTENT_LENGTH = "Content-Length: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_CHUNKED = "Transfer-Encoding: chunked\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_HOST = "Host: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_UPGRADE = "Upgrade: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_CONNECTION_UPGRADE = "Connection: upgrade\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] UPGRADE_TOKEN = lowerBytes("upgrade");
    private static final byte[] H2C = lowerBytes("h2c");
    private static final byte[] COMMA_SP = {',', SP};

    /** Field kinds, from the name; what the second pass does with each line. */
    private static final byte KEEP = 0;
    private static final byte DROP = FieldLines.DROP;
    private static final byte XFF = 2;
    private static final byte REQUEST_ID = 3;
    /** A Cookie line carrying a proxy cookie: written without it. */
    private static final byte PROXY_COOKIES = 4;

    private final int maxHeaderCount;
    private boolean captureRouting;
    private final RequestIdGenerator requestIds;

    private byte[] b = new byte[2048];
    private final FieldLines fields = new FieldLines();
    private final HeadBuilder head = new HeadBuilder();
    private final FieldCapture capture = new FieldCapture();
    private final TargetPath targetPath = new TargetPath();

    /**
     * @param maxHeaderCount more field lines than this: 431
     * @param captureRouting fill {@link RequestHead#routingHost} / {@link RequestHead#routingPath}
     * @param requestIds     source of X-Request-ID values for requests that carry none
     */
    public RequestHeadParser(int maxHeaderCount, boolean captureRouting, RequestIdGenerator requestIds) {
        this.maxHeaderCount = maxHeaderCount;
        this.captureRouting = captureRouting;
        this.requestIds = requestIds;
    }

    /** Whether the next heads fill {@link RequestHead#routingHost} / {@link RequestHead#routingPath}. */
    public void setCaptureRouting(boolean captureRouting) {
        this.captureRouting = captureRouting;
    }

    /**
     * Which values the next heads capture for balancing ({@link RequestHead#capturedHeaders},
     * {@link RequestHead#capturedCookies}) and which cookies are the proxy's own, removed from the forwarded head.
     * Costs a few reference comparisons when the lists are the same objects as last time; with all three empty a
     * head is parsed as if capturing did not exist.
     *
     * @param headerNames  header names, any case
     * @param cookieNames  cookie names (case-sensitive)
     * @param proxyCookies the names among {@code cookieNames} that the proxy sets itself
     */
    public void setCapture(List<String> headerNames, List<String> cookieNames, List<String> proxyCookies) {
        capture.configure(headerNames, cookieNames, proxyCookies);
    }

    /**
     * Parses the head occupying {@code in[readerIndex, readerIndex + headLength)} (as found by
     * {@link HeadScanner}); does not move the reader index.
     *
     * @param clientAddress the client's IP as ASCII, appended to X-Forwarded-For
     * @return {@link #OK} with {@code out} filled in (its {@code upstreamHead} allocated from {@code alloc}),
     *         or the HTTP status to answer with: 400, 431, 501 or 505
     */
    public int parse(ByteBuf in, int headLength, byte[] clientAddress, RequestHead out, ByteBufAllocator alloc) {
        return parse(in, headLength, clientAddress, false, out, alloc);
    }

    /**
     * Like {@link #parse(ByteBuf, int, byte[], RequestHead, ByteBufAllocator)}, for a client connection that
     * may have arrived over TLS.
     *
     * @param secure the client connection is TLS: {@code X-Forwarded-Proto: https}
     */
    public int parse(ByteBuf in, int headLength, byte[] clientAddress, boolean secure, RequestHead out,
                     ByteBufAllocator alloc) {
        if (b.length < headLength) {
            b = new byte[Math.max(headLength, b.length * 2)];
        }
        in.getBytes(in.readerIndex(), b, 0, headLength);
        final byte[] b = this.b;

        // ---- request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 section 3)
        int lineEnd = FieldLines.indexOfLf(b, 0, headLength);
        if (lineEnd < 1 || b[lineEnd - 1] != CR) {
            return 400;
        }
        int crPos = lineEnd - 1;
        int i = 0;
        while (i < crPos && HttpChars.isTchar(b[i])) {
            i++;
        }
        int methodEnd = i;
        if (methodEnd == 0 || methodEnd >= crPos || b[i] != SP) {
            return 400;
        }
        int targetStart = ++i;
        while (i < crPos && HttpChars.isTargetChar(b[i])) {
            i++;
        }
        int targetEnd = i;
        if (targetEnd == targetStart || i >= crPos || b[i] != SP) {
            return 400;
        }
        int versionStart = i + 1;
        if (crPos - versionStart != 8) {
            return 400;
        }
        int version = parseVersion(b, versionStart);
        if (version < 0) {
            return -version;
        }
        out.http10 = version == 10;
        out.method = method(b, methodEnd);
        out.headMethod = out.method == "HEAD";
        out.idempotent = isIdempotent(out.method);
        if (out.method == "CONNECT") {
            return 501;
        }

        // request-target forms (RFC 9112 section 3.2)
        int pathStart;
        int authorityStart = -1;
        int authorityEnd = -1;
        byte first = b[targetStart];
        if (first == '/') {
            pathStart = targetStart;
        } else if (first == '*' && targetEnd - targetStart == 1) {
            if (out.method != "OPTIONS") {
                return 400;
            }
            pathStart = targetStart;
        } else {
            int afterScheme = schemeEnd(b, targetStart, targetEnd);
            if (afterScheme < 0) {
                return 400;
            }
            authorityStart = afterScheme;
            int j = authorityStart;
            while (j < targetEnd && b[j] != '/' && b[j] != '?') {
                if (b[j] == '@') {
                    return 400;
                }
                j++;
            }
            authorityEnd = j;
            if (authorityEnd == authorityStart || !validHost(b, authorityStart, authorityEnd)) {
                return 400;
            }
            pathStart = j;
        }

        // ---- field lines (RFC 9112 section 5): validate, then classify by name
        final FieldLines fl = this.fields;
        int count = fl.index(b, lineEnd + 1, headLength, maxHeaderCount);
        if (count < 0) {
            return -count;
        }
        int contentLengthCount = 0;
        long contentLength = -1;
        int transferEncodingCount = 0;
        boolean chunked = false;
        int hostCount = 0;
        int hostField = -1;
        boolean expectContinue = false;
        boolean hasRequestId = false;
        int upgradeField = -1;
        int gzip = AcceptEncoding.UNSAID;
        boolean noTransform = false;
        for (int fi = 0; fi < count; fi++) {
            byte kind = KEEP;
            int hop = fl.dropIfHopByHop(b, fi);
            if (hop < 0) {
                return 400;
            }
            if (hop > 0) {
                if (fl.isUpgrade(b, fi)) {
                    if (upgradeField >= 0 || !fl.isProtocolList(b, fi)) {
                        return 400; // two Upgrade lines, or one that is not a list of protocols
                    }
                    upgradeField = fi;
                }
                continue;
            }
            switch (fl.nameLength(fi)) {
                case 4:
                    if (fl.nameIs(b, fi, HOST)) {
                        if (!validHost(b, fl.valueStart(fi), fl.valueEnd(fi))) {
                            return 400;
                        }
                        hostCount++;
                        hostField = fi;
                    }
                    break;
                case 6:
                    if (fl.nameIs(b, fi, EXPECT)) {
                        if (out.http10) {
                            kind = DROP; // RFC 9110 section 10.1.1: ignore Expect from HTTP/1.0
                        } else if (fl.valueIs(b, fi, CONTINUE_100)) {
                            expectContinue = true;
                        }
                    }
                    break;
                case 12:
                    if (fl.nameIs(b, fi, X_REQUEST_ID)) {
                        if (fl.valueLength(fi) == 0) {
                            kind = DROP; // an empty id identifies nothing: one is generated instead
                        } else {
                            kind = REQUEST_ID;
                            hasRequestId = true;
                        }
                    }
                    break;
                case 13:
                    if (fl.nameIs(b, fi, CACHE_CONTROL) && HttpChars.containsIgnoringCase(b, fl.valueStart(fi),
                            fl.valueEnd(fi), NO_TRANSFORM)) {
                        noTransform = true; // RFC 9111 section 5.2.1.6: no compression on the way back
                    }
                    break;
                case 14:
                    if (fl.nameIs(b, fi, CONTENT_LENGTH)) {
                        kind = DROP;
                        if (++contentLengthCount > 1) {
                            return 400;
                        }
                        contentLength = parseContentLength(b, fl.valueStart(fi), fl.valueEnd(fi));
                        if (contentLength < 0) {
                            return 400;
                        }
                    }
                    break;
                case 15:
                    if (fl.nameIs(b, fi, X_FORWARDED_FOR)) {
                        kind = XFF;
                    } else if (fl.nameIs(b, fi, ACCEPT_ENCODING)) {
                        gzip = AcceptEncoding.combine(gzip, AcceptEncoding.gzip(b, fl.valueStart(fi), fl.valueEnd(fi)));
                    }
                    break;
                case 17:
                    if (fl.nameIs(b, fi, TRANSFER_ENCODING)) {
                        kind = DROP;
                        if (++transferEncodingCount > 1) {
                            return 400;
                        }
                        int te = transferCoding(b, fl.valueStart(fi), fl.valueEnd(fi));
                        if (te != OK) {
                            return te;
                        }
                        chunked = true;
                    } else if (fl.nameIs(b, fi, X_FORWARDED_PROTO)) {
                        kind = DROP; // replaced by ours: a client must not claim https
                    }
                    break;
                default:
                    break;
            }
            fl.kinds[fi] = kind;
        }
        boolean connectionClose = false;
        boolean connectionKeepAlive = false;
        boolean connectionUpgrade = false;
        for (int t = 0; t < fl.tokenCount; t++) {
            if (fl.tokenIs(b, t, CLOSE)) {
                connectionClose = true;
            } else if (fl.tokenIs(b, t, KEEP_ALIVE)) {
                connectionKeepAlive = true;
            } else if (fl.tokenIs(b, t, UPGRADE_TOKEN)) {
                connectionUpgrade = true;
            }
        }
        // RFC 9110 section 7.8: Upgrade counts only when Connection names it (it is hop-by-hop), and a
        // server ignores it in HTTP/1.0. Otherwise it is dropped like any hop-by-hop field.
        // A client that also says "close" cannot mean to keep the connection for another protocol.
        // h2c is not offered on (see RequestHead#upgradeProtocols): a request offering only h2c is an ordinary one.
        out.upgradeProtocols = upgradeField >= 0 && connectionUpgrade && !connectionClose && !out.http10
                ? fl.protocolsOtherThan(b, upgradeField, H2C) : null;
        out.upgrade = out.upgradeProtocols != null;

        // ---- message framing and Host (RFC 9112 sections 3.2 and 6.1)
        if (transferEncodingCount > 0 && (contentLengthCount > 0 || out.http10)) {
            return 400;
        }
        if (hostCount > 1 || (hostCount == 0 && !out.http10)) {
            return 400;
        }
        if (authorityStart >= 0 && hostCount == 1 && !sameAuthority(b, authorityStart, authorityEnd,
                fl.valueStart(hostField), fl.valueEnd(hostField), authorityStart - targetStart == HTTPS_SCHEME.length)) {
            return 400;
        }
        // Fields named by Connection are hop-by-hop too (RFC 9110 section 7.6.1). Host is meant for every
        // recipient and must not be a connection option: dropping it would forward HTTP/1.1 without Host.
        if (fl.tokenCount > 0) {
            for (int fi = 0; fi < count; fi++) {
                if (fl.kinds[fi] != DROP && fl.namedByConnection(b, fi)) {
                    if (fi == hostField) {
                        return 400;
                    }
                    if (fl.kinds[fi] == REQUEST_ID) {
                        hasRequestId = false;
                    }
                    fl.kinds[fi] = DROP;
                }
            }
        }

        out.hasHost = hostCount == 1;
        out.clientAddress = clientAddress;
        out.secure = secure;
        out.expectContinue = expectContinue;
        out.acceptsGzip = AcceptEncoding.verdict(gzip) == AcceptEncoding.ACCEPTED && !noTransform;
        out.keepAlive = out.http10 ? connectionKeepAlive && !connectionClose : !connectionClose;
        if (chunked) {
            out.bodyKind = BodyKind.CHUNKED;
            out.contentLength = -1;
        } else if (contentLengthCount == 1) {
            out.bodyKind = BodyKind.LENGTH;
            out.contentLength = contentLength;
        } else {
            out.bodyKind = BodyKind.NONE;
            out.contentLength = 0;
        }
        // The target as routed and forwarded: the path as the backend will resolve it (see TargetPath), routes
        // reading a run of slashes as one.
        byte[] target = b;
        if (pathStart < targetEnd && b[pathStart] == '/') {
            int normalized = targetPath.normalize(b, pathStart, targetEnd);
            if (normalized >= 0) {
                target = targetPath.array();
                pathStart = 0;
                targetEnd = normalized;
            }
        }
        if (captureRouting) {
            captureRouting(b, out, hostField, authorityStart, authorityEnd, target, pathStart, targetEnd);
        }
        if (capture.isActive()) {
            capture.capture(b, fl, count, out, PROXY_COOKIES);
        }

        // ---- the canonical upstream head
        HeadBuilder head = this.head.reset(headLength + 128 + clientAddress.length);
        head.put(b, 0, methodEnd + 1);
        if (pathStart == targetEnd) {
            // RFC 9112 section 3.2.4: an OPTIONS for a whole server ("http://host") goes on as "*".
            head.put(out.method == "OPTIONS" ? (byte) '*' : (byte) '/');
        } else {
            if (target[pathStart] == '?') {
                head.put((byte) '/');
            }
            head.put(target, pathStart, targetEnd - pathStart);
        }
        head.put(SP).put(HTTP_1_1).put(CRLF);
        if (hostCount == 0 && authorityStart >= 0) {
            head.put(H_HOST).put(b, authorityStart, authorityEnd - authorityStart).put(CRLF);
            out.hasHost = true;
        }
        // HTTP/1.0 without any Host: the exchange adds the chosen server's address when it sends the head
        // (HTTP/1.1 needs a Host, RFC 9112 section 3.2, and backends such as nginx refuse an empty one).
        boolean wroteXff = false;
        for (int fi = 0; fi < count; fi++) {
            byte kind = fl.kinds[fi];
            if (kind == DROP || (kind == XFF && wroteXff)) {
                continue;
            }
            if (kind == XFF) {
                // All X-Forwarded-For lines, in order, joined into one with the client appended.
                head.put(H_XFF);
                for (int fj = fi; fj < count; fj++) {
                    if (fl.kinds[fj] == XFF && fl.valueLength(fj) > 0) {
                        head.put(b, fl.valueStart(fj), fl.valueLength(fj)).put(COMMA_SP);
                    }
                }
                head.put(clientAddress).put(CRLF);
                wroteXff = true;
                continue;
            }
            if (kind == PROXY_COOKIES) {
                capture.putCookieLine(head, b, fl, fi);
                continue;
            }
            head.put(b, fl.nameStart(fi), fl.nameLength(fi)).put(COLON_SP);
            head.put(b, fl.valueStart(fi), fl.valueLength(fi)).put(CRLF);
        }
        if (!wroteXff) {
            head.put(H_XFF).put(clientAddress).put(CRLF);
        }
        head.put(secure ? H_XFP_HTTPS : H_XFP);
        if (!hasRequestId) {
            head.put(H_REQUEST_ID);
            requestIds.writeNext(head);
            head.put(CRLF);
        }
        if (out.upgrade) {
            head.put(H_CONNECTION_UPGRADE);
            head.put(H_UPGRADE).put(out.upgradeProtocols).put(CRLF);
        }
        if (chunked) {
            head.put(H_CHUNKED);
        } else if (contentLengthCount == 1) {
            head.put(H_CONTENT_LENGTH);
            head.putDecimal(contentLength);
            head.put(CRLF);
        }
        head.put(CRLF);
        out.upstreamHead = head.toBuffer(alloc);
        return OK;
    }

    // ------------------------------------------------------------------------------------------------

    /**
     * @return 11, 10, or a negated status (-400 malformed, -505 unsupported version). RFC 9110 section 2.5: a
     *         later minor version of HTTP/1 is read as HTTP/1.1, the highest this proxy conforms to.
     */
    private static int parseVersion(byte[] b, int at) {
        if (b[at] != 'H' || b[at + 1] != 'T' || b[at + 2] != 'T' || b[at + 3] != 'P' || b[at + 4] != '/'
                || b[at + 6] != '.') {
            return -400;
        }
        byte major = b[at + 5];
        byte minor = b[at + 7];
        if (major < '0' || major > '9' || minor < '0' || minor > '9') {
            return -400;
        }
        if (major == '1' && minor == '0') {
            return 10;
        }
        return major == '1' ? 11 : -505;
    }

    private static String method(byte[] b, int length) {
        switch (length) {
            case 3:
                if (b[0] == 'G' && b[1] == 'E' && b[2] == 'T') {
                    return "GET";
                }
                if (b[0] == 'P' && b[1] == 'U' && b[2] == 'T') {
                    return "PUT";
                }
                break;
            case 4:
                if (b[0] == 'P' && b[1] == 'O' && b[2] == 'S' && b[3] == 'T') {
                    return "POST";
                }
                if (b[0] == 'H' && b[1] == 'E' && b[2] == 'A' && b[3] == 'D') {
                    return "HEAD";
                }
                break;
            case 5:
                if (startsWith(b, "PATCH")) {
                    return "PATCH";
                }
                if (startsWith(b, "TRACE")) {
                    return "TRACE";
                }
                break;
            case 6:
                if (startsWith(b, "DELETE")) {
                    return "DELETE";
                }
                break;
            case 7:
                if (startsWith(b, "OPTIONS")) {
                    return "OPTIONS";
                }
                if (startsWith(b, "CONNECT")) {
                    return "CONNECT";
                }
                break;
            default:
                break;
        }
        return new String(b, 0, length, StandardCharsets.US_ASCII);
    }

    private static boolean startsWith(byte[] b, String s) {
        for (int i = 0; i < s.length(); i++) {
            if (b[i] != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** RFC 9110 section 9.2.2. */
    @SuppressWarnings("StringEquality")
    private static boolean isIdempotent(String method) {
        return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE"
                || method == "OPTIONS" || method == "TRACE";
    }

    /** @return the offset after {@code http://} or {@code https://} (case-insensitive), or -1 */
    private static int schemeEnd(byte[] b, int from, int to) {
        int n = to - from;
        if (n > 7 && HttpChars.equalsLower(b, from, 7, HTTP_SCHEME)) {
            return from + 7;
        }
        if (n > 8 && HttpChars.equalsLower(b, from, 8, HTTPS_SCHEME)) {
            return from + 8;
        }
        return -1;
    }

    private static final byte[] HTTP_SCHEME = lowerBytes("http://");
    private static final byte[] HTTPS_SCHEME = lowerBytes("https://");

    /** uri-host [ ":" port ] of RFC 9110 section 7.2; an empty value is allowed (RFC 9112 section 3.2). */
    static boolean validHost(byte[] b, int from, int to) {
        if (from == to) {
            return true;
        }
        int i = from;
        if (b[i] == '[') {
            while (i < to && b[i] != ']') {
                byte c = b[i];
                if (i > from && HttpChars.hexValue(c) < 0 && c != ':' && c != '.') {
                    return false;
                }
                i++;
            }
            if (i == to) {
                return false;
            }
            i++;
        } else {
            while (i < to && b[i] != ':') {
                byte c = b[i];
                if (!HttpChars.isHostChar(c) || c == '[' || c == ']') {
                    return false;
                }
                i++;
            }
            if (i == from) {
                return false;
            }
        }
        if (i == to) {
            return true;
        }
        if (b[i] != ':' || to - i - 1 > 5) {
            return false;
        }
        for (int j = i + 1; j < to; j++) {
            if (b[j] < '0' || b[j] > '9') {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether two authorities name the same origin once normalized as RFC 3986 section 6.2.3 does for http and
     * https: host case-insensitive, an empty port or the scheme's default one ({@code :80}, {@code :443}) the same
     * as none. Any other port differs, the other scheme's default included.
     */
    private static boolean sameAuthority(byte[] b, int aFrom, int aTo, int hFrom, int hTo, boolean https) {
        aTo = withoutDefaultPort(b, aFrom, aTo, https);
        hTo = withoutDefaultPort(b, hFrom, hTo, https);
        return aTo - aFrom == hTo - hFrom && FieldLines.equalsIgnoreCase(b, aFrom, hFrom, aTo - aFrom);
    }

    /** The end of the authority {@code b[from, to)} without its port when that port is empty or the scheme's default. */
    private static int withoutDefaultPort(byte[] b, int from, int to, boolean https) {
        if (to > from && b[to - 1] == ':') {
            return to - 1;
        }
        byte[] port = https ? DEFAULT_HTTPS_PORT : DEFAULT_HTTP_PORT;
        int start = to - port.length;
        return start > from && Arrays.equals(b, start, to, port, 0, port.length) ? start : to;
    }

    private static final byte[] DEFAULT_HTTP_PORT = lowerBytes(":80");
    private static final byte[] DEFAULT_HTTPS_PORT = lowerBytes(":443");

    /** 1*DIGIT, at most 18 digits (no sign, no list, no spaces inside); -1 when malformed. */
    static long parseContentLength(byte[] b, int from, int to) {
        if (from == to || to - from > 18) {
            return -1;
        }
        long value = 0;
        for (int i = from; i < to; i++) {
            byte c = b[i];
            if (c < '0' || c > '9') {
                return -1;
            }
            value = value * 10 + (c - '0');
        }
        return value;
    }

    /**
     * Accepts exactly one coding, {@code chunked} (case-insensitive). A list whose final coding, and only
     * that one, is chunked asks for codings this proxy does not apply: 501 (RFC 9112 section 6.1).
     * Anything else is not a valid request framing: 400 (chunked must not be applied twice, section 7).
     */
    private static int transferCoding(byte[] b, int from, int to) {
        if (HttpChars.equalsLower(b, from, to - from, CHUNKED)) {
            return OK;
        }
        int lastComma = -1;
        for (int i = from; i < to; i++) {
            byte c = b[i];
            if (c == ',') {
                if (isChunked(b, lastComma < 0 ? from : lastComma + 1, i)) {
                    return 400;
                }
                lastComma = i;
            } else if (!HttpChars.isTchar(c) && !HttpChars.isOws(c)) {
                return 400;
            }
        }
        if (lastComma < 0) {
            return 400;
        }
        return isChunked(b, lastComma + 1, to) ? 501 : 400;
    }

    /** Whether the list element {@code b[from, to)}, OWS around it ignored, is the chunked coding. */
    private static boolean isChunked(byte[] b, int from, int to) {
        while (from < to && HttpChars.isOws(b[from])) {
            from++;
        }
        while (to > from && HttpChars.isOws(b[to - 1])) {
            to--;
        }
        return HttpChars.equalsLower(b, from, to - from, CHUNKED);
    }

    /** The host from {@code b}, the path from {@code target[pathStart, targetEnd)}. */
    private void captureRouting(byte[] b, RequestHead out, int hostField, int authorityStart, int authorityEnd,
                                byte[] target, int pathStart, int targetEnd) {
        int hs = 0;
        int he = 0;
        if (authorityStart >= 0) {
            hs = authorityStart;
            he = authorityEnd;
        } else if (hostField >= 0) {
            hs = this.fields.valueStart(hostField);
            he = this.fields.valueEnd(hostField);
        }
        out.routingHost = hs == he ? "" : hostWithoutPort(b, hs, he);
        // The path as forwarded: an absolute-form target with an empty path gets its "/" (or "*") here too.
        if (pathStart == targetEnd && out.method == "OPTIONS") {
            out.routingPath = "*";
            return;
        }
        String path = targetPath.routingText(target, pathStart, targetEnd);
        out.routingPath = pathStart == targetEnd || target[pathStart] == '?' ? "/" + path : path;
    }

    /**
     * The host as routes name it: lower case, without port; an IPv6 literal in its brackets in RFC 5952 text, whichever
     * of its forms the client wrote; a name without the root's trailing dot ({@code example.com.} is
     * {@code example.com}, RFC 1034 section 3.1).
     */
    private static String hostWithoutPort(byte[] b, int from, int to) {
        int end = to;
        if (b[from] == '[') {
            for (int i = from; i < to; i++) {
                if (b[i] == ']') {
                    end = i;
                    break;
                }
            }
            String literal = new String(b, from + 1, end - from - 1, StandardCharsets.US_ASCII);
            return "[" + (NetUtil.isValidIpV6Address(literal)
                    ? NetUtil.toAddressString(NetUtil.createInetAddressFromIpAddressString(literal))
                    : literal.toLowerCase(Locale.ROOT)) + "]";
        }
        for (int i = from; i < to; i++) {
            if (b[i] == ':') {
                end = i;
                break;
            }
        }
        if (end - from > 1 && b[end - 1] == '.') {
            end--;
        }
        char[] chars = new char[end - from];
        for (int i = from; i < end; i++) {
            chars[i - from] = (char) HttpChars.lower(b[i]);
        }
        return new String(chars);
    }

    private static byte[] lowerBytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }
}
