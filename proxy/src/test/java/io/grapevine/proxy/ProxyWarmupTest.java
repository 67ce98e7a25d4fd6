package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The warm-up the launcher records the proxy's class data sharing archive from: a proxy start with gossip, a member
 * announcing a backend, HTTP/1.1 and HTTP/2 requests through the proxy, and the admin endpoints, each answered 200.
 * (When it fails, the launcher leaves an empty archive and proxies start without one: {@code LauncherIntegrationTest}.)
 */
class ProxyWarmupTest {

    @Test
    void startsAProxyAndHasEveryRequestAnswered() throws Exception {
        assertTrue(ProxyWarmup.run());
    }
}
