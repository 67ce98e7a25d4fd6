package io.grapevine.proxy.health;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.PeriodicPass;
import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.config.ProxyProtocolConfig;
import io.grapevine.proxy.net.Descriptors;
import io.grapevine.proxy.net.ProxyHeaders;
import io.grapevine.proxy.net.SocketShortage;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.stats.HealthCheckResult;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.RuntimeState;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.ReflectiveChannelFactory;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Active health checks, HAProxy style: every {@code interval} each server of the current table gets a
 * TCP connect check, or an HTTP {@code GET path} that must answer 2xx/3xx, within {@code timeout}.
 * {@code rise} consecutive successes bring a server up, {@code fall} consecutive failures take it down. A check that
 * passes while the server is up ends a passive ejection early.
 *
 * <p>The servers' checks are spread over the interval, as HAProxy spreads them, not made in one burst: the servers
 * a table brings in together have their first checks {@code interval / n} apart, a server that comes alone is checked
 * at once, and each is then checked every interval from its own first check, keeping that place in the interval
 * when the loop ran late. Checks come due in {@link #SLOTS_PER_INTERVAL} slots per interval.
 *
 * <p>A check that cannot open its socket because the process is out of file descriptors, or whose connect finds no
 * local port free ({@link Descriptors#localShortage}), says nothing of the server: its state, its progress towards
 * {@code rise} or {@code fall} and its passive health stay as they were. The check is shown as HAProxy's
 * {@code SOCKERR} (a local socket error) and the shortage is logged once while it lasts ({@link SocketShortage}); a
 * flood of client connections up to the limit would otherwise mark every server down, and the outage would outlast
 * the flood by {@code rise} checks.
 *
 * <p>Runs entirely on one event loop of its own, neither a data-plane loop nor the admin listener's (whose endpoints
 * would otherwise delay its ticks, connects and deadlines); its state is confined to it.
 */
public final class HealthChecker {

    private static final Logger log = LoggerFactory.getLogger(HealthChecker.class);

    /** How finely the interval is cut: checks come due at the next of this many ticks per interval. */
    static final int SLOTS_PER_INTERVAL = 10;

    private final HealthCheckConfig config;
    private final ProxyProtocolConfig proxyProtocol;
    private final TableHolder tables;
    private final EventLoop loop;
    private final Bootstrap bootstrap;
    private final Map<Server, CheckState> states = new IdentityHashMap<>();
    /** The checks' connections that are open; on the loop. */
    private final Set<Channel> open = new HashSet<>();
    private final long intervalNanos;
    /** The table whose servers {@link #states} holds; on the loop. */
    private BackendTable seen;
    private ScheduledFuture<?> task;
    /** Set by {@link #stop}, on the loop: no check starts, and no verdict of one cut short counts. */
    private boolean stopped;
    /**
     * Checks that could not open their socket for a reason of the proxy's own (no descriptor, no local port): logged
     * once while it lasts.
     */
    private final SocketShortage shortage;

    private static final class CheckState {
        int successes;
        int failures;
        boolean inProgress;
        long startNanos;
        /** When the next check is due (System.nanoTime). */
        long dueNanos;
        /**
         * Counts the checks started. A verdict counts only for the check it belongs to: the one whose number is still
         * {@code attempt} and in progress. A late word of a check already concluded (its connection's close, queued
         * behind the next check's start when the loop ran late) says nothing of the next one.
         */
        long attempt;
        /** The connection of the check in progress, or null; closed when the server leaves the table. */
        Channel channel;

        /** Closes the connection of the check in progress, if any: its verdict comes, to be ignored; on the loop. */
        void closeCheck() {
            if (inProgress && channel != null) {
                channel.close();
            }
        }

        /** The server is in maintenance: its checks are paused (see {@link #maintenance}). */
        boolean paused;
    }

    /**
     * @param proxyProtocol servers of a pool that expects the PROXY protocol get a header before each check
     *                      (version 2 {@code LOCAL}, version 1 {@code UNKNOWN}: "this is the proxy itself")
     */
    public HealthChecker(HealthCheckConfig config, ProxyProtocolConfig proxyProtocol, TableHolder tables,
                         EventLoop loop, Transport transport) {
        this(config, proxyProtocol, tables, loop, new ReflectiveChannelFactory<>(
                transport.socketChannel()), SocketShortage.QUIET_NANOS);
    }

    /**
     * @param channels   makes the checks' sockets
     * @param quietNanos how long checks must open sockets without a failure for a shortage to be over
     *                   ({@link SocketShortage})
     */
    HealthChecker(HealthCheckConfig config, ProxyProtocolConfig proxyProtocol, TableHolder tables, EventLoop loop,
                  ChannelFactory<? extends Channel> channels, long quietNanos) {
        this.config = config;
        this.proxyProtocol = proxyProtocol;
        this.tables = tables;
        this.loop = loop;
        this.intervalNanos = TimeUnit.MILLISECONDS.toNanos(config.intervalMillis());
        this.shortage = new SocketShortage(log, "Health checks", "Servers keep their state, and their checks'"
                + " progress, until checks can open sockets again; their checks show SOCKERR.", quietNanos);
        this.bootstrap = new Bootstrap().group(loop).channelFactory(channels)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) config.timeoutMillis());
    }

    public void start() {
        if (config.enabled()) {
            long tickMillis = Math.max(1, config.intervalMillis() / SLOTS_PER_INTERVAL);
            // A tick whose failure is logged (once until a tick succeeds again) and does not end the checks: a
            // periodic task that throws is never run again, and every server would keep its state, unchecked.
            task = loop.scheduleWithFixedDelay(new PeriodicPass(this::tick, log,
                    "Health checks: a tick failed; the checks go on at the next"), tickMillis, tickMillis,
                    TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Any thread but the loop: no check starts from now on, and the connections of those in flight close at once,
     * their verdicts ignored. Waits up to {@code timeoutMillis} for the loop to have done so: a check in flight is
     * not left to the loop's shutdown, which leaves channels open when it begins while the loop runs a task.
     *
     * @return whether the loop had done so in time (also when it is shutting down already: nothing to wait for)
     */
    public boolean stop(long timeoutMillis) {
        if (task != null) {
            task.cancel(false);
        }
        if (loop.isShuttingDown()) {
            return true;
        }
        return loop.submit(() -> {
            stopped = true;
            for (Channel ch : open.toArray(new Channel[0])) {
                ch.close();
            }
        }).awaitUninterruptibly(timeoutMillis);
    }

    /** Starts the checks that are due; a check still in progress when its next is due is not doubled. */
    private void tick() {
        if (stopped) {
            return;
        }
        long now = System.nanoTime();
        BackendTable table = tables.current();
        if (table != seen) {
            seen = table;
            adopt(table.servers(), now);
        }
        for (Map.Entry<Server, CheckState> e : states.entrySet()) {
            CheckState st = e.getValue();
            if (maintenance(e.getKey(), st, now)) {
                continue;
            }
            if (now - st.dueNanos < 0) {
                continue;
            }
            // The next due time keeps the server's place in the interval, whole intervals the loop missed (a long GC
            // pause, a throttled container) skipped: restarting every overdue server's cadence at now would make them
            // all due together, and check them in one burst every interval from then on.
            st.dueNanos += intervalNanos * ((now - st.dueNanos) / intervalNanos + 1);
            if (!st.inProgress) {
                st.inProgress = true;
                check(e.getKey(), st);
            }
        }
    }

    /**
     * HAProxy's checks of a server in {@code maint}: paused while it is there, its check in flight closed and its
     * verdict ignored (see {@link #finish}); when it leaves, the server is up and checked at once, one failed check
     * from down ("start OK but check immediately": its health set to {@code rise}).
     *
     * @return whether the server is in maintenance, and not to be checked now
     */
    private boolean maintenance(Server server, CheckState st, long now) {
        if (server.runtimeOverride().state() == RuntimeState.MAINT) {
            if (!st.paused) {
                st.paused = true;
                st.closeCheck();
            }
            return true;
        }
        if (st.paused) {
            st.paused = false;
            st.successes = 0;
            st.failures = config.fall() - 1;
            st.dueNanos = now;
            server.setActiveUp(true, "out of maintenance, checked at once");
        }
        return false;
    }

    /**
     * Forgets the servers gone from the table and closes their checks in flight, whose verdicts no longer count (see
     * {@link #finish}); the new ones have their first checks spread over the interval.
     */
    private void adopt(List<Server> servers, long now) {
        Set<Server> present = new HashSet<>(servers);
        for (Iterator<Map.Entry<Server, CheckState>> it = states.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Server, CheckState> e = it.next();
            if (!present.contains(e.getKey())) {
                // Read before the removal: an IdentityHashMap's entry is unusable once removed (IllegalStateException,
                // which would end the checks' periodic task).
                CheckState gone = e.getValue();
                it.remove();
                gone.closeCheck();
            }
        }
        List<Server> added = new ArrayList<>();
        for (Server s : servers) {
            if (!states.containsKey(s)) {
                added.add(s);
            }
        }
        for (int i = 0; i < added.size(); i++) {
            CheckState st = new CheckState();
            st.dueNanos = now + intervalNanos * i / added.size();
            states.put(added.get(i), st);
        }
    }

    private void check(Server server, CheckState st) {
        st.startNanos = System.nanoTime();
        long attempt = ++st.attempt;
        String path = config.path();
        ProxyProtocolConfig.Version header = proxyProtocol.sendTo(server.spec().pool());
        ChannelFuture connect = bootstrap.clone().handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                if (header != null) {
                    ch.pipeline().addLast(HAProxyMessageEncoder.INSTANCE);
                }
                if (path != null && header != null) {
                    ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelActive(ChannelHandlerContext ctx) {
                            ctx.write(ProxyHeaders.of(header, null, null)); // before the probe's request
                            ctx.pipeline().remove(this);
                            ctx.fireChannelActive();
                        }
                    });
                }
                if (path != null) {
                    ch.pipeline().addLast(new HttpProbe(server, path, config.host(),
                            verdict -> finish(server, st, attempt, verdict)));
                }
            }
        }).connect(server.address());
        if (connect.isDone() && !connect.isSuccess()) {
            // No socket was made (its creation or registration failed): the future, Netty's own, completes on another
            // executor than the loop, and its channel never closes. Concluded here, on the loop, and not kept open.
            finish(server, st, attempt, connectFailed(connect.cause()));
            return;
        }
        Channel ch = connect.channel();
        open.add(ch);
        st.channel = ch;
        ScheduledFuture<?> deadline = loop.schedule(() -> {
            if (ch.isOpen()) {
                boolean connected = ch.isActive();
                ch.close();
                finish(server, st, attempt, new Verdict(false, connected && path != null ? "L7TOUT" : "L4TOUT", 0,
                        (connected ? "no answer" : "no connection") + " within " + config.timeoutMillis() + " ms"));
            }
        }, config.timeoutMillis(), TimeUnit.MILLISECONDS);
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                deadline.cancel(false);
                finish(server, st, attempt, connectFailed(f.cause()));
            } else if (path == null) {
                deadline.cancel(false);
                if (header != null) {
                    ch.writeAndFlush(ProxyHeaders.of(header, null, null)).addListener(w -> ch.close());
                } else {
                    ch.close();
                }
                finish(server, st, attempt, new Verdict(true, "L4OK", 0, "connect ok"));
            }
        });
        ch.closeFuture().addListener(f -> {
            deadline.cancel(false);
            open.remove(ch);
            if (st.channel == ch) {
                st.channel = null;
            }
        });
    }

    /**
     * The verdict of a connect that failed: {@code SOCKERR} when the process had no descriptor or local port for it
     * (no verdict on the server, see {@link #finish}), else the server's {@code L4TOUT} or {@code L4CON}. On the
     * failure path only.
     */
    private Verdict connectFailed(Throwable cause) {
        if (Descriptors.localShortage(cause)) {
            shortage.failed(cause);
            return new Verdict(false, HealthCheckResult.SOCKET_ERROR, 0, shortage.detail(cause));
        }
        boolean timedOut = cause instanceof io.netty.channel.ConnectTimeoutException;
        return new Verdict(false, timedOut ? "L4TOUT" : "L4CON", 0, "connect: " + cause.getMessage());
    }

    private void finish(Server server, CheckState st, long attempt, Verdict verdict) {
        if (!st.inProgress || st.attempt != attempt) {
            return; // already concluded (timeout raced with the answer), or a word of a check before this one
        }
        st.inProgress = false;
        if (stopped || st.paused || server.runtimeOverride().state() == RuntimeState.MAINT) {
            return; // cut short by stop(), or made of a server in maintenance: says nothing of the server
        }
        if (server.isRemoved() || states.get(server) != st) {
            // The server left the table while its check was in flight (a server of the same key that comes back is
            // another object, with a state of its own): no log line, no counter of a server no longer there.
            return;
        }
        boolean ok = verdict.ok;
        String reason = verdict.reason;
        String change = verdict.status + ", " + reason; // the log line of a change of state: HAProxy's status first
        HealthCheckResult result = new HealthCheckResult(ok, verdict.status, verdict.code,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - st.startNanos), System.currentTimeMillis(), reason);
        server.stats().recordCheck(result, server.isActiveUp());
        if (!result.judgedServer()) {
            return; // the proxy had no socket for it: the server's state, streaks and passive health stay as they were
        }
        shortage.opened();
        if (ok) {
            st.failures = 0;
            if (++st.successes >= config.rise() && !server.isActiveUp()) {
                server.setActiveUp(true, change);
                server.clearPassiveDown();
            } else if (server.isActiveUp() && server.isEjected(System.nanoTime())) {
                // Envoy's successful_active_health_check_uneject_host: a passing check of a server up by its checks
                // ends a passive ejection, whether or not its checks had taken it down in between.
                server.clearPassiveDown();
            }
        } else {
            st.successes = 0;
            if (++st.failures >= config.fall() && server.isActiveUp()) {
                server.setActiveUp(false, change);
            }
        }
    }

    /** A check's outcome; {@code status} in HAProxy's terms (see {@link HealthCheckResult}). */
    private record Verdict(boolean ok, String status, int code, String reason) {
    }

    /**
     * Sends {@code GET path} and judges the status line of the final response. Interim responses ({@code 100
     * Continue}, {@code 103 Early Hints}: 1xx but {@code 101}, RFC 9110 section 15.2) come before it and say nothing of
     * the server's health: their fields are skipped, however long, and the next status line is read.
     */
    private static final class HttpProbe extends ChannelInboundHandlerAdapter {
        /** The most of a status line kept; only its first 12 characters decide. */
        private static final int MAX_STATUS_LINE = 256;

        private final Server server;
        private final String path;
        private final String host;
        private final java.util.function.Consumer<Verdict> done;
        private final StringBuilder line = new StringBuilder();
        /** Within the fields of an interim response: lines are skipped until the empty one that ends them. */
        private boolean interimFields;
        /** The current line of interim fields has nothing but CR so far: at its LF, the fields have ended. */
        private boolean fieldLineBlank = true;
        private boolean concluded;
        /** The first error of the connection before the check concluded, or null. */
        private Throwable failure;

        /** @param host the Host to ask for; {@code null}: the server's host:port */
        HttpProbe(Server server, String path, String host, java.util.function.Consumer<Verdict> done) {
            this.server = server;
            this.path = path;
            this.host = host != null ? host : HostAndPort.format(server.spec().host(), server.spec().port());
            this.done = done;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            String request = "GET " + path + " HTTP/1.1\r\nHost: " + host
                    + "\r\nUser-Agent: grapevine-health-check\r\nConnection: close\r\n\r\n";
            ctx.writeAndFlush(ctx.alloc().buffer().writeBytes(request.getBytes(StandardCharsets.US_ASCII)));
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            try {
                while (in.isReadable() && !concluded) {
                    char c = (char) in.readByte();
                    if (interimFields) {
                        if (c == '\n') {
                            interimFields = !fieldLineBlank;
                            fieldLineBlank = true;
                        } else if (c != '\r') {
                            fieldLineBlank = false;
                        }
                    } else if (c == '\n' || line.length() > MAX_STATUS_LINE) {
                        statusLine(ctx);
                    } else {
                        line.append(c);
                    }
                }
            } finally {
                in.release();
            }
        }

        /** A status line has been read: an interim one is passed over, a final one decides. */
        private void statusLine(ChannelHandlerContext ctx) {
            int code = statusCode(line.toString().trim());
            if (code >= 100 && code < 200 && code != 101) {
                line.setLength(0);
                interimFields = true;
                return;
            }
            conclude(ctx);
        }

        private void conclude(ChannelHandlerContext ctx) {
            concluded = true;
            String statusLine = line.toString().trim();
            int code = statusCode(statusLine);
            boolean ok = code >= 200 && code < 400;
            ctx.close();
            done.accept(new Verdict(ok, ok ? "L7OK" : code > 0 ? "L7STS" : "L7RSP", code,
                    ok ? statusLine : "answered \"" + statusLine + "\""));
        }

        /**
         * The status code of an HTTP/1.x status line, or 0 when it is not one. RFC 9112 section 4: status-line =
         * HTTP-version SP status-code SP [ reason-phrase ], the code three digits: a space follows them, or the
         * (trimmed) line ends there, as some servers send it; "HTTP/1.1 2000" is no status line.
         */
        private static int statusCode(String statusLine) {
            if (statusLine.length() < 12 || !statusLine.startsWith("HTTP/1.") || statusLine.charAt(8) != ' '
                    || statusLine.length() > 12 && statusLine.charAt(12) != ' ') {
                return 0;
            }
            for (int i = 9; i < 12; i++) {
                if (statusLine.charAt(i) < '0' || statusLine.charAt(i) > '9') {
                    return 0;
                }
            }
            return Integer.parseInt(statusLine.substring(9, 12));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!concluded) {
                concluded = true;
                done.accept(failure != null
                        ? new Verdict(false, "L4CON", 0, "connection: " + failure.getMessage())
                        : new Verdict(false, "L7RSP", 0, "closed before a status line"));
            }
        }

        /**
         * The connection failed (reset by the server, a read or write error): the check fails with that error as its
         * reason, HAProxy's "L4CON, Connection reset by peer", when the close that follows concludes it.
         */
        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (failure == null) {
                failure = cause;
            }
            ctx.close();
        }
    }
}
