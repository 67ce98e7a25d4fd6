package io.grapevine.proxy.net;

import io.netty.util.internal.PlatformDependent;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;

/**
 * How many client connections the direct memory limit lets the proxy hold at once, against {@code max_connections}:
 * HAProxy's {@code maxconn} sized by its memory limit ({@code -m}).
 *
 * <p>The proxy's buffers are direct memory, allocated by Netty and counted against the JVM's
 * {@code -XX:MaxDirectMemorySize} (the launcher sets 1 GiB). A client connection holds at most
 * {@link RelayBuffers#PER_CONNECTION} of it while relaying, whatever its client or its backend does; beside them
 * {@link #RESERVE} covers what is not per connection or comes on top of it (the allocator's partly used chunks, TLS
 * records, HTTP/2's frames, gossip, the admin pages). So it serves at most
 * {@code (limit - RESERVE) / PER_CONNECTION} client connections, and at least one. Held to that, a crowd of clients
 * that read slowly cannot take the memory the others need.
 *
 * @param configured {@code limits.max_connections}
 * @param effective  the client connections served at once: {@code configured}, or fewer when the limit is too low
 * @param limit      the direct memory limit in bytes; -1 if unknown
 * @param needed     the limit {@code configured} needs
 */
public record DirectMemoryCap(int configured, int effective, long limit, long needed) {

    /** Direct memory kept beside {@link RelayBuffers#PER_CONNECTION} per client connection. */
    public static final long RESERVE = 64L << 20;

    private static final long MIB = 1 << 20;

    /** The cap of {@code configured} client connections under a direct memory {@code limit}; -1 caps nothing. */
    public static DirectMemoryCap of(int configured, long limit) {
        long needed = configured * RelayBuffers.PER_CONNECTION + RESERVE;
        if (limit < 0 || needed <= limit) {
            return new DirectMemoryCap(configured, configured, limit, needed);
        }
        long fits = (limit - RESERVE) / RelayBuffers.PER_CONNECTION;
        return new DirectMemoryCap(configured, (int) Math.max(1, Math.min(configured, fits)), limit, needed);
    }

    /** This process's: {@link #limitNow()}. */
    public static DirectMemoryCap now(int configured) {
        return of(configured, limitNow());
    }

    /** This process's direct memory limit in bytes, as Netty counts it; -1 if unknown. */
    public static long limitNow() {
        long limit = PlatformDependent.maxDirectMemory();
        return limit > 0 ? limit : -1;
    }

    /**
     * The direct memory in use now, in bytes: Netty's own count where it allocates without the JDK's cleaner (as the
     * launcher has it), else the JDK's count of its direct buffers.
     */
    public static long usedNow() {
        long used = PlatformDependent.usedDirectMemory();
        if (used >= 0) {
            return used;
        }
        for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (pool.getName().equals("direct")) {
                return pool.getMemoryUsed();
            }
        }
        return -1;
    }

    /** Whether the limit lowered {@code max_connections}. */
    public boolean lowered() {
        return effective < configured;
    }

    /** The line that says so, when it did: what is configured, the limit, what is served, what limit it needs. */
    public String warning() {
        return "limits.max_connections " + configured + " needs a direct memory limit of " + mib(needed) + " ("
                + RelayBuffers.PER_CONNECTION / 1024 + " KiB per client connection for its buffers + " + mib(RESERVE)
                + " kept beside them), but the limit is " + mib(limit) + ": at most " + effective
                + " client connections are served at once, further ones are closed as over max_connections."
                + " Raise it to " + mib(needed) + " (-XX:MaxDirectMemorySize, in GRAPEVINE_JVM_EXTRA_OPTS) or lower"
                + " limits.max_connections";
    }

    private static String mib(long bytes) {
        return (bytes + MIB - 1) / MIB + " MiB";
    }
}
