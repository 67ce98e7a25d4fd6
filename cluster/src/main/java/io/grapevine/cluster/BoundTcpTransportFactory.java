package io.grapevine.cluster;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import io.netty.handler.codec.TooLongFrameException;
import io.scalecube.cluster.transport.api.Message;
import io.scalecube.cluster.transport.api.Transport;
import io.scalecube.cluster.transport.api.TransportConfig;
import io.scalecube.cluster.transport.api.TransportFactory;
import io.scalecube.transport.netty.Receiver;
import io.scalecube.transport.netty.Sender;
import io.scalecube.transport.netty.TransportImpl;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.netty.Connection;
import reactor.netty.DisposableServer;
import reactor.netty.tcp.TcpClient;
import reactor.netty.tcp.TcpServer;

/**
 * Scalecube's TCP transport, listening on one local address instead of every interface.
 *
 * <p>Scalecube 2.7.10's {@code TcpTransportFactory} builds its server from {@code TransportConfig.port()}
 * alone, so it always binds the wildcard address, and its receiver and sender have package-private
 * constructors. Its {@link TransportImpl} takes any {@link Receiver} and {@link Sender}, though: this
 * factory gives it a receiver bound to {@code bindHost} and a sender, both speaking scalecube's TCP framing
 * (a 4-byte big-endian length before each frame) so that members built with either factory talk to each
 * other. Everything above the framing (the message codec, connection reuse, the event loops) stays
 * scalecube's.
 *
 * <p>What the port accepts is bounded: at most {@code maxInboundConnections} connections at once (more are
 * closed as they arrive), and a frame whose length field says more than {@code maxFrameLength} is refused
 * when that field is read, before any of it is buffered, and its connection closed. What it sends is bounded
 * too: a connection whose unsent bytes pass its high-water mark takes no more messages until it drains. All
 * three are counted in {@link FrameCounters}.
 */
final class BoundTcpTransportFactory implements TransportFactory {

    private static final Logger LOG = LoggerFactory.getLogger(BoundTcpTransportFactory.class);
    private static final int LENGTH_FIELD_BYTES = 4;

    private final String bindHost;
    private final int maxInboundConnections;
    private final FrameCounters counters;
    private final AtomicInteger inbound = new AtomicInteger();
    private final RateLimitedWarning refusedWarning = new RateLimitedWarning(LOG,
            "Refused connection(s) to the membership port (maxInboundConnections reached)");
    private final RateLimitedWarning oversizedWarning = new RateLimitedWarning(LOG,
            "Refused oversized membership frame(s), closing their connections");
    private final RateLimitedWarning unwritableWarning = new RateLimitedWarning(LOG,
            "Dropped membership message(s) to a member that is not reading what it is sent");

    /**
     * @param bindHost              an IP address or host name of this host; {@code 0.0.0.0} or {@code ::} for all
     * @param maxInboundConnections connections accepted at once
     * @param counters              where refused connections and oversized frames are counted
     */
    BoundTcpTransportFactory(String bindHost, int maxInboundConnections, FrameCounters counters) {
        this.bindHost = Objects.requireNonNull(bindHost, "bindHost");
        this.maxInboundConnections = maxInboundConnections;
        this.counters = Objects.requireNonNull(counters, "counters");
    }

    @Override
    public Transport createTransport(TransportConfig config) {
        return new TransportImpl(config.messageCodec(), new BoundReceiver(this, config), new FramedSender(this, config),
                config.addressMapper());
    }

    /** Scalecube's TCP framing, on both the accepted and the connected side, and the guard behind it. */
    private void addFraming(Channel channel, int maxFrameLength) {
        ChannelPipeline pipeline = channel.pipeline();
        pipeline.addFirst(new OversizedFrameGuard());
        pipeline.addFirst(new LengthFieldBasedFrameDecoder(maxFrameLength, 0, LENGTH_FIELD_BYTES, 0, LENGTH_FIELD_BYTES));
        pipeline.addFirst(new LengthFieldPrepender(LENGTH_FIELD_BYTES));
    }

