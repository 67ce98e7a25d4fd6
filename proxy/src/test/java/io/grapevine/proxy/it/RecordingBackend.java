package io.grapevine.proxy.it;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A plain TCP server standing in for a backend: it records every byte it receives, on every connection,
 * and answers each request according to its {@link Mode}. A test can then say exactly what reached the
 * backend, down to "nothing at all".
 *
 * <p>Requests are delimited crudely (head up to the empty line, then a Content-Length body or a chunked
 * body up to {@code 0 CRLF CRLF}); the proxy in front only sends canonical framing. One thread per
 * connection; all threads are daemons and end with {@link #close()}.
 */
public final class RecordingBackend implements AutoCloseable {

    /** What the backend does with each complete request it receives. */
    public enum Mode {
        /** Answers {@code 200} with body {@code recorded\n}, keep-alive. */
        OK,
        /** Answers bytes that are not HTTP, then closes. */
        GARBAGE,
        /** Closes the connection with a TCP reset, answering nothing. */
        RESET,
        /**
         * Answers the first request of each connection like {@link #OK} (keep-alive), and closes the
         * connection without an answer when a second one arrives: a keep-alive timeout that struck just
         * as the proxy reused the connection.
         */
        CLOSE_ON_REUSE,
        /**
         * Closes the connection the backend's first request arrives on without an answer, and answers every later
         * one like {@link #OK}: a backend that gave up on a connection no request came on (its header timeout)
         * just as the proxy sent one on it.
         */
        CLOSE_FIRST_REQUEST
    }

    private static final byte[] OK_RESPONSE = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            + "Content-Length: 9\r\nX-Backend-Id: recording\r\n\r\nrecorded\n").getBytes(StandardCharsets.US_ASCII);
    private static final byte[] GARBAGE = "HELLO THIS IS NOT HTTP\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final Pattern CONTENT_LENGTH = Pattern.compile("\r\ncontent-length:[ \t]*([0-9]+)");
    private static final Pattern CHUNKED = Pattern.compile("\r\ntransfer-encoding:[ \t]*chunked");

    private final Mode mode;
    private final ServerSocket server;
    private final ByteArrayOutputStream received = new ByteArrayOutputStream();
    private final List<String> requestHeads = new CopyOnWriteArrayList<>();
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicInteger open = new AtomicInteger();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private volatile boolean closed;
    private boolean accepting;

    private RecordingBackend(Mode mode, int backlog) throws IOException {
        this.mode = mode;
        this.server = new ServerSocket(0, backlog, InetAddress.getLoopbackAddress());
    }

    public static RecordingBackend start(Mode mode) throws IOException {
        RecordingBackend backend = new RecordingBackend(mode, 50);
        backend.startAccepting();
        return backend;
    }

    /**
     * A backend whose accept queue is full and that accepts nothing until {@link #startAccepting()}: a
     * connection attempt to it stays pending (its SYN is dropped and retried), as to an overloaded host.
     */
    public static RecordingBackend startUnaccepting(Mode mode) throws IOException {
        RecordingBackend backend = new RecordingBackend(mode, 1);
        for (int i = 0; i < 16; i++) {
            Socket filler = new Socket();
            backend.sockets.add(filler);
            try {
                filler.connect(server(backend), 200);
            } catch (SocketTimeoutException e) {
                filler.close();
                return backend; // the queue is full
            }
        }
        backend.close();
        throw new IllegalStateException("the accept queue of a listening socket with backlog 1 never filled up");
    }

    private static InetSocketAddress server(RecordingBackend backend) {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), backend.port());
    }

    /** Starts accepting connections (the queued ones first). */
    public synchronized void startAccepting() {
        if (!accepting) {
            accepting = true;
            Thread acceptor = new Thread(this::acceptLoop, "recording-backend-" + server.getLocalPort());
            acceptor.setDaemon(true);
            acceptor.start();
        }
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Every byte received so far, all connections, in arrival order per connection. */
    public byte[] received() {
        synchronized (received) {
            return received.toByteArray();
        }
    }

    public String receivedText() {
        return new String(received(), StandardCharsets.ISO_8859_1);
    }

    /** The complete request heads received so far (without the empty line). */
    public List<String> requestHeads() {
        return List.copyOf(requestHeads);
    }

    public int requestCount() {
        return requestHeads.size();
    }

    /** Connections accepted so far. */
    public int connectionCount() {
        return connections.get();
    }

    /** Connections accepted and not closed yet (by either side). */
    public int openConnections() {
        return open.get();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket s = server.accept();
                connections.incrementAndGet();
                open.incrementAndGet();
                sockets.add(s);
                Thread t = new Thread(() -> serve(s), "recording-backend-conn-" + s.getPort());
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket s) {
        try (s) {
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            ByteArrayOutputStream pending = new ByteArrayOutputStream();
            byte[] buf = new byte[16 * 1024];
            int served = 0;
            int n;
            while ((n = in.read(buf)) > 0) {
                synchronized (received) {
                    received.write(buf, 0, n);
                }
                pending.write(buf, 0, n);
                int consumed;
                while ((consumed = completeRequest(pending.toByteArray())) > 0) {
                    byte[] rest = pending.toByteArray();
                    pending.reset();
                    pending.write(rest, consumed, rest.length - consumed);
                    switch (mode) {
                        case OK -> out.write(OK_RESPONSE);
                        case GARBAGE -> {
                            out.write(GARBAGE);
                            return;
                        }
                        case RESET -> {
                            s.setSoLinger(true, 0);
                            return;
                        }
                        case CLOSE_ON_REUSE -> {
                            if (served++ > 0) {
                                return;
                            }
                            out.write(OK_RESPONSE);
                        }
                        case CLOSE_FIRST_REQUEST -> {
                            if (requestHeads.size() == 1) {
                                return;
                            }
                            out.write(OK_RESPONSE);
                        }
                        default -> throw new IllegalStateException();
                    }
                }
                out.flush();
            }
        } catch (IOException e) {
            // the proxy went away; what arrived is recorded
        } finally {
            open.decrementAndGet();
        }
    }

    /** @return the length of the first complete request in {@code b}, or 0 */
    private int completeRequest(byte[] b) {
        String text = new String(b, StandardCharsets.ISO_8859_1);
        int headEnd = text.indexOf("\r\n\r\n");
        if (headEnd < 0) {
            return 0;
        }
        String head = text.substring(0, headEnd);
        String lower = "\r\n" + head.toLowerCase(Locale.ROOT);
        int end = headEnd + 4;
        if (CHUNKED.matcher(lower).find()) {
            int last = text.indexOf("\r\n0\r\n", end - 2);
            int trailerEnd = last < 0 ? -1 : text.indexOf("\r\n\r\n", last + 3);
            if (trailerEnd < 0) {
                return 0;
            }
            end = trailerEnd + 4;
        } else {
            Matcher m = CONTENT_LENGTH.matcher(lower);
            if (m.find()) {
                end += Integer.parseInt(m.group(1));
                if (b.length < end) {
                    return 0;
                }
            }
        }
        requestHeads.add(head);
        return end;
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket s : sockets) {
            s.close();
        }
    }
}
