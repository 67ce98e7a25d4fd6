package io.grapevine.proxy.forward;

import io.grapevine.proxy.table.Server;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;

/**
 * Opens backend connections for one event loop. The production dialer connects a socket on the loop
 * (Netty's {@code HexDumpProxy} way: the backend channel shares the client channel's loop, so nothing
 * crosses threads); tests hand out in-memory channels instead.
 */
public interface Dialer {

    /**
     * Starts a connection to {@code server} whose pipeline is {@code handler} alone; called on the loop.
     *
     * @return the connect future; its channel is the backend channel
     */
    ChannelFuture dial(Server server, ChannelHandler handler);
}
