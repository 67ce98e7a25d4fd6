package io.grapevine.proxy.http;

import static io.grapevine.proxy.http.HttpChars.CR;
import static io.grapevine.proxy.http.HttpChars.LF;
import static io.grapevine.proxy.http.HttpChars.SP;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Validates a backend's response head and writes the head for the client.
 *
 * <p>Framing follows RFC 9112 section 6.3: no body for a HEAD request, 1xx, 204 and 304; then
 * {@code Transfer-Encoding: chunked} (a Content-Length beside it is removed; the backend connection is not
 * reused after such a response, nor after chunked from an HTTP/1.0 backend); then Content-Length (identical
 * duplicates are accepted, differing ones are not); otherwise the body lasts until the backend closes.
 * Towards the client the body is delimited canonically: the same Content-Length, or chunked for an HTTP/1.1
 * client, or raw followed by close for an HTTP/1.0 client.
 * Hop-by-hop fields are removed and {@code Connection} is written by the proxy.
 *
 * <p>Anything malformed is garbage: the caller answers 502 and does not reuse the connection.
 * Not thread-safe: one instance per event loop.
 */
public final class ResponseHeadParser {

    public static final int OK = 0;
    /**
     * A body of a known length up to this many bytes gets room after the head in {@link ResponseHead#clientHead}:
     * copying it there costs less than a second buffer in the client's write (a {@code writev} and an outbound
     * buffer entry more).
     */
    public static final int BODY_IN_HEAD_MAX = 2048;

