package io.grapevine.proxy.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.cluster.MemberState;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.HttpConnection;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.OpenLoopClient;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.GossipProxyProcess;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.Resources;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several proxies in one cluster, so that none is a single point of failure: they agree on the table within a
 * second of every change, a proxy that dies leaves the others serving (a client that knows them all, as DNS round
 * robin gives it, loses no request), and what one proxy finds by failing a request reaches the others before their
 * own requests fail.
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts failed-request counts under load; network namespaces
class MultiProxyIntegrationTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private <T extends AutoCloseable> T keep(T resource) {
        return resources.keep(resource);
    }

    private static String servers(String extra, DemoBackend... backends) {
        StringBuilder sb = new StringBuilder("{ ").append(extra).append("\"backend_servers\": [");
        for (int i = 0; i < backends.length; i++) {
            sb.append(i == 0 ? "" : ",").append(" { \"name\": \"s").append(i + 1).append("\", \"ip\": \"127.0.0.1\", \"port\": ")
                    .append(backends[i].port()).append(" }");
        }
        return sb.append(" ] }\n").toString();
    }

    /** Whether {@code admin}'s table shows a proxy member for each of {@code others}. */
    private static boolean seesProxies(Admin admin, int others) {
        int n = 0;
        for (var m : admin.members().path("members")) {
            n += "proxy".equals(m.path("metadata").path("role").asText()) ? 1 : 0;
        }
        return n >= others;
    }

    /**
     * Proxy A fails a request to a server that refuses connections and marks it down; proxy B, which sent it nothing
     * yet, marks it down on A's word within a second, sends it nothing, and takes it back when A's finding expires.
     * Active health checks are off, so nothing but the shared finding can tell B.
     */
    @Test
    void aServerOneProxyFoundFailingIsAvoidedByTheOthersBeforeTheyFailOnIt() throws Exception {
        DemoBackend good = keep(LocalAgent.demoBackend());
        DemoBackend failing = keep(LocalAgent.demoBackend());
        int failingPort = failing.port();
        String conf = servers("\"health_check\": { \"enabled\": false }, \"passive_health\": { \"max_fails\": 1, "
                + "\"fail_timeout_ms\": 4000 }, ", good, failing);
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        ProxyUnderTest a = keep(ProxyUnderTest.in(Path.of(dir.toString())).servers(conf).clusterKey(key).start());
        Path dirB = java.nio.file.Files.createDirectories(dir.resolve("b"));
        ProxyUnderTest b = keep(ProxyUnderTest.in(dirB).servers(conf).clusterKey(key).join(a.seed()).start());
        Await.until(Duration.ofSeconds(15), "each proxy sees the other", () -> seesProxies(a.admin(), 1) && seesProxies(b.admin(), 1),
                () -> a.admin().members() + "\n" + b.admin().members());
        Server onB = serverAt(b, failingPort);

        failing.close();
        long before = onB.stats().connectErrors.sum() + onB.stats().connectionsOpened.sum();
        // Every request must answer 200 on the connection it was sent on: a failure or a dropped connection fails
        // the test where it happens, so the counts printed are of requests that all succeeded.
        int[] sent = {0};
        try (HttpConnection client = new HttpConnection(a.listen(), 5_000)) {
            Await.until(Duration.ofSeconds(10), "proxy A marks the failing server down", () -> {
                try {
                    sent[0]++;
                    assertEquals(200, client.get("/").status(), "A retries elsewhere");
                } catch (java.io.IOException e) {
                    throw new IllegalStateException(e);
                }
                return a.admin().serverIn(failingPort, "down");
            }, a.admin()::toString);
        }
        long sharedMs = Await.until(Duration.ofSeconds(5), "proxy B marks it down on A's word",
                () -> b.admin().serverIn(failingPort, "down"), b.admin()::toString);
        try (HttpConnection client = new HttpConnection(b.listen(), 5_000)) {
            for (int i = 0; i < 50; i++) {
                sent[0]++;
                HttpConnection.Response r = client.get("/");
                assertEquals(200, r.status(), r.body());
                assertEquals(good.port(), r.demoId(), "B sent a request to the server A found down");
            }
        }
        long tried = onB.stats().connectErrors.sum() + onB.stats().connectionsOpened.sum() - before;

        // The server comes back; A's finding expires, A withdraws it, and B sends it requests again.
        DemoBackend back = keep(DemoBackend.start("127.0.0.1", failingPort, failingPort));
        long backMs = Await.until(Duration.ofSeconds(15), "both proxies take the server back",
                () -> a.admin().serverIn(failingPort, "up") && b.admin().serverIn(failingPort, "up"),
                () -> a.admin() + "\n" + b.admin());
        try (HttpConnection client = new HttpConnection(b.listen(), 5_000)) {
            Await.until(Duration.ofSeconds(5), "B sends the server requests again", () -> {
                try {
                    sent[0]++;
                    HttpConnection.Response r = client.get("/");
                    assertEquals(200, r.status(), r.body());
                    return r.demoId() == back.port();
                } catch (java.io.IOException e) {
                    throw new IllegalStateException(e);
                }
            });
        }
        System.out.printf("[reliability] multi-proxy, shared passive health: %d requests sent, 0 failed, 0 connections "
                + "dropped; a finding of proxy A reached proxy B %d ms after A showed the server down; B tried the server "
                + "%d times meanwhile; both took it back %d ms after it answered again (A's fail_timeout_ms 4000)%n",
                sent[0], sharedMs, tried, backMs);
        assertTrue(sharedMs <= 1_000, "shared in " + sharedMs + " ms");
        assertEquals(0, tried, "proxy B connected to, or failed on, the server A found down");

        // Settled, with nothing to share, the sharing wakes neither proxy: it works on changes, not on a clock (a
        // poll every 100 ms would wake each table thread 30 times in these 3 s).
        Thread.sleep(500);
        long[] atStart = tableThreadWakeups();
        assertTrue(atStart[1] >= 2, "a table thread per proxy found in /proc/self/task: " + atStart[1]);
        Thread.sleep(3_000);
        long wakeups = tableThreadWakeups()[0] - atStart[0];
        System.out.printf("[reliability] multi-proxy, idle after sharing: the two table threads woke %d times in 3 s%n",
                wakeups);
        assertTrue(wakeups <= 6, "the idle proxies' table threads woke " + wakeups + " times in 3 s");
    }

    /**
     * Voluntary context switches of the threads of this JVM named grapevine-table (the proxies run in it), and how
     * many such threads there are.
     */
    private static long[] tableThreadWakeups() throws java.io.IOException {
        long n = 0;
        long threads = 0;
        try (var tasks = java.nio.file.Files.list(Path.of("/proc/self/task"))) {
            for (Path task : tasks.toList()) {
                try {
                    if (!java.nio.file.Files.readString(task.resolve("comm")).strip().equals("grapevine-table")) {
                        continue;
                    }
                    threads++;
                    for (String line : java.nio.file.Files.readAllLines(task.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            n += Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
                        }
                    }
                } catch (java.nio.file.NoSuchFileException e) {
                    // the thread ended meanwhile
                }
            }
        }
        return new long[] {n, threads};
    }

    private static Server serverAt(ProxyUnderTest proxy, int port) {
        return proxy.instance().server().tables().current().servers().stream()
                .filter(s -> s.address().getPort() == port).findFirst().orElseThrow();
    }

    /** One change as the proxies saw it: when each first showed it, after the action. */
    private record Convergence(String change, List<Long> millisAfterAction) {

        long spread() {
            return millisAfterAction.stream().mapToLong(Long::longValue).max().orElse(0)
                    - millisAfterAction.stream().mapToLong(Long::longValue).min().orElse(0);
        }

        @Override
        public String toString() {
            return change + ": " + millisAfterAction + " ms after the action, spread " + spread() + " ms";
        }
    }

    /** Polls every proxy's table until each satisfies {@code seen}; when each did, in ms after {@code actionNanos}. */
    private static Convergence converge(String change, List<ProxyUnderTest> proxies, long actionNanos,
                                        Predicate<Admin> seen, Duration timeout) {
        long[] at = new long[proxies.size()];
        java.util.Arrays.fill(at, -1);
        Await.until(timeout, change + " on every proxy", () -> {
            boolean all = true;
            for (int i = 0; i < proxies.size(); i++) {
                if (at[i] < 0 && seen.test(proxies.get(i).admin())) {
                    at[i] = (System.nanoTime() - actionNanos) / 1_000_000;
                }
                all &= at[i] >= 0;
            }
            return all;
        }, () -> proxies.stream().map(p -> p.admin().toString()).toList().toString());
        List<Long> ms = new ArrayList<>();
        for (long v : at) {
            ms.add(v);
        }
        return new Convergence(change, ms);
    }

    /**
     * Three proxies in one cluster and a backend going through every change a member makes: it joins, goes down,
     * comes back, drains, leaves; another backend crashes (its agent and demo backend killed). After each, every
     * proxy shows the same state within a second of the first.
     */
    @Test
    void threeProxiesAgreeOnTheTableWithinASecondOfEveryChange() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        List<ProxyUnderTest> proxies = new ArrayList<>();
        proxies.add(keep(ProxyUnderTest.in(dir).clusterKey(key).start()));
        for (int i = 2; i <= 3; i++) {
            Path d = java.nio.file.Files.createDirectories(dir.resolve("p" + i));
            proxies.add(keep(ProxyUnderTest.in(d).clusterKey(key).join(proxies.get(0).seed()).start()));
        }
        Await.until(Duration.ofSeconds(15), "the proxies see each other",
                () -> proxies.stream().allMatch(p -> seesProxies(p.admin(), 2)), () -> proxies.get(0).admin().members().toString());
        int crashPort = Ports.free();
        ChildProcess crashing = keep(ChildProcess.agent(dir, "crashing", "--join", proxies.get(1).seed(), "--service", "web",
                "--target", "127.0.0.1:" + crashPort, "--demo", "--cluster-key", key.toString()));
        converge("crashing agent up", proxies, System.nanoTime(), a -> a.serverIn(crashPort, "up"), Duration.ofSeconds(30));
        // Traffic through all three proxies for the whole scenario, with a backend that stays throughout: no change
        // may fail a request or drop a connection.
        LocalAgent stable = keep(LocalAgent.start(proxies.get(0).seed(), ProxyUnderTest.keyring(key), "web"));
        converge("stable agent up", proxies, System.nanoTime(), a -> a.serverIn(stable.port(), "up"), Duration.ofSeconds(30));
        OpenLoopClient client = OpenLoopClient.start(new OpenLoopClient.Settings(proxies.stream()
                .map(ProxyUnderTest::listen).toList(), 100, 6, "/", 5_000));
        client.awaitMore(100, Duration.ofSeconds(20));

        List<Convergence> seen = new ArrayList<>();
        long t = System.nanoTime();
        LocalAgent agent = LocalAgent.start(proxies.get(2).seed(), ProxyUnderTest.keyring(key), "web");
        int port = agent.port();
        seen.add(converge("join", proxies, t, a -> a.serverIn(port, "up"), Duration.ofSeconds(10)));
        t = System.nanoTime();
        agent.publish(MemberState.DOWN);
        seen.add(converge("announced down", proxies, t, a -> a.serverIn(port, "down"), Duration.ofSeconds(10)));
        t = System.nanoTime();
        agent.publish(MemberState.UP);
        seen.add(converge("announced up", proxies, t, a -> a.serverIn(port, "up"), Duration.ofSeconds(10)));
        t = System.nanoTime();
        agent.publish(MemberState.DRAINING);
        seen.add(converge("draining", proxies, t, a -> a.serverIn(port, "draining"), Duration.ofSeconds(10)));
        t = System.nanoTime();
        agent.close();
        seen.add(converge("left (gone after the suspicion timeout)", proxies, t, a -> !a.hasServer(port), Duration.ofSeconds(30)));
        t = System.nanoTime();
        crashing.kill9();
        seen.add(converge("crashed (kill -9 of agent and backend)", proxies, t, a -> !a.hasServer(crashPort),
                Duration.ofSeconds(40)));

        client.awaitMore(100, Duration.ofSeconds(20));
        OpenLoopClient.Report r = client.stop();
        seen.forEach(c -> System.out.println("[reliability] multi-proxy, three proxies, " + c));
        System.out.println("[reliability] multi-proxy, three proxies, traffic through them meanwhile: " + r.summary());
        assertEquals(0, r.failed(), () -> "failed requests: " + r.firstFailures());
        assertEquals(0, r.connectionsDropped(), "client connections dropped: " + r);
        for (Convergence c : seen) {
            assertTrue(c.spread() <= 1_000, "the proxies disagreed for more than a second: " + c);
        }
        List<String> tables = proxies.stream().map(p -> Admin.rows(p.admin().json("/table")).toString()).toList();
        assertEquals(1, tables.stream().distinct().count(), "the same table everywhere: " + tables);
    }

    /**
     * Two proxy processes, a client that knows both (as DNS round robin gives it: half its connections to each, and
     * a request whose connection fails before an answer goes to the other). One proxy is killed ({@code kill -9});
     * the other serves on, and no request fails.
     */
    @Test
    void aProxyThatDiesLeavesTheOtherServingAndAClientOfBothLosesNothing() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        Path servers = java.nio.file.Files.writeString(dir.resolve("servers.conf"), "{ \"backend_servers\": [] }\n");
        GossipProxyProcess first = keep(GossipProxyProcess.start(dir, "proxy-1", servers, key, null));
        GossipProxyProcess second = keep(GossipProxyProcess.start(dir, "proxy-2", servers, key, first.seed()));
        List<LocalAgent> agents = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            agents.add(keep(LocalAgent.start(second.seed(), ProxyUnderTest.keyring(key), "web")));
        }
        Await.until(Duration.ofSeconds(20), "both proxies route to the three agents", () -> agents.stream()
                .allMatch(a -> first.admin().serverIn(a.port(), "up") && second.admin().serverIn(a.port(), "up")),
                () -> first.admin() + "\n" + second.admin());

        OpenLoopClient client = OpenLoopClient.start(new OpenLoopClient.Settings(List.of(first.listen(), second.listen()),
                200, 8, "/", 5_000));
        client.awaitMore(600, Duration.ofSeconds(20));
        long killed = System.currentTimeMillis();
        first.process().kill9();
        client.awaitMore(1_000, Duration.ofSeconds(20));
        OpenLoopClient.Report r = client.stop();

        long afterKill = agents.stream().filter(a -> r.backends().get(a.port()).lastMillis() > killed + 1_000).count();
        System.out.printf("[reliability] multi-proxy, kill -9 of one of two proxies: %s; %d of 3 backends served through the "
                + "survivor after the kill%n", r.summary(), afterKill);
        assertEquals(0, r.failed(), () -> "failed requests: " + r.firstFailures());
        assertTrue(r.failovers() > 0, "the client never had to go to the other proxy: the kill changed nothing? " + r);
        assertEquals(3, afterKill, r.backends().toString());
        assertTrue(second.process().isAlive(), second.process().tail());
    }
}
