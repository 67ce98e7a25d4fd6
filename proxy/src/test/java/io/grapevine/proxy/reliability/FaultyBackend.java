package io.grapevine.proxy.reliability;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A backend that misbehaves on purpose: a plain TCP server that reads each request (head, and a
 * Content-Length body) and lets a {@link Behaviour} answer it, however wrongly. It counts connections, the
 * requests each one carried, the bytes it wrote, and the connections the proxy closed (end of input, or a
 * write that failed because the proxy had gone). One daemon thread per connection, all ended by {@link #close}.
 */
final class FaultyBackend implements AutoCloseable {

    /** Answers one request; a behaviour that closes the socket ends the connection. */
    interface Behaviour {
        void answer(Socket socket, OutputStream out, int requestOnConnection) throws IOException;
    }

    private static final Pattern CONTENT_LENGTH = Pattern.compile("\r\ncontent-length:[ \t]*([0-9]+)");

    private final ServerSocket server;
    private final Behaviour behaviour;
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicInteger requests = new AtomicInteger();
    private final AtomicInteger mostRequestsOnOneConnection = new AtomicInteger();
    private final AtomicInteger closedByProxy = new AtomicInteger();
    private final AtomicLong bytesWritten = new AtomicLong();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    private FaultyBackend(Behaviour behaviour) throws IOException {
        this.behaviour = behaviour;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread accept = new Thread(this::accept, "faulty-backend-accept");
        accept.setDaemon(true);
        accept.start();
    }

    static FaultyBackend start(Behaviour behaviour) throws IOException {
        return new FaultyBackend(behaviour);
    }

    int port() {
        return server.getLocalPort();
    }

    int connections() {
        return connections.get();
    }

    int requests() {
        return requests.get();
    }

    int mostRequestsOnOneConnection() {
        return mostRequestsOnOneConnection.get();
    }

    /** Connections whose input ended, or whose writes failed, because the proxy closed them. */
    int closedByProxy() {
        return closedByProxy.get();
    }

    long bytesWritten() {
        return bytesWritten.get();
    }

    private void accept() {
        while (!closed) {
            try {
                Socket socket = server.accept();
                sockets.add(socket);
                connections.incrementAndGet();
                Thread t = new Thread(() -> serve(socket), "faulty-backend-connection");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket socket) {
        try {
            InputStream in = socket.getInputStream();
            OutputStream out = new CountingOutput(socket.getOutputStream());
            for (int n = 1; !socket.isClosed(); n++) {
                if (!readRequest(in)) {
                    closedByProxy.incrementAndGet();
                    return;
                }
                requests.incrementAndGet();
                mostRequestsOnOneConnection.accumulateAndGet(n, Math::max);
                behaviour.answer(socket, out, n);
                out.flush();
            }
        } catch (IOException e) {
            // Checked before the socket is closed below: a behaviour that reset it is not the proxy's doing.
            if (!closed && !socket.isClosed()) {
                closedByProxy.incrementAndGet(); // reset by the proxy, or a write to a connection it closed
            }
        } finally {
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing is all that is left to do
            }
        }
    }

    /** Reads a request head and its Content-Length body; false at the end of input before a request. */
    private static boolean readRequest(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                return false;
            }
            head.write(b);
            matched = (b == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        Matcher m = CONTENT_LENGTH.matcher(head.toString(StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT));
        long body = m.find() ? Long.parseLong(m.group(1)) : 0;
        for (long i = 0; i < body; i++) {
            if (in.read() < 0) {
                return false;
            }
        }
        return true;
    }

    /** Writes the ASCII text, flushed, as one write call. */
    static void write(OutputStream out, String text) throws IOException {
        out.write(text.getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
    }

    /** Closes with a TCP reset (SO_LINGER 0). */
    static void reset(Socket socket) throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket s : sockets) {
            s.close();
        }
    }

    private final class CountingOutput extends OutputStream {
        private final OutputStream out;

        CountingOutput(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            bytesWritten.incrementAndGet();
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            bytesWritten.addAndGet(len);
        }

        @Override
        public void flush() throws IOException {
            out.flush();
        }
    }
}
