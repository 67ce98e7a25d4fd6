package io.grapevine.proxy.client;

import io.grapevine.proxy.forward.ClientConnection;
import io.grapevine.proxy.forward.LoopContext;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * The first handler of a plaintext client connection: reads the first bytes and decides the protocol.
 * The HTTP/2 connection preface ({@code PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n}, RFC 9113 section 3.4) means a
 * client with prior knowledge of HTTP/2 (h2c); anything else is HTTP/1.x. It then installs that codec,
 * hands it the bytes read so far, and leaves the pipeline. Almost always the first read decides: an
 * HTTP/1.x request differs from the preface within its first three bytes.
 *
 * <p>Until it decides, it stands for the connection: a client that sends nothing within
 * {@code client_header_ms} is closed, as one that sends nothing of its request head is, and a drain
 * closes it; bytes that begin an HTTP/1.x head as well as the preface ("P", "PR") go to HTTP/1.x then,
 * which answers them (408 at the deadline; a drain's {@code Connection: close} once the head is complete). The time it took is part of the client's {@code client_header_ms}, not added to it: the codec's
 * deadline for the first request head (HTTP/1.x) or the connection preface (HTTP/2) counts from this handler's
 * start. Thread: the channel's event loop.
 */
final class PrefaceDetector extends ClientChannelHandler implements ClientConnection {

    static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    private final ClientInitializer initializer;
    private final LoopContext loop;
    private final long headerTimeoutNanos;
    private ByteBuf buffered;
    private long activeSinceNanos;
    /** The codec is chosen (or the connection closed): this handler is out of the way. */
    private boolean done;

    PrefaceDetector(ClientInitializer initializer, LoopContext loop) {
        this.initializer = initializer;
        this.loop = loop;
        this.headerTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(loop.timeouts().clientHeaderMillis());
    }

    @Override
    protected void activate() {
        activeSinceNanos = System.nanoTime();
        loop.register(this);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf in = (ByteBuf) msg;
        if (done) {
            in.release();
            return;
        }
        buffered = buffered == null ? in : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), buffered, in);
        int n = Math.min(buffered.readableBytes(), PREFACE.length);
        int start = buffered.readerIndex();
        for (int i = 0; i < n; i++) {
            if (buffered.getByte(start + i) != PREFACE[i]) {
                decide(false);
                return;
            }
        }
        if (n == PREFACE.length) {
            decide(true);
        }
    }

    /**
     * Whether what was read begins an HTTP/1.x request as well as the preface: "P" or "PR", as POST, PUT, PATCH and
     * PROPFIND do. "PRI" is the preface's alone (RFC 9113 section 3.4 reserves the method).
     */
    private boolean holdsHttp1Start() {
        return buffered != null && buffered.isReadable() && buffered.readableBytes() < 3;
    }

    /** Decides HTTP/1.x for what was read ({@link #holdsHttp1Start}); returns the connection that now reads it. */
    private ClientConnection decideHttp1() {
        decide(false);
        return (ClientConnection) ctx.pipeline().get(ClientInitializer.HTTP1);
    }

    /** Installs the codec after this handler, leaves, and passes it what was read. */
    private void decide(boolean http2) {
        done = true;
        loop.unregister(this);
        ChannelPipeline pipeline = ctx.pipeline();
        // What was read here began the request head or the connection preface: its deadline counts from this
        // handler's start, not again from the codec's.
        if (http2) {
            initializer.installHttp2(pipeline, activeSinceNanos);
        } else {
            initializer.installHttp1(pipeline, activeSinceNanos);
        }
        ByteBuf read = buffered;
        buffered = null;
        pipeline.remove(this);
        ctx.fireChannelRead(read);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (!done) {
            done = true;
            loop.unregister(this);
            release();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent && !done) {
            ctx.close(); // the client finished sending before a whole request could start
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }

    @Override
    public void checkDeadlines(long nowNanos) {
        if (!done && nowNanos - activeSinceNanos > headerTimeoutNanos) {
            if (holdsHttp1Start()) {
                // A request head begun and not complete in time: HTTP/1.x answers it 408 (and counts it), as it
                // does a head whose first byte told the protocol at once.
                decideHttp1().checkDeadlines(nowNanos);
            } else {
                ctx.close(); // connected and sent nothing (or a fragment of the preface) in time
            }
        }
    }

    @Override
    public void beginDrain() {
        if (!done) {
            if (holdsHttp1Start()) {
                // A request head is arriving: HTTP/1.x answers it, with Connection: close, rather than cut it off.
                decideHttp1().beginDrain();
            } else {
                ctx.close(); // nothing in flight yet
            }
        }
    }

    @Override
    public void closeAfterNextResponse() {
        // nothing to answer yet: the HTTP/1 or HTTP/2 connection detected registers itself and is told then
    }

    private void release() {
        if (buffered != null) {
            buffered.release();
            buffered = null;
        }
    }
}
