package io.grapevine.proxy.config;

/** Load-balancing algorithm of a pool; the JSON names are those HAProxy users know. */
public enum Balance {
    /** Smooth weighted round robin (nginx's algorithm): even, interleaved, weight-proportional. */
    ROUNDROBIN("roundrobin"),
    /** Fewest in-flight requests, weight-scaled; ties broken round robin. */
    LEASTCONN("leastconn"),
    /** Power of two random choices on in-flight requests. */
    RANDOM("random");

    private final String configName;

    Balance(String configName) {
        this.configName = configName;
    }

    public String configName() {
        return configName;
    }
}
