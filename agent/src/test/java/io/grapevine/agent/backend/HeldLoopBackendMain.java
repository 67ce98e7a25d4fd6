package io.grapevine.agent.backend;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * {@link DemoBackendMain} whose workers' event loop is held ({@link HeldBackendLoop}, for a minute) once a line comes on
 * standard input, as by a handler that blocks: what its stop asks of the loop (closing the sockets) then waits. Says
 * {@value #HELD} on standard output once the loop is held.
 */
public final class HeldLoopBackendMain {

    static final String HELD = "event loop held";

    private HeldLoopBackendMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        Thread holder = new Thread(() -> {
            try {
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
                HeldBackendLoop.hold();
                System.out.println(HELD);
                System.out.flush();
            } catch (IOException | InterruptedException e) {
                System.out.println("event loop not held: " + e);
            }
        }, "held-loop-on-stdin");
        holder.setDaemon(true);
        holder.start();
        DemoBackendMain.main(args);
    }
}
