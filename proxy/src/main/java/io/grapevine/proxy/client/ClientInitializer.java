package io.grapevine.proxy.client;

import io.grapevine.proxy.config.Networks;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.forward.LoopContext;
import io.grapevine.proxy.net.AcceptFailures;
import io.grapevine.proxy.net.RelayBuffers;
import io.grapevine.proxy.stats.ProxyStats;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;
import io.netty.handler.ssl.ApplicationProtocolNames;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.IntSupplier;
import java.util.function.LongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sets up an accepted client connection: refuses it beyond {@code max_connections}, otherwise builds its
 * pipeline, in this order:
 * <ol>
 *   <li>with {@code accept_proxy_protocol}, the PROXY protocol header, which says who the client is
 *       ({@link ProxyHeaderCheck}, then {@link ProxyProtocolReader}; the rest is added once it arrived);</li>
 *   <li>on a TLS listener ({@link #withTls}), the TLS handler, then {@link AlpnCodecSelector}, which installs
 *       the codec that ALPN chose ({@link #installHttp2} or {@link #installHttp1}) once the handshake is done;</li>
 *   <li>in cleartext, {@link PrefaceDetector}, which tells HTTP/2 with prior knowledge from HTTP/1.x by the first
 *       bytes;</li>
 *   <li>the codec of the client's protocol, bound to the connection's event loop.</li>
 * </ol>
 * The connection is counted in {@code connections_current} from here to its close, whichever stage it
 * reached.
 *
 * <p>One instance serves every connection of a listener, as the listening channel's handler ({@link #acceptor}): it
 * registers each accepted channel with the worker loops and builds its pipeline once it is registered, holding no
 * state of a connection. The accepted channel's pipeline never holds this handler: ServerBootstrap's own acceptor
 * would add its child handler to each accepted channel (a name generated, then checked free by a search of the
 * pipeline; a context; a registration listener made per channel) only for that handler to build the pipeline and
 * take itself out again (another search).
 */
public final class ClientInitializer {

    public static final String HTTP1 = "http1";
    public static final String TLS = "tls";
    public static final String ALPN = "alpn";
    public static final String PROXY_PROTOCOL_CHECK = "proxy-protocol-check";
    public static final String PROXY_PROTOCOL_DECODER = "proxy-protocol-decoder";
    public static final String PROXY_PROTOCOL = "proxy-protocol";
    public static final String DETECT = "detect-protocol";

    /**
     * ALPN (RFC 7301): the protocols offered to TLS clients, in the proxy's order of preference, and the step
     * that installs each one's codec. A protocol is added by adding its line here.
     */
    private static final Map<String, BiConsumer<ClientInitializer, ChannelPipeline>> ALPN_CODECS = new LinkedHashMap<>();

    static {
        ALPN_CODECS.put(ApplicationProtocolNames.HTTP_2, ClientInitializer::installHttp2);
        ALPN_CODECS.put(ApplicationProtocolNames.HTTP_1_1, ClientInitializer::installHttp1);
    }

    private static final Logger log = LoggerFactory.getLogger(ClientInitializer.class);

    private final DataPlane dataPlane;
    private final ProxyStats stats;
    /** Client connections open at once, at most: {@code max_connections}, or fewer than the open-files limit allows. */
    private final IntSupplier maxConnections;
    private final boolean acceptProxyProtocol;
    /** With {@link #acceptProxyProtocol}, the sources whose PROXY header is believed; empty: any. */
    private final Networks proxyProtocolSources;
    private final long headerTimeoutMillis;
    /**
     * Makes each connection's TLS handler, given when it was accepted; {@code null} on a plaintext listener. Non-null:
     * every codec this initializer installs sits behind TLS, and is told so (its requests are https) rather than
     * search its pipeline for the TLS handler.
     */
    private final LongFunction<ChannelHandler> tls;
    /** Gives a closed connection's place in {@code connections_current} back: one listener for every connection. */
    private final ChannelFutureListener connectionClosed;

    public ClientInitializer(DataPlane dataPlane, ProxyStats stats, ProxyConfig config) {
        this(dataPlane, stats, config, config.limits()::maxConnections);
    }

    /**
     * @param maxConnections the client connections open at once, at most, read at each accept: {@code max_connections}
     *                       unless the open-files limit lowered it
     */
    public ClientInitializer(DataPlane dataPlane, ProxyStats stats, ProxyConfig config, IntSupplier maxConnections) {
        this(dataPlane, stats, maxConnections, config.proxyProtocol().accept(),
                Networks.of(config.proxyProtocol().acceptFrom()), config.timeouts().clientHeaderMillis(), null);
    }

    private ClientInitializer(DataPlane dataPlane, ProxyStats stats, IntSupplier maxConnections,
                              boolean acceptProxyProtocol,
                              Networks proxyProtocolSources, long headerTimeoutMillis, LongFunction<ChannelHandler> tls) {
        this.dataPlane = dataPlane;
        this.stats = stats;
        this.maxConnections = maxConnections;
        this.acceptProxyProtocol = acceptProxyProtocol;
        this.proxyProtocolSources = proxyProtocolSources;
        this.headerTimeoutMillis = headerTimeoutMillis;
        this.tls = tls;
        this.connectionClosed = f -> stats.connectionsCurrent.decrementAndGet();
    }

    /**
     * The same setup for a listener that speaks TLS.
     *
     * @param tls makes a connection's TLS handler (on its event loop) from the {@link System#nanoTime()} of its accept,
     *            from which its handshake deadline runs: an {@code SslHandler}, or a handler that puts one in its own
     *            place under its own name before the handshake
     */
    public ClientInitializer withTls(LongFunction<ChannelHandler> tls) {
        return new ClientInitializer(dataPlane, stats, maxConnections, acceptProxyProtocol, proxyProtocolSources,
                headerTimeoutMillis, tls);
    }

    /** The ALPN protocol names to offer, in order of preference. */
    public static List<String> alpnProtocols() {
        return List.copyOf(ALPN_CODECS.keySet());
    }

    /**
     * The handler of the listening channel: {@code bootstrap.handler(initializer.acceptor(workers))}, with
     * {@link #NOT_ACCEPTED_HERE} as the bootstrap's child handler. It stands before the bootstrap's own acceptor and
     * passes it no accepted channel, nor the listening channel's failures: an accept that fails pauses the listener
     * and is counted in {@code accept_failures} ({@link AcceptFailures}).
     *
     * @param workers the loops that serve the accepted connections
     */
    public ChannelHandler acceptor(EventLoopGroup workers) {
        return new Acceptor(workers, new AcceptFailures(tls == null ? "client listener" : "TLS listener",
                stats.acceptFailures));
    }

    /**
     * ServerBootstrap requires a child handler, though the listener's {@link #acceptor} takes every accepted channel
     * before the bootstrap would add it: it is never added. Were it, the connection would be closed and say so.
     */
    public static final ChannelHandler NOT_ACCEPTED_HERE = new NotAcceptedHere();

    @ChannelHandler.Sharable
    private static final class NotAcceptedHere extends ChannelInboundHandlerAdapter {
        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            log.error("connection of {} reached the bootstrap's acceptor, which cannot set it up; closed",
                    ctx.channel().remoteAddress());
            ctx.close();
        }
    }

    /**
     * Takes each accepted channel on the listening channel's loop, registers it with a worker loop, and sets it up on
     * that loop once registered. One instance per listener; it keeps nothing of a connection.
     */
    @ChannelHandler.Sharable
    private final class Acceptor extends ChannelInboundHandlerAdapter {

        private final EventLoopGroup workers;
        /**
         * One listener for every accepted channel, on its registration's promise before the registration starts: it
         * runs on the channel's own loop as the registration completes, after the loop took the channel and before
         * its pipeline hears channelRegistered and channelActive (and so before its first read). The handlers added
         * here bind to that loop and see both events. Added to the future of a registration already begun, it could
         * run after them, as a task of the loop behind the channel's first read: the pipeline would not be there
         * for the request.
         */
        private final ChannelFutureListener registered = this::registered;
        /** The listener's accept failures: they stop here, and never reach the bootstrap's acceptor. */
        private final AcceptFailures failures;

        Acceptor(EventLoopGroup workers, AcceptFailures failures) {
            this.workers = workers;
            this.failures = failures;
        }

        /** The listening channel's loop: {@code msg} is an accepted channel, registered with no loop yet. */
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Channel child = (Channel) msg;
            // A client's FIN ends its input, not the connection: answered requests still go out (see Http1Connection)
            child.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            RelayBuffers.apply(child.config()); // what a slow reader can make it hold
            try {
                ChannelPromise registration = child.newPromise(); // its loop is the channel's, once registered
                registration.addListener(registered);
                workers.register(registration);
            } catch (Throwable t) {
                registrationFailed(child, t);
            }
        }

        /** The listening channel's loop: an accept failed. */
        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            failures.failed(ctx.channel(), cause);
        }

        private void registered(ChannelFuture future) {
            Channel ch = future.channel();
            if (!future.isSuccess()) {
                registrationFailed(ch, future.cause());
                return;
            }
            try {
                initChannel(ch);
            } catch (Throwable t) {
                log.warn("setting up the connection of {} failed; closed", ch.remoteAddress(), t);
                ch.close();
            }
        }

        private void registrationFailed(Channel ch, Throwable cause) {
            ch.unsafe().closeForcibly();
            log.warn("registering the connection of {} with an event loop failed; closed", ch.remoteAddress(), cause);
        }
    }

    private void initChannel(Channel ch) {
        if (!admit(ch)) {
            return;
        }
        ChannelPipeline pipeline = ch.pipeline();
        long acceptedNanos = System.nanoTime();
        if (acceptProxyProtocol && !fromTrustedBalancer(ch)) {
            stats.proxyProtocolRejected.increment();
            ch.close();
            return;
        }
        if (acceptProxyProtocol) {
            // The PROXY header comes first, before TLS: it says who the client is. A v1 line is read strictly
            // by the check, which then takes the decoder out; a v2 header's length, TLVs and checksum are
            // checked before Netty's decoder reads it.
            LoopContext loop = dataPlane.loopOf(ch.eventLoop());
            pipeline.addLast(PROXY_PROTOCOL_CHECK, new ProxyHeaderCheck(loop.limits().maxHeaderBytes()));
            pipeline.addLast(PROXY_PROTOCOL_DECODER, new HAProxyMessageDecoder(true));
            // the TLS handshake's deadline runs from the accept: the header's time counts against it too
            pipeline.addLast(PROXY_PROTOCOL, new ProxyProtocolReader(stats, loop, headerTimeoutMillis,
                    p -> installProtocols(p, acceptedNanos)));
        } else {
            installProtocols(pipeline, acceptedNanos);
        }
    }

    /**
     * Whether the connection comes from a source that may name its client ({@code accept_proxy_protocol_from}; any when
     * that is empty). One that does not is refused before a byte of it is read: what it would claim cannot be believed.
     */
    private boolean fromTrustedBalancer(Channel ch) {
        if (proxyProtocolSources.isEmpty()) {
            return true;
        }
        if (ch.remoteAddress() instanceof InetSocketAddress remote && remote.getAddress() != null
                && proxyProtocolSources.contains(remote.getAddress())) {
            return true;
        }
        log.debug("connection from {}: not a source accept_proxy_protocol_from lists; closed", ch.remoteAddress());
        return false;
    }

    /**
     * Counts the connection (until it closes, whatever stage of its pipeline it reached); beyond
     * {@code max_connections} closes it at once and returns false.
     */
    private boolean admit(Channel ch) {
        if (!stats.connectionOpened(maxConnections.getAsInt())) {
            ch.close();
            return false;
        }
        ch.closeFuture().addListener(connectionClosed);
        return true;
    }

    /**
     * What follows the (optional) PROXY header: TLS if the listener speaks it, and the client's protocol.
     *
     * @param acceptedNanos when the connection was accepted
     */
    private void installProtocols(ChannelPipeline pipeline, long acceptedNanos) {
        if (tls != null) {
            installTls(pipeline, acceptedNanos);
        } else {
            installHttp1OrHttp2(pipeline);
        }
    }

    /**
     * TLS, its handshake due {@code timeouts.tls_handshake_ms} after {@code acceptedNanos}, then the codec that ALPN
     * selects once the handshake is done.
     */
    private void installTls(ChannelPipeline pipeline, long acceptedNanos) {
        pipeline.addLast(TLS, tls.apply(acceptedNanos));
        pipeline.addLast(ALPN, new AlpnCodecSelector(this, dataPlane.loopOf(pipeline.channel().eventLoop())));
    }

    /** Ends {@code pipeline} with the codec of {@code protocol}; false if it is not one of {@link #alpnProtocols}. */
    boolean installAlpnCodec(String protocol, ChannelPipeline pipeline) {
        BiConsumer<ClientInitializer, ChannelPipeline> install = ALPN_CODECS.get(protocol);
        if (install == null) {
            return false;
        }
        install.accept(this, pipeline);
        return true;
    }

    /**
     * Ends {@code pipeline} with the handler that reads the first bytes of the connection and then installs
     * HTTP/2 (the client sent the HTTP/2 preface: prior knowledge) or HTTP/1.x. The plaintext listener
     * uses it; so may a TLS connection whose client offered no ALPN.
     */
    public void installHttp1OrHttp2(ChannelPipeline pipeline) {
        pipeline.addLast(DETECT, new PrefaceDetector(this, dataPlane.loopOf(pipeline.channel().eventLoop())));
    }

    /** Ends {@code pipeline} with the HTTP/1.x codec (once whatever comes first, TLS say, is in place). */
    public void installHttp1(ChannelPipeline pipeline) {
        installHttp1(pipeline, System.nanoTime());
    }

    /**
     * As {@link #installHttp1(ChannelPipeline)}, for a client whose first bytes were read since {@code sinceNanos}
     * by the handler that chose HTTP/1.x: its first request head's deadline counts from then.
     */
    void installHttp1(ChannelPipeline pipeline, long sinceNanos) {
        pipeline.addLast(HTTP1, new Http1Connection(dataPlane.loopOf(pipeline.channel().eventLoop()), sinceNanos,
                tls != null));
    }

    /**
     * Ends {@code pipeline} with the HTTP/2 server (frame codec, stream multiplexer, connection handler),
     * for a connection whose client speaks HTTP/2 from its first byte: ALPN {@code h2} over TLS (a TLS
     * listener's connection: its requests are {@code X-Forwarded-Proto: https}), or
     * prior knowledge in cleartext. Call on the channel's event loop, before its first bytes are read or
     * with them still to be passed on.
     */
    public void installHttp2(ChannelPipeline pipeline) {
        installHttp2(pipeline, System.nanoTime());
    }

    /**
     * As {@link #installHttp2(ChannelPipeline)}, for a client whose first bytes were read since {@code sinceNanos}
     * by the handler that chose HTTP/2: the deadline of its connection preface counts from then.
     */
    void installHttp2(ChannelPipeline pipeline, long sinceNanos) {
        Http2Connection.install(pipeline, dataPlane.loopOf(pipeline.channel().eventLoop()), sinceNanos, tls != null);
    }
}
