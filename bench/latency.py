#!/usr/bin/env python3
"""Open-loop latency of Grapevine, HAProxy and nginx at 25, 50 and 75 % of HAProxy's saturation rate.

    bench/run latency                          # 3 rounds of 10 s per proxy and load; about 8 minutes
    bench/run latency --loads 50,75 --secs 20 --rounds 5
    bench/run latency --rate 20000             # skip the saturation search: percentages of this rate

First HAProxy's saturation rate is found with wrk (the `get` scenario of compare.py: small GETs over 50
keep-alive connections, closed loop, as fast as it answers). Then the open-loop client of the bench module
(io.grapevine.bench.latency.OpenLoopClient: constant rate over 50 keep-alive connections, every latency
measured from the time its request was due, so that a stall is charged to every request due behind it)
runs at each load against each proxy in turn, the order rotating every round; medians over the rounds.
The same layout as compare.py: proxies alone on CPU 1, backends and the client on CPU 0.
"""
import argparse
import json
import os
import subprocess
import sys

import compare

JVM = ["-Xms256m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:+AlwaysPreTouch"]


def open_loop(jar, proxy, rate, a):
    """One run of the open-loop client; its JSON figures plus the proxy's CPU per answered request."""
    pgid = proxy["proc"].pid
    argv = ["taskset", "-c", str(compare.LOAD_CPU), "java"] + JVM + [
        "-cp", jar, "io.grapevine.bench.latency.OpenLoopClient", "--url", f"http://127.0.0.1:{proxy['port']}/",
        "--rate", str(rate), "--connections", str(a.connections), "--duration", str(a.secs),
        "--warmup", str(a.client_warmup), "--json"]
    t0 = compare.group_cpu_ticks(pgid)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=a.secs + a.client_warmup + 120)
    t1 = compare.group_cpu_ticks(pgid)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"the open-loop client failed ({out.returncode}):\n{out.stdout}\n{out.stderr[-2000:]}")
    r = json.loads(lines[-1])
    cpu_s = sum(x1 - x0 for x0, x1 in zip(t0, t1)) / os.sysconf("SC_CLK_TCK")
    # The CPU of the whole client run (warm-up included) over the requests of the whole run at that rate.
    r["cpu_us_per_req"] = cpu_s * 1e6 / max(1.0, rate * (a.secs + a.client_warmup))
    r["loadavg"] = open("/proc/loadavg").read().split()[0]
    return r


def saturation(bench, a):
    """HAProxy's req/s under wrk's closed loop (the get scenario), median of a.sat_rounds runs."""
    saved = a.proxies
    a.proxies = ["haproxy"]
    try:
        proxies = bench.start_proxies("saturation")
    finally:
        a.proxies = saved
    scenario = compare.BY_NAME["get"]
    compare.run_load(scenario, proxies[0], a.warmup, bench.files)
    rates = [compare.run_load(scenario, proxies[0], a.sat_secs, bench.files)["rps"] for _ in range(a.sat_rounds)]
    bench.stop_proxies(proxies)
    return compare.median(rates), rates


