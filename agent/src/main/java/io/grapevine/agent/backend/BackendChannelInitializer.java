package io.grapevine.agent.backend;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;

/**
 * Pipeline of one accepted connection:
 *
 * <pre>
 *   socket
 *     codec       HttpServerCodec             bytes &lt;-&gt; HttpRequest / HttpContent / HttpResponse
 *     keep-alive  HttpServerKeepAliveHandler  closes after the response when the request or response says so
 *     headers     BackendHeaders              X-Backend-Id on every response
 *     router      RequestRouter               one exchange at a time, in request order
 * </pre>
 */
final class BackendChannelInitializer extends ChannelInitializer<Channel> {
    static final String CODEC = "codec";
    static final String KEEP_ALIVE = "keep-alive";
    static final String HEADERS = "headers";
    static final String ROUTER = "router";

    /** Body pieces of up to 64 KiB: fewer, larger HttpContent messages for uploads. */
    private static final int MAX_CHUNK_SIZE = 64 * 1024;

    private final WorkerControl worker;

    BackendChannelInitializer(WorkerControl worker) {
        this.worker = worker;
    }

    @Override
    protected void initChannel(Channel ch) {
        if (!worker.adopt(ch)) {
            ch.close();
            return;
        }
        ch.pipeline()
                .addLast(CODEC, new HttpServerCodec(new HttpDecoderConfig().setMaxChunkSize(MAX_CHUNK_SIZE)))
                .addLast(KEEP_ALIVE, new HttpServerKeepAliveHandler())
                .addLast(HEADERS, new BackendHeaders(worker.id()))
                .addLast(ROUTER, new RequestRouter(worker));
    }
}
