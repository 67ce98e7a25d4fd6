package io.grapevine.proxy.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.OpenLoopClient;
import io.grapevine.proxy.testing.OpenLoopProcess;
import io.grapevine.proxy.testing.Tools;
import io.grapevine.proxy.testing.netns.LabCluster;
import io.grapevine.proxy.testing.netns.NetnsLab;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two proxies behind one virtual IP, as docs/operations.md sets it up: each proxy host runs keepalived (VRRP only)
 * with a check that curls the proxy's {@code /ready}, priorities 100 and 90, {@code nopreempt}, and the proxies
 * listen on {@code 0.0.0.0} so that they accept on the address the moment it arrives. A client in a host of its own
 * sends to the address only. When the proxy holding it stops, gracefully or not, the address must move to the other
 * host and the client be served there: without a lost request when the stop is a SIGTERM with
 * {@code timeouts.shutdown_delay_ms} above the check's {@code interval} × {@code fall}, and with failures only
 * until the address has moved after a crash. When the first host comes back, the address must stay where the
 * client's connections are until a graceful stop moves it back. Each scenario prints what the client saw and when
 * the address moved.
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts failover bounds; network namespaces
class VirtualIpIntegrationTest {

    private static final int FIRST_BACKEND_PORT = 8081;
    private static final int BACKENDS = 2;
    private static final double RATE = 200;
    private static final int CONNECTIONS = 8;
    /** The check's {@code interval} (1 s) × {@code fall} (2): the longest a failing proxy keeps the address. */
    private static final long CHECK_MILLIS = 2_000;
    /** As operations.md advises: the check's interval × fall plus a second. */
    private static final long SHUTDOWN_DELAY_MILLIS = CHECK_MILLIS + 1_000;
    /**
     * How long a returning host of priority 100 is watched once it is eligible: a preempting backup takes the address
     * when it has heard no advertisement of a higher priority for the master down interval, 3 × {@code advert_int}
     * (1 s) plus the skew time (256 - 100) / 256 s (RFC 5798 6.1), 3.6 s; and a second and a half more.
     */
    private static final long PREEMPTION_WATCH_MILLIS = 3_000 + (256 - 100) * 1_000 / 256 + 1_500;

    @TempDir
    Path dir;

    @RegisterExtension
    final NetnsLab lab = new NetnsLab();

    private LabCluster cluster;
    private List<LabCluster.StaticBackend> backends;
    private LabCluster.LabProxy first;
    private LabCluster.LabProxy second;
    private ChildProcess firstKeepalived;
    private ChildProcess secondKeepalived;
    private ChildProcess firstAddresses;
    private ChildProcess secondAddresses;
    private String vip;
    private String serversConf;

    @BeforeEach
    void startProxiesBehindTheAddress() throws Exception {
        Tools.require("keepalived", "keepalived");
        Tools.require("curl", "curl");
        cluster = new LabCluster(lab, dir);
        backends = cluster.staticBackends("backends", FIRST_BACKEND_PORT, BACKENDS);
        serversConf = LabCluster.serversConf("\"timeouts\": { \"shutdown_delay_ms\": " + SHUTDOWN_DELAY_MILLIS
                + " },", backends);
        first = cluster.proxyOnEveryAddress("proxy-1", serversConf, List.of());
        second = cluster.proxyOnEveryAddress("proxy-2", serversConf, List.of(first));
        vip = lab.spareAddress(0);
        // One after the other: started together, both begin as BACKUP (nopreempt), and the first whose master down
        // interval runs out takes the address. The two intervals differ by 39 ms (the priority's skew), less than
        // the start of two keepalived processes can differ on a loaded machine.
        firstKeepalived = keepalived(first, 100, "");
        Await.until(Duration.ofSeconds(20), "the address on proxy-1's host (priority 100)", () -> holds(first), this::state);
        secondKeepalived = keepalived(second, 90, "");
        Await.until(Duration.ofSeconds(20), "the address on proxy-1's host (priority 100) only",
                () -> holds(first) && !holds(second), this::state);
        firstAddresses = watchAddresses(first);
        secondAddresses = watchAddresses(second);
    }

