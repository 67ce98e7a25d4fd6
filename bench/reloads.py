#!/usr/bin/env python3
"""What a reload costs the requests beside it, measured on the wire: the proxy's own time per request, in quiet
seconds and in seconds with reloads, with the reload path cold and warm.

    bench/run reloads                                   # 3 rounds of 40 s, warm-ups of 30 and 1500 reloads
    bench/run reloads --warm-reloads 30,300,1500 --rounds 2 --secs 60

One Grapevine (no gossip) in front of two of the nginx backends (on CPU 0); the proxy, this script's client and
tcpdump on either CPU, as in the reliability tests. (With the proxy alone on one CPU, its JIT compilers share that
CPU with its event loops, and the compilations a reload sets off run on into the quiet seconds after it.) The client
sends 500 small GETs a second, one at a time on one keep-alive connection, on an open-loop schedule (a request's
latency counts from when it was due). Seconds take turns in pairs, one quiet and one busy in a random order; a busy
second rewrites servers.conf (a server's weight, 1 and 2 in turn) and sends POST /reload twice, at 250 and 750 ms.
The client's latency includes its own and the machine's noise, so tcpdump records every packet on loopback between
the client, the proxy and the backends, and each request is split into the proxy's own time (request in to request
out, plus response in to response out), the backend's, and the whole on the wire. Each round starts a fresh proxy,
warms its data path (wrk's small GETs until its JIT compilers use under 3 % of a core, at most a minute), then its
reload path with --warm-reloads reloads (each setting in turn, in every round), then measures. The JIT compiler
threads' CPU over the measured seconds is given too.

Needs root for tcpdump on loopback; tcpdump, nginx and taskset are installed with apt-get when missing.
"""
import argparse
import bisect
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the shared set-up: backends, processes, environment, outputs)

RATE = 500
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


class Client:
    """One keep-alive connection; get() sends one GET and reads the whole response (Content-Length framed)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get(self):
        self.sock.sendall(REQUEST)
        buf = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("the proxy closed the connection")
            buf += chunk
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                continue
            if not buf.startswith(b"HTTP/1.1 200"):
                raise RuntimeError("unexpected response: " + buf[:80].decode(errors="replace"))
            length = 0
            for line in buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(buf) >= end + 4 + length:
                return


def reload(admin, servers, backends, n):
    """Rewrites servers.conf (write beside and rename, as editors do) and asks for a reload."""
    conf = {"backend_servers": [{"name": "b0", "ip": "127.0.0.1", "port": backends[0], "weight": 1 + n % 2},
                                {"name": "b1", "ip": "127.0.0.1", "port": backends[1]}]}
    with open(servers + ".new", "w") as f:
        json.dump(conf, f)
    os.replace(servers + ".new", servers)
    with socket.create_connection(("127.0.0.1", admin)) as s:
        s.sendall(b"POST /reload HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("POST /reload: " + answer[:200].decode(errors="replace"))


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1000 if values else float("nan")


def hops(pcap, proxy_port, backends):
    """Each request's four packets with data: client->proxy, proxy->backend, backend->proxy, proxy->client."""
    out = subprocess.run(["tcpdump", "-r", pcap, "-n", "-tt", "-q"], capture_output=True, text=True).stdout
    requests, current = [], None
    for line in out.splitlines():
        f = line.split()               # 1764777600.123456 IP 127.0.0.1.40000 > 127.0.0.1.8080: tcp 27
        if len(f) < 6 or f[-2] != "tcp" or f[-1] == "0":
            continue
        t, src, dst = float(f[0]), int(f[2].rsplit(".", 1)[1]), int(f[4].rstrip(":").rsplit(".", 1)[1])
        kind = ("in" if dst == proxy_port else "out" if src == proxy_port else
                "to_backend" if dst in backends else "from_backend" if src in backends else None)
        if kind == "in":
            current = {"in": t}
        elif kind and current is not None and kind not in current:
            current[kind] = t
            if kind == "out" and len(current) == 4:
                requests.append(current)
                current = None
    return requests


def own_time(r):
    """The proxy's own time of a request: request in to request out, plus response in to response out."""
    return (r["to_backend"] - r["in"]) + (r["out"] - r["from_backend"])


