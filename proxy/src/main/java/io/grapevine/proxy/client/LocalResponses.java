package io.grapevine.proxy.client;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/** Responses the proxy writes itself (errors). Rare path: built on demand. */
final class LocalResponses {

    private static final DateTimeFormatter IMF_FIXDATE =
            DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.US).withZone(ZoneOffset.UTC);
    /** The last second's {@code Date}; replaced whole, so a reader sees a second and its text together. */
    private static volatile DateLine lastDate = new DateLine(-1, "");

    private record DateLine(long second, String text) {
    }

    private LocalResponses() {
    }

    static String reason(int status) {
        return switch (status) {
            case 301 -> "Moved Permanently";
            case 308 -> "Permanent Redirect";
            case 400 -> "Bad Request";
            case 408 -> "Request Timeout";
            case 414 -> "URI Too Long";
            case 429 -> "Too Many Requests";
            case 431 -> "Request Header Fields Too Large";
            case 501 -> "Not Implemented";
            case 502 -> "Bad Gateway";
            case 503 -> "Service Unavailable";
            case 504 -> "Gateway Timeout";
            case 505 -> "HTTP Version Not Supported";
            default -> "Error";
        };
    }

    /**
     * The {@code Date} of a response made now, in IMF-fixdate ({@code Sun, 06 Nov 1994 08:49:37 GMT}, RFC 9110
     * section 5.6.7): the proxy is the origin of the responses it makes, and an origin with a clock must date its
     * 2xx, 3xx and 4xx (section 6.6.1). Formatted once a second at most; any thread (a race formats it twice).
     */
    static String date() {
        long second = System.currentTimeMillis() / 1000;
        DateLine line = lastDate;
        if (line.second != second) {
            line = new DateLine(second, IMF_FIXDATE.format(Instant.ofEpochSecond(second)));
            lastDate = line;
        }
        return line.text;
    }


    static String body(int status) {
        return switch (status) {
            case 400 -> "The request is malformed or ambiguous.\n";
            case 408 -> "The request did not arrive in time.\n"; // its head, or the rest of its body
            case 414 -> "The request line is too long.\n";
            case 429 -> "Too many requests; try again later.\n";
            case 431 -> "The request header fields are too large.\n";
            case 501 -> "This method or transfer coding is not implemented by the proxy.\n";
            case 502 -> "The backend server failed or sent an invalid response.\n";
            case 503 -> "No backend server is available.\n";
            case 504 -> "The backend server did not answer in time.\n";
            case 505 -> "Only HTTP/1.0 and HTTP/1.1 are supported.\n";
            default -> "Error.\n";
        };
    }

    /** The body of a 503 with Retry-After: the servers are there, but busy (a full queue, or a wait too long). */
    static String body(int status, long retryAfterSeconds) {
        return status == 503 && retryAfterSeconds > 0 ? "All backend servers are busy; try again later.\n" : body(status);
    }

    /** The body of a redirect to {@code location}. */
    static String redirectBody(String location) {
        return "Moved to " + location + "\n";
    }

    /**
     * @param keepAlive the connection stays open afterwards
     * @param http10    the client spoke HTTP/1.0 (then keep-alive must be announced)
     * @param headOnly  the request was HEAD: no body
     * @param retryAfterSeconds a {@code Retry-After} field when above 0
     * @param location  a redirect's {@code Location} (an absolute URI of visible ASCII), or {@code null}
     */
    static ByteBuf build(ByteBufAllocator alloc, int status, boolean keepAlive, boolean http10, boolean headOnly,
                         long retryAfterSeconds, String location) {
        String body = location != null ? redirectBody(location) : body(status, retryAfterSeconds);
        StringBuilder sb = new StringBuilder(160 + body.length());
        sb.append("HTTP/1.1 ").append(status).append(' ').append(reason(status)).append("\r\n")
                .append("Content-Type: text/plain; charset=utf-8\r\n")
                .append("Content-Length: ").append(body.length()).append("\r\n")
                .append("Cache-Control: no-store\r\n")
                .append("Date: ").append(date()).append("\r\n");
        if (retryAfterSeconds > 0) {
            sb.append("Retry-After: ").append(retryAfterSeconds).append("\r\n");
        }
        if (location != null) {
            sb.append("Location: ").append(location).append("\r\n");
        }
        if (!keepAlive) {
            sb.append("Connection: close\r\n");
        } else if (http10) {
            sb.append("Connection: keep-alive\r\n");
        }
        sb.append("\r\n");
        if (!headOnly) {
            sb.append(body);
        }
        byte[] bytes = sb.toString().getBytes(StandardCharsets.US_ASCII);
        return alloc.directBuffer(bytes.length).writeBytes(bytes);
    }
}
