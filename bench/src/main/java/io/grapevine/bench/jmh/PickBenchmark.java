package io.grapevine.bench.jmh;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.lb.Balancer;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.ServerPool;
import io.grapevine.proxy.table.TableHolder;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The per-request cost of choosing a server, as an event loop pays it: this loop's balancer of the pool, on a table
 * published by {@link TableHolder} from {@code servers} members, every one up and idle. Target: flat from 3 to
 * 10,000 servers for every algorithm (issue 9).
 *
 * <ul>
 *   <li>{@code roundrobin}, {@code leastconn}, {@code p2c}: {@code pick(now, null)};
 *   <li>{@code source}: {@code pick(now, key, null)} with a precomputed 64-bit key (the client address's hash is
 *       computed once per connection);
 *   <li>{@code uri}: the same, hashing a request path first (XxHash64 of ~30 bytes, as every request pays);
 *   <li>{@code sticky}: a round-robin pool with sticky cookies: the server a cookie value names, and whether it
 *       takes the request.
 * </ul>
 *
 * Keys and cookies cycle through 1,024 precomputed values, so the lookups touch different parts of the tables.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class PickBenchmark {

    private static final int KEYS = 1024;

    @Param({"3", "100", "1000", "10000"})
    public int servers;

    @Param({"roundrobin", "leastconn", "p2c", "source", "uri", "sticky"})
    public String algorithm;

    private static final int PLAIN = 0;
    private static final int KEYED = 1;
    private static final int HASHED_PATH = 2;
    private static final int STICKY = 3;

    /** The algorithm's call sequence, resolved once: a string switch per call would be measured too. */
    private int mode;
    private ServerPool pool;
    private Balancer<Server> balancer;
    private long now;
    private final long[] keys = new long[KEYS];
    private final byte[][] paths = new byte[KEYS][];
    private final byte[][] cookies = new byte[KEYS][];
    private int next;

    @Setup
    public void setUp() {
        Tables.quietTableLog();
        boolean sticky = algorithm.equals("sticky");
        mode = switch (algorithm) {
            case "source" -> KEYED;
            case "uri" -> HASHED_PATH;
            case "sticky" -> STICKY;
            default -> PLAIN;
        };
        PoolPolicy policy = sticky ? new PoolPolicy(Balance.ROUNDROBIN, null, PoolPolicy.Sticky.DEFAULT, 0)
                : Tables.policy(algorithm);
        TableHolder holder = Tables.holder(policy, 1);
        holder.publish(Tables.specs(servers), "benchmark");
        pool = holder.current().defaultPool();
        balancer = pool.balancer(0);
        now = System.nanoTime();
        SplittableRandom random = new SplittableRandom(42);
        for (int i = 0; i < KEYS; i++) {
            keys[i] = random.nextLong();
            paths[i] = ("/catalog/items/" + random.nextInt(1_000_000) + "?page=" + i).getBytes(StandardCharsets.US_ASCII);
            if (sticky) {
                cookies[i] = cookieValue(pool, pool.servers().get(random.nextInt(servers)));
            }
        }
        if (balancer.pick(now, null) == null) {
            throw new IllegalStateException("no server available: the benchmark would measure nothing");
        }
    }

    /** The value of the sticky cookie the pool sets for {@code server}. */
    private static byte[] cookieValue(ServerPool pool, Server server) {
        String line = new String(pool.setCookie(server, false), StandardCharsets.US_ASCII);
        int eq = line.indexOf('=');
        return line.substring(eq + 1, line.indexOf(';', eq)).getBytes(StandardCharsets.US_ASCII);
    }

    @Benchmark
    public Server pick() {
        int i = next++ & (KEYS - 1);
        return switch (mode) {
            case KEYED -> balancer.pick(now, keys[i], null);
            case HASHED_PATH -> balancer.pick(now, pool.hashKey(paths[i]), null);
            case STICKY -> {
                Server s = pool.stickyServer(cookies[i]);
                yield s != null && s.takesStickyRequests(now) ? s : balancer.pick(now, null);
            }
            default -> balancer.pick(now, null);
        };
    }
}
