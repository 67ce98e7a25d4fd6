package io.grapevine.proxy.accesslog;

import io.grapevine.proxy.config.AccessLogConfig;
import io.grapevine.proxy.forward.Exchange;
import io.grapevine.proxy.http.RequestHead;
import io.grapevine.proxy.table.Server;
import io.netty.buffer.ByteBuf;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.Locale;

/**
 * Turns one finished exchange into one access log line, in bytes. One instance per event loop, used only
 * there: the line is assembled in a reusable array, so a line costs one allocation (the copy handed to the
 * writer). The request line, Host, Referer, User-Agent and X-Request-ID are read from the canonical
 * upstream head, copied once into a reusable array; the timestamp text is cached per second, the client's
 * address text per address object (one per client connection).
 *
 * <p>Layouts (docs/operations.md, "Access log"):
 * <pre>
 * combined: CLIENT - - [10/Oct/2000:13:55:36 -0700] "METHOD TARGET PROTOCOL" STATUS BYTES_OUT "REFERER" "USER_AGENT"
 *           host="HOST" pool=POOL server=SERVER bytes_in=N time_ms=T upstream_ms=U request_id="ID" retries=N
 * json:     {"time":"2000-10-10T13:55:36.123-07:00","client":...,"method":...,"target":...,"protocol":...,
 *            "status":...,"bytes_in":...,"bytes_out":...,"host":...,"referer":...,"user_agent":...,"pool":...,
 *            "server":...,"time_ms":...,"upstream_ms":...,"request_id":...,"retries":...}
 * </pre>
 * Absent values are {@code -} in combined and {@code null} in JSON. Quoted text in combined escapes
 * {@code "} and {@code \} with a backslash and other bytes outside printable ASCII as {@code \xhh}, as
 * Apache does; JSON strings write well-formed UTF-8 as the characters it encodes and escape other bytes
 * outside printable ASCII as <code>&#92;u00hh</code>, so that every line is ASCII.
 */
final class LineFormatter {

