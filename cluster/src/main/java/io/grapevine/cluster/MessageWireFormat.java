package io.grapevine.cluster;

import io.scalecube.cluster.Member;
import io.scalecube.cluster.fdetector.FailureDetectorImpl;
import io.scalecube.cluster.gossip.GossipProtocolImpl;
import io.scalecube.cluster.membership.MemberStatus;
import io.scalecube.cluster.membership.MembershipProtocolImpl;
import io.scalecube.cluster.metadata.MetadataStoreImpl;
import io.scalecube.cluster.transport.api.Message;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.Externalizable;
import java.io.IOException;
import java.io.NotSerializableException;
import java.io.ObjectInput;
import java.io.ObjectOutput;
import java.io.StreamCorruptedException;
import java.lang.reflect.Constructor;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;

/**
 * Scalecube's protocol messages in a closed binary form, with no Java serialization anywhere.
 *
 * <p>Every scalecube message class is {@link Externalizable}: it writes and reads its own fields
 * through {@link ObjectOutput} / {@link ObjectInput}. This format hands those methods a stream of
 * its own whose {@code writeObject} / {@code readObject} know exactly the types below, each by a
 * one-byte tag. Anything else cannot be written and cannot be read: no class name ever travels on
 * the wire, and no class outside this table is ever instantiated.
 *
 * <p>Defences beyond the closed table: nesting is limited to {@link #MAX_DEPTH}; in classes whose
 * {@code readInt} reads a collection or array size, a size larger than the bytes left is refused
 * before scalecube allocates anything; every decoded {@link Message} must carry a known qualifier
 * with exactly the payload type that qualifier uses, so a payload of the wrong type never reaches a
 * scalecube handler (a {@code ClassCastException} there would silently end its subscription).
 *
 * <p>The class names below are scalecube-cluster 2.7.10's; a version that renames one fails at class
 * initialisation, not on the wire.
 */
final class MessageWireFormat {

    static final int MAX_DEPTH = 16;

    private static final int TAG_NULL = 0;
    private static final int TAG_STRING = 1;

    /** A scalecube class written through its own writeExternal / readExternal. */
    private record ExternalType(int tag, Class<?> type, Constructor<?> constructor, boolean intsAreSizes) {
    }

    /** An enum written by constant name. */
    private record EnumType(int tag, Class<?> type, Map<String, Object> constants) {
    }

    private static final Map<Class<?>, ExternalType> EXTERNAL_BY_CLASS = new HashMap<>();
    private static final Map<Integer, ExternalType> EXTERNAL_BY_TAG = new HashMap<>();
    private static final Map<Class<?>, EnumType> ENUM_BY_CLASS = new HashMap<>();
    private static final Map<Integer, EnumType> ENUM_BY_TAG = new HashMap<>();
    /** The payload type each protocol qualifier carries; no other qualifier is accepted. */
    private static final Map<String, Class<?>> PAYLOAD_BY_QUALIFIER = new HashMap<>();

    static {
        external(10, Message.class.getName(), true);
        external(11, Member.class.getName(), false);
        external(12, "io.scalecube.cluster.membership.MembershipRecord", false);
        external(13, "io.scalecube.cluster.membership.SyncData", true);
        external(14, "io.scalecube.cluster.fdetector.PingData", false);
        external(15, "io.scalecube.cluster.gossip.Gossip", false);
        external(16, "io.scalecube.cluster.gossip.GossipRequest", true);
        external(17, "io.scalecube.cluster.metadata.GetMetadataRequest", false);
        external(18, "io.scalecube.cluster.metadata.GetMetadataResponse", true);
        enumType(2, MemberStatus.class.getName());
        enumType(3, "io.scalecube.cluster.fdetector.PingData$AckType");

        payload(FailureDetectorImpl.PING, "io.scalecube.cluster.fdetector.PingData");
        payload(FailureDetectorImpl.PING_REQ, "io.scalecube.cluster.fdetector.PingData");
        payload(FailureDetectorImpl.PING_ACK, "io.scalecube.cluster.fdetector.PingData");
        payload(MembershipProtocolImpl.SYNC, "io.scalecube.cluster.membership.SyncData");
        payload(MembershipProtocolImpl.SYNC_ACK, "io.scalecube.cluster.membership.SyncData");
        payload(MembershipProtocolImpl.MEMBERSHIP_GOSSIP, "io.scalecube.cluster.membership.MembershipRecord");
        payload(GossipProtocolImpl.GOSSIP_REQ, "io.scalecube.cluster.gossip.GossipRequest");
        payload(MetadataStoreImpl.GET_METADATA_REQ, "io.scalecube.cluster.metadata.GetMetadataRequest");
        payload(MetadataStoreImpl.GET_METADATA_RESP, "io.scalecube.cluster.metadata.GetMetadataResponse");
    }

