package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Runs raw bytes through {@link HeadScanner} and a head parser the way the connection handlers do. */
final class Wire {

    static final String CLIENT = "192.0.2.7";
    static final int MAX_REQUEST_LINE = 8192;
    static final int MAX_FIELD_BYTES = 16384;
    static final int MAX_FIELDS = 100;
    /** {@link HeadScanner#scan} kept answering {@link HeadScanner#NEED_MORE}: not a status. */
    static final int INCOMPLETE = -1;

    private static final Pattern GENERATED_ID = Pattern.compile("\r\nX-Request-ID: ([0-9a-f]{32})\r\n");

    private Wire() {
    }

    /** The outcome of one request head: {@code status} 0 means forwarded, with {@code upstream} its bytes. */
    record Request(int status, String upstream, RequestHead head) {

        /** The forwarded head with its generated X-Request-ID (asserted: 32 hex digits) replaced by {@code <id>}. */
        String upstreamWithIdPlaceholder() {
            Matcher m = GENERATED_ID.matcher(upstream);
            assertTrue(m.find(), () -> "no generated X-Request-ID in:\n" + upstream);
            return upstream.substring(0, m.start(1)) + "<id>" + upstream.substring(m.end(1));
        }
    }

    static Request request(LeakCheck leaks, String raw) {
        return request(leaks, raw, new RequestHeadParser(MAX_FIELDS, true, new RequestIdGenerator()),
                new HeadScanner(MAX_REQUEST_LINE, MAX_FIELD_BYTES, true, 414, 431));
    }

    /**
     * Scans and parses {@code raw} (ISO-8859-1) in one piece. A rejected head must leave no forwarded head
     * behind; every buffer is released before returning.
     */
    static Request request(LeakCheck leaks, String raw, RequestHeadParser parser, HeadScanner scanner) {
        ByteBuf in = leaks.buf(raw);
        try {
            int length = scanner.scan(in);
            if (length == HeadScanner.NEED_MORE) {
                return new Request(INCOMPLETE, null, null);
            }
            if (length < 0) {
                return new Request(-length, null, null);
            }
            int readerIndex = in.readerIndex();
            RequestHead head = new RequestHead();
            int status = parser.parse(in, length, LeakCheck.bytes(CLIENT), head, leaks.alloc());
            assertEquals(readerIndex, in.readerIndex(), "parse must not move the reader index");
            if (status != RequestHeadParser.OK) {
                assertNull(head.upstreamHead, "a rejected request produced a forwarded head");
                return new Request(status, null, head);
            }
            String upstream = LeakCheck.take(head.upstreamHead);
            head.upstreamHead = null;
            return new Request(0, upstream, head);
        } finally {
            in.release();
        }
    }

    /** The outcome of one response head: {@code status} 0 means accepted, with {@code client} the client head. */
    record Response(int status, String client, ResponseHead head) {
    }

    static Response response(LeakCheck leaks, String raw, boolean requestWasHead, boolean clientHttp10,
                             boolean clientKeepAlive) {
        return response(leaks, raw, requestWasHead, clientHttp10, clientKeepAlive, new ResponseHeadParser(MAX_FIELDS));
    }

    static Response response(LeakCheck leaks, String raw, boolean requestWasHead, boolean clientHttp10,
                             boolean clientKeepAlive, ResponseHeadParser parser) {
        return response(leaks, raw, requestWasHead, null, clientHttp10, clientKeepAlive, parser);
    }

    /** The answer to a request that offered to switch to WebSocket ({@link RequestHead#upgradeProtocols}). */
    static Response upgradeResponse(LeakCheck leaks, String raw) {
        return upgradeResponse(leaks, raw, "websocket");
    }

    /** The answer to a request that offered to switch to {@code offer} ({@link RequestHead#upgradeProtocols}). */
    static Response upgradeResponse(LeakCheck leaks, String raw, String offer) {
        return response(leaks, raw, false, offer.getBytes(StandardCharsets.US_ASCII), false, true,
                new ResponseHeadParser(MAX_FIELDS));
    }

    static Response response(LeakCheck leaks, String raw, boolean requestWasHead, byte[] upgradeOffer,
                             boolean clientHttp10, boolean clientKeepAlive, ResponseHeadParser parser) {
        return response(leaks, raw, requestWasHead, upgradeOffer, clientHttp10, clientKeepAlive, null, parser);
    }

    /** As above, with one more field line for the client's head ({@code extraField}, may be null). */
    static Response response(LeakCheck leaks, String raw, boolean requestWasHead, byte[] upgradeOffer,
                             boolean clientHttp10, boolean clientKeepAlive, byte[] extraField,
                             ResponseHeadParser parser) {
        ByteBuf in = leaks.buf(raw);
        try {
            HeadScanner scanner = new HeadScanner(MAX_FIELD_BYTES, MAX_FIELD_BYTES, false, 502, 502);
            int length = scanner.scan(in);
            if (length == HeadScanner.NEED_MORE) {
                return new Response(INCOMPLETE, null, null);
            }
            if (length < 0) {
                return new Response(-length, null, null);
            }
            ResponseHead head = new ResponseHead();
            int status = parser.parse(in, length, requestWasHead, upgradeOffer, clientHttp10, clientKeepAlive, extraField, head,
                    leaks.alloc());
            if (status != ResponseHeadParser.OK) {
                assertNull(head.clientHead, "a rejected response produced a client head");
                return new Response(status, null, head);
            }
            String client = LeakCheck.take(head.clientHead);
            head.clientHead = null;
            return new Response(0, client, head);
        } finally {
            in.release();
        }
    }
}
