package io.grapevine.proxy.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import org.junit.jupiter.api.Test;

/** What a redirect to HTTPS leaves alone, and the Location it writes. */
class HttpsRedirectTest {

    @Test
    void onlyAChallengeTokenUnderTheWellKnownPrefixIsForwarded() {
        assertTrue(HttpsRedirect.isAcmeChallenge("/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
        assertFalse(HttpsRedirect.isAcmeChallenge("/.well-known/acme-challenge/"), "no token");
        assertFalse(HttpsRedirect.isAcmeChallenge("/.well-known/acme-challenge/a/b"), "two segments");
        assertFalse(HttpsRedirect.isAcmeChallenge("/.well-known/acme-challenge/..\\..\\admin"), "not a token");
        assertFalse(HttpsRedirect.isAcmeChallenge("/.well-known/acme-challenge/t?x=1"), "a query");
        assertFalse(HttpsRedirect.isAcmeChallenge("/.well-known/other/t"));
    }

    @Test
    void aHostIsANameAnIpv4AddressOrAValidIpv6Literal() {
        assertTrue(HttpsRedirect.isHost("shop.example"));
        assertTrue(HttpsRedirect.isHost("10.0.0.1"));
        assertTrue(HttpsRedirect.isHost("[::1]"));
        assertTrue(HttpsRedirect.isHost("under_score.example"));
        assertFalse(HttpsRedirect.isHost(""));
        assertFalse(HttpsRedirect.isHost(null));
        assertFalse(HttpsRedirect.isHost("[]"));
        assertFalse(HttpsRedirect.isHost("[abc]"));
        assertFalse(HttpsRedirect.isHost("[1.2.3.4]"));
        assertFalse(HttpsRedirect.isHost("evil.example%2f"));
        assertFalse(HttpsRedirect.isHost("a@b"));
    }

    @Test
    void theLocationKeepsTheTargetAndPercentEncodesWhatNoUriMayHold() {
        assertEquals("https://shop.example/app;jsessionid=ABC//cart?x=1&y=%20",
                HttpsRedirect.location("shop.example", 443, "/app;jsessionid=ABC//cart?x=1&y=%20"));
        assertEquals("https://[::1]:8443/a%7Cb%5E%7B%7D%5C%60%22%3C%3E%25zz%25",
                HttpsRedirect.location("[::1]", 8443, "/a|b^{}\\`\"<>%zz%"));
        for (String target : new String[] {"/a|b^{}\\`\"<>%zz%", "/x y", "/%", "/fetch/https://example.com/?q=%E2%82%AC"}) {
            URI uri = URI.create(HttpsRedirect.location("h.example", 8443, target)); // throws if not a URI
            assertEquals("h.example", uri.getHost(), target);
            assertEquals(8443, uri.getPort(), target);
        }
    }
}
