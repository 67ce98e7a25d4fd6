#!/usr/bin/env python3
"""Bytes allocated per request on Grapevine's event loop, and where: a figure that CPU contention leaves alone.

    bench/run alloc                                   # h1 and h2, 100,000 requests warm-up, 2 x 100,000 measured
    bench/run alloc --scenarios h2 --requests 300000 --rounds 3
    bench/run alloc --scenarios h1-close              # a new connection per request: the cost of accepting one
    bench/run alloc --top 20                          # longer lists of allocating classes, sites, hot methods

Wall-clock figures (req/s, µs/req) move with whatever else runs on the machine; the bytes a request makes the
event loop allocate do not: they depend on the code (and on what the JIT compiled: hence the long warm-up), not on
how fast it ran. This measures them, with the set-up of compare.py: three nginx backends and the load generator on
CPU 0, Grapevine alone on CPU 1, started by the launcher with its default JVM options plus a JDK Flight Recorder
recording of three events:

- `jdk.ThreadAllocationStatistics`, every second: each thread's allocated bytes since it started (exact, from the
  thread's allocation counter). A measured round is a fixed number of requests sent by h2load with a quiet second
  before and after it; bytes/request = the growth of the `grapevine-io` threads' counters from the last sample
  before the round to the first one after it, divided by the requests. The idle event loop's own allocation
  (timers) over those seconds is included; it is a few bytes per request at these counts.
- `jdk.ObjectAllocationSample` (up to 2,000 a second, weighted by the bytes each stands for): what the round
  allocated on the event loop by class, by the first Grapevine frame of the stack, and by the allocating frame.
- `jdk.ExecutionSample` every 10 ms: the event loop's hottest methods during the round, as shares of its samples
  (the shape of the CPU profile; the count of samples per request moves with contention, the shares do not).

Scenarios: `h1` (HTTP/1.1 keep-alive, `h2load --h1 -c10`), `h1-close` (HTTP/1.1 with `Connection: close`: the
proxy closes after each response and h2load connects again, so a request's bytes are its connection's: accept,
pipeline, close), `h2` (HTTP/2 cleartext with prior knowledge, `h2load -c10 -m20`, as compare.py's h2), `h2-tls`
(HTTP/2 over TLS, ALPN). Every request is a small GET of `/`;
each scenario gets a fresh proxy. Missing tools (nginx-light, nghttp2-client) are installed with apt-get; the jars
are built when missing or older than the sources. Set JAVA_HOME to run Grapevine on another JDK (its jfr tool
reads the recording). The recording is kept in bench/results/ (git-ignored).
"""
import argparse
import collections
import datetime
import json
import os
import re
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402 - the bench's shared set-up

IO_THREADS = re.compile(r"^grapevine-io")
SCENARIOS = {
    "h1": ("HTTP/1.1 keep-alive, h2load --h1 -c10", ["--h1", "-c10", "-m1"], False),
    # The proxy answers `Connection: close` by closing after the response, and h2load opens a new connection
    # for the next request: bytes per request are bytes per accepted connection.
    "h1-close": ("HTTP/1.1, a new connection per request, h2load --h1 -c10 -H 'Connection: close'",
                 ["--h1", "-c10", "-m1", "-H", "Connection: close"], False),
    "h2": ("HTTP/2 cleartext (prior knowledge), h2load -c10 -m20", ["-c10", "-m20"], False),
    "h2-tls": ("HTTP/2 over TLS (ALPN h2), h2load -c10 -m20", ["-c10", "-m20"], True),
}
SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<configuration version="2.0" label="grapevine-alloc" description="bench/alloc.py: allocation per request">
  <event name="jdk.ThreadAllocationStatistics"><setting name="enabled">true</setting>
    <setting name="period">1 s</setting></event>
  <event name="jdk.ObjectAllocationSample"><setting name="enabled">true</setting>
    <setting name="throttle">2000/s</setting><setting name="stackTrace">true</setting></event>
  <event name="jdk.ExecutionSample"><setting name="enabled">true</setting>
    <setting name="period">10 ms</setting></event>
