package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.IntPredicate;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/** Every one of the 256 byte values against the grammar it is meant to implement, written out independently. */
class HttpCharsTest {

    private static final String ALPHA_DIGIT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    private static void assertClass(String what, Predicate<Byte> table, IntPredicate grammar) {
        for (int c = 0; c < 256; c++) {
            assertEquals(grammar.test(c), table.test((byte) c), what + String.format(" of 0x%02x", c));
        }
    }

    private static boolean vchar(int c) {
        return c >= 0x21 && c <= 0x7e;
    }

    @Test
    void tcharIsRfc9110Token() {
        String tchar = "!#$%&'*+-.^_`|~" + ALPHA_DIGIT;
        assertClass("tchar", HttpChars::isTchar, c -> c < 128 && tchar.indexOf(c) >= 0);
    }

    @Test
    void fieldValueIsVcharObsTextSpAndHtab() {
        assertClass("field value", HttpChars::isFieldValueChar, c -> vchar(c) || c >= 0x80 || c == ' ' || c == '\t');
        assertClass("reason phrase", HttpChars::isReasonChar, c -> vchar(c) || c >= 0x80 || c == ' ' || c == '\t');
    }

    @Test
    void targetIsRfc3986WithoutFragmentPlusWhatBrowsersSendUnencoded() {
        String allowed = ALPHA_DIGIT + "-._~" + ":/?[]@" + "!$&'()*+,;=" + "%" + "\\^`{|}";
        assertClass("target", HttpChars::isTargetChar, c -> c < 128 && allowed.indexOf(c) >= 0);
    }

    @Test
    void hostIsRegNameIpLiteralAndPort() {
        String allowed = ALPHA_DIGIT + "-._~" + "%" + "!$&'()*+,;=" + ":[]";
        assertClass("host", HttpChars::isHostChar, c -> c < 128 && allowed.indexOf(c) >= 0);
    }

    @Test
    void hexAndCase() {
        for (int c = 0; c < 256; c++) {
            int expected = Character.digit((char) c, 16);
            assertEquals(c < 128 ? expected : -1, HttpChars.hexValue((byte) c), String.format("hex 0x%02x", c));
            int lower = c >= 'A' && c <= 'Z' ? c + 32 : c;
            assertEquals((byte) lower, HttpChars.lower((byte) c));
        }
        byte[] b = LeakCheck.bytes("xContent-LENGTHx");
        assertTrue(HttpChars.equalsLower(b, 1, 14, LeakCheck.bytes("content-length")));
        assertFalse(HttpChars.equalsLower(b, 1, 13, LeakCheck.bytes("content-length")));
        assertFalse(HttpChars.equalsLower(LeakCheck.bytes("content\u00adlength"), 0, 14, LeakCheck.bytes("content-length")));
    }

    @Test
    void owsIsSpAndHtabOnly() {
        assertClass("OWS", HttpChars::isOws, c -> c == ' ' || c == '\t');
    }
}
