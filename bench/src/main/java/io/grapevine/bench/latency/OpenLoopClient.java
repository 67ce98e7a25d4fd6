package io.grapevine.bench.latency;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * An open-loop HTTP/1.1 load generator: requests are due at a constant total rate, spread evenly over keep-alive
 * connections, whatever the server does; each latency is measured from the time the request was <em>due</em>, not
 * from the time it could be sent, so that a server that stalls is charged for every request that waited behind
 * the stall (coordinated omission corrected, as wrk2 does).
 *
 * <p>Each of the {@code connections} lanes has its own schedule: one request every {@code connections / rate}
 * seconds, the lanes offset from each other by {@code 1 / rate}. A lane sends its next request when it is due and
 * the previous response is complete (no pipelining); when it is late, it sends at once and the wait counts. At the
 * end, requests due before the end are still sent and awaited (up to the drain timeout); those that never complete
 * count as timeouts. All lanes run on the client's event loop threads; a lane's state is touched only by its loop.
 */
public final class OpenLoopClient {

    /** Latencies are recorded in nanoseconds, three significant digits, up to a minute. */
    static final long HIGHEST_NANOS = TimeUnit.MINUTES.toNanos(1);

    /**
     * What to run.
     *
     * @param target      {@code http://HOST:PORT/PATH}
     * @param rate        requests per second, over all connections
     * @param connections keep-alive connections (lanes)
     * @param warmupNanos time at the start whose requests are sent but not recorded
     * @param measureNanos time whose due requests are recorded
     * @param drainNanos  how long to wait for the last responses after the end
     * @param threads     event loop threads
     */
    public record Options(URI target, double rate, int connections, long warmupNanos, long measureNanos,
                          long drainNanos, int threads) {
        public Options {
            if (!"http".equals(target.getScheme()) || target.getHost() == null || target.getPort() <= 0) {
                throw new IllegalArgumentException("the target must be http://HOST:PORT/PATH, not " + target);
            }
            if (!(rate > 0) || connections < 1 || threads < 1 || measureNanos <= 0 || warmupNanos < 0) {
                throw new IllegalArgumentException("rate, connections, threads and the duration must be positive");
            }
        }
    }

    /**
     * What was measured: every request due in the measured window is either recorded (with its status counted) or
     * a timeout; {@code errors} counts connections lost or refused (each then reconnects).
     *
     * @param latency        response complete minus due time, nanoseconds
     * @param timerLag       how late the client's timer fired for a request that was waiting for its due time,
     *                       nanoseconds: the client's own lateness (its CPU, its scheduler), which shows up in the
     *                       latencies too. When it is close to the latencies, the figures describe the client
     */
    public record Result(Histogram latency, Histogram timerLag, long due, long non2xx, long timeouts, long errors,
                         double measuredSeconds) {

        public long recorded() {
            return latency.getTotalCount();
        }

        /** Requests answered per second of the measured window (due at the requested rate). */
        public double achievedRate() {
            return recorded() / measuredSeconds;
        }

        public double percentileMillis(double percentile) {
            return latency.getValueAtPercentile(percentile) / 1e6;
        }

        /** One JSON object, the figures bench/run reads. */
        public String toJson(Options o) {
            return String.format(Locale.ROOT,
                    "{\"target\": \"%s\", \"rate\": %.1f, \"connections\": %d, \"measured_s\": %.3f, \"due\": %d, "
                            + "\"recorded\": %d, \"achieved_rate\": %.1f, \"non2xx\": %d, \"timeouts\": %d, \"errors\": %d, "
                            + "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f, "
                            + "\"mean_ms\": %.3f, \"client_timer_lag_p99_ms\": %.3f}",
                    o.target(), o.rate(), o.connections(), measuredSeconds, due, recorded(), achievedRate(), non2xx,
                    timeouts, errors, percentileMillis(50), percentileMillis(90), percentileMillis(99),
                    percentileMillis(99.9), latency.getMaxValue() / 1e6, latency.getMean() / 1e6,
                    timerLag.getValueAtPercentile(99) / 1e6);
        }

        public String toText(Options o) {
            return String.format(Locale.ROOT,
                    "%s at %.0f req/s over %d connections, %.1f s measured: %d due, %d answered (%.0f req/s), "
                            + "%d non-2xx, %d timeouts, %d connection errors%n"
                            + "latency from the due time: p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms%n"
                            + "client timer lag p99 %.3f ms (the client's own lateness; when close to the latency, the client was late)",
                    o.target(), o.rate(), o.connections(), measuredSeconds, due, recorded(), achievedRate(), non2xx,
                    timeouts, errors, percentileMillis(50), percentileMillis(90), percentileMillis(99),
                    percentileMillis(99.9), latency.getMaxValue() / 1e6, timerLag.getValueAtPercentile(99) / 1e6);
        }
    }

