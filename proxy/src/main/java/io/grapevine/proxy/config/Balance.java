package io.grapevine.proxy.config;

import java.util.Optional;

/** Load-balancing algorithm of a pool; the JSON names are those HAProxy users know. */
public enum Balance {
    /** Smooth weighted round robin (nginx's algorithm): even, interleaved, weight-proportional. */
    ROUNDROBIN("roundrobin"),
    /** Fewest in-flight requests, weight-scaled; ties broken round robin. */
    LEASTCONN("leastconn"),
    /** Power of two choices: two servers drawn at random, the less loaded one (per unit of weight) wins. */
    P2C("p2c");

    /** Older name of {@link #P2C}, still accepted in configuration files. */
    static final String P2C_ALIAS = "random";

    private final String configName;

    Balance(String configName) {
        this.configName = configName;
    }

    public String configName() {
        return configName;
    }

    /** The algorithm a configuration value names ({@code random} is read as {@code p2c}). */
    public static Optional<Balance> fromConfigName(String name) {
        if (P2C_ALIAS.equals(name)) {
            return Optional.of(P2C);
        }
        for (Balance b : values()) {
            if (b.configName.equals(name)) {
                return Optional.of(b);
            }
        }
        return Optional.empty();
    }
}
