package io.grapevine.proxy.testing;

import io.grapevine.proxy.net.Transport;
import java.util.Map;

/**
 * The transport the tests run their proxies on: {@code -Dgrapevine.test.transport=io_uring} (or {@code epoll},
 * {@code nio}) on the Maven command line runs every proxy the suite starts on it, in this JVM and as a child
 * process ({@code GRAPEVINE_TRANSPORT}); without it, the proxy's default.
 */
public final class TestTransport {

    public static final String PROPERTY = "grapevine.test.transport";

    private TestTransport() {
    }

    /** The transport asked for, or null: the proxy's default. */
    public static Transport requested() {
        String value = System.getProperty(PROPERTY);
        return value == null || value.isBlank() ? null : Transport.parse(value);
    }

    /** The environment a proxy child process needs to run on the same transport (empty for the default). */
    public static Map<String, String> environment() {
        Transport t = requested();
        return t == null ? Map.of() : Map.of("GRAPEVINE_TRANSPORT", t.toString());
    }
}
