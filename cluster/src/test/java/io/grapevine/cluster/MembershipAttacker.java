package io.grapevine.cluster;

import io.scalecube.cluster.Member;
import io.scalecube.cluster.membership.MemberStatus;
import io.scalecube.cluster.metadata.MetadataStoreImpl;
import io.scalecube.cluster.transport.api.Message;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;

/**
 * Speaks to a node's membership port the way an attacker would, for the tests of the cluster module and of
 * the proxy: builds frames (sealed with a key, or open) of real protocol messages, and, when started,
 * impersonates any number of members at one loopback address, answering the node's metadata requests for
 * each of them. Without scalecube types in its API, so tests of other modules can use it.
 */
public final class MembershipAttacker implements AutoCloseable {

    private final ClusterKeyring keyring;
    private final IntFunction<MemberMetadata> metadata;
    private final ServerSocket server;
    private final Map<String, Integer> fakeIndex = new ConcurrentHashMap<>();
    private final Map<String, DataOutputStream> replyConnections = new ConcurrentHashMap<>();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final AtomicInteger metadataAnswered = new AtomicInteger();
    /** Fake members announced so far: the next one's index. */
    private final AtomicInteger announced = new AtomicInteger();
    private volatile boolean closed;

    private MembershipAttacker(ClusterKeyring keyring, IntFunction<MemberMetadata> metadata) throws IOException {
        this.keyring = keyring;
        this.metadata = metadata;
        this.server = new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
        Thread accept = new Thread(this::accept, "membership-attacker");
        accept.setDaemon(true);
        accept.start();
    }

    /**
     * Starts impersonating members: the fake members announced by {@link #announceMembers} live at this
     * attacker's address, where it answers metadata requests with {@code metadata.apply(i)} for the i-th one
     * announced (counting from 0 over all calls).
     *
     * @param keyring the key to seal with (a key holder gone rogue), or null for open frames
     */
    public static MembershipAttacker start(ClusterKeyring keyring, IntFunction<MemberMetadata> metadata)
            throws IOException {
        return new MembershipAttacker(keyring, metadata);
    }

    /** Metadata requests answered so far: each is a fake member the node is about to take in. */
    public int metadataAnswered() {
        return metadataAnswered.get();
    }

    /**
     * Tells the node at {@code target} that {@code count} members are alive (one SYNC, as a joining member
     * sends), all at this attacker's address; the node then asks each for its metadata.
     */
    public void announceMembers(InetSocketAddress target, int count) throws IOException {
        String address = "127.0.0.1:" + server.getLocalPort();
        List<Object> records = new ArrayList<>(count);
        int first = announced.getAndAdd(count);
        for (int i = first; i < first + count; i++) {
            String id = "fake-" + i + "-" + UUID.randomUUID();
            fakeIndex.put(id, i);
            records.add(ScalecubeMessages.record(ScalecubeMessages.member(id, address), MemberStatus.ALIVE, 1));
        }
        Message sync = Message.with(ScalecubeMessages.sync(records.toArray())).sender(address).build();
        try (Socket socket = connect(target)) {
            send(socket, frame(keyring, sync));
        }
    }

    /**
     * A join request (SYNC) of one member nobody knows, sealed with {@code keyring} (null: open), as a node
     * starting up sends to its seeds.
     */
    public static byte[] joinRequest(ClusterKeyring keyring) {
        String address = "127.0.0.1:1";
        Member member = ScalecubeMessages.member("joiner-" + UUID.randomUUID(), address);
        return frame(keyring, Message.with(ScalecubeMessages.sync(ScalecubeMessages.record(member, MemberStatus.ALIVE, 1)))
                .sender(address).build());
    }

    /** A harmless sealed message the node accepts and ignores: a metadata request for a member it is not. */
    public static byte[] harmlessFrame(ClusterKeyring keyring) {
        return frame(keyring, ScalecubeMessages.metadataRequest(ScalecubeMessages.member("nobody", "127.0.0.1:1")));
    }

    /** Connects to a membership port. */
    public static Socket connect(InetSocketAddress target) throws IOException {
        Socket socket = new Socket();
        socket.connect(target, 2000);
        socket.setSoTimeout(5000);
        return socket;
    }

    /** Writes one frame with scalecube's 4-byte length before it. */
    public static void send(Socket socket, byte[] frame) throws IOException {
        DataOutputStream out = new DataOutputStream(socket.getOutputStream());
        out.writeInt(frame.length);
        out.write(frame);
        out.flush();
    }

    private static byte[] frame(ClusterKeyring keyring, Message message) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            new FrameCodec(keyring, new FrameCounters(), 60_000, 100, System::currentTimeMillis).serialize(message, out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void accept() {
        // Its own replay memory small: the heap the tests measure is the node's.
        FrameCodec codec = new FrameCodec(keyring, new FrameCounters(), 60_000, 100, System::currentTimeMillis);
        while (!closed) {
            try {
                Socket socket = server.accept();
                sockets.add(socket);
                Thread t = new Thread(() -> serve(socket, codec), "membership-attacker-connection");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    /** Reads the node's frames; answers each metadata request for a fake member. */
    private void serve(Socket socket, FrameCodec codec) {
        try (socket) {
            DataInputStream in = new DataInputStream(socket.getInputStream());
            socket.setSoTimeout(0);
            for (;;) {
                byte[] frame = new byte[in.readInt()];
                in.readFully(frame);
                Message message = codec.deserialize(new java.io.ByteArrayInputStream(frame));
                if (MetadataStoreImpl.GET_METADATA_REQ.equals(message.qualifier())) {
                    answerMetadata(message);
                }
            }
        } catch (IOException | RuntimeException e) {
            // the node closed the connection, or the attacker is closing
        }
    }

    private void answerMetadata(Message request) throws IOException {
        Member member = (Member) invoke(request.data(), "getMember");
        Integer index = fakeIndex.get(member.id());
        if (index == null) {
            return;
        }
        byte[] json = MetadataJson.encode(metadata.apply(index));
        Message response = Message.with(ScalecubeMessages.metadataResponse(member, json))
                .correlationId(request.correlationId()).sender(member.address()).build();
        String replyTo = request.sender();
        DataOutputStream out = replyConnections.computeIfAbsent(replyTo, address -> {
            try {
                int colon = address.lastIndexOf(':');
                Socket socket = connect(new InetSocketAddress(address.substring(0, colon),
                        Integer.parseInt(address.substring(colon + 1))));
                sockets.add(socket);
                return new DataOutputStream(socket.getOutputStream());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        byte[] frame = frame(keyring, response);
        synchronized (out) {
            out.writeInt(frame.length);
            out.write(frame);
            out.flush();
        }
        metadataAnswered.incrementAndGet();
    }

    private static Object invoke(Object target, String method) {
        try {
            java.lang.reflect.Method m = target.getClass().getDeclaredMethod(method);
            m.setAccessible(true);
            return m.invoke(target);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads until the peer closes; true if it did within the socket's timeout (nothing else may arrive). */
    public static boolean closedByPeer(Socket socket) {
        try {
            InputStream in = socket.getInputStream();
            return in.read() < 0;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset: closed too
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket s : sockets) {
            s.close();
        }
    }
}
