package io.grapevine.proxy.membership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.HttpConnection;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.ProxyUnderTest;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A proxy whose seeds do not answer serves its static servers at once; gossip keeps trying behind. */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts first answer within 3 s
class UnreachableSeedIntegrationTest {

    @TempDir
    Path dir;

    @Test
    void staticServersAreServedWhileNoSeedAnswers() throws Exception {
        DemoBackend backend = LocalAgent.demoBackend();
        // A seed that accepts connections (the kernel completes them) and never says a word, and one
        // where nothing listens.
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            int refused = Ports.free();
            int listenPort = Ports.free();
            ProxyUnderTest.Builder builder = ProxyUnderTest.in(dir)
                    .servers("{ \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": " + backend.port() + " } ] }")
                    .join("127.0.0.1:" + silent.getLocalPort()).join("127.0.0.1:" + refused)
                    .clusterKey(ProxyUnderTest.keyFile(dir, "cluster.key"))
                    .listen(new HostPort("127.0.0.1", listenPort));
            AtomicLong returnedNanos = new AtomicLong();
            long start = System.nanoTime();
            CompletableFuture<ProxyUnderTest> starting = CompletableFuture.supplyAsync(() -> {
                try {
                    ProxyUnderTest p = builder.start();
                    returnedNanos.set(System.nanoTime());
                    return p;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            long firstOkNanos = 0;
            InetSocketAddress listen = new InetSocketAddress("127.0.0.1", listenPort);
            while (firstOkNanos == 0) {
                assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20), "no 200 within 20 s");
                try (HttpConnection c = new HttpConnection(listen, 2_000)) {
                    HttpConnection.Response r = c.get("/");
                    if (r.status() == 200 && r.demoId() == backend.port()) {
                        firstOkNanos = System.nanoTime();
                    }
                } catch (java.io.IOException notYet) {
                    java.util.concurrent.locks.LockSupport.parkNanos(5_000_000); // not listening yet: poll again
                }
            }
            try (ProxyUnderTest proxy = starting.get(30, TimeUnit.SECONDS)) {
                long firstOkMs = (firstOkNanos - start) / 1_000_000;
                long startReturnedMs = (returnedNanos.get() - start) / 1_000_000;
                System.out.printf("[timing] unreachable seeds: first 200 from the static server %d ms after the start began; "
                        + "the start (gossip's first join attempt included) returned after %d ms%n", firstOkMs, startReturnedMs);
                assertTrue(firstOkNanos < returnedNanos.get(), "traffic waited for gossip: first 200 after " + firstOkMs
                        + " ms, start returned after " + startReturnedMs + " ms");
                assertTrue(firstOkMs < 3_000, "first 200 only after " + firstOkMs + " ms");
                // Gossip is up and alone, still trying the seeds; traffic goes on.
                assertEquals(0, proxy.admin().members().path("members").size(), proxy.admin().members().toString());
                Await.until(Duration.ofSeconds(5), "a few more requests", () -> {
                    try (HttpConnection c = new HttpConnection(listen, 2_000)) {
                        return c.get("/").status() == 200;
                    } catch (java.io.IOException e) {
                        return false;
                    }
                });
            }
        } finally {
            backend.close();
        }
    }
}
