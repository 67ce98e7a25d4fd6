package io.grapevine.proxy.http;

import io.netty.buffer.ByteBuf;

/**
 * Finds the end of a message head (start line + field lines + empty line) in a cumulation buffer,
 * incrementally: bytes already scanned are not scanned again when more arrive, so a client that
 * sends its head one byte at a time costs linear, not quadratic, work.
 *
 * <p>It only locates line ends and enforces the size limits; the lines themselves are validated by
 * {@link RequestHeadParser} / {@link ResponseHeadParser} once the head is complete. One exception: a
 * request whose first byte cannot begin a request-line is refused at once, not after the header timeout. Not thread-safe:
 * one instance per connection, used on its event loop.
 */
public final class HeadScanner {

    /** {@link #scan} result: the head is not complete yet. */
    public static final int NEED_MORE = 0;
    /** RFC 9112 section 2.2: empty lines before a request-line are ignored, up to this many. */
    private static final int MAX_LEADING_EMPTY_LINES = 4;

    private final int maxStartLine;
    private final int maxFieldBytes;
    private final boolean skipLeadingEmptyLines;
    private final int startLineTooLong;
    private final int headTooLarge;

    private int scanFrom;
    private int lineStart;
    private int startLineEnd = -1;
    /** Empty lines skipped before this head, over all calls (the limit must not depend on how bytes arrive). */
    private int leadingEmpty;

    /**
     * @param maxStartLine          start-line limit in bytes, its CRLF not counted (request line: 414 beyond)
     * @param maxFieldBytes         limit of all field lines together, their CRLFs counted, the final empty
     *                              line not (431 beyond)
     * @param skipLeadingEmptyLines true for requests (RFC 9112 section 2.2)
     * @param startLineTooLong      status reported when the start line is too long
     * @param headTooLarge          status reported when the field lines are too large
     */
    public HeadScanner(int maxStartLine, int maxFieldBytes, boolean skipLeadingEmptyLines, int startLineTooLong,
                       int headTooLarge) {
        this.maxStartLine = maxStartLine;
        this.maxFieldBytes = maxFieldBytes;
        this.skipLeadingEmptyLines = skipLeadingEmptyLines;
        this.startLineTooLong = startLineTooLong;
        this.headTooLarge = headTooLarge;
    }

    /**
     * Scans the readable bytes of {@code buf} (it may skip leading empty lines by advancing the reader index).
     *
     * @return the length of the complete head from the reader index (including the final empty line),
     *         {@link #NEED_MORE}, or a negative HTTP status ({@code -414}, {@code -431}, {@code -400})
     */
    public int scan(ByteBuf buf) {
        for (;;) {
            int base = buf.readerIndex();
            int avail = buf.readableBytes();
            if (startLineEnd < 0 && skipLeadingEmptyLines && avail > lineStart
                    && !mayStartRequest(buf.getByte(base + lineStart))) {
                return -400; // no request-line starts so (a TLS ClientHello, say): waiting for more would not help
            }
            int lf = buf.indexOf(base + scanFrom, base + avail, HttpChars.LF);
            if (lf < 0) {
                scanFrom = avail;
                // A partial line is over a limit only if no line end can bring it back: its last byte may be
                // the CR of an uncounted CRLF (of the start line, or of the final empty line).
                if (startLineEnd < 0) {
                    return avail - lineStart > maxStartLine + 1 ? -startLineTooLong : NEED_MORE;
                }
                return avail - startLineEnd - 1 > maxFieldBytes + 1 ? -headTooLarge : NEED_MORE;
            }
            int p = lf - base;
            int lineLength = p - lineStart;
            boolean empty = lineLength == 0 || (lineLength == 1 && buf.getByte(lf - 1) == HttpChars.CR);
            if (startLineEnd < 0) {
                if (empty && skipLeadingEmptyLines && lineStart == 0) {
                    if (++leadingEmpty > MAX_LEADING_EMPTY_LINES) {
                        return -400;
                    }
                    buf.skipBytes(p + 1);
                    scanFrom = 0;
                    continue;
                }
                if (empty) {
                    return -400;
                }
                if (lineLength > maxStartLine + 1) {
                    return -startLineTooLong;
                }
                startLineEnd = p;
            } else {
                if (empty) {
                    reset();
                    return p + 1;
                }
                if (p - startLineEnd > maxFieldBytes) {
                    return -headTooLarge;
                }
            }
            lineStart = p + 1;
            scanFrom = p + 1;
        }
    }

    /** Whether a request's first line may begin with {@code b}: a method's first character, or an empty line's. */
    private static boolean mayStartRequest(byte b) {
        return b == HttpChars.CR || b == HttpChars.LF || HttpChars.isTchar(b);
    }

    /** Forgets a partial scan (after a complete head, or when the buffer was discarded). */
    public void reset() {
        scanFrom = 0;
        lineStart = 0;
        startLineEnd = -1;
        leadingEmpty = 0;
    }
}
