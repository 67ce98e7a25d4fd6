package io.grapevine.proxy.table;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.lb.Balancer;
import io.grapevine.proxy.lb.Balancers;
import java.util.List;

/**
 * The servers of one pool in one table generation, with one balancer per event loop (so picking needs
 * no lock and no shared mutable state). Immutable apart from the balancers' own per-loop state.
 */
public final class ServerPool {

    private final String name;
    private final Balance balance;
    private final List<Server> servers;
    private final Balancer[] balancerPerLoop;

    ServerPool(String name, Balance balance, List<Server> servers, int loopCount) {
        this.name = name;
        this.balance = balance;
        this.servers = List.copyOf(servers);
        Server[] primaries = servers.stream().filter(s -> !s.spec().backup()).toArray(Server[]::new);
        Server[] backups = servers.stream().filter(s -> s.spec().backup()).toArray(Server[]::new);
        this.balancerPerLoop = new Balancer[loopCount];
        Object shared = Balancers.sharedState(balance, primaries);
        for (int i = 0; i < loopCount; i++) {
            balancerPerLoop[i] = Balancers.create(balance, primaries, backups, shared);
        }
    }

    public String name() {
        return name;
    }

    public Balance balance() {
        return balance;
    }

    public List<Server> servers() {
        return servers;
    }

    /** The balancer of event loop {@code loopIndex}; call it only from that loop. */
    public Balancer balancer(int loopIndex) {
        return balancerPerLoop[loopIndex];
    }
}
