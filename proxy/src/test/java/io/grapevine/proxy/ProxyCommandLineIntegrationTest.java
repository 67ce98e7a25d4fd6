package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.Resources;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./grapevine proxy} as a process: bad command lines and bad files exit non-zero with one line
 * naming what is wrong; SIGTERM lets a request in flight finish before the process exits.
 */
class ProxyCommandLineIntegrationTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private ChildProcess run(String name, String... args) throws InterruptedException {
        ChildProcess p = resources.keep(ChildProcess.proxy(dir, name, args));
        int exit = p.waitFor(60);
        assertTrue(exit >= 0, "did not exit: " + p.tail());
        return p;
    }

    private static List<String> lines(ChildProcess p) {
        return p.log().lines().filter(l -> !l.isBlank()).toList();
    }

    @Test
    void helpExitsZeroWithTheUsage() throws Exception {
        ChildProcess p = run("help", "--help");
        assertEquals(0, p.process().exitValue(), p.tail());
        assertTrue(p.log().contains("usage: ./grapevine proxy --servers FILE"), p.log());
    }

    @Test
    void aBadFlagExitsTwoWithOneLine() throws Exception {
        ChildProcess p = run("bad-flag", "--servers", "servers.conf", "--lisen", "127.0.0.1:1");
        assertEquals(2, p.process().exitValue(), p.tail());
        assertTrue(lines(p).get(0).contains("unknown option \"--lisen\""), p.log());
    }

    @Test
    void aMissingFileExitsTwoNamingIt() throws Exception {
        Path missing = dir.resolve("nowhere.conf");
        ChildProcess p = run("missing", "--servers", missing.toString(), "--no-gossip");
        assertEquals(2, p.process().exitValue(), p.tail());
        assertEquals(1, lines(p).size(), p.log());
        assertTrue(lines(p).get(0).contains(missing.toString()), p.log());
    }

    @Test
    void anUnknownKeyExitsTwoNamingFileLineAndKey() throws Exception {
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ \"backend_servers\": [\n  { \"ip\": \"127.0.0.1\", \"prot\": 8001 }\n] }\n");
        ChildProcess p = run("unknown-key", "--servers", conf.toString(), "--no-gossip");
        assertEquals(2, p.process().exitValue(), p.tail());
        assertEquals(1, lines(p).size(), p.log());
        String line = lines(p).get(0);
        assertTrue(line.contains(conf + ":2:") && line.contains("\"prot\""), line);
    }

    @Test
    void aBadPortExitsTwo() throws Exception {
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": 70000 } ] }\n");
        ChildProcess p = run("bad-port", "--servers", conf.toString(), "--no-gossip");
        assertEquals(2, p.process().exitValue(), p.tail());
        assertTrue(lines(p).get(0).contains("\"port\"") && lines(p).get(0).contains("70000"), p.log());
    }

    /** SIGTERM: the listener closes at once, the request in flight is answered, then the process exits. */
    @Test
    void sigtermFinishesTheRequestInFlightThenExits() throws Exception {
        DemoBackend backend = resources.keep(DemoBackend.start("127.0.0.1", 0, 1));
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": " + backend.port() + " } ] }\n");
        int port = Ports.free();
        ChildProcess proxy = resources.keep(ChildProcess.proxy(dir, "sigterm", "--servers", conf.toString(),
                "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + Ports.free(), "--no-gossip"));
        Await.until(Duration.ofSeconds(60), "the proxy listening", () -> Ports.accepting(port), proxy::tail);

        try (Socket client = new Socket()) {
            client.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            client.setSoTimeout(10_000);
            OutputStream out = client.getOutputStream();
            out.write("GET /slow?ms=1500 HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            Await.until(Duration.ofSeconds(10), "the request at the backend", () -> backend.requestCount() == 1,
                    proxy::tail);
            proxy.sigterm();
            Await.until(Duration.ofSeconds(5), "the listener closed", () -> !Ports.accepting(port), proxy::tail);
            String answer = readAll(client.getInputStream());
            assertTrue(answer.startsWith("HTTP/1.1 200 "), answer);
            assertTrue(answer.toLowerCase().contains("connection: close"), "the drained answer says close: " + answer);
        }
        int exit = proxy.waitFor(30);
        assertTrue(exit >= 0, "the proxy did not exit after SIGTERM: " + proxy.tail());
        assertFalse(proxy.isAlive());
        assertThrows(IOException.class, () -> new Socket("127.0.0.1", port).close());
    }


    private static String readAll(InputStream in) throws IOException {
        return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
    }
}
