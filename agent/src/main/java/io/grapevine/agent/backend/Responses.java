package io.grapevine.agent.backend;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.AsciiString;

/** Small complete responses. */
final class Responses {
    static final AsciiString TEXT_PLAIN = AsciiString.cached("text/plain; charset=utf-8");

    private Responses() {
    }

    /** A {@code text/plain} response with a {@code Content-Length}; the caller writes (and so releases) it. */
    static FullHttpResponse text(ByteBufAllocator alloc, HttpResponseStatus status, CharSequence body) {
        ByteBuf content = ByteBufUtil.writeUtf8(alloc, body);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, content);
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, TEXT_PLAIN)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, content.readableBytes());
        return response;
    }

    /**
     * A response without content. {@code Content-Length: 0} except on 204, which must not
     * carry one (RFC 9110 section 8.6); a 304 may, and needs it to stay keep-alive here.
     */
    static FullHttpResponse empty(HttpResponseStatus status) {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.EMPTY_BUFFER);
        if (status.code() != HttpResponseStatus.NO_CONTENT.code()) {
            response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
        }
        return response;
    }
}