    /**
     * {@code ip -ts -o monitor address} in the proxy's host: one line per address added or deleted, stamped by the
     * kernel's notification to the microsecond ({@code [2026-12-02T00:16:06.533358] Deleted 3: eth0    inet ...}).
     */
    private ChildProcess watchAddresses(LabCluster.LabProxy proxy) {
        ChildProcess monitor = proxy.host().run(dir, "addresses-" + proxy.host().name(),
                List.of("ip", "-ts", "-o", "monitor", "address", "dev", "eth0"));
        // Nothing tells when it listens: an address of no use, added and deleted until the monitor shows it.
        String probe = lab.spareAddress(1);
        Await.until(Duration.ofSeconds(10), "the address monitor in " + proxy.host() + " listening", () -> {
            proxy.host().exec("ip", "addr", "add", probe + "/32", "dev", "eth0");
            proxy.host().exec("ip", "addr", "del", probe + "/32", "dev", "eth0");
            return monitor.log().contains(" " + probe + "/32") || !monitor.isAlive();
        }, monitor::tail);
        return monitor;
    }

    private static final Pattern ADDRESS_EVENT = Pattern.compile("^\\[([0-9T:.-]+)\\] (Deleted )?\\d+: eth0\\s+inet (\\S+)/",
            Pattern.MULTILINE);

    /** When the monitor last saw the virtual IP deleted ({@code deleted}) or added, or -1. */
    private long lastEvent(ChildProcess monitor, boolean deleted) {
        long at = -1;
        Matcher m = ADDRESS_EVENT.matcher(monitor.log());
        while (m.find()) {
            if (m.group(3).equals(vip) && (m.group(2) != null) == deleted) {
                at = LocalDateTime.parse(m.group(1)).atZone(ZoneId.systemDefault()).toInstant().toEpochMilli();
            }
        }
        return at;
    }

    /**
     * keepalived in the proxy's host, in the foreground, VRRP only, with the configuration of operations.md: the
     * address on {@code eth0}, given up when {@code /ready} on the proxy's admin listener fails twice in a row, and
     * not taken back from a lower priority ({@code nopreempt}). {@code logSuffix} names the log of a restart.
     */
    private ChildProcess keepalived(LabCluster.LabProxy proxy, int priority, String logSuffix) throws IOException {
        String name = "keepalived-" + proxy.host().name() + logSuffix;
        // enable_script_security with script_user root: keepalived runs the check as root without the warning
        // about an unset script user, and refuses a script that a non-root user could change (curl is root's).
        Path conf = Files.writeString(dir.resolve(name + ".conf"), """
                global_defs {
                    enable_script_security
                    script_user root
                    router_id %s
                }
                vrrp_script grapevine_ready {
                    script "/usr/bin/curl -sf -o /dev/null --max-time 1 http://%s:%d/ready"
                    interval 1
                    fall 2
                    rise 2
                }
                vrrp_instance grapevine {
                    state BACKUP
                    interface eth0
                    virtual_router_id 51
                    priority %d
                    nopreempt
                    advert_int 1
                    authentication {
                        auth_type PASS
                        auth_pass changeme
                    }
                    virtual_ipaddress { %s/24 }
                    track_script { grapevine_ready }
                }
                """.formatted(proxy.host().name(), proxy.host().address(), LabCluster.ADMIN_PORT, priority, vip));
        return proxy.host().run(dir, name, List.of("keepalived", "--dont-fork", "--log-console", "--log-detail",
                "--no-syslog", "--vrrp", "--use-file", conf.toString(),
                "--pid", dir.resolve(name + ".pid").toString(),
                "--vrrp_pid", dir.resolve(name + "-vrrp.pid").toString(),
                "--checkers_pid", dir.resolve(name + "-checkers.pid").toString()));
    }

    /** Whether the virtual IP is on {@code proxy}'s host's {@code eth0} now. */
    private boolean holds(LabCluster.LabProxy proxy) {
        return proxy.host().exec("ip", "-4", "-o", "addr", "show", "dev", "eth0").contains(" " + vip + "/");
    }

