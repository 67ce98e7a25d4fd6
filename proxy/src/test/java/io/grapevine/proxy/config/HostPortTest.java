package io.grapevine.proxy.config;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class HostPortTest {

    @ParameterizedTest
    @CsvSource({
            "127.0.0.1:9000, 127.0.0.1, 9000",
            "[::1]:9001, ::1, 9001",
            "[2001:DB8:0:0:0:0:0:1]:80, 2001:db8::1, 80",
            "LocalHost:0, localhost, 0",
            "proxy.example.com.:65535, proxy.example.com., 65535"})
    void parsesHostAndPort(String text, String host, int port) {
        assertEquals(new HostPort(host, port), HostPort.parse(text));
    }

    @ParameterizedTest
    @ValueSource(strings = {"localhost", "::1:9000", "[127.0.0.1]:80", ":80", "host:", "host:65536", "host:-1",
            "host:8o", "under_score:80", "1.2.3:80", "[::1]", "a b:80"})
    void rejectsAnythingElse(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HostPort.parse(text));
        assertEquals(true, e.getMessage().startsWith("\"" + text + "\""), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"127.0.0.1, 9000, 127.0.0.1:9000", "::1, 9000, [::1]:9000"})
    void printsAsItParses(String host, int port, String text) {
        assertEquals(text, new HostPort(host, port).toString());
        assertEquals(new HostPort(host, port), HostPort.parse(text));
    }
}
