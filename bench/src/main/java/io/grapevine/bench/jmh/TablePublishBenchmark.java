package io.grapevine.bench.jmh;

import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.TableHolder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What a new table generation costs the publishing thread ({@link TableHolder#publish}: diff by server key, new
 * {@code Server}s with their sticky ids, pools, per-loop balancers, consistent-hash lookup tables), for a table of
 * {@code servers} members. Target: under 10 ms for 10,000 (issue 9).
 *
 * <ul>
 *   <li>{@code firstBuild}: every server new, into an empty holder (a proxy's start, or a whole cluster at once);
 *   <li>{@code swapOneWeightChanged}: the table in force with one server's weight changed (the common gossip
 *       update), alternately one way and back;
 *   <li>{@code swapOneServerJoinsOrLeaves}: one member joins, then leaves, alternately.
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class TablePublishBenchmark {

    @Param({"1000", "10000"})
    public int servers;

    /** roundrobin, or a hashing policy, whose generations also build the consistent hash's lookup tables. */
    @Param({"roundrobin", "source"})
    public String balance;

    private List<ServerSpec> specs;
    private List<ServerSpec> oneWeightChanged;
    private List<ServerSpec> oneMore;
    private TableHolder fresh;
    private TableHolder inForce;
    private boolean flip;

    @Setup(Level.Trial)
    public void setUp() {
        Tables.quietTableLog();
        specs = Tables.specs(servers);
        oneWeightChanged = new ArrayList<>(specs);
        int middle = servers / 2;
        oneWeightChanged.set(middle, Tables.spec(middle, 2));
        oneMore = new ArrayList<>(specs);
        oneMore.add(Tables.spec(servers, 1));
        inForce = Tables.holder(Tables.policy(balance), Tables.LOOPS);
        inForce.publish(specs, "benchmark");
    }

    @Setup(Level.Invocation)
    public void emptyHolder() {
        fresh = Tables.holder(Tables.policy(balance), Tables.LOOPS);
    }

    @Benchmark
    public BackendTable firstBuild() {
        return fresh.publish(specs, "benchmark");
    }

    @Benchmark
    public BackendTable swapOneWeightChanged() {
        flip = !flip;
        return inForce.publish(flip ? oneWeightChanged : specs, "benchmark");
    }

    @Benchmark
    public BackendTable swapOneServerJoinsOrLeaves() {
        flip = !flip;
        return inForce.publish(flip ? oneMore : specs, "benchmark");
    }
}
