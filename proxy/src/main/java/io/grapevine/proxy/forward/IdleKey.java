package io.grapevine.proxy.forward;

import io.grapevine.proxy.table.Server;
import java.net.InetSocketAddress;

/**
 * Which idle backend connections a request may take. Normally every connection to a server is alike and
 * the key is the {@link Server} itself; a connection that began with a PROXY protocol header speaks for one
 * client (the header named its addresses), so it is only ever reused for the same client connection, under
 * a key that holds those addresses.
 */
record IdleKey(Server server, InetSocketAddress source, InetSocketAddress destination) {

    /** The key of {@code server}'s shared idle connections. */
    static Object shared(Server server) {
        return server;
    }

    /** The server an idle key ({@link #shared} or an {@code IdleKey}) belongs to. */
    static Server serverOf(Object key) {
        return key instanceof IdleKey k ? k.server() : (Server) key;
    }
}
