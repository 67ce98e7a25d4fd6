package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.testing.ChildProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * What the shaded jars carry: the Linux native transports (and, in the proxy's, JNA's library) for x86_64 and
 * aarch64, the Netty modules the proxy's edge needs (TLS, HTTP/2, the PROXY protocol), and nothing a Linux process
 * never loads (QUIC, kqueue, macOS and Windows libraries). The size bound is the packaging's budget.
 */
class JarContentsIntegrationTest {

    private static final long MAX_JAR_BYTES = 15L * 1024 * 1024;

    private static final List<String> NATIVES = List.of(
            "META-INF/native/libnetty_transport_native_epoll_x86_64.so",
            "META-INF/native/libnetty_transport_native_epoll_aarch_64.so",
            "META-INF/native/libnetty_transport_native_io_uring42_x86_64.so",
            "META-INF/native/libnetty_transport_native_io_uring42_aarch_64.so");

    /** Classes the programs load, or that the edge protocols being built on this jar need. */
    private static final List<String> REQUIRED_CLASSES = List.of(
            "io/netty/channel/epoll/EpollIoHandler.class",
            "io/netty/channel/uring/IoUringIoHandler.class",
            "io/netty/handler/ssl/SslHandler.class",
            "io/netty/handler/ssl/SslContextBuilder.class",
            "io/netty/handler/codec/http2/Http2FrameCodec.class",
            "io/netty/handler/codec/haproxy/HAProxyMessageDecoder.class",
            "io/netty/handler/codec/http/HttpServerCodec.class",
            "io/netty/resolver/dns/DnsNameResolver.class",
            "reactor/netty/tcp/TcpServer.class",
            "io/scalecube/transport/netty/tcp/TcpTransportFactory.class",
            "ch/qos/logback/classic/encoder/JsonEncoder.class",
            "logback.xml");

    /** Entry name fragments that must not be in the jar: never loaded on Linux, or never used. */
    private static final List<String> FORBIDDEN = List.of(
            "quiche", "/quic/", "codec/http3/", "io/netty/channel/kqueue/", "native_kqueue", "resolver/dns/macos/",
            ".jnilib", ".dll", "_osx_", "_windows_", "riscv64", "channel/sctp/", "channel/udt/", "channel/rxtx/",
            "codec/mqtt/", "codec/redis/", "codec/stomp/", "codec/spdy/", "codec/rtsp/", "META-INF/maven/");

    @Test
    void proxyJarIsSlimAndCarriesWhatLinuxAndTheEdgeNeed() throws Exception {
        check(ChildProcess.proxyJar(), "io.grapevine.proxy.ProxyMain",
                // TLS by BoringSSL on x86_64; elsewhere the JDK's provider
                List.of("META-INF/native/libnetty_tcnative_linux_x86_64.so"));
        assertTrue(entries(ChildProcess.proxyJar()).contains("templates/backends.mustache"), "the default template ships in the jar");
        assertEquals(Set.of("com/sun/jna/linux-aarch64/libjnidispatch.so", "com/sun/jna/linux-x86-64/libjnidispatch.so"),
                entries(ChildProcess.proxyJar()).stream().filter(n -> n.contains("jnidispatch")).collect(Collectors.toSet()),
                "JNA's native library (--loop-slice-us) for Linux x86_64 and aarch64 only");
        assertTrue(entries(ChildProcess.proxyJar()).containsAll(List.of("com/sun/jna/Native.class",
                "com/sun/jna/internal/Cleaner.class", "com/sun/jna/LastErrorException.class")), "JNA's classes");
    }

    @Test
    void agentJarIsSlimAndCarriesWhatLinuxNeeds() throws Exception {
        check(ChildProcess.agentJar(), "io.grapevine.agent.AgentMain", List.of());
    }

    private static Set<String> entries(Path jar) throws Exception {
        try (JarFile file = new JarFile(jar.toFile())) {
            return file.stream().map(JarEntry::getName).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private static void check(Path jar, String mainClass, List<String> moreNatives) throws Exception {
        long size = Files.size(jar);
        assertTrue(size < MAX_JAR_BYTES, jar + " is " + size + " bytes, over the " + MAX_JAR_BYTES + " budget");

        Set<String> names = entries(jar);
        List<String> missing = new ArrayList<>();
        for (String required : NATIVES) {
            if (!names.contains(required)) {
                missing.add(required);
            }
        }
        for (String required : REQUIRED_CLASSES) {
            if (!names.contains(required)) {
                missing.add(required);
            }
        }
        assertEquals(List.of(), missing, jar + " lacks entries");

        Set<String> forbidden = new TreeSet<>();
        for (String name : names) {
            String lower = name.toLowerCase();
            if (FORBIDDEN.stream().anyMatch(lower::contains)) {
                forbidden.add(name);
            }
        }
        assertEquals(Set.of(), forbidden, jar + " carries what a Linux process never loads");
        Set<String> natives = names.stream().filter(n -> n.startsWith("META-INF/native/") && !n.endsWith("/"))
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> expected = new TreeSet<>(NATIVES);
        expected.addAll(moreNatives);
        assertEquals(expected, natives, jar + ": the native libraries are exactly epoll and io_uring for x86_64 and "
                + "aarch64, and those named for this jar");

        try (JarFile file = new JarFile(jar.toFile())) {
            Manifest manifest = file.getManifest();
            assertEquals(mainClass, manifest.getMainAttributes().getValue("Main-Class"));
            assertEquals("true", manifest.getMainAttributes().getValue("Multi-Release"),
                    "the versioned classes under META-INF/versions (reactor-core, jackson) are used on newer JVMs");
        }
    }
}
