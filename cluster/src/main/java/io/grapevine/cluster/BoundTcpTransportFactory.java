package io.grapevine.cluster;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import io.scalecube.cluster.transport.api.Message;
import io.scalecube.cluster.transport.api.Transport;
import io.scalecube.cluster.transport.api.TransportConfig;
import io.scalecube.cluster.transport.api.TransportFactory;
import io.scalecube.transport.netty.Receiver;
import io.scalecube.transport.netty.Sender;
import io.scalecube.transport.netty.TransportImpl;
import java.util.Objects;
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
 */
final class BoundTcpTransportFactory implements TransportFactory {

    private static final int LENGTH_FIELD_BYTES = 4;

    private final String bindHost;

    /** @param bindHost an IP address or host name of this host; {@code 0.0.0.0} or {@code ::} for all */
    BoundTcpTransportFactory(String bindHost) {
        this.bindHost = Objects.requireNonNull(bindHost, "bindHost");
    }

    @Override
    public Transport createTransport(TransportConfig config) {
        return new TransportImpl(config.messageCodec(), new BoundReceiver(bindHost, config), new FramedSender(config),
                config.addressMapper());
    }

    /** Scalecube's TCP framing, on both the accepted and the connected side. */
    private static void addFraming(Channel channel, int maxFrameLength) {
        ChannelPipeline pipeline = channel.pipeline();
        pipeline.addFirst(new LengthFieldBasedFrameDecoder(maxFrameLength, 0, LENGTH_FIELD_BYTES, 0, LENGTH_FIELD_BYTES));
        pipeline.addFirst(new LengthFieldPrepender(LENGTH_FIELD_BYTES));
    }

    /** Accepts members' connections on {@code bindHost}; every frame goes to the transport's decoder. */
    private record BoundReceiver(String bindHost, TransportConfig config) implements Receiver {

        @Override
        public Mono<DisposableServer> bind() {
            return Mono.deferContextual(context -> Mono.just(context.get(TransportImpl.ReceiverContext.class)))
                    .flatMap(receiver -> TcpServer.create()
                            .runOn(receiver.loopResources())
                            .host(bindHost)
                            .port(config.port())
                            .childOption(ChannelOption.TCP_NODELAY, true)
                            .childOption(ChannelOption.SO_KEEPALIVE, true)
                            .childOption(ChannelOption.SO_REUSEADDR, true)
                            .doOnChannelInit((observer, channel, remote) -> addFraming(channel, config.maxFrameLength()))
                            .handle((in, out) -> in.receive().retain().doOnNext(receiver::onMessage).then())
                            .bind()
                            .cast(DisposableServer.class));
        }
    }

    /** Connects to members (any local address) and writes one frame per message. */
    private record FramedSender(TransportConfig config) implements Sender {

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
                                .doOnChannelInit((observer, channel, remote) -> addFraming(channel, config.maxFrameLength()));
                        return (config.isClientSecured() ? client.secure() : client).connect().cast(Connection.class);
                    });
        }

        /**
         * Encodes the message and writes it as one frame. Reactor Netty's single-object send releases the
         * encoded buffer itself when the connection is already closed or the send is cancelled, so a member
         * that leaves while gossip is sent to it costs no buffer.
         */
        @Override
        public Mono<Void> send(Message message) {
            return Mono.deferContextual(context -> {
                Connection connection = context.get(Connection.class);
                TransportImpl.SenderContext sender = context.get(TransportImpl.SenderContext.class);
                return connection.outbound().sendObject(sender.messageEncoder().apply(message)).then();
            });
        }
    }
}
