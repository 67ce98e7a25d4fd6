package io.grapevine.proxy.stats;

import java.util.List;

/**
 * The latency histograms {@code /metrics} exposes, since the start: per server and per pool, the total time
 * (request head read to response complete) and the upstream time (attempt start to response head).
 */
public record LatencyMetrics(List<LatencySeries> serverTotal, List<LatencySeries> serverUpstream,
                             List<LatencySeries> poolTotal, List<LatencySeries> poolUpstream) {
}
