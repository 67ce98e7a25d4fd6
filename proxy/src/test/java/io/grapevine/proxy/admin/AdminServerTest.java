package io.grapevine.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.testing.AdminRequests;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpMethod;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The admin listener's own HTTP handling, with endpoints of the test's making. */
class AdminServerTest {

    /**
     * RFC 3986 section 2.2: in a path, {@code +} is itself (only form-encoded queries read it as a space), so a
     * server named {@code web+api} is reached at {@code /servers/web+api}, as curl sends it.
     */
    @Test
    void aPlusInThePathIsAPlusNotASpace() throws Exception {
        EventLoopGroup group = Transport.NIO.newGroup(1, "admin-test");
        try (AdminServer admin = AdminServer.start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO)) {
            admin.route(HttpMethod.GET, "/servers/*", r -> CompletableFuture.completedFuture(
                    AdminResponse.text(200, r.params().get(0) + " at " + r.path())));
            AdminRequests requests = new AdminRequests(admin.address());
            assertEquals("web+api at /servers/web+api", requests.send("GET", "/servers/web+api", null).body());
            assertEquals("web+api at /servers/web+api", requests.send("GET", "/servers/web%2Bapi", null).body());
            assertEquals("web api at /servers/web api", requests.send("GET", "/servers/web%20api", null).body());
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
        }
    }
}
