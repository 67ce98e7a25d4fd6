package io.grapevine.agent.backend;

import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.CompletableFuture;

/**
 * {@code /bytes?n=N[&chunked=1]}: N bytes of {@link PatternBody}, with their SHA-256 in
 * {@code X-Body-Sha256}. The body goes out in 64 KiB pieces only while the channel is
 * writable and resumes when it becomes writable again, so a slow reader holds at most about
 * one high-water mark of it in memory.
 */
final class BytesExchange extends Exchange {
    private final long length;
    private final boolean chunked;
    private final boolean headOnly;
    private ChannelHandlerContext ctx;
    private ChannelPromise done;
    /** The digest waited for, abandoned if the connection closes first. */
    private PatternBody.Digest digest;
    /** Body bytes written so far: a multiple of the piece size until the last piece. */
    private long sent;
    private boolean streaming;

    BytesExchange(HttpRequest request, long length, boolean chunked) {
        this.length = length;
        // No Transfer-Encoding in a response to HTTP/1.0 (RFC 9112 section 6.1): Content-Length then.
        this.chunked = chunked && request.protocolVersion().compareTo(HttpVersion.HTTP_1_1) >= 0;
        this.headOnly = HttpMethod.HEAD.equals(request.method());
    }

    @Override
    ChannelFuture respond(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.done = ctx.newPromise();
        digest = PatternBody.sha256Hex(length);
        CompletableFuture<String> hex = digest.future();
        if (hex.isDone()) {
            start(hex.join(), null);
        } else {
            hex.whenComplete((sha256, error) -> ctx.executor().execute(() -> start(sha256, error)));
        }
        return done;
    }

    private void start(String sha256, Throwable error) {
        if (done.isDone()) {
            return; // aborted while the digest was computed
        }
        if (error != null) {
            done.setFailure(error);
            return;
        }
        HttpResponse response = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_OCTET_STREAM)
                .set(EchoExchange.X_BODY_SHA256, sha256);
        if (chunked) {
            HttpUtil.setTransferEncodingChunked(response, true);
        } else {
            HttpUtil.setContentLength(response, length);
        }
        ctx.write(response, ctx.voidPromise());
        if (headOnly) {
            ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT, done);
            return;
        }
        streaming = true;
        writeMore();
    }

    private void writeMore() {
        while (sent < length && ctx.channel().isWritable()) {
            int n = (int) Math.min(PatternBody.PIECE_SIZE, length - sent);
            ctx.write(new DefaultHttpContent(PatternBody.piece(n)), ctx.voidPromise());
            sent += n;
        }
        if (sent == length) {
            streaming = false;
            ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT, done);
        } else {
            ctx.flush();
        }
    }

    @Override
    void onWritabilityChanged(ChannelHandlerContext ctx) {
        if (streaming && ctx.channel().isWritable()) {
            writeMore();
        }
    }

    @Override
    void abort() {
        streaming = false;
        if (digest != null) {
            digest.abandon();
        }
        if (done != null) {
            done.tryFailure(new ClosedChannelException());
        }
    }
}
