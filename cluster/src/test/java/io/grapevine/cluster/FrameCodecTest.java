package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.scalecube.cluster.Member;
import io.scalecube.cluster.membership.MemberStatus;
import io.scalecube.cluster.membership.MembershipProtocolImpl;
import io.scalecube.cluster.transport.api.JdkMessageCodec;
import io.scalecube.cluster.transport.api.Message;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.NotSerializableException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class FrameCodecTest {

    private static final String K1 = ClusterKeyring.generateKey();
    private static final String K2 = ClusterKeyring.generateKey();
    private static final Member A = ScalecubeMessages.member("a", "127.0.0.1:7001");
    private static final Member B = ScalecubeMessages.member("b", "127.0.0.1:7002");

    private final AtomicLong clock = new AtomicLong(1_700_000_000_000L);

    private FrameCodec codec(FrameCounters counters, String... keys) {
        ClusterKeyring keyring = keys.length == 0 ? null : ClusterKeyring.of(List.of(keys));
        return new FrameCodec(keyring, counters, 60_000, 1000, clock::get);
    }

    private static byte[] encode(FrameCodec codec, Message message) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        codec.serialize(message, out);
        return out.toByteArray();
    }

    private static Message decode(FrameCodec codec, byte[] frame) throws IOException {
        return codec.deserialize(new ByteArrayInputStream(frame));
    }

    private static boolean dropped(Message message) {
        return FrameCodec.DROPPED_QUALIFIER.equals(message.qualifier()) && message.data() == null;
    }

    @Test
    void everyProtocolMessageShapeRoundTripsSealedAndOpen() throws IOException {
        List<Message> messages = List.of(
                ScalecubeMessages.ping(A, B),
                ScalecubeMessages.sync(ScalecubeMessages.record(A, MemberStatus.ALIVE, 3),
                        ScalecubeMessages.record(B, MemberStatus.LEAVING, 9)),
                ScalecubeMessages.gossipOf(ScalecubeMessages.record(B, MemberStatus.SUSPECT, 2), "b"),
                ScalecubeMessages.metadataRequest(B),
                ScalecubeMessages.metadataResponse(B, "{\"x\":1}".getBytes(StandardCharsets.UTF_8)));
        for (String[] keys : List.of(new String[] {K1}, new String[0])) {
            FrameCounters counters = new FrameCounters();
            FrameCodec codec = codec(counters, keys);
            for (Message message : messages) {
                Message decoded = decode(codec, encode(codec, message));
                assertEquals(ScalecubeMessages.describe(message), ScalecubeMessages.describe(decoded));
            }
            assertEquals(messages.size(), counters.snapshot().framesAccepted());
            assertEquals(0, counters.snapshot().framesRejected());
        }
    }

    /**
     * Each thread seals and opens with a cipher of its own: frames sealed on several threads at once, and opened on
     * other threads at once, all come back whole, and a frame refused for its tag leaves the thread's cipher fit for
     * the next one.
     */
    @Test
    void framesSealedAndOpenedOnSeveralThreadsAtOnceAllRoundTrip() throws Exception {
        FrameCounters counters = new FrameCounters();
        FrameCodec codec = codec(counters, K1);
        int threads = 4;
        int perThread = 200;                  // 800 frames in all: within the replay guard's 1,000 (one clock tick)
        List<List<byte[]>> sealed = new ArrayList<>();
        CyclicBarrier sealStart = new CyclicBarrier(threads);
        for (Future<List<byte[]>> f : onThreads(threads, thread -> {
            sealStart.await();                // all four seal at the same time
            List<byte[]> frames = new ArrayList<>();
            for (int i = 0; i < perThread; i++) {
                frames.add(encode(codec, numbered(thread, i)));
            }
            return frames;
        })) {
            sealed.add(f.get());
        }
        CyclicBarrier openStart = new CyclicBarrier(threads);
        for (Future<Integer> f : onThreads(threads, thread -> {
            int sealer = (thread + 1) % threads;  // each thread opens another's frames
            openStart.await();
            int i = 0;
            for (byte[] frame : sealed.get(sealer)) {
                byte[] tampered = frame.clone();
                tampered[tampered.length - 1] ^= 1;
                assertTrue(dropped(decode(codec, tampered)), "a frame with a bad tag is dropped");
                assertEquals(ScalecubeMessages.describe(numbered(sealer, i)), ScalecubeMessages.describe(decode(codec, frame)));
                i++;
            }
            return i;
        })) {
            assertEquals(perThread, f.get());
        }
        assertEquals(threads * perThread, counters.snapshot().framesAccepted());
        assertEquals(threads * perThread, counters.snapshot().rejectedBadMac());
        assertEquals(threads * perThread, counters.snapshot().framesRejected());
    }

    /** Runs {@code task} on {@code n} threads of their own, each given its number, and returns their futures. */
    private static <T> List<Future<T>> onThreads(int n, ThreadTask<T> task) {
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int t = 0; t < n; t++) {
                int thread = t;
                futures.add(pool.submit(() -> task.run(thread)));
            }
            return futures;
        } finally {
            pool.shutdown();                  // the tasks run on; the threads end with them
        }
    }

    private interface ThreadTask<T> {
        T run(int thread) throws Exception;
    }

    /** A message told from the others by its correlation id, which {@link ScalecubeMessages#describe} prints. */
    private static Message numbered(int thread, int i) {
        return Message.with(ScalecubeMessages.metadataResponse(B, "{}".getBytes(StandardCharsets.UTF_8)))
                .correlationId(thread + "-" + i).build();
    }

    @Test
    void sealedFramesDoNotShowTheirContent() throws IOException {
        byte[] frame = encode(codec(new FrameCounters(), K1), ScalecubeMessages.metadataRequest(B));
        String text = new String(frame, StandardCharsets.ISO_8859_1);
        assertTrue(!text.contains("127.0.0.1:7002") && !text.contains("sc/metadata"), "frame leaks plaintext");
    }

    @Test
    void aFlippedBitAnywhereInASealedFrameIsDroppedAndCounted() throws IOException {
        FrameCounters counters = new FrameCounters();
        FrameCodec codec = codec(counters, K1);
        byte[] frame = encode(codec(new FrameCounters(), K1), ScalecubeMessages.ping(A, B));
        for (int i = 0; i < frame.length; i++) {
            byte[] altered = frame.clone();
            altered[i] ^= (byte) (1 << (i % 8));
            assertTrue(dropped(decode(codec, altered)), "flip at byte " + i + " was accepted");
        }
        SecurityCounters c = counters.snapshot();
        assertEquals(0, c.framesAccepted());
        assertEquals(frame.length, c.framesRejected());
        // Bytes 0-3 are format, 4-7 the key id, the rest is nonce, ciphertext and tag.
        assertEquals(4, c.rejectedMalformed());
        assertEquals(4, c.rejectedUnknownKey());
        assertEquals(frame.length - 8, c.rejectedBadMac());
        // The intact frame still passes: the codec was not left in a bad state.
        assertEquals(ScalecubeMessages.describe(ScalecubeMessages.ping(A, B)), ScalecubeMessages.describe(decode(codec, frame)));
    }

    @Test
    void truncatedAndGarbageFramesAreDropped() throws IOException {
        FrameCounters counters = new FrameCounters();
        FrameCodec codec = codec(counters, K1);
        byte[] frame = encode(codec, ScalecubeMessages.ping(A, B));
        for (int length : new int[] {0, 1, 3, 4, 20, 35, frame.length - 1}) {
            assertTrue(dropped(decode(codec, java.util.Arrays.copyOf(frame, length))), "length " + length);
        }
        assertTrue(dropped(decode(codec, "GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII))));
        assertEquals(8, counters.snapshot().framesRejected());
        assertEquals(0, counters.snapshot().framesAccepted());
    }

    @Test
    void frameSealedWithAnotherKeyIsDropped() throws IOException {
        FrameCounters counters = new FrameCounters();
        byte[] frame = encode(codec(new FrameCounters(), K2), ScalecubeMessages.ping(A, B));
        assertTrue(dropped(decode(codec(counters, K1), frame)));
        assertEquals(1, counters.snapshot().rejectedUnknownKey());
    }

    @Test
    void openFramesAndSealedFramesDoNotMix() throws IOException {
        FrameCounters keyed = new FrameCounters();
        FrameCounters open = new FrameCounters();
        byte[] openFrame = encode(codec(new FrameCounters()), ScalecubeMessages.ping(A, B));
        byte[] sealedFrame = encode(codec(new FrameCounters(), K1), ScalecubeMessages.ping(A, B));
        assertTrue(dropped(decode(codec(keyed, K1), openFrame)));
        assertTrue(dropped(decode(codec(open), sealedFrame)));
        assertEquals(1, keyed.snapshot().rejectedUnknownKey());
        assertEquals(1, open.snapshot().rejectedUnknownKey());
    }

    @Test
    void replayedFrameIsAcceptedOnlyOnce() throws IOException {
        FrameCounters counters = new FrameCounters();
        FrameCodec codec = codec(counters, K1);
        byte[] frame = encode(codec, ScalecubeMessages.ping(A, B));
        assertTrue(!dropped(decode(codec, frame)));
        assertTrue(dropped(decode(codec, frame)));
        assertEquals(1, counters.snapshot().framesAccepted());
        assertEquals(1, counters.snapshot().rejectedReplayed());
    }

    @Test
    void frameOutsideTheReplayWindowIsDropped() throws IOException {
        FrameCounters counters = new FrameCounters();
        FrameCodec codec = codec(counters, K1);
        byte[] old = encode(codec, ScalecubeMessages.ping(A, B));
        clock.addAndGet(61_000);
        assertTrue(dropped(decode(codec, old)));
        byte[] fromTheFuture = encode(codec, ScalecubeMessages.ping(A, B));
        clock.addAndGet(-122_000);
        assertTrue(dropped(decode(codec, fromTheFuture)));
        assertEquals(2, counters.snapshot().rejectedReplayed());
        clock.addAndGet(61_000 + 59_000);
        assertTrue(!dropped(decode(codec, fromTheFuture)), "59 s skew is inside the window");
    }

    @Test
    void keyRotationSteps() throws IOException {
        Message ping = ScalecubeMessages.ping(A, B);
        String[] before = {K1};
        String[] installed = {K1, K2};
        String[] switched = {K2, K1};
        String[] after = {K2};
        // Each step of a rolling rotation must talk both ways with the step before it.
        String[][][] neighbours = {{before, installed}, {installed, switched}, {switched, after}};
        for (String[][] pair : neighbours) {
            for (int from = 0; from < 2; from++) {
                FrameCounters counters = new FrameCounters();
                byte[] frame = encode(codec(new FrameCounters(), pair[from]), ping);
                assertTrue(!dropped(decode(codec(counters, pair[1 - from]), frame)),
                        List.of(pair[from]) + " -> " + List.of(pair[1 - from]));
            }
        }
        // Skipping a step breaks: the old-only node cannot read the new key.
        assertTrue(dropped(decode(codec(new FrameCounters(), before), encode(codec(new FrameCounters(), switched), ping))));
        assertTrue(dropped(decode(codec(new FrameCounters(), after), encode(codec(new FrameCounters(), before), ping))));
    }

    @Test
    void javaSerializedMessageIsNeverDeserialized() throws IOException {
        // What scalecube's default codec would send; inside an open frame so only the format decides.
        ByteArrayOutputStream javaSerialized = new ByteArrayOutputStream();
        javaSerialized.write(new byte[] {'G', 'V', 1, 0});
        new JdkMessageCodec().serialize(ScalecubeMessages.ping(A, B), javaSerialized);
        FrameCounters counters = new FrameCounters();
        assertTrue(dropped(decode(codec(counters), javaSerialized.toByteArray())));
        assertEquals(1, counters.snapshot().rejectedMalformed());
    }

    @Test
    void unknownTypesCannotBeWrittenOrRead() throws IOException {
        Message withForeignPayload = Message.withData(new java.util.Date()).qualifier(MembershipProtocolImpl.SYNC).build();
        assertThrows(NotSerializableException.class, () -> MessageWireFormat.encode(withForeignPayload));

        FrameCounters counters = new FrameCounters();
        FrameCodec codec = codec(counters);
        assertTrue(dropped(decode(codec, openFrame(out -> out.writeByte(99)))), "unknown tag");
        assertTrue(dropped(decode(codec, openFrame(out -> out.writeByte(10)))), "truncated message");
        assertEquals(2, counters.snapshot().rejectedMalformed());
    }

    @Test
    void hugeSizeFieldIsRefusedBeforeAnythingIsAllocated() throws IOException {
        // A SYNC whose member list claims 2^31-1 records in a few bytes.
        byte[] frame = openFrame(out -> {
            out.writeByte(10);             // Message
            out.writeInt(1);               // one header
            out.writeUTF("q");
            out.writeByte(1);              // String
            out.writeUTF(MembershipProtocolImpl.SYNC);
            out.writeByte(13);             // SyncData
            out.writeInt(Integer.MAX_VALUE);
        });
        FrameCounters counters = new FrameCounters();
        assertTrue(dropped(decode(codec(counters), frame)));
        assertEquals(1, counters.snapshot().rejectedMalformed());
    }

    @Test
    void payloadMustMatchItsQualifier() throws IOException {
        FrameCounters counters = new FrameCounters();
        FrameCodec codec = codec(counters);
        Message pingAsSync = Message.withData(ScalecubeMessages.ping(A, B).data()).qualifier(MembershipProtocolImpl.SYNC).build();
        Message unknownQualifier = Message.withData("hello").qualifier("app/hello").build();
        Message gossipWithWrongInner = ScalecubeMessages.gossipOf(ScalecubeMessages.ping(A, B).data(), "a");
        for (Message message : List.of(pingAsSync, unknownQualifier, gossipWithWrongInner)) {
            assertTrue(dropped(decode(codec, encode(codec, message))), ScalecubeMessages.describe(message));
        }
        assertEquals(3, counters.snapshot().rejectedMalformed());
    }

    @Test
    void nestingIsLimited() throws IOException {
        byte[] frame = openFrame(out -> {
            for (int i = 0; i < MessageWireFormat.MAX_DEPTH + 1; i++) {
                out.writeByte(10);      // Message
                out.writeInt(0);        // no headers
            }
        });
        FrameCounters counters = new FrameCounters();
        assertTrue(dropped(decode(codec(counters), frame)));
        assertEquals(1, counters.snapshot().rejectedMalformed());
    }

    private interface Body {
        void write(DataOutputStream out) throws IOException;
    }

    private static byte[] openFrame(Body body) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.write(new byte[] {'G', 'V', 1, 0});
        body.write(out);
        out.flush();
        return bytes.toByteArray();
    }
}
