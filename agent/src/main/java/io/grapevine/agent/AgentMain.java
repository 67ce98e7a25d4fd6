package io.grapevine.agent;

import io.grapevine.cluster.ClusterKeyring;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code ./grapevine agent}: see {@link AgentOptions#USAGE}. Exit codes: 0 after a graceful
 * SIGTERM / SIGINT (drain, leave), 1 when it cannot start, 2 for a bad command line or key file.
 */
public final class AgentMain {

    private static final Logger LOG = LoggerFactory.getLogger(AgentMain.class);

    private AgentMain() {
    }

    public static void main(String[] args) {
        if (AgentOptions.wantsHelp(args)) {
            System.out.print(AgentOptions.USAGE);
            return;
        }
        AgentOptions options;
        ClusterKeyring keyring;
        try {
            options = AgentOptions.parse(args);
            keyring = options.clusterKey() == null ? null : loadKeyring(options);
        } catch (UsageException e) {
            System.err.println("grapevine agent: " + e.getMessage() + " (see --help)");
            System.exit(2);
            return;
        }
        Duration drain = Duration.ofSeconds(options.drainSeconds());

        // SIGTERM and SIGINT run shutdown hooks. The JVM would then exit with 128+signal; halting
        // with 0 from the hook instead reports the graceful stop as success. The hook is installed
        // before the agent joins, so a signal that arrives while it starts still drains it; when
        // the start failed there is nothing to drain and the exit status stays the failure's.
        AtomicReference<Agent> running = new AtomicReference<>();
        CountDownLatch startFinished = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                startFinished.await();
            } catch (InterruptedException e) {
                return;
            }
            Agent agent = running.get();
            if (agent == null) {
                return;
            }
            agent.drainAndLeave(drain);
            LOG.info("Agent stopped");
            System.out.flush();
            Runtime.getRuntime().halt(0);
        }, "agent-shutdown"));

        try {
            running.set(Agent.start(options, keyring));
        } catch (RuntimeException e) {
            System.err.println("grapevine agent: " + e.getMessage());
            startFinished.countDown();
            System.exit(1);
        } catch (InterruptedException e) {
            startFinished.countDown();
            System.exit(1);
        }
        startFinished.countDown();
    }

    private static ClusterKeyring loadKeyring(AgentOptions options) throws UsageException {
        try {
            return ClusterKeyring.load(options.clusterKey());
        } catch (IOException e) {
            throw new UsageException("--cluster-key " + e.getMessage());
        }
    }
}
