#!/usr/bin/env python3
"""The first seconds after start: req/s, CPU per request and p99, second by second, of a freshly started proxy.

    bench/run coldstart                       # every proxy, 3 fresh starts each, the first 10 s, then steady state
    bench/run coldstart --proxies grapevine --starts 5 --first 15
    bench/run coldstart --variant parallel GRAPEVINE_JVM_OPTS="-XX:+UseParallelGC ..."

The throughput scenarios (bench/run compare) warm every proxy up before they measure, so they say what a
long-running proxy does. A proxy that has just started (a deploy, a crash, a scale-out) answers its first
requests before the JIT has compiled its hot path and while start-up garbage is still in the young generation.
This command shows those seconds separately: for each proxy and each fresh start, the time from exec to an
answered request, then wrk's small keep-alive GET (50 connections, scenario `get` of compare.py) for --first
one-second runs in a row, then --steady seconds after --settle more seconds of load. The table gives the
medians over the starts, each second's figures as a ratio to the same proxy's steady state, and Grapevine's
second-by-second ratio to HAProxy's.

Same layout as compare.py: backends and wrk on CPU 0, the proxy under test alone on CPU 1 (its JIT and GC
threads too), one proxy at a time. Only loopback and free ports; everything started is stopped on exit.
"""
import argparse
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the shared set-up: backends, proxies, load generators)


def first_answer(proxy, deadline_s=120):
    """Seconds until the proxy answers GET / with a backend's 200 (polled every 20 ms)."""
    url = f"http://127.0.0.1:{proxy['port']}/"
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200 and r.read().startswith(b"hello from backend"):
                    return
        except Exception:                    # noqa: BLE001 - not up yet
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{proxy['name']} did not answer GET / within {deadline_s} s")


def one_start(bench, name, a, n):
    """Starts one proxy afresh and measures its first seconds, then its steady state."""
    scenario = compare.BY_NAME["get"]
    a_one = argparse.Namespace(**vars(a))
    a_one.proxies = [name]
    t0 = time.time()
    proxy = compare.start_proxies(a_one, bench.procs, bench.work, bench.backends, f"start{n}")[0]
    first_answer(proxy)
    ready_s = time.time() - t0
    seconds = [compare.measure(scenario, proxy, 1, bench.files) for _ in range(a.first)]
    compare.run_load(scenario, proxy, a.settle, bench.files)
    steady = compare.measure(scenario, proxy, a.steady, bench.files)
    bench.stop_proxies([proxy])
    for r in seconds + [steady]:
        r.pop("raw", None)
    return {"ready_s": ready_s, "seconds": seconds, "steady": steady}


