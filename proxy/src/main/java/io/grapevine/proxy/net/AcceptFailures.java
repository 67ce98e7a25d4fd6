package io.grapevine.proxy.net;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a listener does when an accept fails, in place of Netty's {@code ServerBootstrapAcceptor} (which pauses a
 * second and passes the failure to the pipeline's tail, a stack trace a second that says nothing an operator can
 * act on). One instance per listening channel, all of it on that channel's event loop.
 *
 * <p>Out of descriptors ({@link Descriptors#exhausted}): the listener stops reading, so that the connection the
 * kernel holds for it, which cannot be taken, does not make it readable again at once (epoll reports a listener
 * with a pending connection readable for as long as it has one), and reads again {@link #EXHAUSTED_PAUSE_MILLIS}
 * later. Meanwhile new connections wait in the kernel's backlog. One WARN says so when such an episode begins, one
 * INFO when it is over: when no accept has failed for {@link #QUIET_MILLIS}, so that a proxy that hovers at its
 * limit, a descriptor free one moment and taken the next, logs one episode and not a pair of lines every pause.
 * Any other accept failure pauses the listener {@link #OTHER_PAUSE_MILLIS}, as Netty does, with one line and no
 * stack trace. Every failure is counted.
 *
 * <p>As the listening channel's handler ({@code bootstrap.handler(...)}), it stands before the bootstrap's acceptor
 * and keeps the failures from it. A handler that takes the accepted channels itself calls {@link #failed} instead.
 */
public final class AcceptFailures extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(AcceptFailures.class);

    /**
     * How long a listener out of descriptors stops reading. A descriptor comes free when any connection closes;
     * this is the most a client then waits in the backlog for it to be used, and the listener fails at most ten
     * accepts a second meanwhile (a system call each, nothing measurable) rather than one per loop turn. Resuming
     * when a connection closes instead would be quicker but would add work to every close of every connection for
     * a state that is rare, and a close alone does not say the descriptor is still free by the time of the accept.
     */
    static final long EXHAUSTED_PAUSE_MILLIS = 100;
    /** Any other failure: Netty's own pause. */
    static final long OTHER_PAUSE_MILLIS = 1000;
    /** An episode out of descriptors is over when no accept has failed for this long. */
    static final long QUIET_MILLIS = 1000;

    private final String name;
    private final LongAdder failures;
    /** The loop's clock ({@code ticker().nanoTime()}) when the episode out of descriptors began; 0: none is going on. */
    private long episodeStart;
    /** Accept failures of the episode going on. */
    private long episodeFailures;
    /** The loop's clock at its last failure. */
    private long lastFailure;

    /**
     * @param name     the listener's role in log lines ("client listener", "admin listener")
     * @param failures counts every accept failure
     */
    public AcceptFailures(String name, LongAdder failures) {
        this.name = name;
        this.failures = failures;
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        failed(ctx.channel(), cause);
    }

    /** An accept on {@code listener} failed with {@code cause}: counts it and pauses the listener. */
    public void failed(Channel listener, Throwable cause) {
        failures.increment();
        if (!listener.isOpen()) {
            return;
        }
        if (Descriptors.exhausted(cause)) {
            long now = listener.eventLoop().ticker().nanoTime();
            lastFailure = now;
            episodeFailures++;
            if (episodeStart == 0) {
                episodeStart = now == 0 ? 1 : now;
                log.warn("{} {}: accept failed, out of file descriptors ({}): {}. New connections wait in the"
                                + " kernel's backlog; the listener tries again every {} ms. Raise the open-files limit"
                                + " (LimitNOFILE, ulimit -n) or lower limits.max_connections", name,
                        listener.localAddress(), cause.getMessage(), counts(), EXHAUSTED_PAUSE_MILLIS);
            }
            pause(listener, EXHAUSTED_PAUSE_MILLIS);
        } else if (listener.config().isAutoRead()) {
            log.warn("{} {}: accept failed ({}); accepting again in {} ms", name, listener.localAddress(),
                    cause.toString(), OTHER_PAUSE_MILLIS);
            pause(listener, OTHER_PAUSE_MILLIS);
        }
    }

    /** "{open} of a limit of {limit} open", once per episode (the count lists /proc/self/fd: a few milliseconds). */
    static String counts() {
        long open = Descriptors.open();
        return (open < 0 ? "all, it seems (none free to count them)" : Long.toString(open)) + " of a limit of "
                + Descriptors.limit() + " open";
    }

    private void pause(Channel listener, long millis) {
        if (!listener.config().isAutoRead()) {
            return; // a resume is already scheduled
        }
        listener.config().setAutoRead(false);
        listener.eventLoop().schedule(() -> resume(listener), millis, TimeUnit.MILLISECONDS);
    }

    /** The listener's loop, a pause later: reads again, and looks a quiet period later whether the episode is over. */
    private void resume(Channel listener) {
        if (!listener.isOpen()) {
            return;
        }
        listener.config().setAutoRead(true);
        if (episodeStart != 0) {
            listener.eventLoop().schedule(() -> {
                long now = listener.eventLoop().ticker().nanoTime();
                if (episodeStart != 0 && now - lastFailure >= TimeUnit.MILLISECONDS.toNanos(QUIET_MILLIS)) {
                    ended(listener);
                }
            }, QUIET_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    /** No accept failed since the read that followed the last failure: accepting has worked since then. */
    private void ended(Channel listener) {
        log.info("{} {}: accepting again after {} ms out of file descriptors, {} accept failures", name,
                listener.localAddress(),
                TimeUnit.NANOSECONDS.toMillis(lastFailure - episodeStart) + EXHAUSTED_PAUSE_MILLIS, episodeFailures);
        episodeStart = 0;
        episodeFailures = 0;
    }
}