def one_round(bench, a, warm, n_round):
    work = bench.work
    conf_dir = os.path.join(work, f"conf-{n_round}-{warm}")   # its own directory: the proxy watches it
    os.makedirs(conf_dir)
    servers = os.path.join(conf_dir, "servers.conf")
    port, admin = compare.free_port(), compare.free_port()
    backends = bench.backends[:2]
    with open(servers, "w") as f:
        json.dump({"backend_servers": [{"name": f"b{i}", "ip": "127.0.0.1", "port": p}
                                       for i, p in enumerate(backends)]}, f)
    name = f"grapevine-{n_round}-{warm}"
    proc = bench.procs.start(name, ["./grapevine", "proxy", "--servers", servers, "--listen", f"127.0.0.1:{port}",
                                    "--admin", f"127.0.0.1:{admin}", "--no-gossip"], "0,1",
                             cwd=compare.REPO)
    try:
        if not compare.wait_listening(port, 120, proc):
            sys.exit("the proxy did not start:\n" + bench.procs.log_tail(name))
        # wrk's small GETs until the compilers are done with the data path (at most a minute)
        compare.jit_warm_up(compare.BY_NAME["get"], {"port": port, "proc": proc}, 4, 60, bench.files)
        client = Client(port)
        for i in range(warm):
            reload(admin, servers, backends, i)
        time.sleep(2)
        pcap = os.path.join(work, f"{name}.pcap")
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-w", pcap, "-s", "96",
                                 "-B", "16384", f"tcp port {port} or tcp port {backends[0]} or tcp port {backends[1]}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        jit0 = compare.compiler_ticks(proc.pid)
        seconds, latency, reloads = [], {"quiet": [], "busy": []}, [warm]
        errors, reload_starts = [], []

        def reload_now():
            try:
                reload_starts.append(time.time())
                reload(admin, servers, backends, reloads[0])
                reloads[0] += 1
            except Exception as e:            # noqa: BLE001 - reported below
                errors.append(str(e))
        period = 1.0 / RATE
        pairs = a.secs // 2
        for _ in range(pairs):
            kinds = ["quiet", "busy"]
            random.shuffle(kinds)
            for kind in kinds:
                start = time.perf_counter()
                seconds.append((time.time(), kind))
                due, reload_at = start, ([start + 0.25, start + 0.75] if kind == "busy" else [])
                while True:
                    now = time.perf_counter()
                    if now - start >= 1.0:
                        break
                    if reload_at and now >= reload_at[0]:
                        reload_at.pop(0)
                        threading.Thread(target=reload_now, daemon=True).start()
                    if now < due:
                        time.sleep(max(0.0, due - now - 0.0002))
                        continue
                    client.get()
                    latency[kind].append(time.perf_counter() - due)
                    due += period
        jit_ms = (compare.compiler_ticks(proc.pid) - jit0) * 1000 / os.sysconf("SC_CLK_TCK")
        time.sleep(0.5)
        dump.terminate()
        dump.wait(10)
    finally:
        bench.procs.stop([proc])
    if errors:
        sys.exit("a reload failed: " + errors[0])
    starts = [s[0] for s in seconds]
    by_kind = {"quiet": [], "busy": []}
    for r in hops(pcap, port, set(backends)):   # every request was sent after the first second began
        by_kind[seconds[bisect.bisect_right(starts, r["in"]) - 1][1]].append(r)
    result = {"warm_reloads": warm, "round": n_round, "reloads_measured": reloads[0] - warm, "jit_ms": jit_ms}
    # Each reload's worst request: the longest proxy's own time of the requests that came in within 20 ms of the
    # reload's start (a reload takes 5-13 ms cold), the median and p90 over the reloads that had any.
    ins = sorted((r["in"], own_time(r)) for r in by_kind["busy"])
    arrivals = [t for t, _ in ins]
    windows = [[o for _, o in ins[bisect.bisect_left(arrivals, t):bisect.bisect_left(arrivals, t + 0.02)]]
               for t in reload_starts]
    worst = sorted(max(w) for w in windows if w)
    result["reload_worst_p50"], result["reload_worst_p90"] = pct(worst, .5), pct(worst, .9)
    for kind, rs in by_kind.items():
        own = [own_time(r) for r in rs]
        backend = [r["from_backend"] - r["to_backend"] for r in rs]
        wire = [r["out"] - r["in"] for r in rs]
        result[kind] = {"client_requests": len(latency[kind]), "client_p50": pct(latency[kind], .5),
                        "client_p99": pct(latency[kind], .99), "requests_on_wire": len(rs),
                        "proxy_p50": pct(own, .5), "proxy_p99": pct(own, .99), "proxy_p999": pct(own, .999),
                        "backend_p99": pct(backend, .99), "wire_p99": pct(wire, .99)}
    os.remove(pcap)
    return result


