package io.grapevine.proxy.tls;

import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.ssl.SniHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.Mapping;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;

/**
 * The first handler of a TLS client connection: reads the ClientHello, picks the certificate for the host name it
 * carries ({@link SniMapping}), and replaces itself with an {@link SslHandler} for that certificate, under its own
 * name in the pipeline. The handshake deadline runs from the accept: a PROXY header before it and waiting for the
 * ClientHello count (as HAProxy's handshake timeout covers both), and the {@code SslHandler} gets what is left.
 *
 * <p>Events for the handler after it: {@code SniCompletionEvent} (a failed one when the input is not TLS or no
 * ClientHello came in time), then {@code SslHandshakeCompletionEvent}. Thread: the channel's event loop.
 */
final class CertificateSelector extends SniHandler {

    private final long acceptedNanos;
    /** The whole handshake's time, from {@link #acceptedNanos}; the superclass's field holds what was left here. */
    private final long deadlineMillis;

    /** @param acceptedNanos the {@link System#nanoTime()} of the accept */
    CertificateSelector(Mapping<String, SslContext> certificates, long handshakeTimeoutMillis, long acceptedNanos) {
        super(certificates, left(handshakeTimeoutMillis, acceptedNanos));
        this.acceptedNanos = acceptedNanos;
        this.deadlineMillis = handshakeTimeoutMillis;
    }

    /** What is left of {@code timeoutMillis} since {@code sinceNanos}; at least 1 ms (0 would be no deadline). */
    private static long left(long timeoutMillis, long sinceNanos) {
        return Math.max(1, timeoutMillis - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sinceNanos));
    }

    @Override
    protected void replaceHandler(ChannelHandlerContext ctx, String hostname, SslContext context) {
        SslHandler ssl = newSslHandler(context, ctx.alloc());
        try {
            ctx.pipeline().replace(this, ctx.name(), ssl);
        } catch (RuntimeException e) {
            // The client left meanwhile: the SslHandler never owned its engine, so release it here.
            ReferenceCountUtil.safeRelease(ssl.engine());
            throw e;
        }
    }

    @Override
    protected SslHandler newSslHandler(SslContext context, ByteBufAllocator alloc) {
        SslHandler ssl = context.newHandler(alloc);
        ssl.setHandshakeTimeoutMillis(left(deadlineMillis, acceptedNanos));
        return ssl;
    }
}
