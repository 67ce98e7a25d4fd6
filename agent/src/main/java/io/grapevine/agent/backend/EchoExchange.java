package io.grapevine.agent.backend;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.AsciiString;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

/**
 * {@code /echo}: answers with what it received. The body is never kept: each piece goes
 * through SHA-256 and is released by the router, so an upload of any size needs no memory.
 *
 * <pre>
 * POST /echo HTTP/1.1
 * Host: 127.0.0.1:8080
 * ...every header line as received...
 *
 * body-sha256: 9f86d0...
 * body-length: 4
 * trailer: X-Checksum: abc      (one per trailer field, if any)
 * </pre>
 */
final class EchoExchange extends Exchange {
    static final AsciiString X_BODY_SHA256 = AsciiString.cached("X-Body-Sha256");
    static final AsciiString X_BODY_LENGTH = AsciiString.cached("X-Body-Length");

    private final StringBuilder text = new StringBuilder(512);
    private final MessageDigest sha256 = newSha256();
    private long length;
    private String digest;

    EchoExchange(HttpRequest request) {
        text.append(request.method()).append(' ').append(request.uri()).append(' ')
                .append(request.protocolVersion()).append('\n');
        appendFields("", request.headers());
        text.append('\n');
    }

    @Override
    void onBody(ByteBuf piece) {
        length += piece.readableBytes();
        if (piece.hasArray()) {
            sha256.update(piece.array(), piece.arrayOffset() + piece.readerIndex(), piece.readableBytes());
        } else {
            for (ByteBuffer nio : piece.nioBuffers()) {
                sha256.update(nio);
            }
        }
    }

    @Override
    void onTrailers(HttpHeaders trailers) {
        digest = HexFormat.of().formatHex(sha256.digest());
        text.append("body-sha256: ").append(digest).append('\n');
        text.append("body-length: ").append(length).append('\n');
        appendFields("trailer: ", trailers);
    }

    @Override
    ChannelFuture respond(ChannelHandlerContext ctx) {
        FullHttpResponse response = Responses.text(ctx.alloc(), HttpResponseStatus.OK, text);
        response.headers()
                .set(X_BODY_SHA256, digest)
                .set(X_BODY_LENGTH, length);
        return ctx.writeAndFlush(response);
    }

    private void appendFields(String prefix, HttpHeaders fields) {
        for (Map.Entry<String, String> field : fields) {
            text.append(prefix).append(field.getKey()).append(": ").append(field.getValue()).append('\n');
        }
    }

    static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
