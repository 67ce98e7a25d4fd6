package io.grapevine.proxy.testing;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A main that logs one line per level through SLF4J, run on a program jar's class path so the jar's own
 * log configuration formats them (LoggingIntegrationTest). Prints nothing itself.
 */
public final class LogProbe {

    private LogProbe() {
    }

    public static void main(String[] args) {
        Logger log = LoggerFactory.getLogger("io.grapevine.probe.LogProbe");
        log.debug("probe debug");
        log.info("probe info {}", "with an argument");
        log.warn("probe warn \"quoted\"", new IllegalStateException("probe failure"));
        LoggerFactory.getLogger("io.netty.probe").info("netty info is below the library level");
    }
}
