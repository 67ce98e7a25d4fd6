package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.cli.CommandLines;
import io.grapevine.cluster.cli.UsageException;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.net.Transport;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code ./grapevine proxy}'s command line, parsed in this JVM (the process is ProxyCommandLineIntegrationTest). */
class ProxyCommandLineTest {

    /**
     * For every flag: the command line it needs besides itself (to be valid and to make the flag matter),
     * and a value different from the default. A flag added without a line here fails the test.
     */
    private record Sample(String value, List<String> context) {
    }

    private static final List<String> GOSSIP = List.of("--servers", "s.conf", "--gossip", "7946", "--insecure-gossip");
    private static final List<String> RENDER = List.of("--render", "t.mustache", "--out", "o.cfg", "--join", "h:7946",
            "--insecure-gossip");
    private static final Map<String, Sample> SAMPLES = new LinkedHashMap<>();

    static {
        SAMPLES.put("--servers", new Sample("other.conf", List.of()));
        SAMPLES.put("--listen", new Sample("0.0.0.0:80", List.of("--servers", "s.conf")));
        SAMPLES.put("--admin", new Sample("127.0.0.1:9101", List.of("--servers", "s.conf")));
        SAMPLES.put("--gossip", new Sample("7000", List.of("--servers", "s.conf", "--insecure-gossip")));
        SAMPLES.put("--no-gossip", new Sample(null, List.of("--servers", "s.conf")));
        SAMPLES.put("--join", new Sample("10.0.0.2:7946", GOSSIP));
        SAMPLES.put("--advertise", new Sample("10.0.0.1", GOSSIP));
        SAMPLES.put("--gossip-bind", new Sample("0.0.0.0", GOSSIP));
        SAMPLES.put("--cluster-key", new Sample("/etc/grapevine/cluster.key", List.of("--servers", "s.conf", "--gossip", "7946")));
        SAMPLES.put("--insecure-gossip", new Sample(null, List.of("--servers", "s.conf", "--gossip", "7946")));
        SAMPLES.put("--template", new Sample("t.mustache", GOSSIP));
        SAMPLES.put("--render", new Sample("other.mustache", List.of("--out", "o.cfg", "--join", "h:7946", "--insecure-gossip")));
        SAMPLES.put("--out", new Sample("other.cfg", List.of("--render", "t.mustache", "--join", "h:7946", "--insecure-gossip")));
        SAMPLES.put("--on-change", new Sample("systemctl reload haproxy", RENDER));
        SAMPLES.put("--on-change-timeout-ms", new Sample("5000", concat(RENDER, "--on-change", "true")));
        SAMPLES.put("--debounce-ms", new Sample("200", List.of("--servers", "s.conf")));
        SAMPLES.put("--admin-token-file", new Sample("/run/secrets/admin-token", List.of("--servers", "s.conf")));
        SAMPLES.put("--transport", new Sample("io_uring", List.of("--servers", "s.conf")));
        SAMPLES.put("--loop-slice-us", new Sample("100", List.of("--servers", "s.conf")));
        SAMPLES.put("--check", new Sample(null, List.of("--servers", "s.conf")));
    }

    private static List<String> concat(List<String> list, String... more) {
        List<String> all = new ArrayList<>(list);
        all.addAll(List.of(more));
        return all;
    }

    private static ProxyInstance.Options parse(String... args) throws UsageException {
        return ProxyMain.parse(args, Map.of()).options();
    }

    private static ProxyInstance.Options parse(List<String> args) throws UsageException {
        return parse(args.toArray(String[]::new));
    }

    @Test
    void defaultsServeFromServersConfAloneWithoutGossip() throws UsageException {
        ProxyInstance.Options o = parse("--servers", "servers.conf");
        assertEquals(Path.of("servers.conf"), o.servers());
        assertNull(o.listen());
        assertNull(o.admin());
        assertFalse(o.gossipOn(), "no gossip unless asked for");
        assertNull(o.gossip());
        assertNull(o.template());
        assertFalse(o.renderMode());
        assertEquals(60_000, o.onChangeTimeoutMillis());
        assertEquals(ProxyInstance.DEFAULT_DEBOUNCE_MILLIS, o.debounceMillis());
        assertEquals(o, parse("--servers", "servers.conf", "--no-gossip"), "--no-gossip states the default");
    }