</configuration>
"""


def java_tool(name):
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", name)):
        return os.path.join(home, "bin", name)
    java = os.path.realpath(subprocess.run(["bash", "-c", "command -v java"], capture_output=True,
                                           text=True).stdout.strip() or "java")
    tool = os.path.join(os.path.dirname(java), name)
    if not os.path.exists(tool):
        sys.exit(f"alloc: no {name} beside {java}: a JDK, not a JRE, is needed")
    return tool


def h2load(scenario, proxy, requests):
    """Sends `requests` GETs with h2load; returns how many were answered 2xx."""
    _, flags, tls = SCENARIOS[scenario]
    url = f"https://127.0.0.1:{proxy['tls_port']}/" if tls else f"http://127.0.0.1:{proxy['h2c_port']}/"
    argv = ["taskset", "-c", str(compare.LOAD_CPU), "h2load", "-t1", f"-n{requests}"] + flags + [url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    codes = re.search(r"status codes: (\d+) 2xx", out)
    if not codes or int(codes.group(1)) != requests:
        raise RuntimeError(f"h2load: not every request was answered 2xx:\n{out}")
    return requests


def jfr_events(jfr, path, name, depth):
    out = subprocess.run([jfr, "print", "--json", "--stack-depth", str(depth), "--events", name, path],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"alloc: jfr print failed: {out.stderr.strip()}")
    return json.loads(out.stdout)["recording"]["events"]


def when(e):
    """An event's start as seconds since the epoch (jfr prints it as an ISO 8601 date with an offset)."""
    s = e["values"]["startTime"]
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", s)
    base = datetime.datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    return base.timestamp() + (float("0." + m.group(2)) if m.group(2) else 0.0)


def thread(e, key):
    t = e["values"].get(key) or {}
    return t.get("javaName") or t.get("osName") or "?"


def frames(e):
    st = e["values"].get("stackTrace") or {}
    return [f["method"]["type"]["name"].replace("/", ".") + "." + f["method"]["name"] + ":" + str(f.get("lineNumber"))
            for f in st.get("frames") or []]


def short(frame):
    return re.sub(r"^io\.(grapevine\.proxy|netty)\.", "", frame)


def allocated_between(stats, start, end):
    """Bytes the event-loop threads allocated between the last sample before start and the first after end."""
    per = collections.defaultdict(list)
    for e in stats:
        if IO_THREADS.search(thread(e, "thread")):
            per[thread(e, "thread")].append((when(e), e["values"]["allocated"]))
    total = 0
    for samples in per.values():
        samples.sort()
        before = [v for t, v in samples if t <= start]
        after = [v for t, v in samples if t >= end]
        if not before or not after:
            raise RuntimeError("alloc: no allocation sample on both sides of a round (a longer --gap?)")
        total += after[0] - before[-1]
    return total


def report_round(jfr, path, rnd, requests, top):
    """The round's bytes/request, and the shape of its allocation and CPU samples on the event loop."""
    start, end = rnd
    stats = jfr_events(jfr, path, "jdk.ThreadAllocationStatistics", 1)
    per_request = allocated_between(stats, start, end) / requests
    lines = [f"bytes allocated per request on the event loop: {per_request:.0f}"]
    samples = [e for e in jfr_events(jfr, path, "jdk.ObjectAllocationSample", 64)
               if IO_THREADS.search(thread(e, "eventThread")) and start <= when(e) <= end]
    weight = sum(e["values"].get("weight", 0) for e in samples) or 1
    by_class, by_site, by_frame = collections.Counter(), collections.Counter(), collections.Counter()
    for e in samples:
        w = e["values"].get("weight", 0)
        by_class[(e["values"].get("objectClass") or {}).get("name", "?").replace("/", ".")] += w
        s = frames(e)
        by_site[next((f for f in s if f.startswith("io.grapevine.")), s[0] if s else "?")] += w
        by_frame[s[0] if s else "?"] += w
    for title, counter in (("by class", by_class), ("by first Grapevine frame", by_site),
                           ("by allocating frame", by_frame)):
        lines.append(f"  sampled allocation {title} (bytes/request, share):")
        for k, w in counter.most_common(top):
            lines.append(f"    {per_request * w / weight:7.0f}  {100.0 * w / weight:5.1f}%  {short(k)}")
    cpu = [frames(e) for e in jfr_events(jfr, path, "jdk.ExecutionSample", 64)
           if IO_THREADS.search(thread(e, "sampledThread")) and start <= when(e) <= end]
    cpu = [s for s in cpu if s]
    lines.append(f"  execution samples on the event loop: {len(cpu)} ({1e3 * len(cpu) / requests:.2f} per 1000 "
                 f"requests); hottest methods (self):")
    for f, k in collections.Counter(re.sub(r":\d+$|:None$", "", s[0]) for s in cpu).most_common(top):
        lines.append(f"    {100.0 * k / len(cpu):5.1f}%  {short(f)}")
    return per_request, lines


