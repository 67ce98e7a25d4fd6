package io.grapevine.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberState;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class AgentOptionsTest {

    private static final String[] REQUIRED = {"--join", "10.0.0.1:7946", "--service", "web", "--target", "127.0.0.1:8001"};

    private static String[] with(String... extra) {
        String[] args = new String[REQUIRED.length + extra.length];
        System.arraycopy(REQUIRED, 0, args, 0, REQUIRED.length);
        System.arraycopy(extra, 0, args, REQUIRED.length, extra.length);
        return args;
    }

    @Test
    void defaults() throws UsageException {
        AgentOptions o = AgentOptions.parse(REQUIRED);
        assertEquals(List.of(new HostAndPort("10.0.0.1", 7946)), o.join());
        assertEquals("web", o.service());
        assertEquals(new HostAndPort("127.0.0.1", 8001), o.target());
        assertEquals(1, o.weight());
        assertEquals(Map.of(), o.tags());
        assertEquals("/health", o.healthPath());
        assertEquals(0, o.gossipPort());
        assertNull(o.advertise());
        assertNull(o.clusterKey());
        assertEquals(5, o.drainSeconds());
        assertFalse(o.demo());
        assertEquals("127.0.0.1", o.metadata(MemberState.UP).host());
    }

    @Test
    void everyFlagInBothSpellings() throws UsageException {
        AgentOptions o = AgentOptions.parse(new String[] {
            "--join=a.example:7946, 10.0.0.2:7000", "--service", "api.v2", "--target=127.0.0.1:8001",
            "--weight", "0", "--tag", "zone=eu-1", "--tag=canary=true", "--health-path", "/ready?full=1",
            "--gossip-port=7950", "--advertise", "10.1.2.3", "--cluster-key", "/etc/grapevine/key",
            "--drain-seconds=0", "--demo"});
        assertEquals(List.of(new HostAndPort("a.example", 7946), new HostAndPort("10.0.0.2", 7000)), o.join());
        assertEquals(0, o.weight());
        assertEquals(Map.of("zone", "eu-1", "canary", "true"), o.tags());
        assertEquals("/ready?full=1", o.healthPath());
        assertEquals(7950, o.gossipPort());
        assertEquals("10.1.2.3", o.advertise());
        assertEquals(Path.of("/etc/grapevine/key"), o.clusterKey());
        assertEquals(0, o.drainSeconds());
        assertTrue(o.demo());
        // The advertised host is what the proxy connects to.
        assertEquals("10.1.2.3", o.metadata(MemberState.UP).host());
        assertEquals(8001, o.metadata(MemberState.UP).port());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--bogus                        | unknown option '--bogus'",
        "stray                          | unexpected argument 'stray'",
        "--weight 257                   | --weight must be a whole number in 0..256, not '257'",
        "--weight x                     | --weight must be a whole number in 0..256, not 'x'",
        "--gossip-port 70000            | --gossip-port must be a whole number in 0..65535",
        "--drain-seconds -1             | --drain-seconds must be a whole number",
        "--tag novalue                  | --tag must be KEY=VALUE, not 'novalue'",
        "--tag a=1 --tag a=2            | --tag a is given twice",
        "--tag bad~key=1                | tag key must be",
        "--health-path health           | --health-path must start with '/'",
        "--advertise 10.0.0.1:80        | --advertise must be a host name or IP address without a port",
        "--demo=yes                     | --demo takes no value",
        "--weight                       | --weight needs a value",
    })
    void badFlagsGiveOneClearLine(String extra, String expected) {
        UsageException e = assertThrows(UsageException.class, () -> AgentOptions.parse(with(extra.strip().split(" +"))));
        assertTrue(e.getMessage().startsWith(expected.strip()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void requiredFlagsAndAddresses() {
        assertMessage("--join HOST:PORT is required", "--service", "web", "--target", "h:1");
        assertMessage("--service NAME is required", "--join", "h:1", "--target", "h:1");
        assertMessage("--target HOST:PORT is required", "--join", "h:1", "--service", "web");
        assertMessage("--target must be HOST:PORT, not '8001'", "--join", "h:1", "--service", "web", "--target", "8001");
        assertMessage("--join port must be in 1..65535, not 0", "--join", "h:0", "--service", "web", "--target", "h:1");
        assertMessage("--service must be", "--join", "h:1", "--service", "no spaces", "--target", "h:1");
        assertMessage("--target 0.0.0.0:8001 is a wildcard address", "--join", "h:1", "--service", "web", "--target", "0.0.0.0:8001");
    }

    @Test
    void helpIsRecognisedAnywhere() {
        assertTrue(AgentOptions.wantsHelp(new String[] {"--service", "x", "--help"}));
        assertTrue(AgentOptions.wantsHelp(new String[] {"-h"}));
        assertFalse(AgentOptions.wantsHelp(REQUIRED));
        assertTrue(AgentOptions.USAGE.contains("--drain-seconds"));
    }

    private static void assertMessage(String expected, String... args) {
        UsageException e = assertThrows(UsageException.class, () -> AgentOptions.parse(args));
        assertTrue(e.getMessage().startsWith(expected), e.getMessage());
    }
}
