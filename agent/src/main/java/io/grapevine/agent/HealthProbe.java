package io.grapevine.agent;

import io.grapevine.cluster.HostAndPort;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * One HTTP/1.1 {@code GET} of the backend's health path over a fresh connection; a status of 2xx or
 * 3xx counts as healthy. Only the status line is read, then the connection is closed.
 *
 * <p>A plain socket rather than the JDK's HttpClient: the probe needs nothing that client offers, and
 * its first request in a new JVM costs most of a second (selector thread, SSL context), which the
 * agent's start and so a backend's first announcement would wait for.
 */
final class HealthProbe {

    /** The outcome of a probe, with a short reason for the log. */
    record Result(boolean healthy, String detail) {
    }

    /** Longest status line read; anything longer is not HTTP. */
    private static final int MAX_STATUS_LINE = 256;

    private final HostAndPort target;
    private final String path;
    private final URI uri;
    private final int timeoutMillis;

    HealthProbe(HostAndPort target, String path, Duration timeout) {
        this.target = target;
        this.path = path;
        this.uri = URI.create("http://" + target + path);
        this.timeoutMillis = Math.toIntExact(timeout.toMillis());
    }

    URI uri() {
        return uri;
    }

    /** Probes once; the whole exchange (connect, send, status line) is bounded by the timeout. */
    Result check() {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        try (Socket socket = new Socket()) {
            try {
                socket.connect(new InetSocketAddress(target.host(), target.port()), timeoutMillis);
            } catch (SocketTimeoutException e) {
                return new Result(false, "connect timed out after " + timeoutMillis + " ms");
            } catch (ConnectException e) {
                return new Result(false, "connection refused");
            }
            socket.setTcpNoDelay(true);
            String request = "GET " + path + " HTTP/1.1\r\nHost: " + target + "\r\nUser-Agent: grapevine-agent\r\n"
                    + "Connection: close\r\n\r\n";
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            String statusLine = readStatusLine(socket, deadline);
            if (statusLine == null) {
                return new Result(false, "no response within " + timeoutMillis + " ms");
            }
            if (!statusLine.matches("HTTP/1\\.[01] [0-9]{3}( .*)?")) {
                return new Result(false, "not an HTTP response: " + quote(statusLine));
            }
            int status = Integer.parseInt(statusLine.substring(9, 12));
            return new Result(status >= 200 && status < 400, "HTTP " + status);
        } catch (IOException e) {
            return new Result(false, e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        }
    }

    /**
     * The status line without its CRLF, or null when it did not arrive before the deadline. Reads whatever
     * has arrived, a buffer at a time (one system call for a whole status line, not one per byte); bytes
     * after the line feed are not looked at.
     */
    private static String readStatusLine(Socket socket, long deadline) throws IOException {
        InputStream in = socket.getInputStream();
        byte[] line = new byte[MAX_STATUS_LINE + 2];
        int length = 0;
        while (true) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                return null;
            }
            socket.setSoTimeout((int) left);
            int n;
            try {
                n = in.read(line, length, line.length - length);
            } catch (SocketTimeoutException e) {
                return null;
            }
            if (n < 0) {
                throw new IOException(length == 0 ? "connection closed without a response"
                        : "connection closed in the status line");
            }
            for (int i = length; i < length + n; i++) {
                if (line[i] == '\n') {
                    int end = i > 0 && line[i - 1] == '\r' ? i - 1 : i;
                    return new String(line, 0, Math.min(end, MAX_STATUS_LINE), StandardCharsets.ISO_8859_1);
                }
            }
            length += n;
            if (length >= MAX_STATUS_LINE) {
                return new String(line, 0, MAX_STATUS_LINE, StandardCharsets.ISO_8859_1);
            }
        }
    }

    private static String quote(String s) {
        String shown = s.length() > 40 ? s.substring(0, 40) + "..." : s;
        return "'" + shown.replaceAll("\\p{Cntrl}", "?") + "'";
    }
}
