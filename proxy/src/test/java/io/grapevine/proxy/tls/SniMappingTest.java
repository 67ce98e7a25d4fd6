package io.grapevine.proxy.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The certificate choice by SNI host name, rule by rule (see {@link SniMapping}). */
class SniMappingTest {

    private final SniMapping<String> mapping = new SniMapping<>(List.of(
            new SniMapping.Candidate<>(List.of("default.test"), "default"),
            new SniMapping.Candidate<>(List.of("a.test", "*.a.test"), "a"),
            new SniMapping.Candidate<>(List.of("*.b.test", "B.Test"), "b"),
            new SniMapping.Candidate<>(List.of("a.test", "exact.b.test"), "later"),
            new SniMapping.Candidate<>(List.of(), "nameless")));

    @Test
    void anExactNameWins() {
        assertEquals("a", mapping.map("a.test"));
        assertEquals("b", mapping.map("b.test"));
        assertEquals("later", mapping.map("exact.b.test"), "an exact name beats a wildcard listed before it");
    }

    @Test
    void aWildcardStandsForExactlyOneLabel() {
        assertEquals("a", mapping.map("www.a.test"));
        assertEquals("b", mapping.map("x.b.test"));
        assertEquals("default", mapping.map("x.y.b.test"), "not two labels");
        assertEquals("default", mapping.map("b.test.example"));
    }

    @Test
    void namesCompareWithoutCaseAndTrailingDot() {
        assertEquals("a", mapping.map("A.TEST"));
        assertEquals("a", mapping.map("a.test."));
        assertEquals("b", mapping.map("WWW.B.test."));
    }

    @Test
    void theFirstCertificateListedWinsASharedName() {
        assertEquals("a", mapping.map("a.test"), "\"later\" also has a.test");
    }

    @Test
    void noNameOrAnUnknownNameGetsTheDefault() {
        assertEquals("default", mapping.map(null));
        assertEquals("default", mapping.map("unknown.test"));
        assertEquals("default", mapping.map("test"));
        assertEquals("default", mapping.map(""));
    }
}
