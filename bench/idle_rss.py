#!/usr/bin/env python3
"""Memory per idle keep-alive client connection: Grapevine, HAProxy and nginx, 10,000 connections each.

    bench/run idle-rss                         # 10,000 connections per proxy
    bench/run idle-rss --connections 2000 --proxies grapevine

For each proxy in turn (started as compare.py starts them, with the connection limits raised to hold them
all and idle timeouts of 5 minutes, then loaded with wrk for a few seconds so that its code is compiled):
N connections are opened, each sends one GET / and reads the answer,
then all are closed, so that every code path and buffer pool has run once; then the resident memory of the
proxy's process group is read (VmRSS summed over its processes, /proc), N connections are opened again in
the same way and kept idle, and the RSS is read again after a few seconds (the first round's growth from
the fresh start is reported too). The difference over N is the cost
of one idle keep-alive connection; the target for Grapevine is 4 KiB or less. For Grapevine the live heap is
read too (jcmd GC.run, then GC.heap_info: objects that survive a full collection), which RSS cannot show
when the heap had room already. Kernel socket memory is not in any process's RSS, so not in these figures.
"""
import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import time

import compare

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: idle-rss\r\n\r\n"


def raise_fd_limit(n):
    """Room for n sockets in this process and the proxies it starts (they inherit the limit)."""
    want = n + 4096
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, hard), max(want, hard)))
    except (ValueError, OSError):
        if hard < want:
            sys.exit(f"idle-rss: {n} connections need {want} file descriptors; the limit is {hard} "
                     f"(raise it with ulimit -Hn, as root)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def read_answer(s):
    """Reads one HTTP/1.1 response with a Content-Length body; returns its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("closed before the answer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    need = int(m.group(1)) if m else 0
    while len(body) < need:
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("closed in the body")
        body += chunk
    return int(head.split(b" ", 2)[1])


def open_idle(port, n):
    """n connections, each after one answered GET; the list of sockets and how many failed."""
    socks, failed = [], 0
    for _ in range(n):
        s = socket.socket()
        s.settimeout(10)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(REQUEST)
            if read_answer(s) != 200:
                failed += 1
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    return socks, failed


def close_all(socks):
    for s in socks:
        s.close()


def group_rss_kib(pgid):
    total = 0
    for pid in compare.group_pids(pgid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


def live_heap_kib(pid):
    """Heap in use after a full collection (jcmd), for a JVM; None when jcmd cannot attach."""
    try:
        if subprocess.run(["jcmd", str(pid), "GC.run"], capture_output=True, timeout=60).returncode != 0:
            return None
        out = subprocess.run(["jcmd", str(pid), "GC.heap_info"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    used = [int(x) for x in re.findall(r"total \d+K, used (\d+)K", out)]
    return sum(used) if used else None


def measure(proxy, a):
    pgid = proxy["proc"].pid
    java = proxy["name"].startswith("grapevine")
    rss_fresh = group_rss_kib(pgid)
    warm, failed_warm = open_idle(proxy["port"], a.connections)
    time.sleep(a.settle)
    rss_first = group_rss_kib(pgid)
    close_all(warm)
    time.sleep(a.settle)
    heap0 = live_heap_kib(pgid) if java else None
    rss0 = group_rss_kib(pgid)
    start = time.time()
    socks, failed = open_idle(proxy["port"], a.connections)
    opened_in = time.time() - start
    time.sleep(a.settle)
    rss1 = group_rss_kib(pgid)
    heap1 = live_heap_kib(pgid) if java else None
    held = len(socks)
    # Every connection must still be open: the proxy closing idle ones would make the figure too low.
    still_open = sum(1 for s in socks if not closed_by_peer(s))
    close_all(socks)
    time.sleep(a.settle)
    rss2 = group_rss_kib(pgid)
    r = {
        "connections": held, "failed": failed + failed_warm, "still_open": still_open,
        "opened_in_s": round(opened_in, 2),
        "rss_before_kib": rss0, "rss_with_idle_kib": rss1, "rss_after_close_kib": rss2,
        "rss_per_connection_kib": (rss1 - rss0) / held if held else float("nan"),
        "rss_fresh_kib": rss_fresh, "rss_first_round_kib": rss_first,
        "rss_per_connection_first_round_kib": (rss_first - rss_fresh) / len(warm) if warm else float("nan"),
    }
    if heap0 is not None and heap1 is not None:
        r["live_heap_before_kib"], r["live_heap_with_idle_kib"] = heap0, heap1
        r["live_heap_per_connection_kib"] = (heap1 - heap0) / held if held else float("nan")
    return r


def closed_by_peer(s):
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def report(env, a, results):
    lines = ["## Memory per idle keep-alive client connection", "",
             f"Measured {env['date']}, commit `{env['commit']}`; {env['java']}; kernel {env['kernel']}; "
             f"HAProxy {env['haproxy']}, nginx {env['nginx']}. {a.connections} connections per proxy, each after one "
             f"GET / answered; RSS of the proxy's process group before and {a.settle} s after.", "",
             "| proxy | RSS before MiB | RSS with the idle connections MiB | per connection KiB | live heap per "
             "connection KiB | first round: per connection KiB | RSS after closing them MiB | connections held "
             "(still open) | failed |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        heap = r.get("live_heap_per_connection_kib")
        lines.append(f"| {name} | {r['rss_before_kib'] / 1024:.1f} | {r['rss_with_idle_kib'] / 1024:.1f} | "
                     f"{r['rss_per_connection_kib']:.2f} | {'-' if heap is None else f'{heap:.2f}'} | "
                     f"{r['rss_per_connection_first_round_kib']:.2f} | {r['rss_after_close_kib'] / 1024:.1f} | {r['connections']} ({r['still_open']}) | "
                     f"{r['failed']} |")
    g = results.get("grapevine")
    if g:
        verdict = "meets" if g["rss_per_connection_kib"] <= 4 else "misses"
        lines += ["", "The first round starts from the freshly started proxy: it includes what grows once (code "
                      "compiled, pools and caches filled). The second round, measured after the first was closed, "
                      "is what one more idle connection costs in steady state; that is the figure of the target.",
                  "", f"Grapevine {verdict} the target of 4 KiB per idle connection "
                      f"({g['rss_per_connection_kib']:.2f} KiB of RSS)."]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=10000, help="idle connections per proxy (default %(default)s)")
    ap.add_argument("--settle", type=float, default=3, help="seconds before each reading (default %(default)s)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of wrk load first, per proxy (default %(default)s)")
    ap.add_argument("--jit-warmup", type=int, default=8, help="extra wrk seconds for Grapevine (default %(default)s)")
    compare.add_common_options(ap)
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--markdown", help="write the table to this file")
    a = ap.parse_args()
    compare.check_common_options(a, "idle-rss")
    raise_fd_limit(a.connections)
    a.maxconn = a.connections + 1000
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if "haproxy" in a.proxies and 2 * a.maxconn + 64 > hard:
        # HAProxy reserves two descriptors per connection of its maxconn and refuses to start without them.
        sys.exit(f"idle-rss: HAProxy needs {2 * a.maxconn + 64} file descriptors for maxconn {a.maxconn}; the hard "
                 f"limit here is {hard} and cannot be raised: use --connections {(hard - 64) // 2 - 1000} or fewer, "
                 f"or leave HAProxy out (--proxies grapevine,nginx)")
    a.idle_s = 300
    env = compare.describe_environment()
    results, notes = {}, {}

    def run(bench):
        proxies = bench.start_proxies("idle-rss")
        for p in proxies:
            # Requests first (compare.py's get scenario), so that code compiled under load does not count.
            secs = a.warmup + (a.jit_warmup if p["name"].startswith("grapevine") else 0)
            compare.run_load(compare.BY_NAME["get"], p, secs, bench.files)
            results[p["name"]] = r = measure(p, a)
            print(f"{p['name']}: {r['rss_per_connection_kib']:.2f} KiB RSS per idle connection "
                  f"({r['connections']} held, {r['failed']} failed)", file=sys.stderr)
        notes.update(bench.stop_proxies(proxies))
    compare.with_bench(a, "idle-rss", run)
    compare.write_outputs(a, report(env, a, results), {"env": env, "results": results, "log_warnings": notes})


if __name__ == "__main__":
    main()