    private String state() {
        return "proxy-1 holds the address: " + holds(first) + ", proxy-2: " + holds(second)
                + "\n" + firstKeepalived.tail() + "\n" + (secondKeepalived == null ? "(not started yet)" : secondKeepalived.tail())
                + "\n" + first.process().tail() + "\n" + second.process().tail();
    }

    /**
     * When the address moved, in {@link System#currentTimeMillis()}, as the hosts' address monitors saw it: deleted
     * on the host that had it, added on the other.
     */
    private record Move(long stoppedAt, long goneAt, long arrivedAt) {

        long goneMillis() {
            return goneAt - stoppedAt;
        }

        long arrivedMillis() {
            return arrivedAt - stoppedAt;
        }
    }

    /** Waits until the address is on the second host only, and reads when it moved. */
    private Move awaitTakeover(long stoppedAt) {
        return awaitMove(first, firstAddresses, second, secondAddresses, stoppedAt);
    }

    /**
     * Waits until the address is on {@code to}'s host only and both monitors show it leaving {@code from}'s host and
     * arriving on {@code to}'s since {@code stoppedAt}, and reads when it moved.
     */
    private Move awaitMove(LabCluster.LabProxy from, ChildProcess fromMonitor, LabCluster.LabProxy to,
                           ChildProcess toMonitor, long stoppedAt) {
        Await.until(Duration.ofSeconds(15), "the address on " + to.host() + " only", () -> !holds(from) && holds(to),
                this::state);
        Await.until(Duration.ofSeconds(5), "both address monitors showing the move",
                () -> lastEvent(fromMonitor, true) >= stoppedAt && lastEvent(toMonitor, false) >= stoppedAt,
                () -> fromMonitor.tail() + "\n" + toMonitor.tail());
        return new Move(stoppedAt, lastEvent(fromMonitor, true), lastEvent(toMonitor, false));
    }

    private OpenLoopProcess startClient() {
        OpenLoopProcess client = cluster.client("client", RATE, CONNECTIONS,
                List.of(new InetSocketAddress(vip, LabCluster.LISTEN_PORT)));
        Await.until(Duration.ofSeconds(30), "every backend answering the client through the address",
                () -> backends.stream().allMatch(b -> client.progress().answersFrom(b.id()) >= 20),
                () -> client.progress() + "\n" + state());
        return client;
    }

    /** What the client saw across a stop of the holder, when the address moved, and the backends served after. */
    private record Stopped(OpenLoopClient.Report report, Move takeover, long backendsServedAfter) {
    }

    /**
     * Traffic to the address, {@code stop} of the holder, the takeover, {@code then}, more traffic; prints the
     * scenario's line. The backends served after are those that answered later than a second after the move.
     */
    private Stopped stopTheHolder(String scenario, Runnable stop, Runnable then) throws Exception {
        OpenLoopProcess client = startClient();
        long stoppedAt = System.currentTimeMillis();
        stop.run();
        Move t = awaitTakeover(stoppedAt);
        then.run();
        client.awaitMore(500, Duration.ofSeconds(30));
        OpenLoopClient.Report r = client.stop();
        long served = backendsServedAfter(r, t);
        System.out.printf("[reliability] virtual IP (keepalived), %s: %s; the address left the stopped proxy's host %d ms "
                + "after the stop and was on the other host %d ms after it%s; %d of %d backends served through the other "
                + "proxy afterwards%n", scenario, r.summary(), t.goneMillis(), t.arrivedMillis(), failedWhen(r, stoppedAt),
                served, BACKENDS);
        return new Stopped(r, t, served);
    }

    /** How many backends answered the client later than a second after the address arrived. */
    private long backendsServedAfter(OpenLoopClient.Report r, Move m) {
        return backends.stream().filter(b -> r.backends().containsKey(b.id())
                && r.backends().get(b.id()).lastMillis() > m.arrivedAt() + 1_000).count();
    }

    /** When the failed requests were sent and failed, relative to the stop at {@code stoppedAt}; empty if none. */
    private static String failedWhen(OpenLoopClient.Report r, long stoppedAt) {
        return r.failed() == 0 ? "" : String.format("; the failed requests were sent %d to %d ms after the stop and "
                        + "failed %d to %d ms after it", r.firstFailedSentMillis() - stoppedAt,
                r.lastFailedSentMillis() - stoppedAt, r.firstFailureMillis() - stoppedAt, r.lastFailureMillis() - stoppedAt);
    }

