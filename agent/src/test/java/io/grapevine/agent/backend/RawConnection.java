package io.grapevine.agent.backend;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A plain socket speaking HTTP/1.1 by hand, for what java.net.http hides: pipelining,
 * trailers, HTTP/1.0, exact header bytes, connection closes. Reads time out after 10 s.
 */
final class RawConnection implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    RawConnection(int port) throws IOException {
        this(port, 0);
    }

    /** @param receiveBuffer the socket's receive buffer in bytes, or 0 for the default */
    RawConnection(int port, int receiveBuffer) throws IOException {
        socket = new Socket();
        if (receiveBuffer > 0) {
            socket.setReceiveBufferSize(receiveBuffer);
        }
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
        socket.setSoTimeout(10_000);
        in = new BufferedInputStream(socket.getInputStream(), 64 * 1024);
        out = socket.getOutputStream();
    }

    RawConnection send(String text) throws IOException {
        return send(text.getBytes(StandardCharsets.ISO_8859_1));
    }

    RawConnection send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
        return this;
    }

    /** Reads one response to a request that was not HEAD. */
    Response read() throws IOException {
        return read(false);
    }

    /** Reads one response; {@code head}: it answers a HEAD request, so it has no body. */
    Response read(boolean head) throws IOException {
        String statusLine = line();
        String[] parts = statusLine.split(" ", 3);
        int status = Integer.parseInt(parts[1]);
        List<Map.Entry<String, String>> headers = fields();
        Response partial = new Response(statusLine, status, headers, List.of(), null, 0, null);
        BodySink body = new BodySink();
        List<Map.Entry<String, String>> trailers = List.of();
        boolean noBody = head || status / 100 == 1 || status == 204 || status == 304;
        if (noBody) {
            // nothing
        } else if ("chunked".equalsIgnoreCase(partial.header("transfer-encoding"))) {
            for (long size; (size = Long.parseLong(line().split(";", 2)[0].trim(), 16)) > 0; ) {
                body.copy(in, size);
                expectCrlf();
            }
            trailers = fields();
        } else if (partial.header("content-length") != null) {
            body.copy(in, Long.parseLong(partial.header("content-length")));
        } else {
            body.copy(in, Long.MAX_VALUE);
        }
        return new Response(statusLine, status, headers, trailers, body.kept(), body.length, body.sha256());
    }

    /** True when the server closed the connection (end of stream before any further byte). */
    boolean closedByPeer() throws IOException {
        try {
            return in.read() == -1;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }

    private String line() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        for (int b; (b = in.read()) != '\n'; ) {
            if (b == -1) {
                throw new EOFException("connection closed in the middle of a line: '" + line + "'");
            }
            line.write(b);
        }
        String text = line.toString(StandardCharsets.ISO_8859_1);
        if (!text.endsWith("\r")) {
            throw new IOException("line not ended by CRLF: '" + text + "'");
        }
        return text.substring(0, text.length() - 1);
    }

    private List<Map.Entry<String, String>> fields() throws IOException {
        List<Map.Entry<String, String>> fields = new ArrayList<>();
        for (String line; !(line = line()).isEmpty(); ) {
            int colon = line.indexOf(':');
            fields.add(Map.entry(line.substring(0, colon), line.substring(colon + 1).trim()));
        }
        return fields;
    }

    private void expectCrlf() throws IOException {
        if (!line().isEmpty()) {
            throw new IOException("chunk not followed by CRLF");
        }
    }

    /** A parsed response. {@code body} is null when it was longer than {@link BodySink#KEEP_LIMIT}. */
    record Response(String statusLine, int status, List<Map.Entry<String, String>> headers,
                    List<Map.Entry<String, String>> trailers, byte[] body, long bodyLength, String bodySha256) {

        /** The value of the first header field with this name (any case), or null. */
        String header(String name) {
            return headers.stream().filter(h -> h.getKey().equalsIgnoreCase(name)).map(Map.Entry::getValue)
                    .findFirst().orElse(null);
        }

        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    /** Digests every body byte; keeps the first {@value #KEEP_LIMIT} of them. */
    private static final class BodySink {
        static final int KEEP_LIMIT = 8 << 20;
        private final MessageDigest sha256;
        private final ByteArrayOutputStream kept = new ByteArrayOutputStream();
        private long length;

        BodySink() {
            try {
                sha256 = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new AssertionError(e);
            }
        }

        /** Copies {@code n} bytes, or up to end of stream when {@code n} is Long.MAX_VALUE. */
        void copy(InputStream in, long n) throws IOException {
            byte[] buffer = new byte[64 * 1024];
            long left = n;
            while (left > 0) {
                int read = in.read(buffer, 0, (int) Math.min(buffer.length, left));
                if (read == -1) {
                    if (n == Long.MAX_VALUE) {
                        return;
                    }
                    throw new EOFException("body ended after " + length + " bytes, " + left + " short");
                }
                sha256.update(buffer, 0, read);
                if (length + read <= KEEP_LIMIT) {
                    kept.write(buffer, 0, read);
                }
                length += read;
                left -= read;
            }
        }

        byte[] kept() {
            return length <= KEEP_LIMIT ? kept.toByteArray() : null;
        }

        String sha256() {
            return HexFormat.of().formatHex(sha256.digest()).toLowerCase(Locale.ROOT);
        }
    }
}
