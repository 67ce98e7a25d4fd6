package io.grapevine.cluster;

import io.scalecube.cluster.Member;
import io.scalecube.cluster.fdetector.FailureDetectorImpl;
import io.scalecube.cluster.membership.MemberStatus;
import io.scalecube.cluster.membership.MembershipProtocolImpl;
import io.scalecube.cluster.metadata.MetadataStoreImpl;
import io.scalecube.cluster.gossip.GossipProtocolImpl;
import io.scalecube.cluster.transport.api.Message;
import java.lang.reflect.Constructor;
import java.nio.ByteBuffer;
import java.util.Collection;
import java.util.List;

/** Builds real scalecube protocol messages (their payload classes are package-private). */
final class ScalecubeMessages {

    private ScalecubeMessages() {
    }

    static Member member(String id, String address) {
        return new Member(id, "alias-" + id, address, "grapevine");
    }

    static Message ping(Member from, Member to) {
        Object data = construct("io.scalecube.cluster.fdetector.PingData",
                new Class<?>[] {Member.class, Member.class}, from, to);
        return Message.withData(data).qualifier(FailureDetectorImpl.PING).correlationId("cid-1").sender(from.address()).build();
    }

    static Object record(Member member, MemberStatus status, int incarnation) {
        return construct("io.scalecube.cluster.membership.MembershipRecord",
                new Class<?>[] {Member.class, MemberStatus.class, int.class}, member, status, incarnation);
    }

    static Message sync(Object... records) {
        Object data = construct("io.scalecube.cluster.membership.SyncData",
                new Class<?>[] {Collection.class}, List.of(records));
        return Message.withData(data).qualifier(MembershipProtocolImpl.SYNC).build();
    }

    static Message gossipOf(Object record, String gossiperId) {
        Message inner = Message.withData(record).qualifier(MembershipProtocolImpl.MEMBERSHIP_GOSSIP).build();
        Object gossip = construct("io.scalecube.cluster.gossip.Gossip",
                new Class<?>[] {String.class, Message.class, long.class}, gossiperId, inner, 7L);
        Object request = construct("io.scalecube.cluster.gossip.GossipRequest",
                new Class<?>[] {List.class, String.class}, List.of(gossip), gossiperId);
        return Message.withData(request).qualifier(GossipProtocolImpl.GOSSIP_REQ).build();
    }

    static Message metadataRequest(Member target) {
        Object data = construct("io.scalecube.cluster.metadata.GetMetadataRequest",
                new Class<?>[] {Member.class}, target);
        return Message.withData(data).qualifier(MetadataStoreImpl.GET_METADATA_REQ).correlationId("cid-2").build();
    }

    static Message metadataResponse(Member member, byte[] metadata) {
        Object data = construct("io.scalecube.cluster.metadata.GetMetadataResponse",
                new Class<?>[] {Member.class, ByteBuffer.class}, member, ByteBuffer.wrap(metadata));
        return Message.withData(data).qualifier(MetadataStoreImpl.GET_METADATA_RESP).correlationId("cid-3").build();
    }

    static Object construct(String className, Class<?>[] types, Object... args) {
        try {
            Constructor<?> constructor = Class.forName(className).getDeclaredConstructor(types);
            constructor.setAccessible(true);
            return constructor.newInstance(args);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Messages compared by what they print: scalecube's message classes have no equals. */
    static String describe(Message message) {
        return message.headers() + " " + message.data();
    }
}
