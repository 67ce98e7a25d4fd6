package io.grapevine.proxy.testing;

import io.grapevine.proxy.testing.H2Frames.Frame;
import io.netty.handler.codec.http2.Http2Headers;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A blocking HTTP/2 client on a plain socket that writes whatever frames a test hands it ({@link H2Frames})
 * and reads the server's frames one by one. It answers the server's SETTINGS and PINGs and, unless told
 * not to, grants window for the DATA it reads; nothing else happens behind the test's back.
 */
public final class H2Client implements AutoCloseable {

    /** A response as it arrived on one stream. {@code reset} is the RST_STREAM error code, or -1. */
    public record Response(List<Http2Headers> interim, Http2Headers headers, byte[] body, Http2Headers trailers,
                           long reset) {

        public int status() {
            return headers == null ? -1 : Integer.parseInt(headers.status().toString());
        }

        public String text() {
            return new String(body, java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final H2Frames frames = new H2Frames();
    private final byte[] readBuffer = new byte[64 * 1024];
    /** Frames read while waiting for something else (another stream, a GOAWAY), in order. */
    private final List<Frame> seen = new ArrayList<>();
    /** Frames of {@link #seen} that an {@link #await} of their stream has taken. */
    private final java.util.Set<Frame> awaited = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    private boolean grantWindow = true;
    private boolean eof;
    private int nextStreamId = 1;

    private H2Client(Socket socket) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
    }

    /** Connects and sends the preface with empty SETTINGS. */
    public static H2Client connect(InetSocketAddress address) throws IOException {
        H2Client c = raw(address);
        c.send(c.frames.preface());
        return c;
    }

    /** Connects and sends nothing. */
    public static H2Client raw(InetSocketAddress address) throws IOException {
        Socket s = new Socket();
        s.connect(address, 5000);
        s.setTcpNoDelay(true);
        s.setSoTimeout(10_000);
        return new H2Client(s);
    }

    public H2Frames frames() {
        return frames;
    }

    /** Whether DATA read is acknowledged at once with WINDOW_UPDATEs (default true). */
    public H2Client grantWindow(boolean grant) {
        this.grantWindow = grant;
        return this;
    }

    /** A new client stream id (1, 3, 5, ...). */
    public int newStream() {
        int id = nextStreamId;
        nextStreamId += 2;
        return id;
    }

    public synchronized H2Client send(byte[]... parts) throws IOException {
        for (byte[] p : parts) {
            out.write(p);
        }
        out.flush();
        return this;
    }

    /** An answer the protocol requires; if the server closed the connection already, there is no one to tell. */
    private void reply(byte[] frame) {
        try {
            send(frame);
        } catch (IOException e) {
            eof = true;
        }
    }

    /** Sends a request without body on a new stream and waits for its response. */
    public Response get(String path, String... fields) throws IOException {
        int id = newStream();
        send(frames.headers(id, H2Frames.request("GET", path, fields), true));
        return await(id, Duration.ofSeconds(10));
    }

    /**
     * The next frame from the server within {@code timeout} (SETTINGS are acknowledged on the way), or
     * {@code null} when the server closed the connection or nothing came in time.
     */
    public Frame next(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (;;) {
            Frame f = frames.poll();
            if (f != null) {
                if (f.type() == H2Frames.SETTINGS && (f.flags() & H2Frames.ACK) == 0) {
                    reply(H2Frames.settingsAck());
                }
                if (f.type() == H2Frames.PING && (f.flags() & H2Frames.ACK) == 0) {
                    reply(H2Frames.frame(H2Frames.PING, H2Frames.ACK, 0, f.payload()));
                }
                if (f.type() == H2Frames.DATA && grantWindow && f.payload().length > 0) {
                    reply(H2Frames.concat(H2Frames.windowUpdate(0, f.payload().length),
                            H2Frames.windowUpdate(f.streamId(), f.payload().length)));
                }
                return f;
            }
            long left = deadline - System.nanoTime();
            if (eof || left <= 0) {
                return null;
            }
            socket.setSoTimeout((int) Math.max(1, left / 1_000_000));
            int n;
            try {
                n = in.read(readBuffer);
            } catch (SocketTimeoutException e) {
                return null;
            } catch (IOException e) {
                eof = true; // reset by the server
                return null;
            }
            if (n < 0) {
                eof = true;
                return null;
            }
            frames.feed(readBuffer, 0, n);
        }
    }

    /**
     * Reads until stream {@code id} ends (END_STREAM or RST_STREAM); other frames are kept in {@link #seen()}. The
     * frames of {@code id} that came while another stream was awaited (the server interleaves streams) come first.
     */
    public Response await(int id, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<Http2Headers> interim = new ArrayList<>();
        Http2Headers headers = null;
        Http2Headers trailers = null;
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        java.util.ArrayDeque<Frame> earlier = new java.util.ArrayDeque<>();
        for (Frame f : seen) {
            if (f.streamId() == id && awaited.add(f)) {
                earlier.add(f);
            }
        }
        for (;;) {
            boolean replayed = !earlier.isEmpty();
            Frame f = replayed ? earlier.poll() : next(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            if (f == null) {
                throw new IOException("stream " + id + " did not end in time (connection "
                        + (eof ? "closed" : "open") + "); frames seen: " + seen + "; so far: " + headers);
            }
            if (f.streamId() != id) {
                seen.add(f);
                continue;
            }
            switch (f.type()) {
                case H2Frames.HEADERS -> {
                    String status = f.headers().status() == null ? "" : f.headers().status().toString();
                    if (headers == null && status.startsWith("1")) {
                        interim.add(f.headers());
                    } else if (headers == null) {
                        headers = f.headers();
                    } else {
                        trailers = f.headers();
                    }
                }
                case H2Frames.DATA -> body.writeBytes(f.payload());
                case H2Frames.RST_STREAM -> {
                    return new Response(interim, headers, body.toByteArray(), trailers, f.errorCode());
                }
                default -> {
                    if (!replayed) {
                        seen.add(f);
                    }
                }
            }
            if (f.endStream()) {
                return new Response(interim, headers, body.toByteArray(), trailers, -1);
            }
        }
    }

    /** Reads until the server closes the connection (or {@code timeout}); returns whether it did. */
    public boolean awaitClose(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!eof && System.nanoTime() < deadline) {
            Frame f = next(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            if (f != null) {
                seen.add(f);
            }
        }
        return eof;
    }

    /** The first GOAWAY among the frames seen so far (reading more until {@code timeout}), or {@code null}. */
    public Frame awaitGoAway(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (;;) {
            for (Frame f : seen) {
                if (f.type() == H2Frames.GOAWAY) {
                    return f;
                }
            }
            long left = deadline - System.nanoTime();
            if (eof || left <= 0) {
                return null;
            }
            Frame f = next(Duration.ofNanos(left));
            if (f != null) {
                seen.add(f);
            }
        }
    }

    /** Frames read while waiting for something else. */
    public List<Frame> seen() {
        return seen;
    }

    public boolean isClosedByServer() {
        return eof;
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
