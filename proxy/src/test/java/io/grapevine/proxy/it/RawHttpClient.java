package io.grapevine.proxy.it;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A blocking HTTP/1.1 client over a plain socket that sends exactly the bytes it is given (pipelined,
 * malformed, half a head) and parses what comes back strictly enough to notice a broken response:
 * status line, field lines, a body delimited by Content-Length, chunked coding (trailers included) or
 * the end of the connection. Bodies can be streamed to a {@link BodySink} instead of kept.
 *
 * <p>Every read has a deadline (the socket timeout), so a test never hangs on a silent proxy.
 */
public final class RawHttpClient implements AutoCloseable {

    /** Receives body bytes as they arrive; may block to play a slow reader. */
    @FunctionalInterface
    public interface BodySink {
        void accept(byte[] buf, int off, int len) throws IOException;
    }

    /** One response. {@code body} is empty when it was streamed to a sink or there is none. */
    public record Response(String version, int status, String reason, List<Map.Entry<String, String>> headers,
                           byte[] body, List<Map.Entry<String, String>> trailers) {

        /** The first value of a field (case-insensitive name), or null. */
        public String header(String name) {
            for (Map.Entry<String, String> h : headers) {
                if (h.getKey().equalsIgnoreCase(name)) {
                    return h.getValue();
                }
            }
            return null;
        }

        public List<String> headers(String name) {
            List<String> values = new ArrayList<>();
            for (Map.Entry<String, String> h : headers) {
                if (h.getKey().equalsIgnoreCase(name)) {
                    values.add(h.getValue());
                }
            }
            return values;
        }

        public boolean hasHeader(String name) {
            return header(name) != null;
        }

        public String bodyText() {
            return new String(body, StandardCharsets.UTF_8);
        }

        /** Whether the Connection field lists {@code token}. */
        public boolean connectionHas(String token) {
            for (String v : headers("Connection")) {
                for (String t : v.split(",")) {
                    if (t.trim().equalsIgnoreCase(token)) {
                        return true;
                    }
                }
            }
            return false;
        }

        @Override
        public String toString() {
            return version + " " + status + " " + reason + " " + headers + " body=" + body.length + " bytes";
        }
    }

    /** How a body is delimited, from a response head. */
    public enum Framing { NONE, LENGTH, CHUNKED, UNTIL_CLOSE }

    private static final int DEFAULT_TIMEOUT_MILLIS = 10_000;

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final byte[] buf = new byte[64 * 1024];
    private int pos;
    private int limit;

