package io.grapevine.cluster;

import io.scalecube.cluster.transport.api.Message;
import io.scalecube.cluster.transport.api.MessageCodec;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.EnumMap;
import java.util.Map;
import java.util.function.LongSupplier;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scalecube's message codec for Grapevine: every frame on the membership port is sealed with the
 * cluster key and checked before a single byte of it is decoded.
 *
 * <pre>
 * sealed frame:  'G' 'V' | version=1 | mode=1 | key id (4) | nonce (12) | AES-256-GCM( send time ms (8) | message ) | tag (16)
 *                \____________ authenticated header (20 bytes) ____________/
 * open frame:    'G' 'V' | version=1 | mode=0 | message
 * </pre>
 *
 * <p>The message itself is in {@link MessageWireFormat}, never Java serialization. A frame that
 * fails any check (format, key id, authentication tag, replay window, message shape) is counted in
 * {@link FrameCounters}, reported in a rate-limited warning, and handed to scalecube as an inert
 * message with the qualifier {@link #DROPPED_QUALIFIER} that no protocol handler reacts to;
 * throwing instead would make scalecube log an error with a stack trace for every bad frame.
 *
 * <p>Without a keyring frames are open: anyone who can reach the port can join and announce
 * anything. Thread-safe: encode runs on whichever thread sends, decode on the transport I/O thread.
 */
final class FrameCodec implements MessageCodec {

    static final String DROPPED_QUALIFIER = "grapevine/dropped";

    static final int VERSION = 1;
    static final int MODE_OPEN = 0;
    static final int MODE_SEALED = 1;
    static final int OPEN_HEADER_BYTES = 4;
    static final int NONCE_BYTES = 12;
    static final int SEALED_HEADER_BYTES = OPEN_HEADER_BYTES + 4 + NONCE_BYTES;
    static final int TAG_BYTES = 16;
    static final int TIME_BYTES = 8;

    private static final byte MAGIC_0 = 'G';
    private static final byte MAGIC_1 = 'V';
    private static final Message DROPPED = Message.builder().qualifier(DROPPED_QUALIFIER).build();
    private static final SecureRandom RANDOM = new SecureRandom();
    /**
     * One AES-GCM cipher per thread, initialised again for every frame (a fresh nonce each time): looking the
     * transformation up through the providers cost about as much as sealing a small frame (async-profiler on an
     * idle agent). Encode runs on the sending threads, decode on the transport's I/O thread; a Cipher is not
     * thread-safe, so none is shared.
     */
    private static final ThreadLocal<Cipher> AES_GCM = ThreadLocal.withInitial(() -> {
        try {
            return Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES/GCM is not available", e);
        }
    });
    private static final Logger LOG = LoggerFactory.getLogger(FrameCodec.class);

    enum Rejection { MALFORMED, UNKNOWN_KEY, BAD_MAC, REPLAYED }

    private final ClusterKeyring keyring;
    private final FrameCounters counters;
    private final ReplayGuard replayGuard;
    private final LongSupplier clock;
    private final Map<Rejection, RateLimitedWarning> warnings = new EnumMap<>(Rejection.class);

    /**
     * @param keyring          the cluster keys, or null for open frames
     * @param replayWindowMillis how far a frame's send time may lie from this node's clock
     * @param clock            wall-clock milliseconds (the send time is compared across nodes)
     */
    FrameCodec(ClusterKeyring keyring, FrameCounters counters, long replayWindowMillis, int replayCapacity,
               LongSupplier clock) {
        this.keyring = keyring;
        this.counters = counters;
        this.replayGuard = new ReplayGuard(replayWindowMillis, replayCapacity);
        this.clock = clock;
        for (Rejection rejection : Rejection.values()) {
            warnings.put(rejection, new RateLimitedWarning(LOG, "Dropped membership frame(s)"));
        }
    }

    @Override
    public void serialize(Message message, OutputStream stream) throws IOException {
        byte[] body = MessageWireFormat.encode(message);
        if (keyring == null) {
            stream.write(new byte[] {MAGIC_0, MAGIC_1, VERSION, MODE_OPEN});
            stream.write(body);
            return;
        }
        ClusterKeyring.Key key = keyring.primary();
        byte[] nonce = new byte[NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        byte[] header = ByteBuffer.allocate(SEALED_HEADER_BYTES)
                .put(MAGIC_0).put(MAGIC_1).put((byte) VERSION).put((byte) MODE_SEALED)
                .putInt(key.id()).put(nonce).array();
        byte[] time = ByteBuffer.allocate(TIME_BYTES).putLong(clock.getAsLong()).array();
        try {
            Cipher cipher = AES_GCM.get();
            cipher.init(Cipher.ENCRYPT_MODE, key.aeadKey(), new GCMParameterSpec(TAG_BYTES * 8, nonce));
            cipher.updateAAD(header);
            byte[] sealed = new byte[TIME_BYTES + body.length + TAG_BYTES];
            int length = cipher.update(time, 0, TIME_BYTES, sealed, 0);
            length += cipher.doFinal(body, 0, body.length, sealed, length);
            stream.write(header);
            stream.write(sealed, 0, length);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot seal membership frame", e);
        }
    }

    @Override
    public Message deserialize(InputStream stream) throws IOException {
        byte[] frame = stream.readAllBytes(); // bounded by the transport's maximum frame length
        try {
            Message message = open(frame);
            counters.accepted.increment();
            return message;
        } catch (RejectedFrame rejected) {
            count(rejected.rejection);
            warn(rejected);
            return DROPPED;
        }
    }

    private Message open(byte[] frame) throws RejectedFrame {
        if (frame.length < OPEN_HEADER_BYTES || frame[0] != MAGIC_0 || frame[1] != MAGIC_1) {
            throw new RejectedFrame(Rejection.MALFORMED, "not a Grapevine membership frame");
        }
        if (frame[2] != VERSION) {
            throw new RejectedFrame(Rejection.MALFORMED, "unknown frame version " + (frame[2] & 0xff));
        }
        int mode = frame[3];
        if (mode != MODE_OPEN && mode != MODE_SEALED) {
            throw new RejectedFrame(Rejection.MALFORMED, "unknown frame mode " + (mode & 0xff));
        }
        if (keyring == null) {
            if (mode != MODE_OPEN) {
                throw new RejectedFrame(Rejection.UNKNOWN_KEY, "sealed frame, but this node has no cluster key");
            }
            return decodeMessage(frame, OPEN_HEADER_BYTES, frame.length - OPEN_HEADER_BYTES);
        }
        if (mode != MODE_SEALED) {
            throw new RejectedFrame(Rejection.UNKNOWN_KEY, "unsealed frame from a node without the cluster key");
        }
        if (frame.length < SEALED_HEADER_BYTES + TIME_BYTES + TAG_BYTES) {
            throw new RejectedFrame(Rejection.MALFORMED, "sealed frame too short");
        }
        ByteBuffer header = ByteBuffer.wrap(frame, 0, SEALED_HEADER_BYTES);
        int keyId = header.getInt(OPEN_HEADER_BYTES);
        ClusterKeyring.Key key = keyring.byId(keyId);
        if (key == null) {
            throw new RejectedFrame(Rejection.UNKNOWN_KEY, String.format("sealed with key id %08x, which is not in the keyring", keyId));
        }
        byte[] nonce = new byte[NONCE_BYTES];
        System.arraycopy(frame, OPEN_HEADER_BYTES + 4, nonce, 0, NONCE_BYTES);
        byte[] plain;
        try {
            Cipher cipher = AES_GCM.get();
            cipher.init(Cipher.DECRYPT_MODE, key.aeadKey(), new GCMParameterSpec(TAG_BYTES * 8, nonce));
            cipher.updateAAD(frame, 0, SEALED_HEADER_BYTES);
            plain = cipher.doFinal(frame, SEALED_HEADER_BYTES, frame.length - SEALED_HEADER_BYTES);
        } catch (AEADBadTagException e) {
            throw new RejectedFrame(Rejection.BAD_MAC, "authentication failed: frame altered in transit, or sealed with another key");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES/GCM is not available", e);
        }
        long sentMillis = ByteBuffer.wrap(plain, 0, TIME_BYTES).getLong();
        long now = clock.getAsLong();
        switch (replayGuard.check(sentMillis, nonce, now)) {
            case STALE -> throw new RejectedFrame(Rejection.REPLAYED, "sent " + (now - sentMillis)
                    + " ms from this node's clock, outside the replay window (clocks out of sync?)");
            case REPLAYED -> throw new RejectedFrame(Rejection.REPLAYED, "frame seen before (replayed)");
            case FRESH -> { }
        }
        return decodeMessage(plain, TIME_BYTES, plain.length - TIME_BYTES);
    }

    private static Message decodeMessage(byte[] bytes, int offset, int length) throws RejectedFrame {
        try {
            return MessageWireFormat.decode(bytes, offset, length);
        } catch (IOException e) {
            throw new RejectedFrame(Rejection.MALFORMED, "content is not a membership message (" + e.getMessage() + ")");
        }
    }

    private void count(Rejection rejection) {
        switch (rejection) {
            case MALFORMED -> counters.malformed.increment();
            case UNKNOWN_KEY -> counters.unknownKey.increment();
            case BAD_MAC -> counters.badMac.increment();
            case REPLAYED -> counters.replayed.increment();
        }
    }

    /** At most one warning per kind of rejection every ten seconds, with the count in between. */
    private void warn(RejectedFrame rejected) {
        warnings.get(rejected.rejection).warn(rejected.getMessage());
    }

    /** A frame refused by one of the checks; no stack trace needed. */
    private static final class RejectedFrame extends Exception {
        final Rejection rejection;

        RejectedFrame(Rejection rejection, String message) {
            super(message, null, false, false);
            this.rejection = rejection;
        }
    }
}
