package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.BufferedReader;
import java.io.FileReader;
import org.junit.jupiter.api.Test;

class ListenPortsTest {

    /** The ports stay below the whole ephemeral range, read as the kernel gives it: "32768\t60999" by default. */
    @Test
    void theEphemeralRangeStartsWhereTheKernelSays() throws Exception {
        try (BufferedReader range = new BufferedReader(new FileReader("/proc/sys/net/ipv4/ip_local_port_range"))) {
            assertEquals(Integer.parseInt(range.readLine().trim().split("\\s+")[0]), ListenPorts.ephemeralLow());
        }
    }
}
