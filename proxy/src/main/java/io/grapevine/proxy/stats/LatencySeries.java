package io.grapevine.proxy.stats;

import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * One latency histogram as Prometheus exposes it: its labels, every value since the start (microseconds) and
 * their exact sum.
 */
public record LatencySeries(Map<String, String> labels, Histogram sinceStart, long sumMicros) {
}
