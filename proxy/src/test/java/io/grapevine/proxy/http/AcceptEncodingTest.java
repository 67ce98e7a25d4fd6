package io.grapevine.proxy.http;

import static io.grapevine.proxy.http.AcceptEncoding.ACCEPTED;
import static io.grapevine.proxy.http.AcceptEncoding.REFUSED;
import static io.grapevine.proxy.http.AcceptEncoding.UNSAID;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AcceptEncodingTest {

    private static int gzip(String value) {
        byte[] b = ("x" + value + "y").getBytes(StandardCharsets.ISO_8859_1);
        return AcceptEncoding.verdict(AcceptEncoding.gzip(b, 1, b.length - 1));
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(delimiter = '|', value = {
        "gzip|1",
        "GZip|1",
        "x-gzip|1",
        "gzip, deflate, br|1",
        "br;q=1.0, gzip;q=0.8, *;q=0.1|1",
        "gzip;q=0|2",
        "gzip; q=0.000|2",
        "gzip;Q=0.0 , br|2",
        "gzip;q=0.001|1",
        "*|1",
        "*;q=0|2",
        "br, *;q=0|2",
        "gzip;q=0.5, *;q=0|1",
        "*;q=0.3, gzip;q=0|2",
        "br|0",
        "identity|0",
        "gzipx, xgzip|0",
        "''|0",
        "' , ,gzip'|1",
        "deflate;q=0, gzip|1",
    })
    void whatAFieldSaysOfGzip(String value, int expected) {
        assertEquals(expected, gzip(value), value);
    }

    private static int lines(String... values) {
        int answers = AcceptEncoding.UNSAID;
        for (String v : values) {
            byte[] b = v.getBytes(StandardCharsets.ISO_8859_1);
            answers = AcceptEncoding.combine(answers, AcceptEncoding.gzip(b, 0, b.length));
        }
        return AcceptEncoding.verdict(answers);
    }

    @org.junit.jupiter.api.Test
    void severalLinesAreOneList() {
        assertEquals(REFUSED, lines("gzip", "gzip;q=0"), "a refusal wins");
        assertEquals(ACCEPTED, lines("br", "gzip"));
        assertEquals(ACCEPTED, lines("gzip", "*;q=0"), "gzip named wins over * on another line");
        assertEquals(ACCEPTED, lines("*;q=0", "x-gzip"));
        assertEquals(REFUSED, lines("*;q=0", "br"));
        assertEquals(ACCEPTED, lines("br", "*"));
        assertEquals(UNSAID, lines("br", "deflate"));
        assertEquals(UNSAID, lines());
    }
}
