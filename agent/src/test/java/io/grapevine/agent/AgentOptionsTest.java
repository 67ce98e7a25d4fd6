package io.grapevine.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.HostsFileJvm;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.cluster.MetadataJson;
import io.grapevine.cluster.cli.CommandLines;
import io.grapevine.cluster.cli.UsageException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AgentOptionsTest {

    private static final String[] REQUIRED = {"--join", "10.0.0.1:7946", "--service", "web", "--target", "127.0.0.1:8001",
        "--insecure-gossip"};

    /**
     * A value for every flag, each different from the default. The test below fails when a flag is added
     * without a line here, so every flag is checked in both spellings.
     */
    private static final Map<String, String> SAMPLE = new LinkedHashMap<>();

    static {
        SAMPLE.put("--join", "10.0.0.2:7000");
        SAMPLE.put("--advertise", "10.1.2.3");
        SAMPLE.put("--gossip-bind", "0.0.0.0");
        SAMPLE.put("--cluster-key", "/etc/grapevine/key");
        SAMPLE.put("--insecure-gossip", null);
        SAMPLE.put("--service", "api.v2");
        SAMPLE.put("--target", "127.0.0.1:8002");
        SAMPLE.put("--weight", "7");
        SAMPLE.put("--tag", "zone=eu-1");
        SAMPLE.put("--health-path", "/ready?full=1");
        SAMPLE.put("--gossip-port", "7950");
        SAMPLE.put("--drain-seconds", "0");
        SAMPLE.put("--demo", null);
    }

    private static String[] with(String... extra) {
        String[] args = new String[REQUIRED.length + extra.length];
        System.arraycopy(REQUIRED, 0, args, 0, REQUIRED.length);
        System.arraycopy(extra, 0, args, REQUIRED.length, extra.length);
        return args;
    }

    /**
     * The required flags without {@code flag}, so that the sample alone decides it; insecure unless the
     * flag is one of the two ways to choose the key.
     */
    private static List<String> base(String flag) {
        List<String> args = new ArrayList<>();
        for (int i = 0; i < 6; i += 2) {
            if (!REQUIRED[i].equals(flag)) {
                args.add(REQUIRED[i]);
                args.add(REQUIRED[i + 1]);
            }
        }
        if (!flag.equals("--cluster-key") && !flag.equals("--insecure-gossip")) {
            args.add("--insecure-gossip");
        }
        return args;
    }

    /** What the options are without the sample of {@code flag}. */
    private static AgentOptions reference(String flag) throws UsageException {
        if (!flag.equals("--insecure-gossip")) {
            return AgentOptions.parse(REQUIRED);
        }
        List<String> keyed = base("--cluster-key");
        keyed.addAll(List.of("--cluster-key", "/etc/grapevine/other.key"));
        return AgentOptions.parse(keyed.toArray(String[]::new));
    }

    @Test
    void defaults() throws UsageException {
        AgentOptions o = AgentOptions.parse(REQUIRED);
        assertEquals(List.of(new HostAndPort("10.0.0.1", 7946)), o.gossip().join());
        assertEquals("web", o.service());
        assertEquals(new HostAndPort("127.0.0.1", 8001), o.target());
        assertEquals(1, o.weight());
        assertEquals(Map.of(), o.tags());
        assertEquals("/health", o.healthPath());
        assertEquals(0, o.gossipPort());
        assertNull(o.gossip().advertise());
        assertNull(o.gossip().bindHost());
        assertNull(o.gossip().clusterKey());
        assertTrue(o.gossip().insecure());
        assertEquals(5, o.drainSeconds());
        assertFalse(o.demo());
        assertEquals("127.0.0.1", o.metadata(MemberState.UP).host());
    }

    /** Every flag: {@code --flag=value} and {@code --flag value} mean the same, and change the options. */
    @Test
    void everyFlagInBothSpellings() throws UsageException {
        List<String> declared = CommandLines.flags(new AgentOptions.Flags()).stream().map(CommandLines.Flag::name).toList();
        assertEquals(declared.stream().sorted().toList(), SAMPLE.keySet().stream().sorted().toList(),
                "a sample value for every flag of the agent");
        for (CommandLines.Flag flag : CommandLines.flags(new AgentOptions.Flags())) {
            String value = SAMPLE.get(flag.name());
            List<String> attached = base(flag.name());
            List<String> separate = base(flag.name());
            if (flag.takesValue()) {
                attached.add(flag.name() + "=" + value);
                separate.add(flag.name());
                separate.add(value);
            } else {
                attached.add(flag.name());
                separate.add(flag.name());
            }
            AgentOptions a = AgentOptions.parse(attached.toArray(String[]::new));
            assertEquals(a, AgentOptions.parse(separate.toArray(String[]::new)), flag.name());
            assertNotEquals(reference(flag.name()), a, flag.name() + " changed nothing");
        }
    }

    @Test
    void everyValuedFlagInOneParse() throws UsageException {
        AgentOptions o = AgentOptions.parse(
            "--join=a.example:7946, 10.0.0.2:7000", "--join", "10.0.0.3:7001", "--service", "api.v2",
            "--target=127.0.0.1:8001", "--weight", "0", "--tag", "zone=eu-1", "--tag=canary=true",
            "--health-path", "/ready?full=1", "--gossip-port=7950", "--advertise", "10.1.2.3",
            "--gossip-bind", "10.1.2.3", "--cluster-key", "/etc/grapevine/key", "--drain-seconds=0", "--demo");
        assertEquals(List.of(new HostAndPort("a.example", 7946), new HostAndPort("10.0.0.2", 7000),
                new HostAndPort("10.0.0.3", 7001)), o.gossip().join());
        assertEquals(0, o.weight());
        assertEquals(Map.of("zone", "eu-1", "canary", "true"), o.tags());
        assertEquals("/ready?full=1", o.healthPath());
        assertEquals(7950, o.gossipPort());
        assertEquals("10.1.2.3", o.gossip().advertise());
        assertEquals("10.1.2.3", o.gossip().bindHost());
        assertEquals(Path.of("/etc/grapevine/key"), o.gossip().clusterKey());
        assertFalse(o.gossip().insecure());
        assertEquals(0, o.drainSeconds());
        assertTrue(o.demo());
        // The advertised host is what the proxy connects to.
        assertEquals("10.1.2.3", o.metadata(MemberState.UP).host());
        assertEquals(8001, o.metadata(MemberState.UP).port());
    }

    @Test
    void theEnvironmentGivesDefaultsAndTheCommandLineWins() throws UsageException {
        Map<String, String> env = Map.of("GRAPEVINE_JOIN", "proxy:7946", "GRAPEVINE_SERVICE", "web",
                "GRAPEVINE_TARGET", "10.0.0.9:8080", "GRAPEVINE_CLUSTER_KEY_FILE", "/run/secrets/cluster_key",
                "GRAPEVINE_DRAIN_SECONDS", "9", "GRAPEVINE_ADVERTISE", "10.0.0.9", "GRAPEVINE_WEIGHT", "",
                "GRAPEVINE_GOSSIP_PORT", "7947", "GRAPEVINE_HEALTH_PATH", "/up", "GRAPEVINE_GOSSIP_BIND", "10.0.0.9");
        AgentOptions o = AgentOptions.parse(new String[0], env).options();
        assertEquals(List.of(new HostAndPort("proxy", 7946)), o.gossip().join());
        assertEquals("web", o.service());
        assertEquals(new HostAndPort("10.0.0.9", 8080), o.target());
        assertEquals(Path.of("/run/secrets/cluster_key"), o.gossip().clusterKey());
        assertEquals(9, o.drainSeconds());
        assertEquals("10.0.0.9", o.gossip().advertise());
        assertEquals("10.0.0.9", o.gossip().bindHost());
        assertEquals(7947, o.gossipPort());
        assertEquals("/up", o.healthPath());
        assertEquals(1, o.weight(), "an empty variable counts as unset");

        AgentOptions overridden = AgentOptions.parse(new String[] {"--drain-seconds", "2", "--service=api"}, env).options();
        assertEquals(2, overridden.drainSeconds());
        assertEquals("api", overridden.service());

        UsageException e = assertThrows(UsageException.class,
                () -> AgentOptions.parse(new String[0], Map.of("GRAPEVINE_JOIN", "h:1", "GRAPEVINE_SERVICE", "web",
                        "GRAPEVINE_TARGET", "h:1", "GRAPEVINE_CLUSTER_KEY_FILE", "k", "GRAPEVINE_WEIGHT", "heavy")));
        assertEquals("--weight must be a whole number in 0..256, not 'heavy' (from GRAPEVINE_WEIGHT)", e.getMessage());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--bogus                        | unknown option '--bogus'",
        "--weigth 2                     | unknown option '--weigth' (did you mean --weight?)",
        "stray                          | unexpected argument 'stray'",
        "--weight 257                   | --weight must be a whole number in 0..256, not '257'",
        "--weight x                     | --weight must be a whole number in 0..256, not 'x'",
        "--gossip-port 70000            | --gossip-port must be a whole number in 0..65535",
        "--drain-seconds -1             | --drain-seconds must be a whole number",
        "--tag novalue                  | --tag must be KEY=VALUE, not 'novalue'",
        "--tag a=1 --tag a=2            | --tag a is given twice",
        "--tag bad~key=1                | tag key must be",
        "--health-path health           | --health-path must start with '/'",
        "--health-path /health%zz       | --health-path '/health%zz' is not a URL path: Malformed escape pair",
        "--health-path /check{all}      | --health-path '/check{all}' is not a URL path: Illegal character",
        "--advertise 10.0.0.1:80        | --advertise must be a host name or IP address without a port",
        "--gossip-bind 10.0.0.1:80      | --gossip-bind must be a host name or IP address without a port",
        "--demo=yes                     | --demo takes no value",
        "--weight                       | --weight needs a value (N)",
        "--cluster-key k                | --cluster-key and --insecure-gossip contradict each other",
    })
    void badFlagsGiveOneClearLine(String extra, String expected) {
        UsageException e = assertThrows(UsageException.class, () -> AgentOptions.parse(with(extra.strip().split(" +"))));
        assertTrue(e.getMessage().startsWith(expected.strip()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void gossipWithoutAKeyIsRefusedWithTheWayToMakeOne() {
        UsageException e = assertThrows(UsageException.class,
                () -> AgentOptions.parse("--join", "h:1", "--service", "web", "--target", "h:1"));
        assertEquals(GossipNode.MISSING_KEY, e.getMessage());
        assertTrue(e.getMessage().contains("./grapevine keygen > cluster.key")
                && e.getMessage().contains("openssl rand -base64 32"), e.getMessage());
    }

    @Test
    void requiredFlagsAndAddresses() {
        assertMessage("--join HOST:PORT is required", "--service", "web", "--target", "h:1", "--insecure-gossip");
        assertMessage("--service NAME is required", "--join", "h:1", "--target", "h:1", "--insecure-gossip");
        assertMessage("--target HOST:PORT is required", "--join", "h:1", "--service", "web", "--insecure-gossip");
        assertMessage("--target must be HOST:PORT, not '8001'", "--join", "h:1", "--service", "web", "--target", "8001",
                "--insecure-gossip");
        assertMessage("--join port must be in 1..65535, not 0", "--join", "h:0", "--service", "web", "--target", "h:1",
                "--insecure-gossip");
        assertMessage("--service must be", "--join", "h:1", "--service", "no spaces", "--target", "h:1", "--insecure-gossip");
        assertMessage("--target 0.0.0.0:8001 is a wildcard address", "--join", "h:1", "--service", "web", "--target",
                "0.0.0.0:8001", "--insecure-gossip");
    }

    /**
     * Tags within their own limits may still make an announcement larger than a proxy accepts, which would then ignore
     * the backend: the agent refuses such tags at start, with a line saying so, and takes the largest that fit.
     */
    @Test
    void tagsThatMakeTheAnnouncementLargerThanAProxyAcceptsAreRefused() throws UsageException {
        List<String> args = new ArrayList<>(List.of(REQUIRED));
        for (int i = 0; i < MemberMetadata.MAX_TAGS; i++) {
            args.add("--tag");
            args.add("t" + i + "=" + "\u00e9".repeat(MemberMetadata.MAX_TAG_VALUE_LENGTH));
        }
        UsageException e = assertThrows(UsageException.class, () -> AgentOptions.parse(args.toArray(new String[0])));
        assertTrue(e.getMessage().startsWith("--tag: the announcement would be "), e.getMessage());
        assertTrue(e.getMessage().contains("more than the " + MetadataJson.MAX_BYTES + " a proxy accepts"), e.getMessage());

        List<String> ascii = new ArrayList<>(List.of(REQUIRED));
        for (int i = 0; i < MemberMetadata.MAX_TAGS; i++) {
            ascii.add("--tag");
            ascii.add("k".repeat(MemberMetadata.MAX_NAME_LENGTH - 2) + String.format("%02d", i) + "="
                    + "v".repeat(MemberMetadata.MAX_TAG_VALUE_LENGTH));
        }
        AgentOptions o = AgentOptions.parse(ascii.toArray(new String[0]));
        assertEquals(MemberMetadata.MAX_TAGS,
                MetadataJson.parse(MetadataJson.encode(o.metadata(MemberState.DRAINING))).tags().size(),
                "the largest ASCII tags fit, and a proxy reads them");
    }

    /**
     * The host announced for the backend must be one a proxy takes: a name with '_' or a number that is no IPv4 address
     * would be refused by every proxy, with a line in their logs only, so the agent refuses it at start.
     */
    @Test
    void anAnnouncedHostAProxyWouldRefuseIsRefusedAtStart() throws UsageException {
        assertMessage("--target host 'web_1' is not one a proxy connects to", "--join", "h:1", "--service", "web",
                "--target", "web_1:8080", "--insecure-gossip");
        assertMessage("--target host '10.0.0.300' is not one a proxy connects to", "--join", "h:1", "--service", "web",
                "--target", "10.0.0.300:8080", "--insecure-gossip");
        assertMessage("--target host '-web' is not one a proxy connects to", "--join", "h:1", "--service", "web",
                "--target", "-web:8080", "--insecure-gossip");
        assertMessage("--advertise host 'my_host' is not one a proxy connects to", "--join", "h:1", "--service", "web",
                "--target", "127.0.0.1:8080", "--advertise", "my_host", "--insecure-gossip");
        for (String target : List.of("web-1.internal:8080", "Web-1.Example.COM.:8080", "10.0.0.255:8080",
                "[::1]:8080", "localhost:8080")) {
            assertEquals(target.substring(0, target.lastIndexOf(':')).replaceAll("[\\[\\]]", ""),
                    AgentOptions.parse("--join", "h:1", "--service", "web", "--target", target, "--insecure-gossip")
                            .announcedHost());
        }
    }

    /**
     * A loopback target announced as it is, to seeds on other hosts, sends every proxy there to itself: the agent
     * says so at start and names the flag that fixes it. Seeds on loopback (one host), or --advertise, need no word.
     */
    @Test
    void aLoopbackHostAnnouncedToSeedsOnOtherHostsIsWarnedOf() throws UsageException {
        for (String target : List.of("127.0.0.1:8001", "127.1.2.3:8001", "[::1]:8001", "[0:0:0:0:0:0:0:1]:8001",
                "localhost:8001", "LocalHost:8001")) {
            String warning = AgentOptions.parse("--join", "127.0.0.1:7946,10.0.0.1:7946", "--service", "web",
                    "--target", target, "--insecure-gossip").loopbackWarning();
            assertTrue(warning != null && warning.contains("10.0.0.1:7946") && warning.contains("--advertise"),
                    target + ": " + warning);
        }
        assertNull(AgentOptions.parse(with("--advertise", "10.0.0.5")).loopbackWarning());
        assertNull(AgentOptions.parse("--join", "127.0.0.1:7946,[::1]:7947,localhost:7948", "--service", "web",
                "--target", "127.0.0.1:8001", "--insecure-gossip").loopbackWarning(), "one host");
        assertNull(AgentOptions.parse("--join", "10.0.0.1:7946", "--service", "web", "--target", "10.0.0.7:8001",
                "--insecure-gossip").loopbackWarning());
    }

    /**
     * A seed whose host only looks like an IP literal (300.1.1.1) is a name: the check asks no DNS for it, at a start
     * that a silent DNS server would hold for the resolver's timeout. A JVM whose names come from a hosts file that
     * puts 300.1.1.1 on loopback shows whether it was looked up.
     */
    @Test
    void aSeedThatOnlyLooksLikeAnIpLiteralIsNotLookedUp(@TempDir Path dir) throws Exception {
        String out = HostsFileJvm.run(dir, List.of("127.0.0.1 300.1.1.1"), LoopbackWarning.class,
                "--join", "300.1.1.1:7946", "--service", "web", "--target", "127.0.0.1:8001", "--insecure-gossip");
        assertTrue(out.startsWith("announcing 127.0.0.1:8001, a loopback address, to a cluster with seed 300.1.1.1:7946 on"
                + " another host"), out);
    }

    /** Prints the loopback warning of the options given as arguments, or "none". */
    static final class LoopbackWarning {
        public static void main(String[] args) throws UsageException {
            String warning = AgentOptions.parse(args).loopbackWarning();
            System.out.println(warning == null ? "none" : warning);
        }
    }

    @Test
    void helpAndVersionAreTextsToPrint() throws UsageException {
        CommandLines.Parsed<AgentOptions> help = AgentOptions.parse(new String[] {"--service", "x", "--help"}, Map.of());
        assertNull(help.options());
        assertTrue(help.text().startsWith("usage: ./grapevine agent --join"), help.text());
        for (CommandLines.Flag flag : CommandLines.flags(new AgentOptions.Flags())) {
            assertTrue(help.text().contains(flag.name()), flag.name() + " in the help");
            if (flag.environmentVariable() != null) {
                assertTrue(help.text().contains(flag.environmentVariable()), flag.environmentVariable() + " in the help");
            }
        }
        assertTrue(AgentOptions.parse(new String[] {"-h"}, Map.of()).text().contains("--drain-seconds"));
        String version = AgentOptions.parse(new String[] {"--version"}, Map.of()).text();
        assertTrue(version.startsWith("grapevine agent " + io.grapevine.cluster.cli.ProgramVersion.version()), version);
        assertFalse(version.contains("${"), "the version was filled in at build time: " + version);
    }

    private static void assertMessage(String expected, String... args) {
        UsageException e = assertThrows(UsageException.class, () -> AgentOptions.parse(args));
        assertTrue(e.getMessage().startsWith(expected), e.getMessage());
    }
}