def report(env, a, runs):
    lines = ["## The first seconds after start", "",
             f"Measured {env['date']}, commit `{env['commit']}`; {env['java']} (JVM options: {env['jvm_opts']}); "
             f"{env['nproc']} CPUs, {env['cpu']}; kernel {env['kernel']}; HAProxy {env['haproxy']}, nginx "
             f"{env['nginx']}, wrk {env['wrk']}.",
             f"Load average before: {env['loadavg_before']}; after: {env.get('loadavg_after', '?')}. "
             f"{a.starts} fresh starts per proxy, medians; wrk `get` (small GET, 50 keep-alive connections) in "
             f"1 s runs from the first answered request; steady state: {a.steady} s after {a.settle} s more of "
             f"load.", ""]
    head = "| second |" + "".join(f" {p} req/s | CPU µs/req | p99 ms |" for p in runs)
    rule = "|---|" + "---:|---:|---:|" * len(runs)
    if "grapevine" in runs and "haproxy" in runs:
        head += " Grapevine ÷ HAProxy: req/s | p99 |"
        rule += "---:|---:|"
    lines += [head, rule]
    med = {p: {"ready_s": compare.median([s["ready_s"] for s in starts]),
               "seconds": [compare.medians([s["seconds"][i] for s in starts]) for i in range(a.first)],
               "steady": compare.medians([s["steady"] for s in starts])} for p, starts in runs.items()}
    rows = [(f"{i + 1}", {p: m["seconds"][i] for p, m in med.items()}) for i in range(a.first)]
    rows.append(("steady", {p: m["steady"] for p, m in med.items()}))
    for label, per in rows:
        row = f"| {label} |" + "".join(f" {m['rps']:.0f} | {m['cpu_us_per_req']:.1f} | {compare.fmt_ms(m['p99_ms'])} |"
                                       for m in per.values())
        if "grapevine" in per and "haproxy" in per:
            g, h = per["grapevine"], per["haproxy"]
            row += f" {compare.ratio(g['rps'], h['rps'])} | {compare.ratio(g['p99_ms'], h['p99_ms'])} |"
        lines.append(row)
    lines += ["", "| proxy | exec to first answer | first second ÷ steady: req/s | p99 | "
                  f"first {a.first} s ÷ steady: req/s | errors in the first {a.first} s |",
              "|---|---:|---:|---:|---:|---:|"]
    for p, m in med.items():
        first_rps = sum(s["rps"] for s in m["seconds"]) / a.first
        errors = sum(sum(s["seconds"][i]["errors"] for i in range(a.first)) for s in runs[p])
        lines.append(f"| {p} | {m['ready_s']:.2f} s | {compare.ratio(m['seconds'][0]['rps'], m['steady']['rps'])} | "
                     f"{compare.ratio(m['seconds'][0]['p99_ms'], m['steady']['p99_ms'])} | "
                     f"{compare.ratio(first_rps, m['steady']['rps'])} | {errors} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--starts", type=int, default=3, help="fresh starts per proxy (default %(default)s)")
    ap.add_argument("--first", type=int, default=10, help="one-second runs right after start (default %(default)s)")
    ap.add_argument("--settle", type=int, default=20, help="seconds of load before the steady run (default %(default)s)")
    ap.add_argument("--steady", type=int, default=5, help="seconds of the steady-state run (default %(default)s)")
    compare.add_common_options(ap)
    ap.add_argument("--json", help="also write every run to this file")
    ap.add_argument("--markdown", help="also write the report (Markdown) to this file")
    a = ap.parse_args()
    if a.starts < 1 or a.first < 1 or a.steady < 1 or a.settle < 0:
        sys.exit("coldstart.py: --starts, --first and --steady must be at least 1, --settle at least 0")
    compare.check_common_options(a, "coldstart.py")
    # On first use the launcher builds the jars, and records the proxy's class data sharing archive for the JDK and
    # JVM options at hand: neither must count as start-up time, so each Grapevine's environment starts it once here.
    for p in a.proxies:
        if p.startswith("grapevine"):
            env = {**os.environ, **{k: v for k, v in a.variants.get(p, {}).items() if k != "CONF"}}
            compare.subprocess.run(["./grapevine", "proxy", "--version"], cwd=compare.REPO, check=True, env=env,
                                   stdout=compare.subprocess.DEVNULL)
    env = compare.describe_environment()
    runs = {p: [] for p in a.proxies}

    def run(bench):
        for n in range(a.starts):
            for p in a.proxies:
                r = one_start(bench, p, a, n)
                runs[p].append(r)
                print(f"start {n + 1}: {p:9s} ready {r['ready_s']:.2f} s, second 1 {r['seconds'][0]['rps']:.0f} req/s "
                      f"p99 {compare.fmt_ms(r['seconds'][0]['p99_ms'])} ms, steady {r['steady']['rps']:.0f} req/s",
                      file=sys.stderr)
    compare.with_bench(a, "coldstart.py", run)
    env["loadavg_after"] = open("/proc/loadavg").read().strip()
    compare.write_outputs(a, report(env, a, runs),
                          {"env": env, "args": {k: v for k, v in vars(a).items() if k != "certs"}, "runs": runs})


if __name__ == "__main__":
    main()