    /** Every flag: {@code --flag=value} and {@code --flag value} mean the same, and change the options. */
    @Test
    void everyFlagInBothSpellings() throws UsageException {
        List<CommandLines.Flag> flags = CommandLines.flags(new ProxyMain.Flags());
        assertEquals(flags.stream().map(CommandLines.Flag::name).sorted().toList(), SAMPLES.keySet().stream().sorted().toList(),
                "a sample for every flag of the proxy");
        for (CommandLines.Flag flag : flags) {
            Sample sample = SAMPLES.get(flag.name());
            ProxyInstance.Options without;
            try {
                without = parse(sample.context().isEmpty() ? List.of("--servers", "s.conf") : sample.context());
            } catch (UsageException e) {
                without = null; // the flag is what makes this command line valid (--cluster-key, --render, ...)
            }
            List<String> attached = new ArrayList<>(sample.context());
            List<String> separate = new ArrayList<>(sample.context());
            if (flag.takesValue()) {
                attached.add(flag.name() + "=" + sample.value());
                separate.addAll(List.of(flag.name(), sample.value()));
            } else {
                attached.add(flag.name());
                separate.add(flag.name());
            }
            ProxyInstance.Options withFlag = parse(attached);
            assertEquals(withFlag, parse(separate), flag.name());
            if (!flag.name().equals("--no-gossip")) {
                assertNotEquals(without, withFlag, flag.name() + " changed nothing");
            }
        }
    }

    @Test
    void gossipIsOnWithGossipOrJoinOnly() throws UsageException {
        ProxyInstance.Options gossip = parse("--servers", "s.conf", "--gossip", "7946", "--cluster-key", "k");
        assertTrue(gossip.gossipOn());
        assertEquals(7946, gossip.gossipPort());
        assertEquals(Path.of("k"), gossip.gossip().clusterKey());
        assertFalse(gossip.gossip().insecure());

        ProxyInstance.Options joined = parse("--servers", "s.conf", "--join", "a:7946,b:7946", "--join=c:7000", "--insecure-gossip");
        assertTrue(joined.gossipOn());
        assertEquals(7946, joined.gossipPort(), "the conventional port when only --join is given");
        assertEquals(List.of(new HostAndPort("a", 7946), new HostAndPort("b", 7946), new HostAndPort("c", 7000)),
                joined.gossip().join());
        assertTrue(joined.gossip().insecure());
    }

    @Test
    void theEnvironmentGivesDefaultsAndTheCommandLineWins() throws UsageException {
        Map<String, String> env = Map.of("GRAPEVINE_SERVERS", "/etc/grapevine/servers.conf", "GRAPEVINE_LISTEN", "0.0.0.0:9000",
                "GRAPEVINE_ADMIN", "127.0.0.1:9101", "GRAPEVINE_GOSSIP_PORT", "7947", "GRAPEVINE_JOIN", "seed:7946",
                "GRAPEVINE_CLUSTER_KEY_FILE", "/run/secrets/cluster_key", "GRAPEVINE_ADVERTISE", "10.0.0.5",
                "GRAPEVINE_GOSSIP_BIND", "10.0.0.5", "GRAPEVINE_TEMPLATE", "/etc/grapevine/backends.mustache",
                "GRAPEVINE_ADMIN_TOKEN_FILE", "/run/secrets/admin_token");
        ProxyInstance.Options o = ProxyMain.parse(new String[0], env).options();
        assertEquals(Path.of("/run/secrets/admin_token"), o.adminTokenFile());
        assertEquals(Path.of("/etc/grapevine/servers.conf"), o.servers());
        assertEquals(new HostPort("0.0.0.0", 9000), o.listen());
        assertEquals(new HostPort("127.0.0.1", 9101), o.admin());
        assertEquals(7947, o.gossipPort());
        assertEquals(List.of(new HostAndPort("seed", 7946)), o.gossip().join());
        assertEquals(Path.of("/run/secrets/cluster_key"), o.gossip().clusterKey());
        assertEquals("10.0.0.5", o.gossip().advertise());
        assertEquals("10.0.0.5", o.gossip().bindHost());
        assertEquals(Path.of("/etc/grapevine/backends.mustache"), o.template());

        ProxyInstance.Options flags = ProxyMain.parse(new String[] {"--listen", "127.0.0.1:8080", "--servers=s.conf"}, env).options();
        assertEquals(new HostPort("127.0.0.1", 8080), flags.listen());
        assertEquals(Path.of("s.conf"), flags.servers());

        // --no-gossip on the command line wins over gossip settings in the environment.
        ProxyInstance.Options off = ProxyMain.parse(new String[] {"--no-gossip"}, env).options();
        assertFalse(off.gossipOn());
        assertNull(off.template());

        UsageException e = assertThrows(UsageException.class, () -> ProxyMain.parse(new String[] {"--servers", "s.conf"},
                Map.of("GRAPEVINE_LISTEN", "nowhere")));
        assertTrue(e.getMessage().startsWith("--listen: ") && e.getMessage().endsWith(" (from GRAPEVINE_LISTEN)"), e.getMessage());
    }

