package io.grapevine.proxy.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.ServerPool;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The sticky-session cookie in the responses of the forwarding core, on embedded channels. */
class StickyCookieForwardingTest {

    /** {@code NAME=VALUE} of the sticky cookie naming {@code server}. */
    private static String cookie(ServerPool pool, Server server) {
        String line = new String(pool.setCookie(server, false), StandardCharsets.US_ASCII);
        return line.substring("Set-Cookie: ".length(), line.indexOf(';'));
    }

    @Test
    void aBackendsOwnCookieOfTheStickyNameIsRemovedAndOtherCookiesPass() throws Exception {
        // HAProxy's "cookie NAME insert": "if the server emits a cookie with the same name, it will be removed".
        String backendCookies = "Set-Cookie: GVSERVER=app-value; Path=/\r\n"
                + "Set-Cookie:  GVSERVER = other\r\n"
                + "Set-Cookie: GVSERVERX=kept\r\n"
                + "Set-Cookie: gvserver=kept-too\r\n"
                + "Set-Cookie: session=abc; HttpOnly\r\n";
        String response = "HTTP/1.1 200 OK\r\n" + backendCookies + "Content-Length: 1\r\n\r\nx";
        try (ForwardingHarness h = new ForwardingHarness(ForwardingHarness.config(1, "\"sticky\": {}"))) {
            ServerPool pool = h.tables.current().defaultPool();
            String own = cookie(pool, pool.servers().get(0));

            h.send("GET /new HTTP/1.1\r\nHost: example\r\n\r\n"); // a new client: the proxy sets its cookie
            h.backend(0).send(response);
            String first = h.received();
            assertTrue(first.contains("\r\nSet-Cookie: " + own + "; Path=/"), first);
            assertFalse(first.contains("app-value") || first.contains("other"), first);
            assertTrue(first.contains("\r\nSet-Cookie: GVSERVERX=kept\r\n"), first);
            assertTrue(first.contains("\r\nSet-Cookie: gvserver=kept-too\r\n"), "cookie names are case-sensitive: "
                    + first);
            assertTrue(first.contains("\r\nSet-Cookie: session=abc; HttpOnly\r\n"), first);
            assertEquals(4, first.split("Set-Cookie: ", -1).length - 1, first);

            // A client that brings the right cookie gets none from the proxy, and must not lose its own to the backend.
            h.send("GET /again HTTP/1.1\r\nHost: example\r\nCookie: " + own + "\r\n\r\n");
            h.backend(0).send(response);
            String second = h.received();
            assertFalse(second.contains("GVSERVER="), "the client's sticky cookie would be overwritten: " + second);
            assertTrue(second.contains("\r\nSet-Cookie: session=abc; HttpOnly\r\n"), second);
        }
    }
}
