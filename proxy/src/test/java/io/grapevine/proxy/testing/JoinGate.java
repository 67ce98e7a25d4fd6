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
 * A seed address that refuses connections until {@link #open()}, then relays them to the real seed: an agent told
 * to join it starts (its JVM warms up) but stays outside the cluster, retrying every second, until the test lets
 * it in. Only the join goes through here; once in, members talk to each other's own addresses.
 */
public final class JoinGate implements AutoCloseable {

    private final int port = Ports.free();
    private final InetSocketAddress target;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private volatile ServerSocket server;

    public JoinGate(InetSocketAddress target) {
        this.target = target;
    }

    /** The address to give as {@code --join}. */
    public String seed() {
        return "127.0.0.1:" + port;
    }

    /** From now on connections are accepted and relayed to the real seed. */
    public synchronized void open() throws IOException {
        if (server != null) {
            return;
        }
        ServerSocket s = new ServerSocket();
        s.setReuseAddress(true);
        s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        server = s;
        daemon("join-gate-" + port, () -> {
            try {
                for (;;) {
                    Socket in = s.accept();
                    Socket out = new Socket(target.getAddress(), target.getPort());
                    sockets.add(in);
                    sockets.add(out);
                    daemon("join-gate-up", () -> pump(in, out));
                    daemon("join-gate-down", () -> pump(out, in));
                }
            } catch (IOException e) {
                // closed
            }
        });
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
    public synchronized void close() {
        if (server != null) {
            close(server);
        }
        sockets.forEach(JoinGate::close);
    }
}
