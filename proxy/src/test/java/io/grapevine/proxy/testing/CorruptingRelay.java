package io.grapevine.proxy.testing;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A man in the middle on the membership port: forwards every connection to {@code target}, reading the
 * client's side as the membership transport frames it (a 4-byte length, then the frame), and while
 * {@link #corrupt(boolean)} is on flips one bit in the last byte of each frame (inside the AES-GCM tag of
 * a sealed frame) before passing it on.
 */
public final class CorruptingRelay implements AutoCloseable {

    private final ServerSocket server;
    private final InetSocketAddress target;
    private final AtomicBoolean corrupt = new AtomicBoolean(true);
    private final AtomicInteger forwarded = new AtomicInteger();
    private final AtomicInteger corrupted = new AtomicInteger();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final Thread acceptor;

    public CorruptingRelay(InetSocketAddress target) throws IOException {
        this.target = target;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.acceptor = new Thread(this::accept, "corrupting-relay");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Whether frames from now on are altered (on at start). */
    public void corrupt(boolean on) {
        corrupt.set(on);
    }

    /** Frames passed on, altered or not. */
    public int forwarded() {
        return forwarded.get();
    }

    public int corrupted() {
        return corrupted.get();
    }

    private void accept() {
        try {
            while (!server.isClosed()) {
                Socket client = server.accept();
                Socket upstream = new Socket();
                upstream.connect(target, 2000);
                sockets.add(client);
                sockets.add(upstream);
                start(() -> frames(client.getInputStream(), upstream.getOutputStream()));
                start(() -> upstream.getInputStream().transferTo(client.getOutputStream()) >= 0);
            }
        } catch (IOException e) {
            // closed
        }
    }

    private interface Pump {
        boolean run() throws IOException;
    }

    private static void start(Pump pump) {
        Thread t = new Thread(() -> {
            try {
                pump.run();
            } catch (IOException e) {
                // one side closed
            }
        }, "corrupting-relay-pump");
        t.setDaemon(true);
        t.start();
    }

    private boolean frames(InputStream from, OutputStream to) throws IOException {
        DataInputStream in = new DataInputStream(from);
        DataOutputStream out = new DataOutputStream(to);
        while (true) {
            int length;
            try {
                length = in.readInt();
            } catch (EOFException e) {
                return true;
            }
            byte[] frame = in.readNBytes(length);
            if (frame.length < length) {
                return true;
            }
            if (corrupt.get() && length > 0) {
                frame[length - 1] ^= 0x01;
                corrupted.incrementAndGet();
            }
            forwarded.incrementAndGet();
            out.writeInt(length);
            out.write(frame);
            out.flush();
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : sockets) {
            s.close();
        }
    }
}