def run_scenario(bench, a, scenario, jfr):
    results = os.path.join(HERE, "results")
    os.makedirs(results, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    recording = os.path.join(results, f"alloc-{scenario}-{stamp}.jfr")
    settings = os.path.join(bench.work, "alloc.jfc")
    with open(settings, "w") as f:
        f.write(SETTINGS)
    os.environ["GRAPEVINE_JVM_EXTRA_OPTS"] = (a.extra_opts + " " if a.extra_opts else "") + (
        f"-XX:StartFlightRecording=name=alloc,settings={settings},filename={recording}")
    try:
        proxy = bench.start_proxies(scenario)[0]
    finally:
        del os.environ["GRAPEVINE_JVM_EXTRA_OPTS"]
    print(f"{scenario}: warm-up, {a.warmup} requests", file=sys.stderr)
    h2load(scenario, proxy, a.warmup)
    rounds = []
    for r in range(a.rounds):
        time.sleep(a.gap)
        start = time.time()
        h2load(scenario, proxy, a.requests)
        end = time.time()
        rounds.append((start, end))
        print(f"{scenario}: round {r + 1}, {a.requests} requests in {end - start:.1f} s", file=sys.stderr)
    time.sleep(a.gap)
    pid = next(int(p) for p in compare.group_pids(proxy["proc"].pid)
               if open(f"/proc/{p}/comm").read().strip() == "java")
    subprocess.run([java_tool("jcmd"), str(pid), "JFR.dump", "name=alloc", f"filename={recording}"], check=True,
                   stdout=subprocess.DEVNULL)
    bench.stop_proxies([proxy])
    out = [f"### {scenario}: {SCENARIOS[scenario][0]}", ""]
    figures = []
    for r, rnd in enumerate(rounds):
        per_request, lines = report_round(java_tool("jfr"), recording, rnd, a.requests, a.top)
        figures.append(per_request)
        out += [f"round {r + 1}: " + lines[0]] + (lines[1:] if r == len(rounds) - 1 else []) + [""]
    out.insert(2, f"bytes/request on the event loop, by round: {', '.join(f'{x:.0f}' for x in figures)} "
                  f"({a.requests} requests each; recording {os.path.relpath(recording, os.path.dirname(HERE))})\n")
    return figures, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="h1,h2", help=f"comma-separated, of {', '.join(SCENARIOS)} (default %(default)s)")
    ap.add_argument("--requests", type=int, default=100_000, help="requests per measured round (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=2, help="measured rounds per scenario (default %(default)s)")
    ap.add_argument("--warmup", type=int, default=100_000,
                    help="requests before the first round, for the JIT (default %(default)s)")
    ap.add_argument("--gap", type=float, default=1.5,
                    help="quiet seconds before and after each round (default %(default)s; the statistics come every 1 s)")
    ap.add_argument("--top", type=int, default=12, help="lines per list (default %(default)s)")
    ap.add_argument("--extra-opts", default="", help="more JVM options for Grapevine (GRAPEVINE_JVM_EXTRA_OPTS)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configs and logs)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--markdown", help="also write the report (Markdown) to this file")
    a = ap.parse_args()
    names = a.scenarios.split(",")
    for n in names:
        if n not in SCENARIOS:
            sys.exit(f"alloc: unknown scenario '{n}' (one of {', '.join(SCENARIOS)})")
    compare.ensure_tools((("nginx", "nginx-light"), ("h2load", "nghttp2-client"), ("openssl", "openssl"),
                          ("taskset", "util-linux")))
    # compare.py's set-up, Grapevine alone, started by the launcher with its defaults.
    setup = types.SimpleNamespace(keep=a.keep, proxies=["grapevine"], variants={}, grapevine_conf="{}",
                                  grapevine_cmd=compare.GRAPEVINE_CMD)
    version = subprocess.run([java_tool("java"), "-version"], capture_output=True, text=True).stderr.splitlines()
    commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    when_ = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = [f"## Bytes allocated per request on the event loop ({when_}, {commit}{' + changes' if dirty else ''}, "
            f"{version[1] if len(version) > 1 else '?'}; load {open('/proc/loadavg').read().split()[0]})", ""]
    document = {"commit": commit, "dirty": bool(dirty), "java": version, "date": when_, "figures": {}}

    def run(bench):
        for n in names:
            figures, lines = run_scenario(bench, a, n, java_tool("jfr"))
            document["figures"][n] = figures
            text.extend(lines)
    compare.with_bench(setup, "alloc", run)
    compare.write_outputs(a, "\n".join(text), document)


if __name__ == "__main__":
    main()