    private static final byte[] CONTENT_LENGTH = "content-length".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] TRANSFER_ENCODING = "transfer-encoding".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] KEEP_ALIVE = "keep-alive".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] TRAILER = "trailer".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] SET_COOKIE = "set-cookie".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CHUNKED = "chunked".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CLOSE = "close".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] STAR = {'*'};
    private static final byte[] ACCEPT_RANGES = "accept-ranges".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ETAG = "etag".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] VARY = "vary".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CONTENT_TYPE = "content-type".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CACHE_CONTROL = "cache-control".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CONTENT_ENCODING = "content-encoding".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] NO_TRANSFORM = "no-transform".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ACCEPT_ENCODING_TOKEN = "accept-encoding".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_CONTENT_ENCODING_GZIP = "Content-Encoding: gzip\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_VARY_ACCEPT_ENCODING = "Vary: Accept-Encoding\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_ETAG_WEAK = "ETag: W/".getBytes(StandardCharsets.US_ASCII);

    private static final byte[] HTTP_1_1_SP = "HTTP/1.1 ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CRLF = {CR, LF};
    private static final byte[] COLON_SP = {':', SP};
    private static final byte[] H_CONTENT_LENGTH = "Content-Length: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_CHUNKED = "Transfer-Encoding: chunked\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_CLOSE = "Connection: close\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_KEEP_ALIVE = "Connection: keep-alive\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_CONNECTION_UPGRADE = "Connection: upgrade\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] H_UPGRADE = "Upgrade: ".getBytes(StandardCharsets.US_ASCII);

    private static final byte KEEP = 0;
    private static final byte DROP = FieldLines.DROP;

    private final int maxHeaderCount;
    private final FieldLines fields = new FieldLines();
    private final HeadBuilder head = new HeadBuilder();
    /** The field names and values of the HTTP/2 heads this parser made, for the next ones. */
    private final Http2ResponseFields http2Fields = new Http2ResponseFields();
    private byte[] b = new byte[2048];

    public ResponseHeadParser(int maxHeaderCount) {
        this.maxHeaderCount = maxHeaderCount;
    }

    /**
     * Parses the head at {@code in[readerIndex, readerIndex + headLength)}; does not move the reader index.
     *
     * @param requestWasHead  the request was HEAD: no body follows whatever the fields say
     * @param clientHttp10    the client spoke HTTP/1.0 (no chunked towards it)
     * @param clientKeepAlive the client wants its connection kept open
     * @return {@link #OK} with {@code out} filled in, or 502
     */
    public int parse(ByteBuf in, int headLength, boolean requestWasHead, boolean clientHttp10,
                     boolean clientKeepAlive, ResponseHead out, ByteBufAllocator alloc) {
        return parse(in, headLength, requestWasHead, null, clientHttp10 ? ClientProtocol.HTTP_1_0 : ClientProtocol.HTTP_1_1,
                clientKeepAlive, null, out, alloc);
    }

    /** As the primary {@code parse}, for an HTTP/1.x client, without an extra field. */
    public int parse(ByteBuf in, int headLength, boolean requestWasHead, byte[] upgradeOffer,
                     boolean clientHttp10, boolean clientKeepAlive, ResponseHead out, ByteBufAllocator alloc) {
        return parse(in, headLength, requestWasHead, upgradeOffer,
                clientHttp10 ? ClientProtocol.HTTP_1_0 : ClientProtocol.HTTP_1_1, clientKeepAlive, null, out, alloc);
    }

    /** As the primary {@code parse}, for an HTTP/1.x client. */
    public int parse(ByteBuf in, int headLength, boolean requestWasHead, byte[] upgradeOffer,
                     boolean clientHttp10, boolean clientKeepAlive, byte[] extraField, ResponseHead out,
                     ByteBufAllocator alloc) {
        return parse(in, headLength, requestWasHead, upgradeOffer,
                clientHttp10 ? ClientProtocol.HTTP_1_0 : ClientProtocol.HTTP_1_1, clientKeepAlive, extraField, out,
                alloc);
    }

    /** As the primary {@code parse}, for a request that did not ask to switch protocols, without an extra field. */
    public int parse(ByteBuf in, int headLength, boolean requestWasHead, ClientProtocol clientProtocol,
                     boolean clientKeepAlive, ResponseHead out, ByteBufAllocator alloc) {
        return parse(in, headLength, requestWasHead, null, clientProtocol, clientKeepAlive, null, out, alloc);
    }

    /**
     * Like {@link #parse(ByteBuf, int, boolean, boolean, boolean, ResponseHead, ByteBufAllocator)}, for a
     * client of any protocol, for a request that may have asked to switch protocols. For
     * {@link ClientProtocol#HTTP_2} the head for the client is {@link ResponseHead#http2Headers} ({@code :status},
     * lower-case names, no connection-specific field, {@code content-length} when the length is known) and the
     * client connection is never closed for it.
     *
     * @param upgradeOffer      the protocols the request offered to switch to ({@link RequestHead#upgradeProtocols}),
     *                          or {@code null}: a {@code 101} whose {@code Upgrade} names only protocols offered is
     *                          then an answer, forwarded with its {@code Upgrade} field; any other {@code 101} is
     *                          garbage (RFC 9110 section 7.8)
     * @param extraField        one more complete field line (with its CRLF) for the client's head of a final
     *                          response, such as a sticky session's {@code Set-Cookie}, or {@code null}; interim
     *                          responses do not get it
     */
    public int parse(ByteBuf in, int headLength, boolean requestWasHead, byte[] upgradeOffer,
                     ClientProtocol clientProtocol, boolean clientKeepAlive, byte[] extraField, ResponseHead out,
                     ByteBufAllocator alloc) {
        return parse(in, headLength, requestWasHead, upgradeOffer, clientProtocol, clientKeepAlive, extraField, null,
                out, alloc);
    }

    /**
     * As the primary {@code parse} above, for a pool whose sticky cookie is {@code ownCookie} (its name in ASCII, or
     * {@code null}): a {@code Set-Cookie} of the backend's that sets a cookie of that name is removed, as HAProxy's
     * {@code cookie ... insert} does, so that it can neither overwrite the client's sticky cookie nor stand beside it.
     */
    public int parse(ByteBuf in, int headLength, boolean requestWasHead, byte[] upgradeOffer,
                     ClientProtocol clientProtocol, boolean clientKeepAlive, byte[] extraField, byte[] ownCookie,
                     ResponseHead out, ByteBufAllocator alloc) {
        return parse(in, headLength, requestWasHead, upgradeOffer, clientProtocol, clientKeepAlive, extraField,
                ownCookie, null, out, alloc);
    }

    /**
     * As the primary {@code parse} above, with gzip offered: {@code gzip} is the compression of the response's pool
     * when the pool compresses, {@code null} otherwise. The response is then compressed ({@link ResponseHead#gzip})
     * when the request accepts gzip ({@link CompressionRule#accepted}) and it is a 200, 201, 202 or 203 with a body
     * (not to HEAD), to an HTTP/1.1 or HTTP/2 client, whose {@code Content-Type} is one of the pool's types, without a {@code Content-Encoding}, without
     * {@code Cache-Control: no-transform} (RFC 9110 section 7.7), not known to be shorter than the pool's minimum, and
     * a compressor is free ({@link CompressionRule#admit}, asked last).
     * Its client head then has no {@code Content-Length} (the body is chunked, or ends with the HTTP/2 stream),
     * {@code Content-Encoding: gzip}, {@code Vary: Accept-Encoding} unless a {@code Vary} already covers it, a strong
     * {@code ETag} made weak (RFC 9110 section 8.8.1: the bytes are no longer those the backend's tag names), and no
     * {@code Accept-Ranges}, as nginx does. A response that would have been compressed but for the request (it does
     * not accept gzip, or the client speaks HTTP/1.0) or for want of a compressor gets the {@code Vary} alone.
     */
    public int parse(ByteBuf in, int headLength, boolean requestWasHead, byte[] upgradeOffer,
                     ClientProtocol clientProtocol, boolean clientKeepAlive, byte[] extraField, byte[] ownCookie,
                     CompressionRule gzip, ResponseHead out, ByteBufAllocator alloc) {
        out.gzip = false;
        boolean clientHttp10 = clientProtocol == ClientProtocol.HTTP_1_0;
        boolean clientHttp2 = clientProtocol == ClientProtocol.HTTP_2;
        if (b.length < headLength) {
            b = new byte[Math.max(headLength, b.length * 2)];
        }
        in.getBytes(in.readerIndex(), b, 0, headLength);
        final byte[] b = this.b;

        // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 section 4)
        int lineEnd = FieldLines.indexOfLf(b, 0, headLength);
        if (lineEnd < 13 || b[lineEnd - 1] != CR) {
            return 502;
        }
        int cr = lineEnd - 1;
        if (b[0] != 'H' || b[1] != 'T' || b[2] != 'T' || b[3] != 'P' || b[4] != '/' || b[5] != '1' || b[6] != '.'
                || (b[7] != '0' && b[7] != '1') || b[8] != SP) {
            return 502;
        }
        boolean upstreamHttp10 = b[7] == '0';
        int status = 0;
        for (int i = 9; i < 12; i++) {
            if (b[i] < '0' || b[i] > '9') {
                return 502;
            }
            status = status * 10 + (b[i] - '0');
        }
        if (status < 100 || (cr > 12 && b[12] != SP)) {
            return 502;
        }
        for (int i = 13; i < cr; i++) {
            if (!HttpChars.isReasonChar(b[i])) {
                return 502;
            }
        }
        out.status = status;
        out.switching = status == 101;
        out.interim = status < 200 && !out.switching;
        if (out.switching && upgradeOffer == null) {
            return 502; // a switch of protocols nobody asked for
        }

        final FieldLines fl = this.fields;
        int count = fl.index(b, lineEnd + 1, headLength, maxHeaderCount);
        if (count < 0) {
            return 502;
        }
        int contentLengthCount = 0;
        long contentLength = -1;
        int transferEncodingCount = 0;
        int upgradeField = -1;
        boolean noBody = out.interim || out.switching || requestWasHead || status == 204 || status == 304;
        // Compression: only looked at when offered and the status may be compressed.
        boolean mayCompress = gzip != null && status >= 200 && status <= 203 && !noBody;
        int contentTypeField = -1;
        int etagField = -1;
        boolean varyCovers = false;
        for (int fi = 0; fi < count; fi++) {
            byte kind = KEEP;
            int hop = fl.dropIfHopByHop(b, fi);
            if (hop < 0) {
                return 502;
            }
            if (hop > 0) {
                if (out.switching && fl.isUpgrade(b, fi)) {
                    if (upgradeField >= 0 || !fl.isProtocolList(b, fi) || !fl.protocolsOffered(b, fi, upgradeOffer)) {
                        return 502; // RFC 9110 section 7.8: a switch to a protocol the client did not offer
                    }
                    upgradeField = fi;
                }
                continue;
            }
            switch (fl.nameLength(fi)) {
                case 4:
                    if (mayCompress) {
                        if (fl.nameIs(b, fi, ETAG)) {
                            etagField = fi;
                        } else if (fl.nameIs(b, fi, VARY)) {
                            varyCovers |= hasListMember(b, fl.valueStart(fi), fl.valueEnd(fi), ACCEPT_ENCODING_TOKEN)
                                    || hasListMember(b, fl.valueStart(fi), fl.valueEnd(fi), STAR);
                        }
                    }
                    break;
                case 7:
                    if (fl.nameIs(b, fi, TRAILER) && clientHttp10) {
                        kind = DROP; // an HTTP/1.0 client gets the body without chunks, hence no trailers
                    }
                    break;
                case 12:
                    if (mayCompress && fl.nameIs(b, fi, CONTENT_TYPE)) {
                        contentTypeField = contentTypeField < 0 ? fi : -2; // two Content-Types: leave it alone
                    }
                    break;
                case 13:
                    if (mayCompress && fl.nameIs(b, fi, CACHE_CONTROL)
                            && HttpChars.containsIgnoringCase(b, fl.valueStart(fi), fl.valueEnd(fi), NO_TRANSFORM)) {
                        mayCompress = false;
                    }
                    break;
                case 16:
                    if (mayCompress && fl.nameIs(b, fi, CONTENT_ENCODING)) {
                        mayCompress = false; // encoded already (RFC 9110 section 8.4)
                    }
                    break;
                case 10:
                    if (ownCookie != null && fl.nameIs(b, fi, SET_COOKIE)
                            && setsCookie(b, fl.valueStart(fi), fl.valueEnd(fi), ownCookie)) {
                        kind = DROP; // the proxy's own cookie: only the proxy sets it
                    }
                    break;
                case 14:
                    if (fl.nameIs(b, fi, CONTENT_LENGTH)) {
                        long value = RequestHeadParser.parseContentLength(b, fl.valueStart(fi), fl.valueEnd(fi));
                        if (value < 0 || (contentLengthCount > 0 && value != contentLength)) {
                            return 502;
                        }
                        contentLength = value;
                        // Kept as sent after HEAD and in a 304: it describes the representation. RFC 9110
                        // section 8.6: never in a 1xx or 204 (an HTTP/2 client would reject the stream).
                        kind = (requestWasHead || status == 304) && status >= 200 && status != 204
                                && contentLengthCount == 0 ? KEEP : DROP;
                        contentLengthCount++;
                    }
                    break;
                case 17:
                    if (fl.nameIs(b, fi, TRANSFER_ENCODING)) {
                        kind = DROP;
                        if (++transferEncodingCount > 1 || !fl.valueIs(b, fi, CHUNKED)) {
                            return 502;
                        }
                    }
                    break;
                default:
                    break;
            }
            fl.kinds[fi] = kind;
        }
        boolean upstreamClose = upstreamHttp10;
        for (int t = 0; t < fl.tokenCount; t++) {
            if (fl.tokenIs(b, t, CLOSE)) {
                upstreamClose = true;
            } else if (upstreamHttp10 && fl.tokenIs(b, t, KEEP_ALIVE)) {
                upstreamClose = false;
            }
        }
        if (fl.tokenCount > 0) {
            for (int fi = 0; fi < count; fi++) {
                if (fl.namedByConnection(b, fi)) {
                    fl.kinds[fi] = DROP;
                }
            }
        }

        if (out.switching) {
            // RFC 9110 section 15.2.2: a 101 names the protocol switched to. From here on both connections
            // carry that protocol's bytes until one side closes; neither is ever reused.
            if (upgradeField < 0) {
                return 502;
            }
            out.upstreamBody = BodyKind.NONE;
            out.contentLength = 0;
            out.upstreamReusable = false;
            out.clientBody = BodyKind.UNTIL_CLOSE;
            out.closeClient = false;
            HeadBuilder head = this.head.reset(headLength + 64 + (extraField == null ? 0 : extraField.length));
            head.put(HTTP_1_1_SP).put(b, 9, cr - 9);
            if (cr == 12) {
                head.put(SP);
            }
            head.put(CRLF);
            for (int fi = 0; fi < count; fi++) {
                if (fl.kinds[fi] != DROP) {
                    head.put(b, fl.nameStart(fi), fl.nameLength(fi)).put(COLON_SP);
                    head.put(b, fl.valueStart(fi), fl.valueLength(fi)).put(CRLF);
                }
            }
            if (extraField != null) {
                head.put(extraField);
            }
            head.put(H_CONNECTION_UPGRADE);
            head.put(H_UPGRADE).put(b, fl.valueStart(upgradeField), fl.valueLength(upgradeField)).put(CRLF);
            head.put(CRLF);
            out.clientHead = head.toBuffer(alloc);
            return OK;
        }

        boolean reusable = !upstreamClose;
        if (noBody) {
            out.upstreamBody = BodyKind.NONE;
            out.contentLength = 0;
        } else if (transferEncodingCount > 0) {
            out.upstreamBody = BodyKind.CHUNKED;
            out.contentLength = -1;
            if (contentLengthCount > 0 || upstreamHttp10) {
                // RFC 9112 section 6.3 (3): framing was ambiguous; and section 6.1: Transfer-Encoding in
                // HTTP/1.0 is faulty framing. Either way, do not trust what follows.
                reusable = false;
            }
        } else if (contentLengthCount > 0) {
            out.upstreamBody = BodyKind.LENGTH;
            out.contentLength = contentLength;
        } else {
            out.upstreamBody = BodyKind.UNTIL_CLOSE;
            out.contentLength = -1;
            reusable = false;
        }
        out.upstreamReusable = reusable;

        boolean closeClient = !clientKeepAlive && !clientHttp2;
        switch (out.upstreamBody) {
            case CHUNKED:
            case UNTIL_CLOSE:
                if (clientHttp10) {
                    out.clientBody = BodyKind.UNTIL_CLOSE;
                    closeClient = true;
                } else {
                    out.clientBody = BodyKind.CHUNKED;
                }
                break;
            default:
                out.clientBody = out.upstreamBody;
                break;
        }
        out.closeClient = closeClient && !out.interim;

        boolean addVary = false;
        if (mayCompress && contentTypeField >= 0 && out.upstreamBody != BodyKind.NONE
                && (out.upstreamBody != BodyKind.LENGTH || (contentLength > 0 && contentLength >= gzip.minLength()))
                && gzip.compresses(b, fl.valueStart(contentTypeField), fl.valueEnd(contentTypeField))) {
            // A response of this pool that varies by Accept-Encoding, compressed or not (RFC 9110 section 12.5.5).
            addVary = !varyCovers;
            if (gzip.accepted() && !clientHttp10 && gzip.admit()) {
                out.gzip = true;
                out.clientBody = BodyKind.CHUNKED; // the compressed length is known only at the end
                if (etagField >= 0 && fl.valueLength(etagField) > 0 && b[fl.valueStart(etagField)] != 'W') {
                    fl.kinds[etagField] = DROP; // made weak below
                } else {
                    etagField = -1;
                }
                for (int fi = 0; fi < count; fi++) {
                    if (fl.nameLength(fi) == ACCEPT_RANGES.length && fl.nameIs(b, fi, ACCEPT_RANGES)) {
                        // Ranges of the backend's bytes are not ranges of these: a client must not resume into
                        // them (nginx drops it too).
                        fl.kinds[fi] = DROP;
                    }
                }
            }
        }

        if (clientHttp2) {
            out.clientHead = null;
            out.http2Headers = Http2Fields.responseHead(status, b, fl, count,
                    !out.interim && out.clientBody == BodyKind.LENGTH ? contentLength : -1, http2Fields);
            if (extraField != null && !out.interim) {
                Http2Fields.addFieldLine(out.http2Headers, extraField);
            }
            if (out.gzip) {
                Http2Fields.addFieldLine(out.http2Headers, H_CONTENT_ENCODING_GZIP);
                if (etagField >= 0) {
                    Http2Fields.addFieldLine(out.http2Headers, weakEtag(b, fl, etagField));
                }
            }
            if (addVary) {
                Http2Fields.addFieldLine(out.http2Headers, H_VARY_ACCEPT_ENCODING);
            }
            return OK;
        }
        out.http2Headers = null;
        HeadBuilder head = this.head.reset(headLength + 64 + (extraField == null ? 0 : extraField.length));
        head.put(HTTP_1_1_SP).put(b, 9, cr - 9);
        if (cr == 12) {
            head.put(SP); // status-line requires the SP even when the reason phrase is empty
        }
        head.put(CRLF);
        for (int fi = 0; fi < count; fi++) {
            if (fl.kinds[fi] == DROP) {
                continue;
            }
            head.put(b, fl.nameStart(fi), fl.nameLength(fi)).put(COLON_SP);
            head.put(b, fl.valueStart(fi), fl.valueLength(fi)).put(CRLF);
        }
        if (!out.interim) {
            if (extraField != null) {
                head.put(extraField);
            }
            if (out.gzip) {
                head.put(H_CONTENT_ENCODING_GZIP);
                if (etagField >= 0) {
                    head.put(weakEtag(b, fl, etagField));
                }
            }
            if (addVary) {
                head.put(H_VARY_ACCEPT_ENCODING);
            }
            if (out.clientBody == BodyKind.LENGTH) {
                head.put(H_CONTENT_LENGTH);
                head.putDecimal(contentLength);
                head.put(CRLF);
            } else if (out.clientBody == BodyKind.CHUNKED) {
                head.put(H_CHUNKED);
            }
            if (out.closeClient) {
                head.put(H_CLOSE);
            } else if (clientHttp10) {
                head.put(H_KEEP_ALIVE);
            }
        }
        head.put(CRLF);
        boolean smallBody = !out.interim && out.clientBody == BodyKind.LENGTH && out.contentLength > 0
                && out.contentLength <= BODY_IN_HEAD_MAX;
        out.clientHead = head.toBuffer(alloc, smallBody ? (int) out.contentLength : 0);
        return OK;
    }

    /** The field line {@code ETag: W/<the tag of field fi>} with its CRLF. */
    private static byte[] weakEtag(byte[] b, FieldLines fl, int fi) {
        int length = fl.valueLength(fi);
        byte[] line = new byte[H_ETAG_WEAK.length + length + 2];
        System.arraycopy(H_ETAG_WEAK, 0, line, 0, H_ETAG_WEAK.length);
        System.arraycopy(b, fl.valueStart(fi), line, H_ETAG_WEAK.length, length);
        line[line.length - 2] = CR;
        line[line.length - 1] = '\n';
        return line;
    }

    /**
     * Whether the list {@code b[from, to)} (comma-separated, with optional whitespace) has the member {@code lower}
     * (lower-case ASCII), in any case.
     */
    private static boolean hasListMember(byte[] b, int from, int to, byte[] lower) {
        int i = from;
        while (i < to) {
            while (i < to && (b[i] == ' ' || b[i] == '\t' || b[i] == ',')) {
                i++;
            }
            int start = i;
            while (i < to && b[i] != ',') {
                i++;
            }
            int end = i;
            while (end > start && (b[end - 1] == ' ' || b[end - 1] == '\t')) {
                end--;
            }
            if (HttpChars.equalsLower(b, start, end - start, lower)) {
                return true;
            }
        }
        return false;
    }

    /** Whether the Set-Cookie value {@code b[from, to)} sets cookie {@code name} (whitespace around it ignored). */
    private static boolean setsCookie(byte[] b, int from, int to, byte[] name) {
        while (from < to && HttpChars.isOws(b[from])) {
            from++;
        }
        if (to - from <= name.length || !Arrays.equals(b, from, from + name.length, name, 0, name.length)) {
            return false;
        }
        int i = from + name.length;
        while (i < to && HttpChars.isOws(b[i])) {
            i++;
        }
        return i < to && b[i] == '=';
    }
}
