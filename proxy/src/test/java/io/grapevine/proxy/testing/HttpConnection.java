package io.grapevine.proxy.testing;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One client connection speaking HTTP/1.1 keep-alive over a plain socket, so a test sees exactly when
 * the proxy closes it (which a pooled client library would hide by reconnecting). Not thread-safe.
 */
public final class HttpConnection implements AutoCloseable {

    /** A response; {@code close} is true when the server announced it closes the connection. */
    public record Response(int status, Map<String, String> headers, String body, boolean close) {

        private static final Pattern DEMO_ID = Pattern.compile("Hello, I am ID (\\d+)");

        /**
         * The demo backend that answered (an agent's demo backend uses its port as id): its
         * {@code X-Backend-Id} header, else the id in its answer to {@code GET /}; -1 if neither.
         */
        public int demoId() {
            String header = headers.get("x-backend-id");
            if (header != null) {
                return Integer.parseInt(header.trim());
            }
            Matcher m = DEMO_ID.matcher(body);
            return m.find() ? Integer.parseInt(m.group(1)) : -1;
        }
    }

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final String hostHeader;
    private boolean closedByServer;

    public HttpConnection(InetSocketAddress address, int timeoutMillis) throws IOException {
        this(connected(address, timeoutMillis), address.getHostString() + ":" + address.getPort());
    }

    /** Over a socket that is connected already (a TLS socket, say); {@code hostHeader} is sent as Host. */
    public HttpConnection(Socket socket, String hostHeader) throws IOException {
        this.socket = socket;
        in = new BufferedInputStream(socket.getInputStream(), 16 * 1024);
        out = socket.getOutputStream();
        this.hostHeader = hostHeader;
    }

    private static Socket connected(InetSocketAddress address, int timeoutMillis) throws IOException {
        Socket socket = new Socket();
        socket.setTcpNoDelay(true);
        socket.connect(address, timeoutMillis);
        socket.setSoTimeout(timeoutMillis);
        return socket;
    }

    /** Sends {@code GET path} and reads the whole response. */
    public Response get(String path) throws IOException {
        return send("GET " + path + " HTTP/1.1\r\nHost: " + hostHeader + "\r\n\r\n", null);
    }

    /** Sends {@code POST path} with {@code body} (Content-Length) and reads the whole response. */
    public Response post(String path, byte[] body) throws IOException {
        return send("POST " + path + " HTTP/1.1\r\nHost: " + hostHeader + "\r\nContent-Type: application/octet-stream\r\n"
                + "Content-Length: " + body.length + "\r\n\r\n", body);
    }

    private Response send(String head, byte[] body) throws IOException {
        if (closedByServer) {
            throw new IOException("the server said it closes this connection");
        }
        out.write(head.getBytes(StandardCharsets.US_ASCII));
        if (body != null) {
            out.write(body);
        }
        out.flush();
        return read();
    }

    /** Whether the server announced {@code Connection: close} or closed the socket. */
    public boolean closedByServer() {
        return closedByServer;
    }

    private Response read() throws IOException {
        String statusLine = line();
        if (!statusLine.startsWith("HTTP/1.1 ") || statusLine.length() < 12) {
            throw new IOException("bad status line: " + statusLine);
        }
        int status = Integer.parseInt(statusLine.substring(9, 12));
        Map<String, String> headers = new LinkedHashMap<>();
        for (String h; !(h = line()).isEmpty(); ) {
            int colon = h.indexOf(':');
            headers.put(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), h.substring(colon + 1).trim());
        }
        byte[] body;
        if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (int size; (size = Integer.parseInt(line().split(";")[0].trim(), 16)) > 0; ) {
                b.write(exactly(size));
                line();
            }
            while (!line().isEmpty()) {
                // trailer fields
            }
            body = b.toByteArray();
        } else {
            String length = headers.get("content-length");
            if (length == null) {
                throw new IOException("response without Content-Length or chunked framing: " + statusLine);
            }
            body = exactly(Integer.parseInt(length));
        }
        boolean close = "close".equalsIgnoreCase(headers.get("connection"));
        closedByServer |= close;
        return new Response(status, headers, new String(body, StandardCharsets.UTF_8), close);
    }

    private String line() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) {
                closedByServer = true;
                throw new EOFException("connection closed by the server");
            }
            if (c != '\r') {
                sb.append((char) c);
            }
        }
        return sb.toString();
    }

    private byte[] exactly(int n) throws IOException {
        byte[] b = in.readNBytes(n);
        if (b.length < n) {
            closedByServer = true;
            throw new EOFException("connection closed in a body");
        }
        return b;
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
