package io.grapevine.proxy.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A seed address that turns connections away (reset as soon as accepted) until {@link #open()}, then relays them to
 * the real seed: an agent told to join it starts (its JVM warms up) but stays outside the cluster, retrying every
 * second, until the test lets it in. Only the join goes through here; once in, members talk to each other's own
 * addresses. The port is bound from the start: a port left free until the gate opened could be taken meanwhile by
 * another process of the test (a member's gossip port is any free port), and the waiting agent would join through it.
 */
public final class JoinGate implements AutoCloseable {

    private final InetSocketAddress target;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final ServerSocket server;
    private volatile boolean open;

    public JoinGate(InetSocketAddress target) throws IOException {
        this.target = target;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        daemon("join-gate-" + server.getLocalPort(), this::accept);
    }

    /** The address to give as {@code --join}. */
    public String seed() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    /** From now on connections are relayed to the real seed. */
    public void open() {
        open = true;
    }

    private void accept() {
        try {
            for (;;) {
                Socket in = server.accept();
                if (!open) {
                    in.setSoLinger(true, 0); // a reset, as a closed port would answer
                    in.close();
                    continue;
                }
                Socket out;
                try {
                    out = new Socket(target.getAddress(), target.getPort());
                } catch (IOException e) {
                    in.close();
                    continue;
                }
                sockets.add(in);
                sockets.add(out);
                daemon("join-gate-up", () -> pump(in, out));
                daemon("join-gate-down", () -> pump(out, in));
            }
        } catch (IOException e) {
            // closed
        }
    }

    private static void pump(Socket from, Socket to) {
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            in.transferTo(out);
        } catch (IOException e) {
            // either side closed
        } finally {
            close(from);
            close(to);
        }
    }

    private static void daemon(String name, Runnable task) {
        Thread t = new Thread(task, name);
        t.setDaemon(true);
        t.start();
    }

    private static void close(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            // closing anyway
        }
    }

    @Override
    public void close() {
        close(server);
        sockets.forEach(JoinGate::close);
    }
}