    private MessageWireFormat() {
    }

    static byte[] encode(Message message) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
        try (Writer writer = new Writer(bytes)) {
            writer.writeObject(message);
        }
        return bytes.toByteArray();
    }

    /** Decodes one message that must fill {@code bytes} exactly; any deviation is an IOException. */
    static Message decode(byte[] bytes, int offset, int length) throws IOException {
        Reader reader = new Reader(bytes, offset, length);
        Object decoded;
        try {
            decoded = reader.readObject();
        } catch (ClassNotFoundException | RuntimeException e) {
            // A scalecube readExternal cast the wrong type, or a required field is missing.
            throw new StreamCorruptedException("undecodable message: " + e);
        }
        if (!(decoded instanceof Message message)) {
            throw new StreamCorruptedException("frame does not hold a message");
        }
        if (reader.available() != 0) {
            throw new StreamCorruptedException(reader.available() + " bytes after the message");
        }
        return message;
    }

    private static void external(int tag, String className, boolean intsAreSizes) {
        Class<?> type = load(className);
        if (!Externalizable.class.isAssignableFrom(type)) {
            throw new IllegalStateException(className + " is not Externalizable");
        }
        try {
            Constructor<?> constructor = type.getDeclaredConstructor();
            constructor.setAccessible(true);
            ExternalType entry = new ExternalType(tag, type, constructor, intsAreSizes);
            EXTERNAL_BY_CLASS.put(type, entry);
            EXTERNAL_BY_TAG.put(tag, entry);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("no usable no-arg constructor in " + className, e);
        }
    }

    private static void enumType(int tag, String className) {
        Class<?> type = load(className);
        Map<String, Object> constants = new HashMap<>();
        for (Object constant : type.getEnumConstants()) {
            constants.put(((Enum<?>) constant).name(), constant);
        }
        EnumType entry = new EnumType(tag, type, Map.copyOf(constants));
        ENUM_BY_CLASS.put(type, entry);
        ENUM_BY_TAG.put(tag, entry);
    }

    private static void payload(String qualifier, String className) {
        PAYLOAD_BY_QUALIFIER.put(qualifier, load(className));
    }

    private static Class<?> load(String className) {
        try {
            return Class.forName(className, false, MessageWireFormat.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("scalecube class " + className + " not found: wrong scalecube-cluster version?", e);
        }
    }

    private static void checkPayload(Message message) throws StreamCorruptedException {
        String qualifier = message.qualifier();
        Class<?> expected = qualifier == null ? null : PAYLOAD_BY_QUALIFIER.get(qualifier);
        if (expected == null) {
            throw new StreamCorruptedException("message with unexpected qualifier");
        }
        Object data = message.data();
        if (data == null || data.getClass() != expected) {
            throw new StreamCorruptedException("message " + qualifier + " without its " + expected.getSimpleName());
        }
    }

    /** Writes the closed table's types; anything else is refused. */
    private static final class Writer extends DataOutputStream implements ObjectOutput {

        private int depth;

        Writer(ByteArrayOutputStream out) {
            super(out);
        }

        @Override
        public void writeObject(Object value) throws IOException {
            if (value == null) {
                writeByte(TAG_NULL);
                return;
            }
            if (value instanceof String text) {
                writeByte(TAG_STRING);
                writeUTF(text);
                return;
            }
            EnumType enumType = ENUM_BY_CLASS.get(value.getClass());
            if (enumType != null) {
                writeByte(enumType.tag());
                writeUTF(((Enum<?>) value).name());
                return;
            }
            ExternalType type = EXTERNAL_BY_CLASS.get(value.getClass());
            if (type == null) {
                throw new NotSerializableException(value.getClass().getName() + " is not a membership message type");
            }
            if (++depth > MAX_DEPTH) {
                throw new NotSerializableException("message nested deeper than " + MAX_DEPTH);
            }
            writeByte(type.tag());
            ((Externalizable) value).writeExternal(this);
            depth--;
        }
    }

    /**
     * Reads the closed table's types. Delegates to a DataInputStream (whose methods are final, so
     * this cannot extend it and still check sizes in {@link #readInt()}).
     */
    private static final class Reader implements ObjectInput {

        private final ByteArrayInputStream bytes;
        private final DataInputStream in;
        /** The types whose readExternal is running, innermost first. */
        private final Deque<ExternalType> reading = new ArrayDeque<>();

        Reader(byte[] buffer, int offset, int length) {
            this.bytes = new ByteArrayInputStream(buffer, offset, length);
            this.in = new DataInputStream(bytes);
        }

        @Override
        public Object readObject() throws IOException, ClassNotFoundException {
            int tag = in.readUnsignedByte();
            if (tag == TAG_NULL) {
                return null;
            }
            if (tag == TAG_STRING) {
                return in.readUTF();
            }
            EnumType enumType = ENUM_BY_TAG.get(tag);
            if (enumType != null) {
                Object constant = enumType.constants().get(in.readUTF());
                if (constant == null) {
                    throw new StreamCorruptedException("unknown " + enumType.type().getSimpleName() + " constant");
                }
                return constant;
            }
            ExternalType type = EXTERNAL_BY_TAG.get(tag);
            if (type == null) {
                throw new StreamCorruptedException("unknown type tag " + tag);
            }
            if (reading.size() >= MAX_DEPTH) {
                throw new StreamCorruptedException("message nested deeper than " + MAX_DEPTH);
            }
            Externalizable value;
            try {
                value = (Externalizable) type.constructor().newInstance();
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("cannot instantiate " + type.type().getName(), e);
            }
            reading.push(type);
            value.readExternal(this);
            reading.pop();
            if (value instanceof Message message) {
                checkPayload(message);
            }
            return value;
        }

        @Override
        public int readInt() throws IOException {
            int value = in.readInt();
            ExternalType current = reading.peek();
            if (current != null && current.intsAreSizes() && (value < 0 || value > bytes.available())) {
                throw new StreamCorruptedException("size " + value + " with " + bytes.available() + " bytes left");
            }
            return value;
        }

        @Override
        public int read() {
            return bytes.read();
        }

        @Override
        public int read(byte[] buffer) throws IOException {
            return in.read(buffer);
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            return in.read(buffer, offset, length);
        }

        @Override
        public long skip(long n) {
            return bytes.skip(n);
        }

        @Override
        public int available() {
            return bytes.available();
        }

        @Override
        public void close() {
            // Nothing to release: the bytes belong to the caller.
        }

        @Override
        public void readFully(byte[] buffer) throws IOException {
            in.readFully(buffer);
        }

        @Override
        public void readFully(byte[] buffer, int offset, int length) throws IOException {
            in.readFully(buffer, offset, length);
        }

        @Override
        public int skipBytes(int n) throws IOException {
            return in.skipBytes(n);
        }

        @Override
        public boolean readBoolean() throws IOException {
            return in.readBoolean();
        }

        @Override
        public byte readByte() throws IOException {
            return in.readByte();
        }

        @Override
        public int readUnsignedByte() throws IOException {
            return in.readUnsignedByte();
        }

        @Override
        public short readShort() throws IOException {
            return in.readShort();
        }

        @Override
        public int readUnsignedShort() throws IOException {
            return in.readUnsignedShort();
        }

        @Override
        public char readChar() throws IOException {
            return in.readChar();
        }

        @Override
        public long readLong() throws IOException {
            return in.readLong();
        }

        @Override
        public float readFloat() throws IOException {
            return in.readFloat();
        }

        @Override
        public double readDouble() throws IOException {
            return in.readDouble();
        }

        @Override
        public String readLine() throws IOException {
            throw new StreamCorruptedException("readLine is not part of the membership format");
        }

        @Override
        public String readUTF() throws IOException {
            return in.readUTF();
        }
    }
}
