package io.grapevine.proxy.it;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A backend that holds every request until the test lets it answer ({@link #release}), and counts how many it
 * holds at once: the number the proxy's {@code max_conn} must keep down. A request counts from the moment its head
 * has arrived until its answer starts, so a request the proxy sends after reading the previous answer never
 * overlaps it here. Requests without a body only (heads end at the empty line); keep-alive; one thread per
 * connection, all daemons, ended by {@link #close()}.
 */
final class HoldingBackend implements AutoCloseable {

    private final ServerSocket server;
    private final Semaphore answers = new Semaphore(0);
    private final AtomicInteger current = new AtomicInteger();
    private final AtomicInteger most = new AtomicInteger();
    private final List<String> arrivals = new CopyOnWriteArrayList<>();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    private HoldingBackend() throws IOException {
        server = new ServerSocket(0, 100, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::accept, "holding-backend-" + server.getLocalPort());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    static HoldingBackend start() throws IOException {
        return new HoldingBackend();
    }

    int port() {
        return server.getLocalPort();
    }

    /** Lets {@code n} more held requests be answered (in the order they take the permits). */
    void release(int n) {
        answers.release(n);
    }

    /** Requests held now. */
    int holding() {
        return current.get();
    }

    /** The most requests held at once so far. */
    int mostAtOnce() {
        return most.get();
    }

    /** The request targets in the order their heads arrived. */
    List<String> arrivals() {
        return List.copyOf(arrivals);
    }

    private void accept() {
        while (!closed) {
            try {
                Socket s = server.accept();
                sockets.add(s);
                Thread t = new Thread(() -> serve(s), "holding-backend-conn-" + s.getPort());
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket s) {
        try (s) {
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int b;
            int matched = 0;
            while ((b = in.read()) >= 0) {
                head.write(b);
                matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
                if (matched < 4) {
                    continue;
                }
                matched = 0;
                String text = head.toString(StandardCharsets.ISO_8859_1);
                head.reset();
                String target = text.substring(text.indexOf(' ') + 1, text.indexOf(' ', text.indexOf(' ') + 1));
                int now = current.incrementAndGet();
                most.accumulateAndGet(now, Math::max);
                arrivals.add(target);
                boolean answered = answers.tryAcquire(30, TimeUnit.SECONDS);
                current.decrementAndGet(); // before the answer leaves: the proxy cannot free the slot earlier
                if (!answered) {
                    return;
                }
                byte[] body = (target + "\n").getBytes(StandardCharsets.US_ASCII);
                out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
            }
        } catch (IOException | InterruptedException e) {
            // the proxy closed the connection, or the test ended
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        answers.release(10_000);
        server.close();
        for (Socket s : sockets) {
            s.close();
        }
    }
}
