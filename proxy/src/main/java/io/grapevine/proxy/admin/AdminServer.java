package io.grapevine.proxy.admin;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.proxy.net.AcceptFailures;
import io.grapevine.proxy.net.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.NetUtil;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin listener (loopback by default): small endpoints over Netty's HTTP codec. Runs on the control
 * event loop, never on a data-plane loop, so a slow reader of {@code /stats} costs traffic nothing.
 * Endpoints are registered with {@link #route}; {@link AdminEndpoints} installs the standard ones.
 *
 * <p>Reads ({@code GET}, {@code HEAD}) are open to whoever reaches the listener. Writes (every other
 * method) need {@code Authorization: Bearer <token>} when an {@link AdminToken} is given ({@code 401}
 * otherwise); without a token they are allowed only on a loopback listener and refused ({@code 403}) on
 * any other. A write that a browser sends from another origin (an {@code Origin} field that does not
 * name the admin listener the request was sent to) is refused ({@code 403}), so that a web page cannot
 * make a local browser drain servers; without a token, the {@code Origin} must be the listener itself
 * ({@code localhost} or a loopback address, on its port), so that DNS rebinding cannot pass for it. The checks happen after routing (an unknown path is a 404 and a
 * wrong method a 405 either way) and before the endpoint runs.
 *
 * <p>An endpoint answers with a {@link CompletionStage}, so one that waits for another thread (a reload
 * on the membership thread) does not hold the control loop; the answers of one connection go out in the
 * order of its requests.
 *
 * <p>Connections are bounded, since reads are open to whoever reaches the listener and each connection costs the
 * process memory and a file descriptor that its traffic needs: at most {@link #MAX_CONNECTIONS} at once (one more
 * is closed when accepted), and one that reads and writes nothing for {@link #IDLE_MILLIS} while it waits for no
 * answer is closed.
 */
public final class AdminServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AdminServer.class);
    private static final String WILDCARD = "*";
    /** Admin connections open at once, at most: one more is closed as soon as it is accepted. */
    static final int MAX_CONNECTIONS = 256;
    /** An admin connection that waits for no answer and reads and writes nothing for this long is closed. */
    static final long IDLE_MILLIS = 60_000;
    /** The largest request body read; a larger one is answered 413. */
    static final int MAX_BODY = 64 * 1024;
    /**
     * Answers of one connection made but not yet taken by its socket, at most: the requests after them wait, unread,
     * so that a client that pipelines requests and reads no answer costs the process a few answers, not all of them.
     */
    static final int MAX_UNWRITTEN = 4;

    /**
     * One admin request, as an endpoint sees it.
     *
     * @param method the method ({@code HEAD} arrives as {@code GET})
     * @param path   the path, without the query
     * @param params the path segments the route's {@code *} matched, percent-decoded, in order
     * @param body   the request body as UTF-8 text (empty without one)
     * @param client the peer's address, or {@code null}
     */
    public record Request(HttpMethod method, String path, List<String> params, String body, SocketAddress client) {

        /** {@code "PUT /servers/web-1/state from 127.0.0.1"}: who asked for a change, for log lines. */
        public String who() {
            String from = client instanceof InetSocketAddress inet && inet.getAddress() != null
                    ? HostAndPort.format(inet.getAddress().getHostAddress(), inet.getPort()) : String.valueOf(client);
            return "admin API " + method + " " + path + " from " + from;
        }
    }

    /** An endpoint. Runs on the control loop; it must not block, and may complete its answer on any thread. */
    @FunctionalInterface
    public interface Handler {
        CompletionStage<AdminResponse> handle(Request request);
    }

    /** The handlers of one path pattern, by method. */
    private record Route(String[] segments, Map<HttpMethod, Handler> handlers) {
    }

    /** Routes by pattern ({@code /servers/*}{@code /state}); patterns without {@code *} are looked up directly. */
    private final Map<String, Route> routes = new ConcurrentHashMap<>();
    private final Channel channel;
    /**
     * The open admin connections, which {@link #close} closes: left to the control loop's shutdown they would not
     * always be (see {@code LoopContext.closeAll}). Admin connections are few; the group costs nothing that matters.
     */
    private final ChannelGroup connections = new DefaultChannelGroup("grapevine-admin", GlobalEventExecutor.INSTANCE);
    private final AdminToken token;
    /** Whether reaching {@link #MAX_CONNECTIONS} was logged since the last connection accepted. Control loop only. */
    private boolean atLimitLogged;
    /** Why writes are refused on this listener, or {@code null} when they are allowed (with the token if any). */
    private final String writeRefusal;

    private AdminServer(InetSocketAddress address, EventLoopGroup group, Transport transport, AdminToken token,
                        int maxConnections, long idleMillis, LongAdder acceptFailures) throws InterruptedException {
        this.channel = new ServerBootstrap().group(group).channel(transport.serverChannel())
                // an accept that fails pauses the listener, with one line, not Netty's stack trace a second
                .handler(new AcceptFailures("admin listener", acceptFailures))
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        // The control loop, which accepts every admin connection and closes them: the count is exact.
                        if (connections.size() >= maxConnections) {
                            if (!atLimitLogged) {
                                atLimitLogged = true;
                                log.warn("admin listener: {} connections open, its limit; new ones are closed until"
                                        + " some close", maxConnections);
                            }
                            ch.close();
                            return;
                        }
                        atLimitLogged = false;
                        connections.add(ch); // removed when it closes
                        ch.pipeline().addLast(new IdleStateHandler(0, 0, idleMillis, TimeUnit.MILLISECONDS),
                                new HttpServerCodec(), new HttpServerKeepAliveHandler(),
                                new Aggregator(), new RequestHandler());
                    }
                }).bind(address).sync().channel();
        this.token = token;
        InetSocketAddress bound = address();
        this.writeRefusal = token == null && !bound.getAddress().isLoopbackAddress()
                ? "admin writes are refused: the admin listener " + HostAndPort.format(
                NetUtil.toAddressString(bound.getAddress()), bound.getPort())
                + " is not on loopback and no --admin-token-file was given" : null;
    }

    /** Binds the admin listener without a token: writes are allowed on loopback only. */
    public static AdminServer start(InetSocketAddress address, EventLoopGroup group, Transport transport)
            throws InterruptedException {
        return start(address, group, transport, null);
    }

    /**
     * Binds the admin listener; it serves nothing until endpoints are {@link #route routed}.
     *
     * @param token the token writes need, or {@code null}: writes allowed on a loopback listener only
     */
    public static AdminServer start(InetSocketAddress address, EventLoopGroup group, Transport transport,
                                    AdminToken token) throws InterruptedException {
        return start(address, group, transport, token, new LongAdder());
    }

    /**
     * As {@link #start(InetSocketAddress, EventLoopGroup, Transport, AdminToken)}, counting the listener's failed
     * accepts in {@code acceptFailures}.
     */
    public static AdminServer start(InetSocketAddress address, EventLoopGroup group, Transport transport,
                                    AdminToken token, LongAdder acceptFailures) throws InterruptedException {
        return new AdminServer(address, group, transport, token, MAX_CONNECTIONS, IDLE_MILLIS, acceptFailures);
    }

    /** As {@link #start(InetSocketAddress, EventLoopGroup, Transport, AdminToken)}, with other connection limits. */
    static AdminServer start(InetSocketAddress address, EventLoopGroup group, Transport transport, AdminToken token,
                             int maxConnections, long idleMillis) throws InterruptedException {
        return new AdminServer(address, group, transport, token, maxConnections, idleMillis, new LongAdder());
    }

    /** Registers (or replaces) the {@code GET} (and {@code HEAD}) handler of {@code path}; it runs on the control loop. */
    public void route(String path, Supplier<AdminResponse> handler) {
        route(HttpMethod.GET, path, request -> CompletableFuture.completedFuture(handler.get()));
    }

    /**
     * Registers (or replaces) the handler of {@code method} on {@code pattern}: a path whose segments are
     * literal or {@code *}, which matches one segment of the request path (percent-encoded, so a {@code /}
     * inside it is written {@code %2F}) and is handed to the handler decoded, in {@link Request#params}.
     */
    public void route(HttpMethod method, String pattern, Handler handler) {
        routes.compute(pattern, (p, existing) -> {
            Map<HttpMethod, Handler> handlers = existing == null ? new LinkedHashMap<>()
                    : new LinkedHashMap<>(existing.handlers());
            handlers.put(method, handler);
            return new Route(segments(p), Map.copyOf(handlers));
        });
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    /** Whether writes can be made at all: with the token, or on a loopback listener. */
    public boolean acceptsWrites() {
        return writeRefusal == null;
    }

    /** Closes the listener, then every admin connection still open (waiting up to 2 s for those). */
    @Override
    public void close() {
        close(2000);
    }

    /**
     * {@link #close()}, waiting at most {@code waitMillis} in all: the listener and the connections close on the
     * admin listener's loop, which a task may hold. Any thread but that loop.
     *
     * @return whether the listener and every connection were closed in time
     */
    public boolean close(long waitMillis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMillis);
        boolean listenerClosed = channel.close().awaitUninterruptibly(waitMillis);
        long left = Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
        return connections.close().awaitUninterruptibly(left) && listenerClosed;
    }

    private static String[] segments(String path) {
        return path.substring(1).split("/", -1);
    }

    /** The answer to a request; never fails. */
    private CompletionStage<AdminResponse> dispatch(HttpMethod method, String target, String body,
                                                    HttpHeaders headers, SocketAddress client) {
        String rawPath = rawPath(target);
        if (rawPath == null) {
            return done(AdminEndpoints.error(400, "the request target must be a path, or an absolute http URI"
                    + " (RFC 9112 section 3.2)"));
        }
        String path;
        try {
            path = decodePath(rawPath);
        } catch (IllegalArgumentException e) {
            // RFC 3986 section 2.1: a "%" not followed by two hex digits. Valid here, every segment decodes too.
            return done(AdminEndpoints.error(400, "the path is not valid percent-encoding: " + e.getMessage()));
        }
        List<String> params = new ArrayList<>();
        Route route = find(rawPath, params);
        if (route == null) {
            return done(AdminResponse.text(404, "no such endpoint; try " + routes.keySet().stream()
                    .filter(p -> !p.contains(WILDCARD)).sorted().collect(Collectors.joining(" ")) + "\n"));
        }
        HttpMethod effective = method.equals(HttpMethod.HEAD) ? HttpMethod.GET : method;
        Handler handler = route.handlers().get(effective);
        if (handler == null) {
            TreeSet<String> allowed = new TreeSet<>();
            route.handlers().keySet().forEach(m -> allowed.add(m.name()));
            if (allowed.contains("GET")) {
                allowed.add("HEAD");
            }
            String allow = String.join(", ", allowed);
            return done(AdminEndpoints.error(405, method + " is not allowed on " + path + "; allowed: " + allow)
                    .withHeader("Allow", allow));
        }
        if (!effective.equals(HttpMethod.GET)) {
            // Logged as sent, still percent-encoded: who is refused may not have the token, and decoded, its path
            // could end the log line and forge the next.
            AdminResponse refused = checkWrite(headers, method + " " + rawPath);
            if (refused != null) {
                return done(refused);
            }
        }
        try {
            return handler.handle(new Request(effective, path, List.copyOf(params), body, client))
                    .exceptionally(e -> failed(path, e));
        } catch (RuntimeException e) {
            return done(failed(path, e));
        }
    }

    /**
     * The path, still percent-encoded, of a request target (RFC 9112 section 3.2): origin-form ({@code /a/b?q}), or
     * absolute-form ({@code http://host:port/a/b?q}), which a server must accept too (section 3.2.2); {@code null}
     * for any other (authority-form, asterisk-form, or no path at all).
     */
    private static String rawPath(String target) {
        if (target.startsWith("/")) {
            return new QueryStringDecoder(target).rawPath();
        }
        int scheme = target.indexOf("://");
        if (scheme < 0 || !(target.substring(0, scheme).equalsIgnoreCase("http")
                || target.substring(0, scheme).equalsIgnoreCase("https"))) {
            return null;
        }
        int authorityEnd = scheme + 3;
        while (authorityEnd < target.length() && "/?#".indexOf(target.charAt(authorityEnd)) < 0) {
            authorityEnd++;
        }
        return authorityEnd < target.length() && target.charAt(authorityEnd) == '/'
                ? new QueryStringDecoder(target.substring(authorityEnd)).rawPath() : "/";
    }

    /** The route matching {@code rawPath}; fills {@code params} with what its wildcards matched. */
    private Route find(String rawPath, List<String> params) {
        Route exact = rawPath.contains(WILDCARD) ? null : routes.get(rawPath);
        if (exact != null) {
            return exact;
        }
        String[] given = segments(rawPath);
        for (Route r : routes.values()) {
            if (r.segments().length != given.length) {
                continue;
            }
            params.clear();
            boolean match = true;
            for (int i = 0; i < given.length && match; i++) {
                if (r.segments()[i].equals(WILDCARD)) {
                    String value = decodePath(given[i]);
                    match = !value.isEmpty();
                    params.add(value);
                } else {
                    match = r.segments()[i].equals(given[i]);
                }
            }
            if (match) {
                return r;
            }
        }
        return null;
    }

    /**
     * Percent-decodes (UTF-8) a path or one of its segments. RFC 3986 section 2.2: a {@code +} in a path is a
     * {@code +}; only form-encoded queries read it as a space, as {@link QueryStringDecoder#decodeComponent} does.
     *
     * @throws IllegalArgumentException when a {@code %} is not followed by two hex digits
     */
    private static String decodePath(String raw) {
        return QueryStringDecoder.decodeComponent(raw.replace("+", "%2B"));
    }

    /** {@code null} when a write may go ahead, else the answer that refuses it. */
    private AdminResponse checkWrite(HttpHeaders headers, String what) {
        if (writeRefusal != null) {
            log.warn("{} refused: {}", what, writeRefusal);
            return AdminEndpoints.error(403, writeRefusal);
        }
        String origin = headers.get(HttpHeaderNames.ORIGIN);
        // Without a token the loopback listener trusts whoever reaches it, and a page whose name was rebound to
        // 127.0.0.1 (DNS rebinding) has an Origin that agrees with its Host: a browser's write must come from a page
        // of this listener itself.
        if (origin != null && (!sameOrigin(origin, headers.get(HttpHeaderNames.HOST))
                || (token == null && !namesThisListener(origin)))) {
            log.warn("{} refused: sent by a web page of {}", what, origin);
            return AdminEndpoints.error(403, "admin writes from a web page of another origin (" + origin
                    + ") are refused");
        }
        String authorization = headers.get(HttpHeaderNames.AUTHORIZATION);
        if (token == null) {
            return null;
        }
        String presented = bearer(authorization);
        if (presented == null) {
            return AdminEndpoints.error(401, "this endpoint needs Authorization: Bearer <token> (--admin-token-file)")
                    .withHeader("WWW-Authenticate", "Bearer realm=\"grapevine\"");
        }
        if (!token.matches(presented)) {
            log.warn("{} refused: wrong bearer token", what);
            return AdminEndpoints.error(401, "wrong bearer token")
                    .withHeader("WWW-Authenticate", "Bearer realm=\"grapevine\", error=\"invalid_token\"");
        }
        return null;
    }

    /** Whether {@code origin} ({@code http://host:port}) names the authority the request was sent to. */
    private static boolean sameOrigin(String origin, String host) {
        int scheme = origin.indexOf("://");
        return host != null && scheme > 0 && origin.substring(scheme + 3).equalsIgnoreCase(host);
    }

    /**
     * Whether {@code origin} ({@code http://host[:port]}, as {@link #sameOrigin} accepted it) is a page of this
     * loopback listener: {@code localhost} or a loopback address, on the listener's port.
     */
    private boolean namesThisListener(String origin) {
        int scheme = origin.indexOf("://");
        String authority = origin.substring(scheme + 3);
        int colon = authority.lastIndexOf(':');
        String host = colon > authority.lastIndexOf(']') ? authority.substring(0, colon) : authority;
        int port = origin.regionMatches(true, 0, "https", 0, 5) ? 443 : 80;
        if (colon > authority.lastIndexOf(']')) {
            try {
                port = Integer.parseInt(authority.substring(colon + 1));
            } catch (NumberFormatException e) {
                return false;
            }
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        boolean loopback = host.equalsIgnoreCase("localhost")
                || ((NetUtil.isValidIpV4Address(host) || NetUtil.isValidIpV6Address(host))
                        && NetUtil.createInetAddressFromIpAddressString(host).isLoopbackAddress());
        return loopback && port == address().getPort();
    }

    /** The token of {@code Authorization: Bearer <token>} (RFC 6750 section 2.1; the scheme is case-insensitive). */
    private static String bearer(String authorization) {
        if (authorization == null || authorization.length() < 7
                || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        String t = authorization.substring(7).strip();
        return t.isEmpty() ? null : t;
    }

    private static AdminResponse failed(String path, Throwable e) {
        log.warn("admin endpoint {} failed", path, e);
        return AdminResponse.text(500, "internal error: " + e + "\n");
    }

    private static CompletionStage<AdminResponse> done(AdminResponse response) {
        return CompletableFuture.completedFuture(response);
    }

    /**
     * What the aggregator tells the handler instead of answering an oversized request itself, so that the {@code 413}
     * goes out after the answers of the requests ahead of it (RFC 9112 section 9.3.2), some of which may still be in
     * the making.
     *
     * @param keepAlive whether the connection goes on after the 413: the body is read and discarded
     */
    private record TooLarge(boolean keepAlive) {
    }

    /** Netty's aggregator, except that an oversized request is answered in its turn, by {@link RequestHandler}. */
    private static final class Aggregator extends HttpObjectAggregator {

        Aggregator() {
            super(MAX_BODY);
        }

        /** An oversized body announced with {@code Expect: 100-continue} is answered in turn too, not at once. */
        @Override
        protected Object newContinueResponse(HttpMessage start, int maxContentLength, ChannelPipeline pipeline) {
            return HttpUtil.is100ContinueExpected(start) && isContentLengthInvalid(start, maxContentLength) ? null
                    : super.newContinueResponse(start, maxContentLength, pipeline);
        }

        /**
         * Control loop, within the decoding of the request: the requests ahead of it have gone to the handler already.
         * As Netty does, the connection goes on only when the client sends the body, which is discarded: not after a
         * chunked body found too long midway, nor when the client waits for a 100 (Continue) that does not come.
         */
        @Override
        protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) throws Exception {
            if (!(oversized instanceof HttpRequest)) {
                super.handleOversizedMessage(ctx, oversized);
                return;
            }
            ctx.fireUserEventTriggered(new TooLarge(!(oversized instanceof FullHttpMessage)
                    && HttpUtil.isKeepAlive(oversized) && !HttpUtil.is100ContinueExpected(oversized)));
        }
    }

    private final class RequestHandler extends SimpleChannelInboundHandler<FullHttpRequest> {

        /**
         * Done when the answer of this connection's previous request is written; the next one is written after it.
         * Control loop only.
         */
        private CompletableFuture<Void> previous = CompletableFuture.completedFuture(null);
        /**
         * An answer after which the connection closes is on its way: what the client sent after that request is not
         * read (RFC 9112 section 9.6). Control loop only.
         */
        private boolean closing;
        /**
         * What was read and waits for its turn, oldest first: requests (retained; released when answered or dropped)
         * and the aggregator's {@link TooLarge}. Nothing more is read from the socket while it holds any, so it holds
         * at most what one read brought. Control loop only.
         */
        private final ArrayDeque<Object> waiting = new ArrayDeque<>();
        /** Answers made or in the making that the socket has not taken yet ({@link #MAX_UNWRITTEN}). Control loop only. */
        private int unwritten;

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
            if (!closing) {
                waiting.add(request.retain());
                next(ctx);
            }
        }

        /**
         * Control loop: answers what waits, in order, while fewer than {@link #MAX_UNWRITTEN} answers are unwritten;
         * reads from the socket only when nothing waits.
         */
        private void next(ChannelHandlerContext ctx) {
            while (!closing && unwritten < MAX_UNWRITTEN && !waiting.isEmpty()) {
                Object item = waiting.poll();
                if (item instanceof FullHttpRequest request) {
                    try {
                        answer(ctx, request);
                    } finally {
                        request.release();
                    }
                } else {
                    AdminResponse answer = AdminEndpoints.error(413, "the request body is larger than " + MAX_BODY
                            + " bytes, the most the admin listener reads");
                    inTurn(ctx, done(answer), false, ((TooLarge) item).keepAlive());
                }
            }
            if (closing) {
                dropWaiting();
            }
            ctx.channel().config().setAutoRead(waiting.isEmpty() && !closing);
        }

        private void dropWaiting() {
            Object item;
            while ((item = waiting.poll()) != null) {
                ReferenceCountUtil.release(item);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            dropWaiting();
            super.channelInactive(ctx);
        }

        private void answer(ChannelHandlerContext ctx, FullHttpRequest request) {
            if (request.decoderResult().isFailure()) {
                // The codec could not read it (a line too long, a malformed head): what it passes on is a fragment,
                // possibly with the fields that would refuse it (Authorization, Origin) left out. Never act on it.
                AdminResponse bad = AdminResponse.text(400, "bad request: " + request.decoderResult().cause() + "\n");
                inTurn(ctx, done(bad), false, false);
                return;
            }
            // The request is released when this method returns: take what the answer needs first.
            boolean head = request.method().equals(HttpMethod.HEAD);
            boolean keepAlive = HttpUtil.isKeepAlive(request);
            CompletionStage<AdminResponse> answer = dispatch(request.method(), request.uri(),
                    request.content().toString(StandardCharsets.UTF_8),
                    request.headers(), ctx.channel().remoteAddress());
            inTurn(ctx, answer, head, keepAlive);
        }

        /**
         * Control loop: {@code answer} is written once the answers before it are, and on the channel's loop, as a task
         * of it. An answer made on another thread (a reload) and written from there would be a task too, but one that
         * a later answer, ready at once and written by the loop in the midst of reading its request, would overtake.
         * After an answer that closes the connection, no request is read.
         */
        private void inTurn(ChannelHandlerContext ctx, CompletionStage<AdminResponse> answer, boolean head,
                            boolean keepAlive) {
            closing = !keepAlive;
            unwritten++;
            previous = previous.handle((v, e) -> null).thenCompose(v -> answer)
                    .thenAcceptAsync(a -> write(ctx, a, head, keepAlive).addListener(written -> {
                        unwritten--;
                        next(ctx);
                    }), ctx.executor());
        }

        /** The channel's loop. */
        private ChannelFuture write(ChannelHandlerContext ctx, AdminResponse answer, boolean head, boolean keepAlive) {
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                    HttpResponseStatus.valueOf(answer.status()),
                    head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(answer.body()));
            response.headers().set(HttpHeaderNames.CONTENT_TYPE, answer.contentType())
                    .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE)
                    .setInt(HttpHeaderNames.CONTENT_LENGTH, answer.body().length);
            answer.headers().forEach((name, value) -> response.headers().set(name, value));
            HttpUtil.setKeepAlive(response, keepAlive);
            ChannelFuture written = ctx.writeAndFlush(response);
            return keepAlive ? written : written.addListener(ChannelFutureListener.CLOSE);
        }

        /**
         * Idle in both directions: closed, unless an answer it waits for is still being made (a reload). A request too
         * large: answered 413 after the requests ahead of it.
         */
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) throws Exception {
            if (event instanceof TooLarge) {
                if (!closing) {
                    waiting.add(event);
                    next(ctx);
                }
                return;
            }
            if (event instanceof IdleStateEvent) {
                if (previous.isDone()) {
                    ctx.close();
                }
                return;
            }
            super.userEventTriggered(ctx, event);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
