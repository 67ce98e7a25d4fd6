package io.grapevine.proxy.testing;

import io.grapevine.cluster.ListenPorts;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;

/**
 * Ports for processes that must be told theirs before they start (a child JVM, a seed that is not
 * up yet). Everything that can bind port 0 itself does. The ports come from below the kernel's
 * ephemeral range ({@link ListenPorts} says why).
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

    /** A loopback port nothing binds or listens on now, and that no outgoing connection will take. */
    public static int free() {
        return ListenPorts.free();
    }

    /** {@code count} consecutive such ports (for scripts that take a base port). */
    public static int freeRange(int count) {
        return ListenPorts.freeRange(count);
    }

    /** Whether something accepts a connection on the loopback {@code port} now. */
    public static boolean accepts(int port) {
        return accepting(port);
    }

    public static boolean isFree(int port) {
        return ListenPorts.isFree(port);
    }
}