def report(env, a, results):
    lines = ["## What a reload costs the requests beside it (`bench/run reloads`)", "",
             compare.header(env, a)[0],
             f"Load average before: {env['loadavg_before']}; after: {env.get('loadavg_after', '?')}. "
             f"{RATE} GETs/s on one keep-alive connection; {a.secs} s per round, quiet and busy seconds in turn (2 "
             "reloads in each busy second). Times in ms. \"proxy\" is the proxy's own time per request (request in to "
             "request out plus response in to response out, from tcpdump); busy ÷ quiet is its p99's ratio.", "",
             "| warm-up reloads | round | proxy p50 quiet / busy | proxy p99 quiet / busy | busy ÷ quiet | proxy "
             "p99.9 quiet / busy | worst beside a reload, median / p90 | on the wire p99 quiet / busy | client p99 "
             "quiet / busy (ratio) | JIT CPU while measured |",
             "|---:|---:|---|---|---:|---|---|---|---|---:|"]
    for r in results:
        q, b = r["quiet"], r["busy"]
        lines.append(f"| {r['warm_reloads']} | {r['round']} | {q['proxy_p50']:.3f} / {b['proxy_p50']:.3f} | "
                     f"{q['proxy_p99']:.3f} / {b['proxy_p99']:.3f} | {b['proxy_p99'] / q['proxy_p99']:.2f} | "
                     f"{q['proxy_p999']:.2f} / {b['proxy_p999']:.2f} | "
                     f"{r['reload_worst_p50']:.2f} / {r['reload_worst_p90']:.2f} | "
                     f"{q['wire_p99']:.2f} / {b['wire_p99']:.2f} | "
                     f"{q['client_p99']:.2f} / {b['client_p99']:.2f} ({b['client_p99'] / q['client_p99']:.2f}) | "
                     f"{r['jit_ms']:.0f} ms |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warm-reloads", default="30,1500",
                    help="comma-separated: reloads made before measuring, one round each per setting, in turn "
                         "(default %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every setting (default %(default)s)")
    ap.add_argument("--secs", type=int, default=40, help="measured seconds per round, half of them busy "
                                                          "(default %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configs and logs)")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--markdown", help="also write the report (Markdown) to this file")
    a = ap.parse_args()
    warms = [int(x) for x in a.warm_reloads.split(",")]
    if os.geteuid() != 0:
        sys.exit("reloads.py: tcpdump on loopback needs root")
    if os.cpu_count() < 2:
        sys.exit("reloads.py: needs at least 2 CPUs (the backends on CPU 0)")
    compare.ensure_tools(compare.TOOLS + (("tcpdump", "tcpdump"),))
    env = compare.describe_environment()

    def run(bench):
        results = []
        for n in range(1, a.rounds + 1):
            for warm in warms:
                r = one_round(bench, a, warm, n)
                print(f"round {n}, {warm} warm-up reloads: proxy p99 quiet {r['quiet']['proxy_p99']:.3f} ms, busy "
                      f"{r['busy']['proxy_p99']:.3f} ms; worst beside a reload {r['reload_worst_p50']:.2f} ms "
                      f"(median); JIT {r['jit_ms']:.0f} ms", file=sys.stderr)
                results.append(r)
        return results
    results = compare.with_bench(a, "reloads.py", run)
    env["loadavg_after"] = open("/proc/loadavg").read().strip()
    compare.write_outputs(a, report(env, a, results), {"environment": env, "results": results})


if __name__ == "__main__":
    main()