    /** No request sent after the address left the stopped proxy's host failed (they wait for the next holder). */
    private static void assertNoneSentAfterTheAddressLeftFailed(OpenLoopClient.Report r, Move t) {
        assertTrue(r.failed() == 0 || r.lastFailedSentMillis() <= t.goneAt(), () -> String.format("a request "
                + "sent %d ms after the address left failed (%s); the other host had it %d ms after it left",
                r.lastFailedSentMillis() - t.goneAt(), r.firstFailures(), t.arrivedAt() - t.goneAt()));
    }

    /**
     * SIGTERM to the proxy that holds the address: its {@code /ready} answers 503 at once and each of its
     * connections closes after its next response, keepalived's check fails twice and gives the address up, and the
     * other host takes it, all while the stopping proxy still accepts ({@code shutdown_delay_ms}). No request fails
     * but those in flight on the stopping proxy at the instant its host lets the address go (their answers cannot
     * leave the host any more); the client's connections are closed by the proxy after a response (counted as
     * dropped) and reopened, on the other host once the address is there. The survivor serves every backend.
     */
    @Test
    void aGracefulStopOfTheHolderMovesTheAddressBeforeItsListenerClosesAndNoRequestFails() throws Exception {
        Stopped stopped = stopTheHolder("SIGTERM of the holder, shutdown_delay_ms " + SHUTDOWN_DELAY_MILLIS,
                first.process()::sigterm, () -> Await.until(Duration.ofSeconds(40), "the stopped proxy exits",
                        () -> !first.process().isAlive(), this::state));
        OpenLoopClient.Report r = stopped.report();
        Move t = stopped.takeover();
        assertTrue(t.arrivedMillis() < SHUTDOWN_DELAY_MILLIS,
                "the address reached the other host only after the stopped proxy's listener closed: " + t);
        // The only requests a graceful stop may lose are those in flight on the stopping proxy at the instant its host
        // lets the address go: sent before, and failed after (the answer cannot leave the host any more, or the next
        // segment reaches the new holder, which resets the connection).
        assertNoneSentAfterTheAddressLeftFailed(r, t);
        assertTrue(r.failed() == 0 || r.firstFailureMillis() >= t.goneAt(), () -> String.format("a request "
                + "failed %d ms before the address left, on the stopping proxy itself: %s",
                t.goneAt() - r.firstFailureMillis(), r.firstFailures()));
        assertEquals(BACKENDS, stopped.backendsServedAfter(), r.backends().toString());
        assertEquals(0, first.process().waitFor(1), "the stopped proxy exits 0 after its drain: " + first.process().tail());
    }

    /**
     * {@code kill -9} of the proxy that holds the address; keepalived on its host runs on and its check fails. The
     * address moves within about three seconds. Requests fail while the dead proxy's host still holds it (refused);
     * those sent after it left wait for it to arrive (a SYN retransmitted after a second) and succeed; the survivor
     * serves every backend.
     */
    @Test
    void aCrashOfTheHolderMovesTheAddressWithinSecondsAndRequestsFailOnlyUntilThen() throws Exception {
        Stopped crashed = stopTheHolder("kill -9 of the holder", first.process()::kill9, () -> { });
        OpenLoopClient.Report r = crashed.report();
        Move t = crashed.takeover();
        assertTrue(firstKeepalived.isAlive(), "keepalived on the crashed proxy's host runs on: " + firstKeepalived.tail());
        assertTrue(t.arrivedMillis() <= CHECK_MILLIS + 2_000, "the address moved too late: " + t + "\n" + state());
        assertNoneSentAfterTheAddressLeftFailed(r, t);
        assertEquals(BACKENDS, crashed.backendsServedAfter(), r.backends().toString());
    }

