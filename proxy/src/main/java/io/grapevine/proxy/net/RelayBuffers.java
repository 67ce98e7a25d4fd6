package io.grapevine.proxy.net;

import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.WriteBufferWaterMark;

/**
 * How much a connection may hold in the proxy's memory while it relays bytes, whatever its peer does: HAProxy's
 * {@code tune.bufsize}. A client that reads its response slowly (or not at all) makes its connection's outbound
 * buffer fill; once it holds more than {@link #HIGH_WATER} bytes after a flush the connection is unwritable and the
 * relay stops reading the other side (the backend connection, or for an upload the client connection) until it
 * drains below {@link #LOW_WATER}. The bytes in flight beyond the high-water mark are at most one read, of at most
 * {@link #MAX_READ} bytes. So one direction holds at most {@code HIGH_WATER + MAX_READ} bytes, and a connection
 * relaying both ways at once (a tunnel, a streamed echo) twice that: {@link #PER_CONNECTION}. The rest waits in
 * the kernel's socket buffers, which bound themselves.
 *
 * <p>Both are set on every client and backend connection. Without them (Netty's 64 KiB mark and 64 KiB reads) a
 * slow reader held 128 KiB of direct memory, and about 4,000 of them exhausted the default 512 MiB.
 */
public final class RelayBuffers {

    /** Above this many bytes waiting to be written after a flush, a connection is unwritable and its source paused. */
    public static final int HIGH_WATER = 16 * 1024;
    /** Below this many, it is writable again and its source reads again. */
    public static final int LOW_WATER = 8 * 1024;
    /**
     * The largest single read from a socket; reads start at 2 KiB and grow only while they come back full. A full read
     * written at once takes its destination over the high-water mark for a moment: the relay flushes it at once and
     * pauses its source only if the socket kept it ({@code Http1Connection.write}, the request side's
     * {@code Exchange.requestBodyBlocked}). Pausing at the mark itself stopped and restarted the source once per read
     * while the destination took everything: with reads as large as the mark (16 KiB) that tripled the CPU of a 1 MiB
     * download ({@code bench/run compare --scenarios download}: 1,750-2,120 us of CPU per download; 32 KiB reads 740
     * us; Netty's 64 KiB marks and reads 610-690 us); flushing first, 32 KiB reads cost 478-614 us.
     */
    public static final int MAX_READ = 32 * 1024;
    /** The most one connection holds while relaying both ways at once, as above. */
    public static final long PER_CONNECTION = 2L * (HIGH_WATER + MAX_READ);

    /** {@link #LOW_WATER} and {@link #HIGH_WATER}, for {@code ChannelOption.WRITE_BUFFER_WATER_MARK}. */
    public static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(LOW_WATER, HIGH_WATER);
    /**
     * Reads of {@link #MAX_READ} bytes at most, for {@code ChannelOption.RCVBUF_ALLOCATOR}. Shared: each channel takes
     * its own handle from it. Up to 16 reads per readiness, as Netty's stream channels.
     */
    public static final RecvByteBufAllocator READS = new AdaptiveRecvByteBufAllocator(64, 2048, MAX_READ)
            .maxMessagesPerRead(16);

    private RelayBuffers() {
    }

    /** Sets both on a client or backend connection's config; call before it reads or writes. */
    public static void apply(ChannelConfig config) {
        config.setWriteBufferWaterMark(WATER_MARK);
        config.setRecvByteBufAllocator(READS);
    }
}
