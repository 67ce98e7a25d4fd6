package io.grapevine.proxy.forward;

import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.net.RelayBuffers;
import io.grapevine.proxy.net.SocketShortage;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.TableHolder;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The forwarding side of the data plane: one {@link LoopContext} per worker event loop, each with a dialer
 * that connects backend sockets on its own loop. Built once at start; the loop map is read-only
 * afterwards, so lookups need no lock.
 */
public final class DataPlane {

    /**
     * What the event loops hold at one moment, summed over all loops (admin pages, tests).
     *
     * @param idleLists                 idle-connection lists (one per server per loop that has kept one)
     * @param idleListsOfRemovedServers such lists still kept for servers that left the table (briefly,
     *                                  until the loop has run the removal)
     * @param idleConnections           idle backend connections
     * @param upstreamConnections       open backend connections, idle or busy
     * @param connectionsToRemoved      open backend connections to servers that left the table (busy ones
     *                                  finishing their exchange)
     * @param clientConnections         open client connections
     */
    public record Census(int idleLists, int idleListsOfRemovedServers, int idleConnections,
                         int upstreamConnections, int connectionsToRemoved, int clientConnections) {

        Census plus(Census o) {
            return new Census(idleLists + o.idleLists, idleListsOfRemovedServers + o.idleListsOfRemovedServers,
                    idleConnections + o.idleConnections, upstreamConnections + o.upstreamConnections,
                    connectionsToRemoved + o.connectionsToRemoved, clientConnections + o.clientConnections);
        }
    }

    private final Map<EventExecutor, LoopContext> loops;
    private final List<LoopContext> loopList;

    public DataPlane(ProxyConfig config, TableHolder tables, ProxyStats stats, Transport transport,
                     EventLoopGroup workers) {
        Map<EventExecutor, LoopContext> map = new IdentityHashMap<>();
        List<LoopContext> list = new ArrayList<>();
        int index = 0;
        int connectMillis = (int) Math.min(Integer.MAX_VALUE, config.timeouts().connectMillis());
        SocketShortage shortage = LoopContext.backendShortage(SocketShortage.QUIET_NANOS);
        MemoryPressure memoryPressure = MemoryPressure.ofThisProcess();
        for (EventExecutor executor : workers) {
            EventLoop eventLoop = (EventLoop) executor;
            Bootstrap bootstrap = new Bootstrap().group(eventLoop).channel(transport.socketChannel())
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.SO_KEEPALIVE, true)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectMillis)
                    // What a backend that reads an upload slowly, or a client that reads a response slowly, can
                    // make this connection hold.
                    .option(ChannelOption.WRITE_BUFFER_WATER_MARK, RelayBuffers.WATER_MARK)
                    .option(ChannelOption.RCVBUF_ALLOCATOR, RelayBuffers.READS);
            if (transport == Transport.EPOLL) {
                // A backend connection quiet for connect_ms (an idle one, or one waiting for a response) is probed
                // every second, and given up after two unanswered probes: a host that lost its network is found
                // out in about connect_ms + 2 s, instead of the two hours of the kernel's default. A live host
                // answers probes whatever its application does.
                bootstrap.option(EpollChannelOption.TCP_KEEPIDLE, Math.max(1, (connectMillis + 999) / 1000))
                        .option(EpollChannelOption.TCP_KEEPINTVL, 1)
                        .option(EpollChannelOption.TCP_KEEPCNT, 2);
            }
            Dialer dialer = (server, handler) -> bootstrap.clone().handler(handler).connect(server.address());
            LoopContext loop = new LoopContext(index++, eventLoop, config, tables, stats, dialer, shortage,
                    memoryPressure);
            map.put(executor, loop);
            list.add(loop);
        }
        this.loops = Collections.unmodifiableMap(map);
        this.loopList = List.copyOf(list);
        tables.onServersRemoved(removed -> loopList.forEach(l -> l.serversRemoved(removed)));
        loopList.forEach(LoopContext::start);
    }

    /** The context of the worker loop {@code eventLoop}. */
    public LoopContext loopOf(EventLoop eventLoop) {
        return loops.get(eventLoop);
    }

    public List<LoopContext> loops() {
        return loopList;
    }

    /** Adds an observer of every exchange, on every loop (see {@link ExchangeObserver}). */
    public void addObserver(ExchangeObserver observer) {
        loopList.forEach(l -> l.addObserver(observer));
    }

    /**
     * Any thread: from now on every client connection closes after its next response, those open and those
     * accepted later (see {@link ClientConnection#closeAfterNextResponse}).
     */
    public void endKeepAlive() {
        loopList.forEach(LoopContext::endKeepAlive);
    }

    /** Any thread: starts a graceful drain of every client connection. */
    public void drain() {
        loopList.forEach(LoopContext::drain);
    }

    /**
     * The proxy stops: every loop closes all its client and backend connections ({@link LoopContext#closeAll}); waits
     * up to {@code timeoutMillis} for the loops to have done so. Never call it from an event loop.
     *
     * @return how many loops did not within the time (their shutdown closes their channels, most likely)
     */
    public int closeAll(long timeoutMillis) throws InterruptedException {
        List<Future<?>> closing = new ArrayList<>(loopList.size());
        for (LoopContext loop : loopList) {
            closing.add(loop.eventLoop().submit(loop::closeAll));
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        int late = 0;
        for (Future<?> f : closing) {
            if (!f.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                late++;
            }
        }
        return late;
    }

    /**
     * Counts idle lists and connections by asking each event loop on its own thread (their state is
     * loop-confined) and summing. Off the data path; blocks the caller, so never call it from an event loop.
     *
     * @throws IllegalStateException when a loop does not answer within {@code timeoutMillis}
     */
    public Census census(long timeoutMillis) throws InterruptedException {
        Census total = new Census(0, 0, 0, 0, 0, 0);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        for (LoopContext loop : loopList) {
            try {
                total = total.plus(loop.eventLoop().submit(loop::census)
                        .get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
            } catch (ExecutionException | TimeoutException e) {
                throw new IllegalStateException("event loop " + loop.index() + " did not report its census", e);
            }
        }
        return total;
    }

    /** Number of event loops of {@code workers}: balancers are created per loop. */
    public static int loopCount(EventLoopGroup workers) {
        int n = 0;
        for (EventExecutor ignored : workers) {
            n++;
        }
        return n;
    }
}
