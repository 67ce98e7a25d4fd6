package io.grapevine.proxy.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The sockets a process has open, as Linux shows them: its file descriptors that are sockets
 * ({@code /proc/PID/fd}, "socket:[inode]") matched with the socket tables of its network namespace
 * ({@code /proc/PID/net/tcp}, {@code tcp6}, {@code udp}, {@code udp6}), which the kernel fills whatever
 * tools are installed.
 */
public final class ProcessSockets {

    private static final String TCP_LISTEN = "0A";

    private ProcessSockets() {
    }

    /** The local addresses of the TCP sockets the process listens on (IPv4-mapped IPv6 shown as IPv4). */
    public static List<InetSocketAddress> tcpListening(long pid) {
        return sockets(pid, List.of("tcp", "tcp6"), TCP_LISTEN);
    }

    /** The local addresses of every UDP socket the process has (bound, connected or not). */
    public static List<InetSocketAddress> udp(long pid) {
        return sockets(pid, List.of("udp", "udp6"), null);
    }

    private static List<InetSocketAddress> sockets(long pid, List<String> tables, String state) {
        Set<String> inodes = socketInodes(pid);
        List<InetSocketAddress> found = new ArrayList<>();
        for (String table : tables) {
            List<String> rows;
            try {
                rows = Files.readAllLines(Path.of("/proc", Long.toString(pid), "net", table));
            } catch (IOException e) {
                continue; // no IPv6 in this kernel
            }
            for (String row : rows.subList(1, rows.size())) {
                String[] f = row.trim().split("\\s+");
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                if ((state == null || f[3].equals(state)) && inodes.contains(f[9])) {
                    found.add(address(f[1]));
                }
            }
        }
        return found;
    }

    private static Set<String> socketInodes(long pid) {
        Set<String> inodes = new HashSet<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[")) {
                        inodes.add(target.substring(8, target.length() - 1));
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the descriptors of process " + pid, e);
        }
        return inodes;
    }

    /** "0100007F:1F90" (IPv4) or 32 hex digits and a port (IPv6), each 32-bit word in host (little-endian) order. */
    private static InetSocketAddress address(String hex) {
        String[] parts = hex.split(":");
        String ip = parts[0];
        byte[] bytes = new byte[ip.length() / 2];
        for (int word = 0; word < bytes.length / 4; word++) {
            for (int i = 0; i < 4; i++) {
                int at = word * 8 + (3 - i) * 2;
                bytes[word * 4 + i] = (byte) Integer.parseInt(ip.substring(at, at + 2), 16);
            }
        }
        try {
            return new InetSocketAddress(InetAddress.getByAddress(bytes), Integer.parseInt(parts[1], 16));
        } catch (UnknownHostException e) {
            throw new IllegalStateException(hex, e);
        }
    }
}