def report(env, a, sat, sat_runs, results):
    lines = ["## Open-loop latency at fractions of HAProxy's saturation rate", ""]
    lines += [f"Measured {env['date']}, commit `{env['commit']}`; {env['java']}; {env['nproc']} CPUs, {env['cpu']}; "
              f"kernel {env['kernel']}; HAProxy {env['haproxy']}, nginx {env['nginx']}.",
              f"Load average before: {env['loadavg_before']}; after: {env.get('loadavg_after', '?')}.",
              (f"HAProxy saturation (wrk, 50 keep-alive connections, closed loop): {sat:.0f} req/s (runs: "
               + ", ".join(f"{x:.0f}" for x in sat_runs) + ")." if sat_runs else f"Rate given: {sat:.0f} req/s."),
              f"Open-loop client: {a.connections} keep-alive connections, {a.rounds} rounds of {a.secs} s after "
              f"{a.client_warmup} s at the same rate, medians; latency from each request's due time.", ""]
    lines.append("| load | rate req/s | proxy | p50 ms | p99 ms | p99.9 ms | max ms | answered req/s | CPU µs/req "
                 "| errors + timeouts | client timer lag p99 ms | p99 ÷ HAProxy | p99.9 ÷ HAProxy |")
    lines.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for load, per in results.items():
        rate = per["rate"]
        meds = {}
        for proxy, runs in per["runs"].items():
            meds[proxy] = {k: compare.median([r[k] for r in runs]) for k in
                           ("p50_ms", "p99_ms", "p999_ms", "max_ms", "achieved_rate", "cpu_us_per_req",
                            "client_timer_lag_p99_ms")}
            meds[proxy]["bad"] = sum(r["errors"] + r["timeouts"] + r["non2xx"] for r in runs)
        for proxy, m in meds.items():
            h = meds.get("haproxy")
            lines.append(f"| {load} % | {rate:.0f} | {proxy} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                         f"{m['p999_ms']:.2f} | {m['max_ms']:.1f} | {m['achieved_rate']:.0f} | "
                         f"{m['cpu_us_per_req']:.1f} | {m['bad']} | {m['client_timer_lag_p99_ms']:.2f} | "
                         f"{compare.ratio(m['p99_ms'], h['p99_ms']) if h else 'n/a'} | "
                         f"{compare.ratio(m['p999_ms'], h['p999_ms']) if h else 'n/a'} |")
    lines += ["", "When the client's timer lag p99 comes close to a proxy's p99, the client (CPU 0) was late, "
              "not the proxy: the machine is too busy for that figure."]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loads", default="25,50,75", help="percentages of the saturation rate (default %(default)s)")
    ap.add_argument("--rate", type=float, help="the 100 %% rate; default: HAProxy's, measured with wrk first")
    ap.add_argument("--secs", type=int, default=10, help="measured seconds per run (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="runs per proxy and load (default %(default)s)")
    ap.add_argument("--connections", type=int, default=50, help="keep-alive connections (default %(default)s)")
    ap.add_argument("--client-warmup", type=int, default=3,
                    help="seconds at the rate before each measured run (default %(default)s)")
    ap.add_argument("--warmup", type=int, default=2, help="wrk warm-up per proxy (default %(default)s)")
    ap.add_argument("--jit-warmup", type=int, default=8, help="extra wrk warm-up for Grapevine (default %(default)s)")
    ap.add_argument("--sat-secs", type=int, default=10, help="seconds per saturation run (default %(default)s)")
    ap.add_argument("--sat-rounds", type=int, default=3, help="saturation runs, median (default %(default)s)")
    compare.add_common_options(ap)
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--markdown", help="write the table to this file")
    a = ap.parse_args()
    loads = [int(x) for x in a.loads.split(",")]
    compare.check_common_options(a, "latency")
    jar = compare.bench_jar()
    env = compare.describe_environment()
    results, notes = {}, {}

    def run(bench):
        if a.rate:
            sat, sat_runs = a.rate, []
        else:
            sat, sat_runs = saturation(bench, a)
            print(f"HAProxy saturation: {sat:.0f} req/s", file=sys.stderr)
        proxies = bench.start_proxies("latency")
        for p in proxies:
            secs = a.warmup + (a.jit_warmup if p["name"].startswith("grapevine") else 0)
            compare.run_load(compare.BY_NAME["get"], p, secs, bench.files)
        for load in loads:
            rate = round(sat * load / 100)
            results[load] = {"rate": rate, "runs": {p["name"]: [] for p in proxies}}
            for r in range(a.rounds):
                k = r % len(proxies)
                for p in proxies[k:] + proxies[:k]:
                    m = open_loop(jar, p, rate, a)
                    results[load]["runs"][p["name"]].append(m)
                    print(f"{load}% ({rate} req/s) round {r + 1}: {p['name']:9s} p50 {m['p50_ms']:.2f} p99 "
                          f"{m['p99_ms']:.2f} p99.9 {m['p999_ms']:.2f} ms, answered {m['achieved_rate']:.0f} req/s, "
                          f"timer lag p99 {m['client_timer_lag_p99_ms']:.2f} ms (load {m['loadavg']})",
                          file=sys.stderr)
        notes.update(bench.stop_proxies(proxies))
        return sat, sat_runs
    sat, sat_runs = compare.with_bench(a, "latency", run)
    env["loadavg_after"] = open("/proc/loadavg").read().strip()
    compare.write_outputs(a, report(env, a, sat, sat_runs, results), {
        "env": env, "saturation_rps": sat, "saturation_runs": sat_runs, "results": results, "log_warnings": notes})


if __name__ == "__main__":
    main()