    private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] HOST = "host".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] REFERER = "referer".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] USER_AGENT = "user-agent".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] REQUEST_ID = "x-request-id".getBytes(StandardCharsets.US_ASCII);
    private static final DateTimeFormatter APACHE_TIME =
            DateTimeFormatter.ofPattern("'['dd/MMM/yyyy:HH:mm:ss Z']'", Locale.ENGLISH);
    private static final DateTimeFormatter ISO_SECOND = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss", Locale.ROOT);
    private static final DateTimeFormatter ISO_OFFSET = DateTimeFormatter.ofPattern("xxx", Locale.ROOT);

    /** The status logged for an exchange whose client left before any response: nginx's 499. */
    static final int CLIENT_CLOSED = 499;

    private final ZoneId zone;
    private byte[] out = new byte[1024];
    private int n;

    /** The upstream head's bytes, and where its parts are in them ({@code -1}: absent). */
    private byte[] head = new byte[1024];
    private int methodStart;
    private int methodEnd;
    private int targetStart = -1;
    private int targetEnd;
    private int hostStart = -1;
    private int hostEnd;
    private int refererStart = -1;
    private int refererEnd;
    private int userAgentStart = -1;
    private int userAgentEnd;
    private int requestIdStart = -1;
    private int requestIdEnd;

    private long cachedSecond = Long.MIN_VALUE;
    private byte[] apacheTime;
    private byte[] isoSecond;
    private byte[] isoOffset;

    private InetAddress cachedClient;
    private byte[] cachedClientText;

    LineFormatter(ZoneId zone) {
        this.zone = zone;
    }

    /**
     * The line of {@code ex}, ending with a newline.
     *
     * @param nowMillis {@link System#currentTimeMillis()} and {@code nowNanos} {@link System#nanoTime()} now,
     *                  to place the exchange's start on the wall clock
     */
    byte[] format(Exchange ex, AccessLogConfig.Format format, long nowMillis, long nowNanos) {
        n = 0;
        readHead(ex.request());
        long startMillis = nowMillis - (nowNanos - ex.startNanos()) / 1_000_000;
        if (format == AccessLogConfig.Format.JSON) {
            json(ex, startMillis);
        } else {
            combined(ex, startMillis);
        }
        put((byte) '\n');
        return Arrays.copyOf(out, n);
    }

    // ---------------------------------------------------------------- layouts

    private void combined(Exchange ex, long startMillis) {
        client(ex, false);
        put(" - - ");
        time(startMillis);
        put(apacheTime);
        put(" \"");
        headText(methodStart, methodEnd, false);
        put(' ');
        headText(targetStart, targetEnd, false);
        put(' ');
        put(protocol(ex));
        put("\" ");
        number(status(ex));
        put(' ');
        number(ex.responseBodyBytes());
        put(" \"");
        headText(refererStart, refererEnd, false);
        put("\" \"");
        headText(userAgentStart, userAgentEnd, false);
        put("\" host=\"");
        headText(hostStart, hostEnd, false);
        put("\" pool=");
        text(ex.poolName(), false);
        put(" server=");
        Server server = ex.server();
        text(server == null ? null : server.name(), false);
        put(" bytes_in=");
        number(ex.requestBodyBytes());
        put(" time_ms=");
        millis(ex.endNanos() - ex.startNanos());
        put(" upstream_ms=");
        upstreamMillis(ex, false);
        put(" request_id=\"");
        headText(requestIdStart, requestIdEnd, false);
        put("\" retries=");
        number(ex.retries());
    }

    private void json(Exchange ex, long startMillis) {
        time(startMillis);
        put("{\"time\":\"");
        put(isoSecond);
        put('.');
        int ms = (int) Math.floorMod(startMillis, 1000L);
        put((byte) ('0' + ms / 100));
        put((byte) ('0' + ms / 10 % 10));
        put((byte) ('0' + ms % 10));
        put(isoOffset);
        put("\",\"client\":");
        client(ex, true);
        put(",\"method\":");
        jsonHeadText(methodStart, methodEnd);
        put(",\"target\":");
        jsonHeadText(targetStart, targetEnd);
        put(",\"protocol\":\"");
        put(protocol(ex));
        put("\",\"status\":");
        number(status(ex));
        put(",\"bytes_in\":");
        number(ex.requestBodyBytes());
        put(",\"bytes_out\":");
        number(ex.responseBodyBytes());
        put(",\"host\":");
        jsonHeadText(hostStart, hostEnd);
        put(",\"referer\":");
        jsonHeadText(refererStart, refererEnd);
        put(",\"user_agent\":");
        jsonHeadText(userAgentStart, userAgentEnd);
        put(",\"pool\":");
        text(ex.poolName(), true);
        put(",\"server\":");
        Server server = ex.server();
        text(server == null ? null : server.name(), true);
        put(",\"time_ms\":");
        millis(ex.endNanos() - ex.startNanos());
        put(",\"upstream_ms\":");
        upstreamMillis(ex, true);
        put(",\"request_id\":");
        jsonHeadText(requestIdStart, requestIdEnd);
        put(",\"retries\":");
        number(ex.retries());
        put('}');
    }

    // ---------------------------------------------------------------- fields

    private static int status(Exchange ex) {
        return ex.status() == 0 ? CLIENT_CLOSED : ex.status();
    }

    private static String protocol(Exchange ex) {
        return switch (ex.clientStream().protocol()) {
            case HTTP_1_0 -> "HTTP/1.0";
            case HTTP_1_1 -> "HTTP/1.1";
            case HTTP_2 -> "HTTP/2.0";
        };
    }

    /**
     * From the start of the last attempt (connect included) to the response head, or to the proxy's own
     * answer when that attempt failed; absent when no server was tried or nothing was answered.
     */
    private void upstreamMillis(Exchange ex, boolean json) {
        long attempt = ex.lastAttemptNanos();
        long response = ex.responseNanos();
        if (attempt == 0 || response == 0 || ex.server() == null) {
            put(json ? "null" : "-");
        } else {
            millis(response - attempt);
        }
    }

    private void client(Exchange ex, boolean json) {
        InetSocketAddress a = ex.clientStream().clientAddress();
        InetAddress ip = a == null ? null : a.getAddress();
        if (ip == null) {
            put(json ? "null" : "-");
            return;
        }
        if (ip != cachedClient) {
            cachedClient = ip;
            cachedClientText = NetUtil.toAddressString(ip).getBytes(StandardCharsets.US_ASCII);
        }
        if (json) {
            put('"');
            put(cachedClientText);
            put('"');
        } else {
            put(cachedClientText);
        }
    }

    /** Fills the time caches for the second of {@code millis}. */
    private void time(long millis) {
        long second = Math.floorDiv(millis, 1000L);
        if (second != cachedSecond) {
            cachedSecond = second;
            ZonedDateTime t = Instant.ofEpochSecond(second).atZone(zone);
            apacheTime = APACHE_TIME.format(t).getBytes(StandardCharsets.US_ASCII);
            isoSecond = ISO_SECOND.format(t).getBytes(StandardCharsets.US_ASCII);
            isoOffset = ISO_OFFSET.format(t).getBytes(StandardCharsets.US_ASCII);
        }
    }

    // ---------------------------------------------------------------- the upstream head

    private void readHead(RequestHead request) {
        ByteBuf upstream = request.upstreamHead;
        targetStart = hostStart = refererStart = userAgentStart = requestIdStart = -1;
        if (upstream == null) {
            byte[] method = request.method == null ? new byte[0] : request.method.getBytes(StandardCharsets.US_ASCII);
            head = method.length <= head.length ? head : new byte[method.length];
            System.arraycopy(method, 0, head, 0, method.length);
            methodStart = 0;
            methodEnd = method.length;
            return;
        }
        int length = upstream.writerIndex(); // from index 0: the reader index is the transport's (RequestHead)
        if (head.length < length) {
            head = new byte[Math.max(length, head.length * 2)];
        }
        upstream.getBytes(0, head, 0, length);
        byte[] h = head;
        // request-line = method SP request-target SP HTTP-version CRLF, as RequestHeadParser wrote it
        int lineEnd = indexOf(h, (byte) '\r', 0, length);
        methodStart = 0;
        methodEnd = indexOf(h, (byte) ' ', 0, lineEnd);
        int versionStart = lastIndexOf(h, (byte) ' ', lineEnd);
        if (methodEnd < versionStart) {
            targetStart = methodEnd + 1;
            targetEnd = versionStart;
        }
        int i = lineEnd + 2;
        while (i < length) {
            int end = indexOf(h, (byte) '\r', i, length);
            if (end == i) {
                break; // the empty line ending the head
            }
            int colon = indexOf(h, (byte) ':', i, end);
            int v = colon + 1;
            while (v < end && (h[v] == ' ' || h[v] == '\t')) {
                v++;
            }
            int ve = end;
            while (ve > v && (h[ve - 1] == ' ' || h[ve - 1] == '\t')) {
                ve--;
            }
            if (nameIs(h, i, colon, HOST)) {
                hostStart = v;
                hostEnd = ve;
            } else if (nameIs(h, i, colon, REFERER)) {
                refererStart = v;
                refererEnd = ve;
            } else if (nameIs(h, i, colon, USER_AGENT)) {
                userAgentStart = v;
                userAgentEnd = ve;
            } else if (nameIs(h, i, colon, REQUEST_ID)) {
                requestIdStart = v;
                requestIdEnd = ve;
            }
            i = end + 2;
        }
    }

    private static boolean nameIs(byte[] h, int start, int end, byte[] lowerName) {
        if (end - start != lowerName.length) {
            return false;
        }
        for (int k = 0; k < lowerName.length; k++) {
            int c = h[start + k];
            if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != lowerName[k]) {
                return false;
            }
        }
        return true;
    }

    private static int indexOf(byte[] b, byte c, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == c) {
                return i;
            }
        }
        return to;
    }

    private static int lastIndexOf(byte[] b, byte c, int before) {
        for (int i = before - 1; i >= 0; i--) {
            if (b[i] == c) {
                return i;
            }
        }
        return -1;
    }

    // ---------------------------------------------------------------- output

    /**
     * Part of the head as quoted-string content ({@code -} / {@code null} when absent). In JSON, a well-formed
     * UTF-8 sequence is the character it encodes, written as <code>&#92;uXXXX</code> (two for a character beyond
     * U+FFFF), so that a JSON reader gets the text the client sent and the line stays ASCII; any other byte
     * outside printable ASCII is <code>&#92;u00hh</code>, the character of that byte in Latin-1.
     */
    private void headText(int start, int end, boolean json) {
        if (start < 0) {
            put(json ? "null" : "-");
            return;
        }
        for (int i = start; i < end; i++) {
            int c = head[i] & 0xff;
            int length = json && c >= 0x80 ? utf8Length(head, i, end) : 0;
            if (length == 0) {
                escaped(c, json);
                continue;
            }
            int codePoint = c & (0xff >> (length + 1));
            for (int k = 1; k < length; k++) {
                codePoint = codePoint << 6 | head[i + k] & 0x3f;
            }
            if (codePoint < 0x10000) {
                jsonEscape(codePoint);
            } else {
                jsonEscape(Character.highSurrogate(codePoint));
                jsonEscape(Character.lowSurrogate(codePoint));
            }
            i += length - 1;
        }
    }

    /**
     * The length of the well-formed UTF-8 sequence of two to four bytes at {@code b[i]} (RFC 3629 section 4: no
     * overlong form, no surrogate, nothing beyond U+10FFFF), within {@code end}; 0 if there is none there.
     */
    private static int utf8Length(byte[] b, int i, int end) {
        int lead = b[i] & 0xff;
        int length;
        int secondMin = 0x80;
        int secondMax = 0xbf;
        if (lead >= 0xc2 && lead <= 0xdf) {
            length = 2;
        } else if (lead >= 0xe0 && lead <= 0xef) {
            length = 3;
            secondMin = lead == 0xe0 ? 0xa0 : 0x80;
            secondMax = lead == 0xed ? 0x9f : 0xbf;
        } else if (lead >= 0xf0 && lead <= 0xf4) {
            length = 4;
            secondMin = lead == 0xf0 ? 0x90 : 0x80;
            secondMax = lead == 0xf4 ? 0x8f : 0xbf;
        } else {
            return 0;
        }
        if (i + length > end) {
            return 0;
        }
        int second = b[i + 1] & 0xff;
        if (second < secondMin || second > secondMax) {
            return 0;
        }
        for (int k = 2; k < length; k++) {
            int next = b[i + k] & 0xff;
            if (next < 0x80 || next > 0xbf) {
                return 0;
            }
        }
        return length;
    }

    /** <code>&#92;uXXXX</code> of one UTF-16 unit. */
    private void jsonEscape(int unit) {
        ensure(6);
        out[n++] = '\\';
        out[n++] = 'u';
        out[n++] = HEX[unit >> 12 & 0xf];
        out[n++] = HEX[unit >> 8 & 0xf];
        out[n++] = HEX[unit >> 4 & 0xf];
        out[n++] = HEX[unit & 0xf];
    }

    private void jsonHeadText(int start, int end) {
        if (start < 0) {
            put("null");
            return;
        }
        put('"');
        headText(start, end, true);
        put('"');
    }

    /** A name (pool, server): {@code -} / {@code null} when absent, quoted in JSON. */
    private void text(String s, boolean json) {
        if (s == null) {
            put(json ? "null" : "-");
            return;
        }
        if (json) {
            put('"');
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            escaped(c < 0x100 ? c : '?', json);
        }
        if (json) {
            put('"');
        }
    }

    private void escaped(int c, boolean json) {
        ensure(6);
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (byte) c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[n++] = (byte) c;
        } else if (json) {
            jsonEscape(c);
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = HEX[c >> 4];
            out[n++] = HEX[c & 0xf];
        }
    }

    /** {@code nanos} as milliseconds with three decimals: {@code 12.345}. */
    private void millis(long nanos) {
        long micros = Math.max(0, nanos) / 1000;
        number(micros / 1000);
        put('.');
        int frac = (int) (micros % 1000);
        put((byte) ('0' + frac / 100));
        put((byte) ('0' + frac / 10 % 10));
        put((byte) ('0' + frac % 10));
    }

    private void number(long v) {
        if (v < 0) {
            put('-');
            v = -v;
        }
        ensure(20);
        int start = n;
        do {
            out[n++] = (byte) ('0' + v % 10);
            v /= 10;
        } while (v != 0);
        for (int i = start, j = n - 1; i < j; i++, j--) {
            byte t = out[i];
            out[i] = out[j];
            out[j] = t;
        }
    }

    private void put(char c) {
        put((byte) c);
    }

    private void put(byte b) {
        ensure(1);
        out[n++] = b;
    }

    private void put(String ascii) {
        ensure(ascii.length());
        for (int i = 0; i < ascii.length(); i++) {
            out[n++] = (byte) ascii.charAt(i);
        }
    }

    private void put(byte[] bytes) {
        ensure(bytes.length);
        System.arraycopy(bytes, 0, out, n, bytes.length);
        n += bytes.length;
    }

    private void ensure(int more) {
        if (n + more > out.length) {
            out = Arrays.copyOf(out, Math.max(n + more, out.length * 2));
        }
    }
}
