package io.grapevine.proxy.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grapevine.proxy.testing.PrometheusText;
import org.junit.jupiter.api.Test;

/** The test parser refuses what the exposition format refuses, so the tests that use it can fail. */
class PrometheusTextTest {

    private static final String HISTOGRAM = "# TYPE h histogram\n"
            + "h_bucket{a=\"1\",le=\"0.1\"} %s\nh_bucket{a=\"1\",le=\"+Inf\"} %s\nh_sum{a=\"1\"} 1.5\nh_count{a=\"1\"} %s\n";

    @Test
    void acceptsAWellFormedExposition() {
        var families = PrometheusText.parse("# HELP c A counter with a \\\\ backslash.\n# TYPE c counter\n"
                + "c{x=\"a\\\"b\\\\c\\nd\"} 3\nc{x=\"e\",} 4 1700000000000\n" + String.format(HISTOGRAM, 1, 2, 2));
        assertEquals("a\"b\\c\nd", families.get("c").samples().get(0).labels().get("x"));
        assertEquals(4, families.get("h").samples().size());
    }

    @Test
    void refusesBrokenHistograms() {
        assertThrows(IllegalArgumentException.class, () -> PrometheusText.parse(String.format(HISTOGRAM, 3, 2, 2)),
                "buckets not cumulative");
        assertThrows(IllegalArgumentException.class, () -> PrometheusText.parse(String.format(HISTOGRAM, 1, 2, 3)),
                "+Inf differs from _count");
        assertThrows(IllegalArgumentException.class, () -> PrometheusText.parse(
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n"), "no +Inf bucket");
    }

    @Test
    void refusesBrokenLines() {
        for (String bad : new String[] {
            "c 1\nc 2\n",                                  // the same series twice
            "a 1\nb 1\na 2\n",                             // a family split in two
            "c 1\n# TYPE c counter\n",                     // TYPE after a sample
            "# TYPE c counter\n# TYPE c counter\nc 1\n",   // two TYPEs
            "c{x=\"\\t\"} 1\n",                            // an escape the format does not have
            "c{x=y} 1\n",                                  // an unquoted label value
            "1c 1\n",                                      // a bad metric name
            "c one\n",                                     // not a number
            "# TYPE c counter\nc -1\n",                    // a negative counter
            "c{__x=\"1\"} 1\n",                            // a reserved label name
        }) {
            assertThrows(IllegalArgumentException.class, () -> PrometheusText.parse(bad), bad);
        }
    }
}
