package io.grapevine.proxy.arch;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.core.importer.Location;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The map of the house as rules that fail: which package may know which. Covers the main classes of all
 * three modules (the proxy's test classpath holds the cluster and agent modules). See
 * docs/architecture.md, "Packages and what they may know".
 */
class LayeringTest {

    private static JavaClasses classes;

    /** Main code only: no test classes, whether in a test-classes directory or a -tests.jar. */
    private static final class MainCodeOnly implements ImportOption {
        @Override
        public boolean includes(Location location) {
            return !location.contains("/test-classes/") && !location.contains("-tests.jar");
        }
    }

    @BeforeAll
    static void importClasses() {
        classes = new ClassFileImporter().withImportOption(new MainCodeOnly()).importPackages("io.grapevine");
    }

    private static void check(ArchRule rule) {
        rule.check(classes);
    }

    @Test
    void theClassesWereFound() {
        // A rule over no classes passes vacuously: make sure every module was imported.
        for (String pkg : new String[] {"io.grapevine.cluster", "io.grapevine.agent", "io.grapevine.proxy.forward",
                "io.grapevine.proxy.client", "io.grapevine.proxy.lb", "io.grapevine.proxy.table", "io.grapevine.proxy.tls"}) {
            if (classes.stream().noneMatch(c -> c.getPackageName().equals(pkg))) {
                throw new AssertionError("no class of " + pkg + " was imported");
            }
        }
    }

    @Test
    void onlyTheClusterModuleAndTheMembershipAdapterKnowScalecube() {
        check(noClasses().that().resideOutsideOfPackages("io.grapevine.cluster..", "io.grapevine.proxy.membership..")
                .should().dependOnClassesThat().resideInAPackage("io.scalecube..")
                .because("discovery hides behind one seam"));
    }

    @Test
    void balancersKnowNoNettyAndNoHttp() {
        check(noClasses().that().resideInAPackage("io.grapevine.proxy.lb..")
                .should().dependOnClassesThat().resideInAnyPackage("io.netty..", "io.grapevine.proxy.http..",
                        "io.grapevine.proxy.forward..", "io.grapevine.proxy.client..", "io.grapevine.proxy.table..")
                .because("an algorithm picks among endpoints; it needs nothing else"));
    }

    @Test
    void theTableKnowsNoChannelsAndNothingOfForwarding() {
        check(noClasses().that().resideInAPackage("io.grapevine.proxy.table..")
                .should().dependOnClassesThat().resideInAnyPackage("io.netty.channel..", "io.grapevine.proxy.forward..",
                        "io.grapevine.proxy.client..", "io.grapevine.proxy.http..", "io.grapevine.proxy.admin..",
                        "io.grapevine.proxy.membership..", "io.grapevine.proxy.health..")
                .because("the table is data published to the event loops, not part of them"));
    }

    @Test
    void serversConfAndItsReloadsKnowNothingOfGossip() {
        check(noClasses().that().resideInAPackage("io.grapevine.proxy.reload..")
                .should().dependOnClassesThat().resideInAnyPackage("io.grapevine.proxy.membership..", "io.scalecube..")
                .because("a proxy without gossip reloads servers.conf without the membership view"));
    }

    @Test
    void theForwardingCoreDoesNotKnowClientProtocols() {
        check(noClasses().that().resideInAPackage("io.grapevine.proxy.forward..")
                .should().dependOnClassesThat().resideInAnyPackage("io.grapevine.proxy.client..",
                        "io.grapevine.proxy.admin..", "io.grapevine.proxy.membership..")
                .because("an exchange serves a ClientStream, whichever protocol stands behind it"));
    }

    @Test
    void theAccessLogOnlyObservesExchanges() {
        check(noClasses().that().resideInAPackage("io.grapevine.proxy.accesslog..")
                .should().dependOnClassesThat().resideInAnyPackage("io.netty.channel..", "io.grapevine.proxy.client..",
                        "io.grapevine.proxy.admin..", "io.grapevine.proxy.membership..", "io.grapevine.proxy.lb..")
                .because("it formats what an exchange observer is told, and writes it off the event loops"));
    }

    @Test
    void httpCodecsAndConfigurationAreLeaves() {
        check(noClasses().that().resideInAnyPackage("io.grapevine.proxy.http..", "io.grapevine.proxy.config..",
                        "io.grapevine.proxy.stats..")
                .should().dependOnClassesThat().resideInAnyPackage("io.grapevine.proxy.forward..",
                        "io.grapevine.proxy.client..", "io.grapevine.proxy.table..", "io.grapevine.proxy.lb..",
                        "io.grapevine.proxy.admin..", "io.grapevine.proxy.membership..", "io.grapevine.proxy.health.."));
    }

    @Test
    void tlsKnowsOnlyTheConfigurationAndOnlyTheWiringKnowsTls() {
        check(noClasses().that().resideInAPackage("io.grapevine.proxy.tls..")
                .should().dependOnClassesThat().resideInAnyPackage("io.grapevine.proxy.client..",
                        "io.grapevine.proxy.forward..", "io.grapevine.proxy.http..", "io.grapevine.proxy.table..",
                        "io.grapevine.proxy.lb..", "io.grapevine.proxy.admin..", "io.grapevine.proxy.membership..",
                        "io.grapevine.proxy.health..", "io.grapevine.proxy.stats..")
                .because("certificates and handshakes are their own concern: files in, SSL handlers out"));
        check(noClasses().that().resideInAnyPackage("io.grapevine.proxy.client..", "io.grapevine.proxy.forward..",
                        "io.grapevine.proxy.http..", "io.grapevine.proxy.table..", "io.grapevine.proxy.lb..",
                        "io.grapevine.proxy.admin..", "io.grapevine.proxy.membership..", "io.grapevine.proxy.health..",
                        "io.grapevine.proxy.stats..", "io.grapevine.proxy.config..")
                .should().dependOnClassesThat().resideInAPackage("io.grapevine.proxy.tls..")
                .because("a client pipeline takes its TLS handler from a supplier the server wires in"));
    }

    @Test
    void theAgentKnowsNothingOfTheProxyAndTheClusterNothingOfEither() {
        check(noClasses().that().resideInAPackage("io.grapevine.agent..")
                .should().dependOnClassesThat().resideInAPackage("io.grapevine.proxy.."));
        check(noClasses().that().resideInAPackage("io.grapevine.cluster..")
                .should().dependOnClassesThat().resideInAnyPackage("io.grapevine.proxy..", "io.grapevine.agent.."));
    }

    @Test
    void noCyclesBetweenPackages() {
        check(slices().matching("io.grapevine.proxy.(*)..").should().beFreeOfCycles());
        check(slices().matching("io.grapevine.(*)..").should().beFreeOfCycles());
    }
}