    @Test
    void gossipWithoutAKeyIsRefusedWithTheWayToMakeOne() {
        for (String[] args : List.of(new String[] {"--servers", "s.conf", "--gossip", "7946"},
                new String[] {"--servers", "s.conf", "--join", "10.0.0.2:7946"})) {
            UsageException e = assertThrows(UsageException.class, () -> parse(args));
            assertEquals(GossipNode.MISSING_KEY, e.getMessage());
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--lisen 127.0.0.1:1                         | unknown option '--lisen' (did you mean --listen?)",
        "stray                                       | unexpected argument 'stray'",
        "--listen                                    | --listen needs a value (HOST:PORT)",
        "--listen 127.0.0.1                          | --listen: ",
        "--gossip 70000 --insecure-gossip            | --gossip: \"70000\" is not a port 0..65535",
        "--debounce-ms 0                             | --debounce-ms: \"0\" is not a number 1..60000",
        "--no-gossip --join h:1                      | --no-gossip cannot be combined with --gossip, --join, --advertise",
        "--no-gossip --insecure-gossip               | --no-gossip cannot be combined with",
        "--no-gossip=yes                             | --no-gossip takes no value",
        "--cluster-key k                             | --cluster-key is a gossip setting, but gossip is off: add --gossip PORT",
        "--advertise 10.0.0.1                        | --advertise is a gossip setting, but gossip is off",
        "--gossip-bind 0.0.0.0                       | --gossip-bind is a gossip setting, but gossip is off",
        "--insecure-gossip                           | --insecure-gossip is a gossip setting, but gossip is off",
        "--template t.mustache                       | --template is a gossip setting, but gossip is off",
        "--gossip 7946 --cluster-key k --insecure-gossip | --cluster-key and --insecure-gossip contradict each other",
        "--gossip 7946 --insecure-gossip --gossip-bind 0.0.0.0:1 | --gossip-bind must be a host name or IP address",
        "--join nowhere --insecure-gossip            | --join must be HOST:PORT, not 'nowhere'",
        "--render t --join h:1 --insecure-gossip     | --render TEMPLATE and --out FILE go together",
        "--on-change true                            | --on-change needs --render and --out",
        "--render t --out o                          | --render renders the gossip membership: give --join",
    })
    void badCommandLinesGiveOneLineNamingTheFlag(String args, String expected) {
        List<String> line = new ArrayList<>(List.of("--servers", "s.conf"));
        line.addAll(List.of(args.strip().split(" +")));
        UsageException e = assertThrows(UsageException.class, () -> parse(line));
        assertTrue(e.getMessage().startsWith(expected.strip()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void renderModeNeedsNoServersAndTakesATimeoutForItsCommand() throws UsageException {
        ProxyInstance.Options o = parse(concat(RENDER, "--on-change", "systemctl reload haproxy", "--on-change-timeout-ms", "1500"));
        assertTrue(o.renderMode());
        assertNull(o.servers());
        assertEquals("systemctl reload haproxy", o.onChange());
        assertEquals(1500, o.onChangeTimeoutMillis());
        UsageException e = assertThrows(UsageException.class, () -> parse(concat(RENDER, "--on-change-timeout-ms", "1500")));
        assertEquals("--on-change-timeout-ms needs --on-change", e.getMessage());
        e = assertThrows(UsageException.class, () -> parse(concat(RENDER, "--on-change", "x", "--on-change-timeout-ms", "0")));
        assertEquals("--on-change-timeout-ms: \"0\" is not a number 1..86400000", e.getMessage());
    }

    @Test
    void theTransportIsNamedOnTheCommandLineOrInTheEnvironment() throws UsageException {
        assertNull(parse("--servers", "s.conf").transport(), "nothing asked for: the default");
        assertEquals(Transport.IO_URING, parse("--servers", "s.conf", "--transport", "io_uring").transport());
        assertEquals(Transport.IO_URING, parse("--servers", "s.conf", "--transport", "IO-URING").transport());
        assertEquals(Transport.NIO, parse("--servers", "s.conf", "--transport=nio").transport());
        Map<String, String> env = Map.of("GRAPEVINE_TRANSPORT", "epoll");
        assertEquals(Transport.EPOLL, ProxyMain.parse(new String[] {"--servers", "s.conf"}, env).options().transport());
        assertEquals(Transport.NIO, ProxyMain.parse(new String[] {"--servers", "s.conf", "--transport", "nio"}, env)
                .options().transport(), "the command line wins");

        UsageException e = assertThrows(UsageException.class, () -> parse("--servers", "s.conf", "--transport", "kqueue"));
        assertEquals("--transport: \"kqueue\" is not a transport: io_uring, epoll or nio", e.getMessage());
        e = assertThrows(UsageException.class, () -> ProxyMain.parse(new String[] {"--servers", "s.conf"},
                Map.of("GRAPEVINE_TRANSPORT", "select")));
        assertEquals("--transport: \"select\" is not a transport: io_uring, epoll or nio (from GRAPEVINE_TRANSPORT)",
                e.getMessage());
        e = assertThrows(UsageException.class, () -> parse(concat(RENDER, "--transport", "epoll")));
        assertEquals("--transport chooses the I/O of the listeners, which --render does not open", e.getMessage());
        assertNull(ProxyMain.parse(RENDER.toArray(String[]::new), env).options().transport(),
                "render mode opens no listener: the environment's transport does not matter to it");
    }

    @Test
    void theLoopSliceIsNamedOnTheCommandLineOrInTheEnvironment() throws UsageException {
        assertEquals(0, parse("--servers", "s.conf").loopSliceMicros(), "the default: the kernel's");
        assertEquals(100, parse("--servers", "s.conf", "--loop-slice-us", "100").loopSliceMicros());
        assertEquals(0, parse("--servers", "s.conf", "--loop-slice-us", "0").loopSliceMicros());
        assertEquals(100_000, parse("--servers", "s.conf", "--loop-slice-us=100000").loopSliceMicros());
        Map<String, String> env = Map.of("GRAPEVINE_LOOP_SLICE_US", "500");
        assertEquals(500, ProxyMain.parse(new String[] {"--servers", "s.conf"}, env).options().loopSliceMicros());
        assertEquals(0, ProxyMain.parse(new String[] {"--servers", "s.conf", "--loop-slice-us", "0"}, env).options()
                .loopSliceMicros(), "the command line wins");

        UsageException e = assertThrows(UsageException.class, () -> parse("--servers", "s.conf", "--loop-slice-us", "99"));
        assertEquals("--loop-slice-us: \"99\" is under the 100 µs the kernel allows (0 leaves the kernel's slice)",
                e.getMessage());
        e = assertThrows(UsageException.class, () -> parse("--servers", "s.conf", "--loop-slice-us", "100001"));
        assertEquals("--loop-slice-us: \"100001\" is not a number of microseconds 0..100000", e.getMessage());
        e = assertThrows(UsageException.class, () -> parse("--servers", "s.conf", "--loop-slice-us", "-1"));
        assertEquals("--loop-slice-us: \"-1\" is not a number of microseconds 0..100000", e.getMessage());
        e = assertThrows(UsageException.class, () -> parse(concat(RENDER, "--loop-slice-us", "100")));
        assertEquals("--loop-slice-us sets the slice of the event loops, which --render does not run", e.getMessage());
        assertEquals(0, ProxyMain.parse(RENDER.toArray(String[]::new), Map.of("GRAPEVINE_LOOP_SLICE_US", "x"))
                .options().loopSliceMicros(), "render mode runs no event loop: the environment's slice does not matter");
    }

    @Test
    void helpListsEveryFlagAndVariableAndVersionNamesTheProgram() throws UsageException {
        String help = ProxyMain.parse(new String[] {"--lisen", "x", "--help"}, Map.of()).text();
        assertTrue(help.startsWith("usage: ./grapevine proxy --servers FILE"), help);
        for (CommandLines.Flag flag : CommandLines.flags(new ProxyMain.Flags())) {
            assertTrue(help.contains(flag.name()), flag.name() + " in the help");
            if (flag.environmentVariable() != null) {
                assertTrue(help.contains(flag.environmentVariable()), flag.environmentVariable() + " in the help");
            }
        }
        assertTrue(help.contains("exit status"), help);
        assertTrue(ProxyMain.parse(new String[] {"-V"}, Map.of()).text().startsWith("grapevine proxy "));
    }
}
