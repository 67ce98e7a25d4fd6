package io.grapevine.proxy.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * Ports for processes that must be told theirs before they start (a child JVM, a seed that is not
 * up yet). Everything that can bind port 0 itself does.
 */
public final class Ports {

    private Ports() {
    }

    /** Whether something accepts connections on loopback {@code port} now. */
    public static boolean accepting(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** A loopback port the kernel just handed out and that is free again (bound, then closed). */
    public static int free() {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(false);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * {@code count} consecutive free loopback ports (for scripts that take a base port). They are looked
     * for below the kernel's ephemeral range: inside it, every other port tends to be taken by the source
     * port of some outgoing connection on a busy machine.
     */
    public static int freeRange(int count) {
        int ephemeralLow = 32_768;
        try {
            String[] range = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/sys/net/ipv4/ip_local_port_range"))
                    .trim().split("\\s+");
            ephemeralLow = Integer.parseInt(range[0]);
        } catch (IOException | RuntimeException e) {
            // keep the usual default
        }
        int low = 10_000;
        int high = Math.max(low + 1_000, ephemeralLow) - count;
        java.util.Random random = new java.util.Random();
        for (int attempt = 0; attempt < 200; attempt++) {
            int base = low + random.nextInt(high - low);
            boolean all = true;
            for (int p = base; p < base + count && all; p++) {
                all = isFree(p);
            }
            if (all) {
                return base;
            }
        }
        throw new IllegalStateException("no " + count + " consecutive free ports found");
    }

    /** Whether something accepts a connection on the loopback {@code port} now. */
    public static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    public static boolean isFree(int port) {
        if (accepting(port)) {
            return false;
        }
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
