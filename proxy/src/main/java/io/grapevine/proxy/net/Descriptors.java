package io.grapevine.proxy.net;

import com.sun.management.UnixOperatingSystemMXBean;
import io.netty.channel.unix.Errors;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The process's file descriptors: its limit, how many are open, and whether a failure was the process (or the
 * host) running out of them rather than anything the peer did.
 *
 * <p>Why it matters: a socket that cannot be made ({@code EMFILE}, {@code ENFILE}) or a kernel short of buffers
 * for it ({@code ENOBUFS}, {@code ENOMEM}) says nothing about the server it was for. A health check or a
 * connect that fails so must not count against the server, or a flood of client connections up to the limit
 * would mark every server down and turn itself into an outage for the clients already connected.
 *
 * <p>Linux only for the counts ({@code /proc/self}); elsewhere they are unknown (-1). Any thread.
 */
public final class Descriptors {

    /** {@code errno} values of running out of descriptors or socket memory (Linux numbering). */
    private static final int EMFILE = 24;
    private static final int ENFILE = 23;
    private static final int ENOBUFS = 105;
    private static final int ENOMEM = 12;
    /** A connect's: no local address (port) free. */
    private static final int EADDRNOTAVAIL = 99;
    /** Causes followed at most, against a cycle in a cause chain. */
    private static final int MAX_CAUSES = 8;

    private Descriptors() {
    }

    /**
     * Whether {@code failure}, or one of its causes, is the process or the host out of file descriptors or socket
     * memory: Netty's native transports report the {@code errno} ({@link Errors.NativeIoException}), the JDK's
     * NIO transport only its text ({@code "Too many open files"}, {@code "Too many open files in system"}).
     */
    public static boolean exhausted(Throwable failure) {
        Throwable t = failure;
        for (int i = 0; t != null && i < MAX_CAUSES; i++, t = t.getCause()) {
            if (t instanceof Errors.NativeIoException nativeIo) {
                int errno = Math.abs(nativeIo.expectedErr());
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    return true;
                }
            }
            if (t instanceof IOException && t.getMessage() != null) {
                String message = t.getMessage().toLowerCase(Locale.ROOT);
                if (message.contains("too many open files") || message.contains("no buffer space available")) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Whether {@code failure}, or one of its causes, is a connect that found no local port free
     * ({@code EADDRNOTAVAIL}, "Cannot assign requested address"): every port of {@code net.ipv4.ip_local_port_range}
     * is taken towards that address and port, by open connections or ones in {@code TIME_WAIT}. The proxy's own
     * shortage, as a missing descriptor is. Netty's native transports report it as a plain
     * {@link java.net.ConnectException} with the system's text, as the JDK's NIO transport does.
     */
    public static boolean noLocalPort(Throwable failure) {
        Throwable t = failure;
        for (int i = 0; t != null && i < MAX_CAUSES; i++, t = t.getCause()) {
            if (t instanceof Errors.NativeIoException nativeIo && Math.abs(nativeIo.expectedErr()) == EADDRNOTAVAIL) {
                return true;
            }
            if (t instanceof IOException && t.getMessage() != null
                    && t.getMessage().toLowerCase(Locale.ROOT).contains("cannot assign requested address")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether a socket for a connect could not be made for a reason of the proxy's own ({@link #exhausted},
     * {@link #noLocalPort}), which says nothing of the server it was for.
     */
    public static boolean localShortage(Throwable failure) {
        return exhausted(failure) || noLocalPort(failure);
    }

    /**
     * The process's limit of open files (the soft limit of {@code RLIMIT_NOFILE}), or -1 if unknown. Needs no
     * descriptor (the JVM's {@code getrlimit}), so a process at its limit can still say what the limit is;
     * {@code /proc/self/limits} where the JVM does not give it.
     */
    public static long limit() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof UnixOperatingSystemMXBean unix) {
            long max = unix.getMaxFileDescriptorCount();
            if (max > 0) {
                return max;
            }
        }
        return limit(Path.of("/proc/self/limits"));
    }

    static long limit(Path limitsFile) {
        try {
            List<String> lines = Files.readAllLines(limitsFile);
            for (String line : lines) {
                if (line.startsWith("Max open files")) {
                    String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
                    return soft.equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(soft);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /**
     * The process's open file descriptors now, or -1 if unknown, which it is when none is free to list them with.
     * Lists a directory: not for an event loop's path.
     */
    public static long open() {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