    /**
     * The first host (priority 100) goes down, its proxy killed and its keepalived stopped, and comes back, proxy
     * ready and keepalived running, while the client sends through the second host. The address stays where the
     * client's connections are ({@code nopreempt}): had the first host taken it back, each connection's next segment
     * would reach a host without its socket and be reset, failing the request on it, since the second proxy, still
     * ready, keeps its connections alive. Moving the address back is then a graceful stop of the second proxy: its
     * drain closes each connection after a response, its check fails, the first host takes the address, and no
     * request fails but those in flight at the instant the second host drops it. The first host serves every backend.
     */
    @Test
    void theFirstHostBackLeavesTheAddressWhereTheConnectionsAreAndAGracefulStopMovesItBack() throws Exception {
        long downAt = System.currentTimeMillis();
        first.process().kill9();
        firstKeepalived.sigterm();
        Await.until(Duration.ofSeconds(20), "proxy-1 and its keepalived gone",
                () -> !first.process().isAlive() && !firstKeepalived.isAlive(), this::state);
        Move down = awaitTakeover(downAt);
        OpenLoopProcess client = startClient();

        long backAt = System.currentTimeMillis();
        first = cluster.proxyOnEveryAddress("proxy-1", serversConf, List.of(second));
        firstKeepalived = keepalived(first, 100, "-back");
        Await.until(Duration.ofSeconds(20), "keepalived on proxy-1's host back, its check passing, in BACKUP state",
                () -> {
                    String log = firstKeepalived.log();
                    int passed = log.lastIndexOf("VRRP_Script(grapevine_ready) succeeded");
                    return passed >= 0 && log.indexOf("Entering BACKUP STATE", passed) > 0;
                }, this::state);
        long eligibleAt = System.currentTimeMillis();
        client.awaitMore((long) (RATE * PREEMPTION_WATCH_MILLIS / 1_000), Duration.ofSeconds(30));
        OpenLoopProcess.Progress beforeFailBack = client.progress();
        long failBackAt = System.currentTimeMillis();
        boolean stayed = holds(second) && !holds(first) && lastEvent(secondAddresses, true) < 0;
        System.out.printf("[reliability] virtual IP (keepalived), the first host back (proxy restarted, keepalived "
                        + "started) while the client sends through the second: %d requests sent, %d failed, %d connections "
                        + "dropped; the address %s; the first host was eligible %d ms after it came back and watched "
                        + "for %d ms%n", beforeFailBack.sent(), beforeFailBack.failed(), beforeFailBack.dropped(),
                stayed ? "stayed on the second host" : "moved back to the first host "
                        + (lastEvent(firstAddresses, false) - eligibleAt) + " ms after it was eligible",
                eligibleAt - backAt, failBackAt - eligibleAt);
        assertTrue(down.arrivedMillis() <= CHECK_MILLIS + 2_000, "the address moved too late: " + down);
        assertEquals(0, beforeFailBack.failed(), () -> "requests failed after the first host came back: "
                + client.process().tail());
        assertTrue(stayed, () -> "the first host took the address back from under the client's connections: "
                + firstAddresses.tail() + "\n" + secondAddresses.tail() + "\n" + firstKeepalived.tail());

        second.process().sigterm();
        Move back = awaitMove(second, secondAddresses, first, firstAddresses, failBackAt);
        client.awaitMore(500, Duration.ofSeconds(30));
        OpenLoopClient.Report r = client.stop();
        long served = backendsServedAfter(r, back);
        System.out.printf("[reliability] virtual IP (keepalived), the address moved back by a SIGTERM of the second "
                        + "proxy: %s; the address left the second host %d ms after the signal and was on the first %d ms "
                        + "after it%s; %d of %d backends served through the first proxy afterwards%n", r.summary(),
                back.goneMillis(), back.arrivedMillis(), failedWhen(r, failBackAt), served, BACKENDS);

        assertTrue(r.failed() == 0 || r.firstFailedSentMillis() >= failBackAt, () -> String.format("a request sent "
                + "%d ms after the first host was eligible failed, before the second proxy was stopped: %s",
                r.firstFailedSentMillis() - eligibleAt, r.firstFailures()));
        assertTrue(back.arrivedMillis() < SHUTDOWN_DELAY_MILLIS,
                "the address reached the first host only after the stopped proxy's listener closed: " + back);
        assertNoneSentAfterTheAddressLeftFailed(r, back);
        assertEquals(BACKENDS, served, r.backends().toString());
    }
}