    private final Options options;
    private final byte[] requestHead;
    private final InetSocketAddress address;
    /** The request every lane sends (a retained duplicate per write); released when the run ends. */
    private ByteBuf request;

    public OpenLoopClient(Options options) {
        this.options = options;
        URI t = options.target();
        String path = (t.getRawPath() == null || t.getRawPath().isEmpty() ? "/" : t.getRawPath())
                + (t.getRawQuery() == null ? "" : "?" + t.getRawQuery());
        byte[] head = ("GET " + path + " HTTP/1.1\r\nHost: " + t.getHost() + ":" + t.getPort()
                + "\r\nUser-Agent: grapevine-open-loop\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        this.requestHead = head;
        this.address = new InetSocketAddress(t.getHost(), t.getPort());
    }

    /** Runs the load and returns once every lane has finished (or the drain timeout passed). */
    public synchronized Result run() throws InterruptedException {
        request = Unpooled.directBuffer(requestHead.length).writeBytes(requestHead);
        boolean epoll = Epoll.isAvailable();
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(options.threads(),
                new DefaultThreadFactory("open-loop", true), io);
        Class<? extends SocketChannel> channelType = epoll ? EpollSocketChannel.class : NioSocketChannel.class;
        try {
            long periodNanos = Math.round(options.connections() * 1e9 / options.rate());
            long gapNanos = Math.round(1e9 / options.rate());
            CountDownLatch connected = new CountDownLatch(options.connections());
            CountDownLatch finished = new CountDownLatch(options.connections());
            List<Lane> lanes = new ArrayList<>();
            for (int i = 0; i < options.connections(); i++) {
                Lane lane = new Lane(group.next(), channelType, periodNanos, connected, finished);
                lanes.add(lane);
                lane.loop.execute(lane::connect);
            }
            // The schedule starts once every lane's first connection attempt has ended: connecting and loading
            // classes must not count as the server's latency. A lane that could not connect keeps trying.
            connected.await(10, TimeUnit.SECONDS);
            long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(20);
            long measureFrom = start + options.warmupNanos();
            long end = measureFrom + options.measureNanos();
            for (int i = 0; i < lanes.size(); i++) {
                Lane lane = lanes.get(i);
                long firstDue = start + i * gapNanos;
                lane.loop.execute(() -> lane.begin(firstDue, measureFrom, end, end + options.drainNanos()));
            }
            long waitNanos = end + options.drainNanos() - System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            finished.await(waitNanos, TimeUnit.NANOSECONDS);
            CountDownLatch stopped = new CountDownLatch(lanes.size());
            for (Lane lane : lanes) {
                lane.loop.execute(() -> {
                    lane.stop();
                    stopped.countDown();
                });
            }
            stopped.await(5, TimeUnit.SECONDS);
            Histogram latency = new Histogram(HIGHEST_NANOS, 3);
            Histogram lag = new Histogram(HIGHEST_NANOS, 3);
            long due = 0;
            long non2xx = 0;
            long timeouts = 0;
            long errors = 0;
            for (Lane lane : lanes) {
                latency.add(lane.latency);
                lag.add(lane.timerLag);
                due += lane.dueMeasured;
                non2xx += lane.non2xx;
                timeouts += lane.timeouts;
                errors += lane.errors;
            }
            return new Result(latency, lag, due, non2xx, timeouts, errors, options.measureNanos() / 1e9);
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            request.release();
        }
    }

    /** One connection and its schedule. Every field is confined to {@link #loop}, apart from the final results. */
    private final class Lane extends SimpleChannelInboundHandler<HttpObject> {
        final EventLoop loop;
        final Class<? extends SocketChannel> channelType;
        final long periodNanos;
        final CountDownLatch connected;
        final CountDownLatch finished;
        /** Whether the first connection attempt has ended (either way). */
        boolean triedOnce;
        /** The schedule, set by {@link #begin}; until then nothing is sent. */
        boolean begun;
        long measureFrom;
        long end;
        long giveUpAt;
        final Histogram latency = new Histogram(HIGHEST_NANOS, 3);
        final Histogram timerLag = new Histogram(HIGHEST_NANOS, 3);
        /** When the next request is due. */
        long nextDue;
        /** When the request in flight was due; -1 when none is. */
        long inFlightDue = -1;
        int status;
        long dueMeasured;
        long non2xx;
        long timeouts;
        long errors;
        Channel channel;
        boolean done;

        Lane(EventLoop loop, Class<? extends SocketChannel> channelType, long periodNanos, CountDownLatch connected,
             CountDownLatch finished) {
            this.loop = loop;
            this.channelType = channelType;
            this.periodNanos = periodNanos;
            this.connected = connected;
            this.finished = finished;
        }

        void begin(long firstDue, long measureFrom, long end, long giveUpAt) {
            this.nextDue = firstDue;
            this.measureFrom = measureFrom;
            this.end = end;
            this.giveUpAt = giveUpAt;
            this.begun = true;
            scheduleNext();
        }

        void connect() {
            if (done) {
                return;
            }
            ChannelFuture f = new Bootstrap().group(loop).channel(channelType)
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new HttpResponseDecoder(), Lane.this);
                        }
                    })
                    .connect(address);
            f.addListener(attempt -> {
                if (!triedOnce) {
                    triedOnce = true;
                    connected.countDown();
                }
                if (attempt.isSuccess()) {
                    channel = f.channel();
                    scheduleNext();
                } else {
                    errors++;
                    retryLater();
                }
            });
        }

        private void retryLater() {
            if (begun && System.nanoTime() - giveUpAt >= 0) {
                finish();
            } else {
                loop.schedule(this::connect, 100, TimeUnit.MILLISECONDS);
            }
        }

        void scheduleNext() {
            if (!begun || done || channel == null || inFlightDue >= 0) {
                return;
            }
            if (nextDue - end >= 0) {
                finish();
                return;
            }
            long wait = nextDue - System.nanoTime();
            if (wait > 0) {
                loop.schedule(this::sendOnTimer, wait, TimeUnit.NANOSECONDS);
            } else {
                send();
            }
        }

        /** The lane was idle and waited for the due time: how late the timer fired is the client's own lag. */
        private void sendOnTimer() {
            if (nextDue - measureFrom >= 0) {
                timerLag.recordValue(Math.min(Math.max(0, System.nanoTime() - nextDue), HIGHEST_NANOS));
            }
            send();
        }

        private void send() {
            if (!begun || done || channel == null || inFlightDue >= 0) {
                return;
            }
            inFlightDue = nextDue;
            nextDue += periodNanos;
            if (inFlightDue - measureFrom >= 0) {
                dueMeasured++;
            }
            channel.writeAndFlush(request.retainedDuplicate(), channel.voidPromise());
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
            if (msg instanceof HttpResponse response) {
                status = response.status().code();
            }
            if (msg instanceof LastHttpContent && inFlightDue >= 0) {
                long now = System.nanoTime();
                if (inFlightDue - measureFrom >= 0) {
                    latency.recordValue(Math.min(now - inFlightDue, HIGHEST_NANOS));
                    if (status < 200 || status > 299) {
                        non2xx++;
                    }
                }
                inFlightDue = -1;
                scheduleNext();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (done) {
                return;
            }
            errors++;
            channel = null;
            // The request in flight is lost: sent again on the new connection, still charged from its due time.
            if (inFlightDue >= 0) {
                nextDue = inFlightDue;
                if (inFlightDue - measureFrom >= 0) {
                    dueMeasured--;
                }
                inFlightDue = -1;
            }
            retryLater();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }

        @Override
        public boolean isSharable() {
            return true;
        }

        /** Stops the lane; what was due in the measured window and never answered is a timeout. */
        void stop() {
            if (begun) {
                // A lane that finished its schedule has nothing left (nextDue is past the end, nothing in flight);
                // one that gave up or ran out of time has its unanswered and unsent requests counted here.
                if (inFlightDue >= 0 && inFlightDue - measureFrom >= 0) {
                    timeouts++;
                }
                for (long due = Math.max(nextDue, measureFrom); due - end < 0; due += periodNanos) {
                    dueMeasured++;
                    timeouts++;
                }
            }
            finish();
            if (channel != null) {
                channel.close();
            }
        }

        private void finish() {
            if (!done) {
                done = true;
                finished.countDown();
            }
        }
    }

    public static void main(String[] args) throws Exception {
        OpenLoopCommand.main(args);
    }
}
