package io.grapevine.proxy.testing.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.Tools;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Several hosts on one machine: a Linux bridge and one network namespace per host, each with its own address in
 * a /24 of 10.77.0.0/16 and a veth pair whose other end is a port of the bridge. The machine itself has the
 * first address of the /24 on the bridge, so the test reads the admin listeners directly; everything else runs
 * inside the namespaces ({@link Host#launcher}, {@link Host#run}). The network can then fail the way a real one
 * does: a host's cable pulled ({@link Host#cutLink}), a partition of the bridge ({@link #partition}), loss and
 * delay on one TCP port ({@link #impairTcpPort}).
 *
 * <p>A JUnit extension ({@code @RegisterExtension final NetnsLab lab = new NetnsLab();}): before each test it
 * skips the test, saying why, unless the process is root, and fails it when root lacks a working {@code ip netns}
 * (a missing tool must not pass for a passed scenario); after each test it
 * kills every process it started (and any other left in its namespaces), then deletes the namespaces, the bridge
 * and its firewall table, whatever the test did. Every name carries the creating JVM's pid ({@code gvlab-<pid in
 * base 36>-<host>}, links {@code gvl<id>-...}, the nft table {@code bridge gvlab_<id>}), and the first lab of a
 * JVM deletes what labs of processes that no longer run left behind (a JVM killed mid-test). A shutdown hook
 * covers a JVM that is stopped.
 *
 * <p>The kernel this project is built on has no {@code sch_netem} (and no {@code prio} qdisc), so loss and delay
 * are applied by {@code netem.py} (test resources), a userspace stand-in fed by an iptables {@code NFQUEUE} rule;
 * partitions are nftables rules on the bridge, so neither side's kernel knows: packets just vanish.
 */
public final class NetnsLab implements BeforeEachCallback, AfterEachCallback {

    private static final String NAMESPACE_PREFIX = "gvlab-";
    private static final Pattern OUR_NAMESPACE = Pattern.compile("^" + NAMESPACE_PREFIX + "([0-9a-z]+)-\\S+");
    private static final Pattern OUR_LINK = Pattern.compile("^\\d+: (gvl([0-9a-z]+)-[bh]\\d*)[@:]");
    private static final Pattern OUR_TABLE = Pattern.compile("table bridge gvlab_([0-9a-z]+)");
    private static final Path LOCK = Path.of(System.getProperty("java.io.tmpdir"), "grapevine-netns-lab.lock");
    private static volatile boolean leftoversCleared;

    private final String id = Long.toString(ProcessHandle.current().pid(), 36);
    private final Map<String, Host> hosts = new LinkedHashMap<>();
    private final List<ChildProcess> processes = new ArrayList<>();
    private final List<Impairment> impairments = new ArrayList<>();
    private int subnet = -1;
    private boolean partitioned;
    private Thread shutdownHook;

    /** A host: a network namespace with one address on the lab's bridge. */
    public final class Host {
        private final String name;
        private final int index;
        private final String namespace;
        private final String address;
        private final String bridgePort;

        private Host(String name, int index) {
            this.name = name;
            this.index = index;
            this.namespace = NAMESPACE_PREFIX + id + "-" + name;
            this.address = "10.77." + subnet + "." + (index + 2);
            this.bridgePort = "gvl" + id + "-h" + index;
        }

        public String name() {
            return name;
        }

        /** Its address, e.g. 10.77.142.3. */
        public String address() {
            return address;
        }

        public String namespace() {
            return namespace;
        }

        /** {@code ip netns exec NAMESPACE command...}, its output in {@code dir/logName.log}; killed after the test. */
        public ChildProcess run(Path dir, String logName, List<String> command) {
            List<String> line = new ArrayList<>(List.of("ip", "netns", "exec", namespace));
            line.addAll(command);
            ChildProcess p = ChildProcess.start(dir, logName, line, Map.of());
            synchronized (processes) {
                processes.add(p);
            }
            return p;
        }

        /** {@code ./grapevine SUBCOMMAND args...} in this host. */
        public ChildProcess launcher(Path dir, String logName, String subcommand, String... args) {
            List<String> line = new ArrayList<>(List.of(ChildProcess.repoRoot().resolve("grapevine").toString(), subcommand));
            line.addAll(List.of(args));
            return run(dir, logName, line);
        }

        /** Runs a short command in this host and fails the test if it does not succeed. */
        public String exec(String... command) {
            List<String> line = new ArrayList<>(List.of("ip", "netns", "exec", namespace));
            line.addAll(List.of(command));
            return NetnsLab.run(line);
        }

        /** Pulls the host's cable: its port on the bridge goes down, and every packet to or from it is lost. */
        public void cutLink() {
            NetnsLab.run("ip", "link", "set", bridgePort, "down");
        }

        public void healLink() {
            NetnsLab.run("ip", "link", "set", bridgePort, "up");
        }

        @Override
        public String toString() {
            return name + "(" + address + ")";
        }
    }

    /** Loss and delay applied in one host: its netem process and the iptables rules that feed it. */
    private record Impairment(Host host, ChildProcess netem, List<List<String>> rules) {
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        Assumptions.assumeTrue(isRoot(),
                "network namespace tests need root (ip netns add, veth pairs, a bridge); this test runs as "
                        + System.getProperty("user.name"));
        // As root the scenarios must run: a missing tool (.ci/run installs iproute2) fails them, it never skips them.
        if (!ipNetnsWorks()) {
            throw new IllegalStateException("network namespace tests need 'ip netns' (Debian's iproute2) and a kernel "
                    + "that allows network namespaces; 'ip netns list' failed");
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        keepLogs(context.getRequiredTestClass().getSimpleName() + "-" + context.getRequiredTestMethod().getName());
        tearDown();
    }

    /**
     * Copies the output of every process the test started to {@code target/netns-lab/TEST/} (the test's own
     * directory is deleted after it), for a look after a failure.
     */
    private void keepLogs(String test) {
        Path kept = Path.of("target", "netns-lab", test);
        synchronized (processes) {
            for (ChildProcess p : processes) {
                try {
                    Files.createDirectories(kept);
                    Files.copy(p.logFile(), kept.resolve(p.logFile().getFileName()),
                            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                } catch (IOException e) {
                    // a process that never wrote has no file
                }
            }
        }
    }

    /** The host named {@code name}, created (namespace, veth pair, address) on first use. */
    public synchronized Host host(String name) {
        Host existing = hosts.get(name);
        if (existing != null) {
            return existing;
        }
        setUpBridge();
        if (hosts.size() + 3 >= 200) {
            throw new IllegalStateException("a lab has at most 196 hosts: .200 is its spare address");
        }
        Host h = new Host(name, hosts.size() + 1);
        String peer = "gvl" + id + "-n" + h.index;
        run("ip", "netns", "add", h.namespace);
        hosts.put(name, h);
        run("ip", "link", "add", h.bridgePort, "type", "veth", "peer", "name", peer);
        run("ip", "link", "set", peer, "netns", h.namespace);
        run("ip", "-n", h.namespace, "link", "set", peer, "name", "eth0");
        run("ip", "-n", h.namespace, "addr", "add", h.address + "/24", "dev", "eth0");
        run("ip", "-n", h.namespace, "link", "set", "eth0", "up");
        run("ip", "-n", h.namespace, "link", "set", "lo", "up");
        run("ip", "link", "set", h.bridgePort, "master", bridge());
        run("ip", "link", "set", h.bridgePort, "up");
        return h;
    }

    /** The machine's own address on the bridge (the first of the /24). */
    public String gatewayAddress() {
        return "10.77." + subnet + ".1";
    }

    /**
     * Address {@code n} (0 to 49) of the lab's /24 that no host has (hosts take .2 upwards, the machine .1, these
     * .200 upwards): for a virtual IP that moves between hosts. The bridge is set up if no host was made yet.
     */
    public synchronized String spareAddress(int n) {
        if (n < 0 || n >= 50) {
            throw new IllegalArgumentException("spare address " + n + ": 0 to 49");
        }
        setUpBridge();
        return "10.77." + subnet + "." + (200 + n);
    }

    private String bridge() {
        return "gvl" + id + "-b";
    }

    private String table() {
        return "gvlab_" + id;
    }

    private void setUpBridge() {
        if (subnet >= 0) {
            return;
        }
        clearLeftovers();
        try (FileChannel lock = FileChannel.open(LOCK, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock ignored = lock.lock()) {
            // Another lab (another build on this machine) may be running: take a /24 nobody routes yet.
            String routes = run("ip", "-4", "route", "show");
            for (int candidate = 100; candidate < 250 && subnet < 0; candidate++) {
                if (!routes.contains("10.77." + candidate + ".")) {
                    subnet = candidate;
                }
            }
            if (subnet < 0) {
                throw new IllegalStateException("no free 10.77.X.0/24 for the lab: " + routes);
            }
            shutdownHook = new Thread(this::tearDown, "netns-lab-cleanup");
            Runtime.getRuntime().addShutdownHook(shutdownHook);
            run("ip", "link", "add", bridge(), "type", "bridge");
            run("ip", "addr", "add", gatewayAddress() + "/24", "dev", bridge());
            run("ip", "link", "set", bridge(), "up");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Drops every packet between the hosts of {@code side} and those of {@code other} on the bridge, both ways;
     * the rest of the network, and the machine's own address, are untouched. {@link #healPartitions} ends it.
     */
    public void partition(List<Host> side, List<Host> other) throws Exception {
        partition(side, other, 0);
    }

    /**
     * Like {@link #partition(List, List)}, for the TCP segments from or to {@code tcpPort} only (0: everything), e.g.
     * the gossip port: then the hosts still reach each other's other ports.
     */
    public synchronized void partition(List<Host> side, List<Host> other, int tcpPort) throws Exception {
        Tools.require("nft", "nftables");
        if (!partitioned) {
            run("nft", "add", "table", "bridge", table());
            run("nft", "add", "chain", "bridge", table(), "forward",
                    "{ type filter hook forward priority 0; policy accept; }");
            partitioned = true;
        }
        List<List<String>> matches = tcpPort == 0 ? List.of(List.of())
                : List.of(List.of("tcp", "dport", Integer.toString(tcpPort)), List.of("tcp", "sport", Integer.toString(tcpPort)));
        for (Host a : side) {
            for (Host b : other) {
                for (List<String> match : matches) {
                    for (Host[] way : new Host[][] {{a, b}, {b, a}}) {
                        List<String> rule = new ArrayList<>(List.of("nft", "add", "rule", "bridge", table(), "forward",
                                "iifname", way[0].bridgePort, "oifname", way[1].bridgePort));
                        rule.addAll(match);
                        rule.add("drop");
                        run(rule);
                    }
                }
            }
        }
    }

    public synchronized void healPartitions() {
        if (partitioned) {
            run("nft", "flush", "chain", "bridge", table(), "forward");
        }
    }

    /**
     * Every TCP segment a host of {@code on} sends from or to {@code port} is dropped with probability {@code loss}
     * or else delayed {@code delayMillis} (each host impairs what it sends, so traffic between two impaired
     * hosts is impaired once per direction). Other ports are untouched. {@link #clearImpairments} ends it.
     */
    public synchronized void impairTcpPort(List<Host> on, int port, int delayMillis, double loss, Path dir) throws Exception {
        Tools.require("iptables", "iptables");
        Tools.require("python3", "python3");
        Path script = netemScript(dir);
        for (Host h : on) {
            ChildProcess netem = h.run(dir, "netem-" + h.name(), List.of("python3", script.toString(), "--queue", "0",
                    "--delay-ms", Integer.toString(delayMillis), "--loss", Double.toString(loss)));
            io.grapevine.proxy.testing.Await.until(java.time.Duration.ofSeconds(10), "netem in " + h,
                    () -> netem.log().contains("netem: queue") || !netem.isAlive(), netem::tail);
            if (!netem.isAlive()) {
                throw new IllegalStateException("netem did not start in " + h + ": " + netem.tail());
            }
            List<List<String>> rules = List.of(
                    List.of("OUTPUT", "-p", "tcp", "--dport", Integer.toString(port), "-j", "NFQUEUE", "--queue-num", "0",
                            "--queue-bypass"),
                    List.of("OUTPUT", "-p", "tcp", "--sport", Integer.toString(port), "-j", "NFQUEUE", "--queue-num", "0",
                            "--queue-bypass"));
            for (List<String> rule : rules) {
                List<String> add = new ArrayList<>(List.of("iptables", "-A"));
                add.addAll(rule);
                h.exec(add.toArray(String[]::new));
            }
            impairments.add(new Impairment(h, netem, rules));
        }
    }

    /** What the impairments did: segments they held back or dropped, summed over the hosts. */
    public record ImpairmentTotals(long segments, long dropped) {
    }

    private static final Pattern NETEM_TOTALS = Pattern.compile("netem: (\\d+) packets, (\\d+) dropped");

    /** Removes every impairment; segments held back are let through. */
    public synchronized ImpairmentTotals clearImpairments() {
        long segments = 0;
        long dropped = 0;
        for (Impairment i : impairments) {
            for (List<String> rule : i.rules()) {
                List<String> delete = new ArrayList<>(List.of("ip", "netns", "exec", i.host().namespace(), "iptables", "-D"));
                delete.addAll(rule);
                runQuietly(delete);
            }
            i.netem().process().destroy(); // SIGTERM: it lets what it holds through, then exits
            try {
                i.netem().waitFor(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            Matcher m = NETEM_TOTALS.matcher(i.netem().log());
            if (m.find()) {
                segments += Long.parseLong(m.group(1));
                dropped += Long.parseLong(m.group(2));
            }
        }
        impairments.clear();
        return new ImpairmentTotals(segments, dropped);
    }

    private static Path netemScript(Path dir) throws IOException {
        Path script = dir.resolve("netem.py");
        if (!Files.exists(script)) {
            try (InputStream in = NetnsLab.class.getResourceAsStream("/netns/netem.py")) {
                if (in == null) {
                    throw new IOException("netns/netem.py is not on the test classpath");
                }
                Files.copy(in, script);
            }
        }
        return script;
    }

    /** Kills what the lab started and deletes everything it created; safe to call twice. */
    public synchronized void tearDown() {
        List<ChildProcess> started;
        synchronized (processes) {
            started = new ArrayList<>(processes);
            processes.clear();
        }
        impairments.clear();
        for (int i = started.size() - 1; i >= 0; i--) {
            started.get(i).close();
        }
        for (Host h : hosts.values()) {
            killEverythingIn(h.namespace);
            // The veth pair goes at once; a namespace's own links would only go once the kernel frees it.
            runQuietly(List.of("ip", "link", "del", h.bridgePort));
            runQuietly(List.of("ip", "netns", "del", h.namespace));
        }
        hosts.clear();
        if (partitioned) {
            runQuietly(List.of("nft", "delete", "table", "bridge", table()));
            partitioned = false;
        }
        if (subnet >= 0) {
            runQuietly(List.of("ip", "link", "del", bridge()));
            subnet = -1;
        }
        if (shutdownHook != null && Thread.currentThread() != shutdownHook) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down already
            }
            shutdownHook = null;
        }
    }

    /**
     * Deletes the namespaces, links and nft tables of labs whose JVM no longer runs (killed mid-test), with the
     * processes still running in those namespaces. Labs of JVMs that still run are left alone.
     */
    private static void clearLeftovers() {
        if (leftoversCleared) {
            return;
        }
        leftoversCleared = true;
        for (String line : run("ip", "netns", "list").split("\n")) {
            Matcher m = OUR_NAMESPACE.matcher(line.trim());
            if (m.find() && isDead(m.group(1))) {
                String namespace = line.trim().split("\\s+")[0];
                killEverythingIn(namespace);
                runQuietly(List.of("ip", "netns", "del", namespace));
            }
        }
        for (String line : run("ip", "-o", "link", "show").split("\n")) {
            Matcher m = OUR_LINK.matcher(line.trim());
            if (m.find() && isDead(m.group(2))) {
                runQuietly(List.of("ip", "link", "del", m.group(1)));
            }
        }
        String tables = runQuietly(List.of("nft", "list", "tables", "bridge"));
        Matcher m = OUR_TABLE.matcher(tables);
        while (m.find()) {
            if (isDead(m.group(1))) {
                runQuietly(List.of("nft", "delete", "table", "bridge", "gvlab_" + m.group(1)));
            }
        }
    }

    private static boolean isDead(String base36Pid) {
        try {
            return ProcessHandle.of(Long.parseLong(base36Pid, 36)).map(p -> !p.isAlive()).orElse(true);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /**
     * Kills (SIGKILL) every process in {@code namespace}, only processes a lab started live there, and waits (at
     * most 10 s) until they are gone.
     */
    private static void killEverythingIn(String namespace) {
        List<ProcessHandle> killed = new ArrayList<>();
        for (String pid : runQuietly(List.of("ip", "netns", "pids", namespace)).split("\\s+")) {
            if (!pid.isBlank()) {
                ProcessHandle.of(Long.parseLong(pid.trim())).ifPresent(p -> {
                    p.destroyForcibly();
                    killed.add(p);
                });
            }
        }
        for (ProcessHandle p : killed) {
            try {
                p.onExit().get(10, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception e) {
                // reported by the namespace that cannot be deleted, if it comes to that
            }
        }
    }

    private static boolean isRoot() {
        try {
            return run("id", "-u").trim().equals("0");
        } catch (RuntimeException | AssertionError e) {
            return false;
        }
    }

    private static boolean ipNetnsWorks() {
        try {
            return Tools.run(30, "ip", "netns", "list").exitCode() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    static String run(String... command) {
        return run(List.of(command));
    }

    /** Runs a command to its end and fails the test, naming it, unless it exits 0. */
    static String run(List<String> command) {
        try {
            Tools.Run r = Tools.run(60, command);
            assertEquals(0, r.exitCode(), String.join(" ", command) + " failed: " + r.err() + r.out());
            return r.out();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(String.join(" ", command), e);
        }
    }

    /** Runs a command of the clean-up, whose failure (a thing already gone) changes nothing. */
    private static String runQuietly(List<String> command) {
        try {
            return Tools.run(60, command).out();
        } catch (Exception e) {
            return "";
        }
    }
}
