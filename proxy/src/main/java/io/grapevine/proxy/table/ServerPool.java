package io.grapevine.proxy.table;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.lb.Balancer;
import io.grapevine.proxy.lb.Balancers;
import java.util.List;

/**
 * The servers of one pool (a group of interchangeable servers, {@code "pool"} in servers.conf) in one table
 * generation, with one balancer per event loop, built with the table off the event loops, so picking needs
 * no lock and no shared mutable state. Immutable apart from the balancers' own per-loop state.
 */
public final class ServerPool {

    private final String name;
    private final Balance balance;
    private final List<Server> servers;
    private final Balancer<Server>[] balancerPerLoop;

    ServerPool(String name, Balance balance, List<Server> servers, int loopCount) {
        this.name = name;
        this.balance = balance;
        this.servers = List.copyOf(servers);
        this.balancerPerLoop = Balancers.forLoops(balance,
                servers.stream().filter(s -> !s.spec().backup()).toList(),
                servers.stream().filter(s -> s.spec().backup()).toList(), loopCount);
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
    public Balancer<Server> balancer(int loopIndex) {
        return balancerPerLoop[loopIndex];
    }
}
