package io.grapevine.agent;

import io.grapevine.cluster.BlockingCalls;
import io.grapevine.cluster.HostAndPort;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeoutException;

/**
 * One HTTP/1.1 {@code GET} of the backend's health path over a fresh connection; a final status of 2xx or
 * 3xx counts as healthy. Only the status line is read (and the fields of interim 1xx responses before it),
 * then the connection is closed.
 *
 * <p>A plain socket rather than the JDK's HttpClient: the probe needs nothing that client offers, and
 * its first request in a new JVM costs most of a second (selector thread, SSL context), which the
 * agent's start and so a backend's first announcement would wait for.
 */
final class HealthProbe {

    /** The outcome of a probe, with a short reason for the log. */
    record Result(boolean healthy, String detail) {
    }

    /** Looks a host name up ({@link InetAddress#getByName}, in tests a stand-in). May block. */
    interface Resolver {
        InetAddress resolve(String host) throws UnknownHostException, InterruptedException;
    }

    /** Runs the name lookups, which the JDK cannot bound in time, apart from the probe that waits for them. */
    private static final BlockingCalls LOOKUPS = new BlockingCalls("agent-probe-lookup");

    /** Longest status line read; anything longer is not HTTP. */
    private static final int MAX_STATUS_LINE = 256;

    private final HostAndPort target;
    private final String path;
    private final URI uri;
    private final int timeoutMillis;
    private final Resolver resolver;
    /** The target's name lookup still running from an earlier probe, or null; used by one probe at a time. */
    private Future<InetAddress> lookup;

    HealthProbe(HostAndPort target, String path, Duration timeout) {
        this(target, path, timeout, InetAddress::getByName);
    }

    HealthProbe(HostAndPort target, String path, Duration timeout, Resolver resolver) {
        this.resolver = resolver;
        this.target = target;
        this.path = path;
        this.uri = URI.create("http://" + target + path);
        this.timeoutMillis = Math.toIntExact(timeout.toMillis());
    }

    URI uri() {
        return uri;
    }