    /**
     * Counts an accepted connection until it closes; beyond {@code maxInboundConnections} closes it at once.
     *
     * @return whether the connection may stay
     */
    private boolean admit(Channel channel) {
        if (inbound.incrementAndGet() > maxInboundConnections) {
            inbound.decrementAndGet();
            counters.connectionsRefused.increment();
            refusedWarning.warn("from " + channel.remoteAddress() + " with " + maxInboundConnections + " open");
            channel.close();
            return false;
        }
        channel.closeFuture().addListener(f -> inbound.decrementAndGet());
        return true;
    }

    /** A send to {@code channel} refused because its write buffer is full; counted and reported. */
    private java.io.IOException notTakingMore(Channel channel) {
        counters.sendsDropped.increment();
        unwritableWarning.warn("to " + channel.remoteAddress() + ", " + channel.unsafe().outboundBuffer().totalPendingWriteBytes()
                + " bytes unsent");
        return new java.io.IOException("member at " + channel.remoteAddress() + " is not reading: message dropped");
    }

    /**
     * Right behind the frame decoder: a frame over the limit (the decoder throws as soon as it has read the
     * length) is counted and its connection closed; what follows on it could not be trusted to be framed.
     */
    private final class OversizedFrameGuard extends ChannelInboundHandlerAdapter {
        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (!(cause instanceof TooLongFrameException)) {
                ctx.fireExceptionCaught(cause);
                return;
            }
            counters.oversized.increment();
            oversizedWarning.warn("from " + ctx.channel().remoteAddress() + ": " + cause.getMessage());
            ctx.close();
        }
    }

    /** Accepts members' connections on {@code bindHost}; every frame goes to the transport's decoder. */
    private record BoundReceiver(BoundTcpTransportFactory factory, TransportConfig config) implements Receiver {

        @Override
        public Mono<DisposableServer> bind() {
            return Mono.deferContextual(context -> Mono.just(context.get(TransportImpl.ReceiverContext.class)))
                    .flatMap(receiver -> TcpServer.create()
                            .runOn(receiver.loopResources())
                            .host(factory.bindHost)
                            .port(config.port())
                            .childOption(ChannelOption.TCP_NODELAY, true)
                            .childOption(ChannelOption.SO_KEEPALIVE, true)
                            .childOption(ChannelOption.SO_REUSEADDR, true)
                            .doOnChannelInit((observer, channel, remote) -> {
                                if (factory.admit(channel)) {
                                    factory.addFraming(channel, config.maxFrameLength());
                                }
                            })
                            .handle((in, out) -> in.receive().retain().doOnNext(receiver::onMessage).then())
                            .bind()
                            .cast(DisposableServer.class));
        }
    }

    /** Connects to members (any local address) and writes one frame per message. */
    private record FramedSender(BoundTcpTransportFactory factory, TransportConfig config) implements Sender {

        @Override
        public Mono<Connection> connect(String address) {
            return Mono.deferContextual(context -> Mono.just(context.get(TransportImpl.SenderContext.class)))
                    .flatMap(sender -> {
                        TcpClient client = TcpClient.newConnection()
                                .runOn(sender.loopResources())
                                .host(Transport.parseHost(address))
                                .port(Transport.parsePort(address))
                                .option(ChannelOption.TCP_NODELAY, true)
                                .option(ChannelOption.SO_KEEPALIVE, true)
                                .option(ChannelOption.SO_REUSEADDR, true)
                                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, config.connectTimeout())
                                .doOnChannelInit((observer, channel, remote) -> factory.addFraming(channel,
                                        config.maxFrameLength()));
                        return (config.isClientSecured() ? client.secure() : client).connect().cast(Connection.class);
                    });
        }

        /**
         * Encodes the message and writes it as one frame. Reactor Netty's single-object send releases the
         * encoded buffer itself when the connection is already closed or the send is cancelled, so a member
         * that leaves while gossip is sent to it costs no buffer. A member whose connection holds more unsent
         * bytes than its high-water mark (it stopped reading, or reads slower than it is sent to) gets nothing
         * more until it drains: the message fails, as a lost packet would, which the protocol tolerates.
         */
        @Override
        public Mono<Void> send(Message message) {
            return Mono.deferContextual(context -> {
                Connection connection = context.get(Connection.class);
                if (!connection.channel().isWritable()) {
                    return Mono.error(factory.notTakingMore(connection.channel()));
                }
                TransportImpl.SenderContext sender = context.get(TransportImpl.SenderContext.class);
                return connection.outbound().sendObject(sender.messageEncoder().apply(message)).then();
            });
        }
    }
}
