package io.grapevine.agent.backend;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpHeaders;

/**
 * One request and its response on a connection, created by {@link Routes} when the request
 * head arrives. Every method runs on the connection's event loop, in this order:
 * {@link #onBody} zero or more times, {@link #onTrailers} once, {@link #respond} once, then
 * {@link #onWritabilityChanged} while the response is being written. {@link #abort} may come
 * at any point after {@link #respond} when the connection closes.
 *
 * <p>An exchange holds no reference-counted buffer between calls, so a connection that dies
 * mid-request leaks nothing.
 */
abstract class Exchange {

    /** A piece of the request body; the caller keeps ownership of the buffer and releases it. */
    void onBody(ByteBuf piece) {
    }

    /** The request's trailer fields (usually empty); the request is now complete. */
    void onTrailers(HttpHeaders trailers) {
    }

    /**
     * Writes the whole response, now or later.
     *
     * @return a future that completes when the last part of the response was written, or
     *         fails when it could not be
     */
    abstract ChannelFuture respond(ChannelHandlerContext ctx);

    /** The channel's writability changed while this exchange's response was being written. */
    void onWritabilityChanged(ChannelHandlerContext ctx) {
    }

    /** The connection closed before the response was written; stop any pending work. */
    void abort() {
    }
}