    /**
     * Probes once; the whole exchange (connect, send, status line) is bounded by the timeout. Interim responses
     * ({@code 100 Continue}, {@code 103 Early Hints}: 1xx but {@code 101}, RFC 9110 section 15.2) say nothing of
     * the backend's health: their fields are skipped and the final response's status decides.
     */
    Result check() {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        InetAddress address;
        try {
            address = resolve(deadline);
        } catch (TimeoutException e) {
            return new Result(false, "name lookup of " + target.host() + " took more than " + timeoutMillis + " ms");
        } catch (UnknownHostException e) {
            return new Result(false, "unknown host " + target.host());
        }
        try (Socket socket = new Socket()) {
            try {
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
                socket.connect(new InetSocketAddress(address, target.port()), (int) left);
            } catch (SocketTimeoutException e) {
                return new Result(false, "connect timed out after " + timeoutMillis + " ms");
            } catch (ConnectException e) {
                return new Result(false, "connection refused");
            }
            socket.setTcpNoDelay(true);
            String request = "GET " + path + " HTTP/1.1\r\nHost: " + target + "\r\nUser-Agent: grapevine-agent\r\n"
                    + "Connection: close\r\n\r\n";
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            HeadReader head = new HeadReader(socket, deadline);
            boolean first = true;
            while (true) {
                String statusLine = head.statusLine(first);
                if (statusLine == null) {
                    return new Result(false, "no response within " + timeoutMillis + " ms");
                }
                if (!statusLine.matches("HTTP/1\\.[01] [0-9]{3}( .*)?")) {
                    return new Result(false, "not an HTTP response: " + quote(statusLine));
                }
                int status = Integer.parseInt(statusLine.substring(9, 12));
                if (status >= 200 || status == 101) {
                    return new Result(status >= 200 && status < 400, "HTTP " + status);
                }
                if (!head.skipFields()) {
                    return new Result(false, "no response within " + timeoutMillis + " ms after HTTP " + status);
                }
                first = false;
            }
        } catch (IOException e) {
            return new Result(false, e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        }
    }

    /**
     * The target's address, by {@code deadline}. An IP literal needs no lookup. A name is looked up on another thread
     * (the JDK's lookup has no time limit of its own: a DNS server that does not answer holds it for the resolver's
     * timeouts, seconds); a lookup that outlives one probe is waited for by the next, never started twice.
     */
    private InetAddress resolve(long deadline) throws TimeoutException, UnknownHostException {
        String host = target.host();
        if (host.indexOf(':') >= 0 || host.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}")) {
            return InetAddress.getByName(host); // a literal: parsed, no lookup
        }
        if (lookup == null) {
            lookup = LOOKUPS.start(() -> resolver.resolve(host));
        }
        try {
            InetAddress address = BlockingCalls.await(lookup, deadline);
            lookup = null;
            return address;
        } catch (ExecutionException e) {
            lookup = null;
            throw e.getCause() instanceof UnknownHostException u ? u : new UnknownHostException(host + ": " + e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TimeoutException("interrupted");
        }
    }

    /**
     * The response head as it arrives: reads whatever has arrived, a buffer at a time (one system call for a
     * whole status line, not one per byte), each read bounded by what is left until the deadline.
     */
    private static final class HeadReader {
        private static final int TIMED_OUT = -1;

        private final Socket socket;
        private final InputStream in;
        private final long deadline;
        private final byte[] buffer = new byte[4096];
        private int position;
        private int limit;

        HeadReader(Socket socket, long deadline) throws IOException {
            this.socket = socket;
            this.in = socket.getInputStream();
            this.deadline = deadline;
        }

        /**
         * The next status line without its CRLF, at most {@link #MAX_STATUS_LINE} bytes of it (then without
         * waiting for its line feed), or null when it did not arrive before the deadline.
         *
         * @param first whether it is the response's first line (for the message when the connection closes)
         */
        String statusLine(boolean first) throws IOException {
            byte[] line = new byte[MAX_STATUS_LINE];
            int length = 0;
            while (length < MAX_STATUS_LINE) {
                int c = next(first && length == 0 ? "connection closed without a response"
                        : "connection closed in the status line");
                if (c == TIMED_OUT) {
                    return null;
                }
                if (c == '\n') {
                    int end = length > 0 && line[length - 1] == '\r' ? length - 1 : length;
                    return new String(line, 0, end, StandardCharsets.ISO_8859_1);
                }
                line[length++] = (byte) c;
            }
            return new String(line, 0, MAX_STATUS_LINE, StandardCharsets.ISO_8859_1);
        }

        /** Reads the fields of an interim response up to the empty line that ends them; false at the deadline. */
        boolean skipFields() throws IOException {
            boolean blank = true;
            while (true) {
                int c = next("connection closed in an interim response");
                if (c == TIMED_OUT) {
                    return false;
                }
                if (c == '\n') {
                    if (blank) {
                        return true;
                    }
                    blank = true;
                } else if (c != '\r') {
                    blank = false;
                }
            }
        }

        /** The next byte, or {@link #TIMED_OUT}; a connection closed first is an exception saying {@code closed}. */
        private int next(String closed) throws IOException {
            if (position == limit) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    return TIMED_OUT;
                }
                socket.setSoTimeout((int) left);
                int n;
                try {
                    n = in.read(buffer);
                } catch (SocketTimeoutException e) {
                    return TIMED_OUT;
                }
                if (n < 0) {
                    throw new IOException(closed);
                }
                position = 0;
                limit = n;
            }
            return buffer[position++] & 0xff;
        }
    }

    private static String quote(String s) {
        String shown = s.length() > 40 ? s.substring(0, 40) + "..." : s;
        return "'" + shown.replaceAll("\\p{Cntrl}", "?") + "'";
    }
}