    private RawHttpClient(Socket socket) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
    }

    public static RawHttpClient connect(InetSocketAddress address) throws IOException {
        return connect(address, 0);
    }

    /** A connection from {@code localAddress} (e.g. one of the 127.0.0.0/8 loopback addresses), any port. */
    public static RawHttpClient connect(InetSocketAddress address, java.net.InetAddress localAddress) throws IOException {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(localAddress, 0));
        s.setTcpNoDelay(true);
        s.setSoTimeout(DEFAULT_TIMEOUT_MILLIS);
        s.connect(address, DEFAULT_TIMEOUT_MILLIS);
        return new RawHttpClient(s);
    }

    /** @param receiveBuffer the socket's receive buffer in bytes (a small one makes a slow reader felt), 0: default */
    public static RawHttpClient connect(InetSocketAddress address, int receiveBuffer) throws IOException {
        Socket s = new Socket();
        if (receiveBuffer > 0) {
            s.setReceiveBufferSize(receiveBuffer);
        }
        s.setTcpNoDelay(true);
        s.setSoTimeout(DEFAULT_TIMEOUT_MILLIS);
        s.connect(address, DEFAULT_TIMEOUT_MILLIS);
        return new RawHttpClient(s);
    }

    public RawHttpClient timeout(int millis) throws SocketException {
        socket.setSoTimeout(millis);
        return this;
    }

    public OutputStream output() {
        return out;
    }

    /** Writes {@code text} (ISO-8859-1, so any byte can be written) in one write call. */
    /** The client's own port (what the proxy sees as the client's source port). */
    public int localPort() {
        return socket.getLocalPort();
    }

    /**
     * Whether the peer's process has read every byte this client sent: the peer's TCP acknowledged them all (this
     * socket's send queue is empty) and none waits in the peer socket's receive queue. Linux: the queues of both ends
     * of the connection, as {@code /proc/net/tcp} and {@code tcp6} show them (the peer is a socket of this host). For a
     * test that must act only once the proxy has taken in what was sent, where no counter of the proxy tells it.
     */
    public boolean sentAllReadByPeer() {
        int self = socket.getLocalPort();
        int peer = socket.getPort();
        Boolean sent = null;
        Boolean read = null;
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            for (String line : lines(table)) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 5 || !f[3].equals("01")) { // the header, or not ESTABLISHED
                    continue;
                }
                int local = hexPort(f[1]);
                int remote = hexPort(f[2]);
                String[] queues = f[4].split(":"); // tx_queue:rx_queue, in hex
                if (local == self && remote == peer) {
                    sent = Long.parseLong(queues[0], 16) == 0;
                } else if (local == peer && remote == self) {
                    read = Long.parseLong(queues[1], 16) == 0;
                }
            }
        }
        if (sent == null || read == null) {
            throw new AssertionError("connection 127.0.0.1:" + self + " -> " + peer + " not found in /proc/net/tcp{,6}");
        }
        return sent && read;
    }

    private static List<String> lines(String file) {
        java.nio.file.Path path = java.nio.file.Path.of(file);
        try {
            return java.nio.file.Files.exists(path) ? java.nio.file.Files.readAllLines(path) : List.of();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static int hexPort(String address) {
        return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1), 16);
    }

    public RawHttpClient send(String text) throws IOException {
        return send(text.getBytes(StandardCharsets.ISO_8859_1));
    }

    public RawHttpClient send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
        return this;
    }

    /** Reads one response to a request that was not HEAD, keeping its body. */
    public Response read() throws IOException {
        return read(false);
    }

    public Response read(boolean headRequest) throws IOException {
        Response head = readHead();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        List<Map.Entry<String, String>> trailers = readBody(head, headRequest, body::write);
        return new Response(head.version, head.status, head.reason, head.headers, body.toByteArray(), trailers);
    }

    /** Reads a status line and field lines only. */
    public Response readHead() throws IOException {
        String statusLine = readLine();
        if (!statusLine.startsWith("HTTP/1.") || statusLine.length() < 12 || statusLine.charAt(8) != ' ') {
            throw new IOException("not a status line: \"" + statusLine + "\"");
        }
        int status = Integer.parseInt(statusLine.substring(9, 12));
        String reason = statusLine.length() > 13 ? statusLine.substring(13) : "";
        return new Response(statusLine.substring(0, 8), status, reason, readFields(), new byte[0], List.of());
    }

    /** Reads everything up to the end of the stream (what a tunnel carries after its {@code 101}). */
    public byte[] readUntilClose() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int n;
        while ((n = fill()) > 0) {
            out.write(buf, pos, n);
            pos += n;
        }
        return out.toByteArray();
    }

    /**
     * Reads the body of {@code head} into {@code sink}.
     *
     * @return the trailer fields of a chunked body (empty otherwise)
     */
    public List<Map.Entry<String, String>> readBody(Response head, boolean headRequest, BodySink sink)
            throws IOException {
        switch (framing(head, headRequest)) {
            case LENGTH -> copy(Long.parseLong(head.header("Content-Length")), sink);
            case CHUNKED -> {
                return readChunks(sink);
            }
            case UNTIL_CLOSE -> {
                int n;
                while ((n = fill()) > 0) {
                    sink.accept(buf, pos, n);
                    pos += n;
                }
            }
            default -> { }
        }
        return List.of();
    }

    /** RFC 9112 section 6.3, as a client applies it. */
    public static Framing framing(Response head, boolean headRequest) {
        int s = head.status();
        if (headRequest || s < 200 || s == 204 || s == 304) {
            return Framing.NONE;
        }
        String te = head.header("Transfer-Encoding");
        if (te != null) {
            if (!te.equalsIgnoreCase("chunked") || head.headers("Transfer-Encoding").size() > 1
                    || head.hasHeader("Content-Length")) {
                throw new IllegalStateException("ambiguous response framing: " + head);
            }
            return Framing.CHUNKED;
        }
        List<String> cl = head.headers("Content-Length");
        if (cl.size() > 1) {
            throw new IllegalStateException("more than one Content-Length: " + head);
        }
        return cl.isEmpty() ? Framing.UNTIL_CLOSE : Framing.LENGTH;
    }

    private List<Map.Entry<String, String>> readChunks(BodySink sink) throws IOException {
        for (;;) {
            String sizeLine = readLine();
            int semi = sizeLine.indexOf(';');
            String hex = semi < 0 ? sizeLine : sizeLine.substring(0, semi);
            if (hex.isEmpty() || !hex.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
                throw new IOException("bad chunk size line \"" + sizeLine + "\"");
            }
            long size = Long.parseLong(hex, 16);
            if (size == 0) {
                return readFields();
            }
            copy(size, sink);
            if (!readLine().isEmpty()) {
                throw new IOException("chunk data not followed by CRLF");
            }
        }
    }

    private void copy(long length, BodySink sink) throws IOException {
        long left = length;
        while (left > 0) {
            int n = fill();
            if (n <= 0) {
                throw new EOFException("connection closed with " + left + " of " + length + " body bytes missing");
            }
            int take = (int) Math.min(n, left);
            sink.accept(buf, pos, take);
            pos += take;
            left -= take;
        }
    }

    private List<Map.Entry<String, String>> readFields() throws IOException {
        List<Map.Entry<String, String>> fields = new ArrayList<>();
        for (String line = readLine(); !line.isEmpty(); line = readLine()) {
            int colon = line.indexOf(':');
            if (colon <= 0 || line.charAt(0) == ' ' || line.charAt(0) == '\t' || line.charAt(colon - 1) == ' ') {
                throw new IOException("bad field line \"" + line + "\"");
            }
            fields.add(Map.entry(line.substring(0, colon), line.substring(colon + 1).trim()));
        }
        return fields;
    }

    /** A line ending in CRLF (a bare LF is an error), without the CRLF. */
    private String readLine() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (;;) {
            if (pos == limit && fill() <= 0) {
                throw new EOFException("connection closed" + (sb.length() > 0 ? " after \"" + sb + "\"" : ""));
            }
            byte b = buf[pos++];
            if (b == '\n') {
                if (sb.length() == 0 || sb.charAt(sb.length() - 1) != '\r') {
                    throw new IOException("bare LF after \"" + sb + "\"");
                }
                sb.setLength(sb.length() - 1);
                return sb.toString();
            }
            sb.append((char) (b & 0xFF));
            if (sb.length() > 64 * 1024) {
                throw new IOException("line too long");
            }
        }
    }

    /** @return buffered bytes available (reading when there are none), or -1 at the end of the stream */
    private int fill() throws IOException {
        if (pos < limit) {
            return limit - pos;
        }
        pos = 0;
        limit = 0;
        int n = in.read(buf, 0, buf.length);
        if (n > 0) {
            limit = n;
        }
        return n;
    }

    /**
     * Whether the peer closes the connection within {@code millis} without sending anything more.
     *
     * @throws AssertionError when bytes arrive instead
     */
    public boolean closedWithin(int millis) throws IOException {
        if (pos < limit) {
            throw new AssertionError("expected the connection to close, but " + (limit - pos)
                    + " more bytes arrived: " + new String(buf, pos, limit - pos, StandardCharsets.ISO_8859_1));
        }
        int old = socket.getSoTimeout();
        socket.setSoTimeout(millis);
        try {
            int n = in.read(buf, 0, buf.length);
            if (n > 0) {
                throw new AssertionError("expected the connection to close, but bytes arrived: "
                        + new String(buf, 0, n, StandardCharsets.ISO_8859_1));
            }
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (SocketException e) {
            return true; // reset by the peer: closed too
        } finally {
            if (!socket.isClosed()) {
                socket.setSoTimeout(old);
            }
        }
    }

    /** Whether the connection is still open after {@code millis} of silence (nothing may arrive). */
    public boolean openAfter(int millis) throws IOException {
        return !closedWithin(millis);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }

    /** Leaves abruptly: closes with a reset (SO_LINGER 0), which the proxy cannot mistake for a half-close. */
    public void abort() throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    /** Half-closes: no more bytes from this client, but responses can still be read. */
    public RawHttpClient shutdownOutput() throws IOException {
        socket.shutdownOutput();
        return this;
    }
}
