package io.grapevine.cluster;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** Keeps every event it is given, with the thread it arrived on. */
final class RecordingListener implements MembershipListener {

    final List<MemberEvent> events = new CopyOnWriteArrayList<>();
    final List<String> threads = new CopyOnWriteArrayList<>();

    @Override
    public void onMembershipEvent(MemberEvent event) {
        events.add(event);
        threads.add(Thread.currentThread().getName());
    }

    boolean saw(MemberEvent.Type type, String memberId) {
        return last(type, memberId) != null;
    }

    MemberEvent last(MemberEvent.Type type, String memberId) {
        MemberEvent found = null;
        for (MemberEvent event : events) {
            if (event.type() == type && event.memberId().equals(memberId)) {
                found = event;
            }
        }
        return found;
    }

    boolean sawAnyOf(String memberId) {
        return events.stream().anyMatch(e -> e.memberId().equals(memberId));
    }

    @Override
    public String toString() {
        return events.stream().map(e -> e.type() + " " + e.memberId() + " " + e.metadata()).toList().toString();
    }
}
