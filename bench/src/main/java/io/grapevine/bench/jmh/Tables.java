package io.grapevine.bench.jmh;

import ch.qos.logback.classic.Level;
import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.table.TableHolder;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.LoggerFactory;

/**
 * Server lists and table holders for the benchmarks: as the membership view publishes them, one gossip member per
 * server, all in the default pool. The addresses are never contacted (a table dials nothing).
 */
final class Tables {

    /** The event loops a table is built for: one per core of the 2-core machines the benchmarks run on. */
    static final int LOOPS = 2;

    private Tables() {
    }

    /** {@code n} servers, 10.x.y.z:8080, weight 1, every one up. */
    static List<ServerSpec> specs(int n) {
        List<ServerSpec> specs = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            specs.add(spec(i, 1));
        }
        return specs;
    }

    static ServerSpec spec(int i, int weight) {
        String host = "10." + (i >> 16 & 0xFF) + "." + (i >> 8 & 0xFF) + "." + (i & 0xFF);
        return new ServerSpec("web-" + i, host, 8080, weight, false, ServerSpec.DEFAULT_POOL, ServerSpec.Source.GOSSIP,
                ServerSpec.AdminState.UP);
    }

    /** An empty holder whose pools all run {@code policy}. */
    static TableHolder holder(PoolPolicy policy, int loops) {
        return new TableHolder(loops, List.of(), pool -> policy);
    }

    /** The policy named as in servers.conf ({@code header:x-user} and {@code cookie:NAME} need their field). */
    static PoolPolicy policy(String balance) {
        Balance b = Balance.fromConfigName(balance).orElseThrow(() -> new IllegalArgumentException(balance));
        return new PoolPolicy(b, b.namesField() ? balance.substring(balance.indexOf(':') + 1) : null, null, 0);
    }

    /**
     * Each publication logs one INFO line naming every added, removed and changed server: with thousands of servers
     * that line, written to the console, would be what the benchmark measures. The list is still built.
     */
    static void quietTableLog() {
        ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(TableHolder.class)).setLevel(Level.WARN);
    }
}
