package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClusterSettingsTest {

    @Test
    void lanDefaults() {
        ClusterSettings s = ClusterSettings.builder().build();
        assertEquals(0, s.gossipPort());
        assertEquals(Duration.ofSeconds(1), s.syncInterval());
        assertEquals(Duration.ofSeconds(1), s.pingInterval());
        assertEquals(3, s.suspicionMult());
        assertEquals(Duration.ofSeconds(6), s.suspicionTimeout(2));
        assertEquals(Duration.ofSeconds(9), s.suspicionTimeout(4));
        assertEquals(Duration.ofSeconds(12), s.suspicionTimeout(8));
    }

    @Test
    void badSettingsAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClusterSettings.builder().seeds(List.of("nohost")).build());
        assertTrue(e.getMessage().contains("seed"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ClusterSettings.builder().gossipPort(70000).build());
        assertTrue(e.getMessage().contains("gossip port"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ClusterSettings.builder().advertiseHost("10.0.0.1:80").build());
        assertTrue(e.getMessage().contains("advertise"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ClusterSettings.builder().pingTimeout(Duration.ofSeconds(2)).build());
        assertTrue(e.getMessage().contains("ping timeout"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ClusterSettings.builder().bindHost("0.0.0.0:7946").build());
        assertTrue(e.getMessage().contains("bind host"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ClusterSettings.builder()
                .keyring(ClusterKeyring.of(List.of(ClusterKeyring.generateKey()))).insecure(true).build());
        assertTrue(e.getMessage().contains("contradict"), e.getMessage());
        ClusterSettings.builder().advertiseHost("fd00::1").bindHost("::").seeds(List.of("[::1]:7946", "seed.local:7946")).build();
    }
}
