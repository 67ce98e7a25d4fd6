package io.grapevine.cluster;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Loopback ports for a listener a test must name before anything binds it: a seed that is not up yet, the
 * port of a child process. They are taken below the kernel's ephemeral range. Inside it, a port found free
 * can be handed to any other socket before its listener binds: the source port of an outgoing connection,
 * or a listener bound to port 0, as the gossip listeners of the agents a test starts meanwhile are.
 *
 * <p>Successive calls in one JVM walk the range from a random start, so two ports handed out one after the
 * other before either is bound are never the same.
 */
public final class ListenPorts {

    private static final int LOW = 10_000;
    private static final int HIGH = Math.max(LOW + 1_000, ephemeralLow());
    private static final AtomicInteger NEXT = new AtomicInteger(ThreadLocalRandom.current().nextInt(HIGH - LOW));

    private ListenPorts() {
    }

    /** A loopback port below the ephemeral range that nothing binds or listens on now. */
    public static int free() {
        return freeRange(1);
    }

    /** {@code count} consecutive such ports (for scripts that take a base port). */
    public static int freeRange(int count) {
        int span = HIGH - LOW - count;
        for (int attempt = 0; attempt < span; attempt++) {
            int base = LOW + Math.floorMod(NEXT.getAndAdd(count), span);
            boolean all = true;
            for (int port = base; port < base + count && all; port++) {
                all = isFree(port);
            }
            if (all) {
                return base;
            }
        }
        throw new IllegalStateException("no " + count + " consecutive free loopback ports in [" + LOW + ", " + HIGH + ")");
    }

    /**
     * Whether nothing accepts connections on loopback {@code port} and a listener can bind it now, with
     * SO_REUSEADDR as every listener of the project sets it (connections of an earlier listener in TIME_WAIT
     * do not keep it).
     */
    public static boolean isFree(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            return false;
        } catch (IOException e) {
            // nothing accepts: see whether it can be bound
        }
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The first port of the kernel's ephemeral range ({@code ip_local_port_range}), which these ports stay below. */
    public static int ephemeralLow() {
        try {
            // One buffered read from offset 0: Files.readString of a file whose size says 0 reads its first byte
            // alone, then asks for the rest at offset 1, which a sysctl file answers with nothing ("3" of "32768").
            return Integer.parseInt(Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0).trim().split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            return 32_768; // the usual default
        }
    }
}
