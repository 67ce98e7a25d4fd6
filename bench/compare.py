#!/usr/bin/env python3
"""Grapevine, HAProxy and nginx as reverse proxies, measured side by side in one run.

    bench/compare.py                         # default scenarios, 3 rounds of 5 s each
    bench/compare.py --scenarios get,close --secs 10 --rounds 5
    bench/compare.py --proxies grapevine --scenarios get --secs 60 --rounds 1   # e.g. under a profiler
    JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 bench/compare.py
    bench/compare.py --variant jdk25 JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64   # a second Grapevine
    bench/compare.py --list                  # the scenarios

Layout on a 2-core machine: three nginx backends and the load generator (wrk) share CPU 0; each proxy
runs alone on CPU 1 and only one proxy carries load at a time. Every proxy keeps its backend
connections alive (HAProxy nbthread 1 + http-reuse always; nginx worker_processes 1 + upstream
keepalive; Grapevine with its defaults: one event loop per available core, so one here).

For each scenario, every proxy is warmed up, then the proxies take turns (the order rotates every
round) and the medians over the rounds are reported: req/s, CPU microseconds per request (utime+stime
of the proxy's whole process group, from /proc), the proxy's CPU use, p50/p99 latency (wrk), errors,
and the ratios Grapevine/HAProxy and Grapevine/nginx. "cpu1 other" is the share of CPU 1 that went to
anything but the proxy under test during the run: other work on a shared machine shows up there.

Grapevine is started with the launcher (./grapevine proxy ... --no-gossip), so GRAPEVINE_JVM_OPTS and
JAVA_HOME in the environment reach it unchanged. Every process started here runs in its own process
group and is stopped (TERM, then KILL) on exit, Ctrl-C included. Only loopback and free ports are used.
Missing tools (nginx-light, haproxy, wrk) are installed with apt-get.
"""
import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOAD_CPU, PROXY_CPU = 0, 1
PROXIES = ("grapevine", "haproxy", "nginx")
GRAPEVINE_CMD = ("./grapevine proxy --servers {servers} --listen 127.0.0.1:{port} "
                 "--admin 127.0.0.1:{admin} --no-gossip")
BODY_SIZE = 64 * 1024
FILE_SIZE = 1024 * 1024


# ---------------------------------------------------------------- scenarios

class Scenario:
    def __init__(self, name, title, conns, path="/", lua=None, headers=(), default=True):
        self.name, self.title, self.conns, self.path = name, title, conns, path
        self.lua, self.headers, self.default = lua, headers, default


PIPELINE_DEPTH = 16
SCENARIOS = [
    Scenario("get", "small GET, keep-alive, 50 connections", 50),
    Scenario("pipeline", f"small GET, {PIPELINE_DEPTH} pipelined per write, 50 connections", 50,
             lua="pipeline"),
    Scenario("conns", "small GET, keep-alive, 400 connections", 400),
    Scenario("download", "1 MiB response, keep-alive, 10 connections", 10, path="/1m.bin"),
    Scenario("upload", "64 KiB POST body, keep-alive, 20 connections", 20, path="/upload", lua="upload"),
    Scenario("close", "small GET, new connection per request (Connection: close), 50 connections", 50,
             headers=("Connection: close",)),
]
BY_NAME = {s.name: s for s in SCENARIOS}

LUA = {
    "pipeline": """
init = function(args)
  local batch = {}
  for i = 1, %d do batch[i] = wrk.format("GET", "/") end
  pipelined = table.concat(batch)
end
request = function() return pipelined end
""" % PIPELINE_DEPTH,
    "upload": """
wrk.method = "POST"
wrk.body = string.rep("u", %d)
wrk.headers["Content-Type"] = "application/octet-stream"
""" % BODY_SIZE,
}


# ---------------------------------------------------------------- processes

class Processes:
    """Every child in its own session (so its own process group); all of them stopped on exit."""

    def __init__(self, logdir):
        self.logdir, self.children = logdir, []

    def start(self, name, argv, cpu, cwd=None, env=None):
        log = open(os.path.join(self.logdir, f"{name}.log"), "wb")
        p = subprocess.Popen(["taskset", "-c", str(cpu)] + argv, cwd=cwd, env=env, stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        p.bench_name = name
        self.children.append(p)
        return p

    def log_tail(self, name, n=3000):
        try:
            with open(os.path.join(self.logdir, f"{name}.log"), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, which, grace=15.0):
        """TERM each process group, wait up to grace seconds, then KILL whatever is left of the groups."""
        live = [p for p in which if p.poll() is None]
        for p in live:
            _signal_group(p.pid, signal.SIGTERM)
        deadline = time.time() + grace
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for p in which:                     # the group too: nginx workers outlive a killed master
            _signal_group(p.pid, signal.SIGKILL)
            try:
                p.wait(2)
            except subprocess.TimeoutExpired:
                pass

    def stop_all(self, grace=15.0):
        self.stop(self.children, grace)


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_cpu_ticks(pgid):
    """(utime, stime) in clock ticks, summed over every live process whose process group is pgid."""
    user = system = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the comm field: state(0) ppid(1) pgrp(2) ... utime(11) stime(12)
        if int(fields[2]) == pgid:
            user += int(fields[11])
            system += int(fields[12])
    return user, system


def cpu_times(cpu):
    """(busy, total) jiffies of one CPU from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                idle = v[3] + v[4]
                return sum(v) - idle, sum(v)
    return 0, 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, secs, proc=None):
    end = time.time() + secs
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def ensure_tools():
    missing = [pkg for tool, pkg in (("nginx", "nginx-light"), ("haproxy", "haproxy"), ("wrk", "wrk"),
                                     ("taskset", "util-linux")) if not shutil.which(tool)]
    if missing:
        print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr)
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                       + " ".join(missing), shell=True, stdout=subprocess.DEVNULL)
    for tool in ("nginx", "haproxy", "wrk", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"compare.py: {tool} is missing and could not be installed")


# ---------------------------------------------------------------- configuration files

def nginx_common(work, tag):
    t = os.path.join(work, f"tmp-{tag}")
    os.makedirs(t, exist_ok=True)
    return (f"daemon off; master_process on; worker_processes 1; pid {work}/{tag}.pid;\n"
            f"error_log {work}/{tag}.error.log warn;\n"
            f"events {{ worker_connections 8192; }}\n"
            f"http {{\n  access_log off;\n"
            f"  client_body_temp_path {t}/body; proxy_temp_path {t}/proxy; fastcgi_temp_path {t}/fcgi;\n"
            f"  uwsgi_temp_path {t}/uwsgi; scgi_temp_path {t}/scgi;\n")


def backend_conf(work, i, port, docroot):
    return nginx_common(work, f"backend{i}") + f"""
  keepalive_requests 1000000; keepalive_timeout 300s;
  sendfile on; tcp_nopush on; client_max_body_size 4m;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {docroot};
    location = / {{ default_type text/plain; return 200 "hello from backend {i}\\n"; }}
    location = /upload {{ default_type text/plain; return 200 "ok {i}\\n"; }}
    location / {{ }}
  }}
}}
"""


def haproxy_conf(port, backends):
    servers = "".join(f"  server s{i} 127.0.0.1:{p} check\n" for i, p in enumerate(backends))
    return f"""global
  nbthread 1
  maxconn 8000
defaults
  mode http
  maxconn 8000
  option http-keep-alive
  option forwardfor
  timeout connect 2s
  timeout client 60s
  timeout server 30s
  timeout http-request 10s
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  balance roundrobin
  http-reuse always
{servers}"""


def nginx_proxy_conf(work, port, backends, keepalive):
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in backends)
    return nginx_common(work, "nginx-proxy") + f"""
  keepalive_requests 1000000; keepalive_timeout 60s;
  client_max_body_size 4m;
  client_body_buffer_size 128k;   # a 64 KiB upload stays in memory
  proxy_max_temp_file_size 0;     # a large response streams through, never to a temp file
  upstream backends {{
{servers}    keepalive {keepalive};
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
"""


# ---------------------------------------------------------------- measurement

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def to_ms(text):
    """wrk's "1.23ms" in milliseconds; NaN when absent or 0 (wrk prints 0.00us for a percentile it has no
    sample for, which is what happens with pipelining: it records one latency per batch of requests)."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    v = float(m.group(1)) * UNITS[m.group(2)] if m else 0.0
    return v if v > 0 else float("nan")


def run_wrk(scenario, port, secs, lua_files):
    argv = ["taskset", "-c", str(LOAD_CPU), "wrk", "-t1", f"-c{scenario.conns}", f"-d{secs}s", "--latency",
            "--timeout", "5s"]
    for h in scenario.headers:
        argv += ["-H", h]
    if scenario.lua:
        argv += ["-s", lua_files[scenario.lua]]
    argv.append(f"http://127.0.0.1:{port}{scenario.path}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", out)
    if not total:
        raise RuntimeError("wrk printed no totals:\n" + out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    socket_errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    mb = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mbps = float(mb.group(1)) * {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}.get(mb.group(2), 0) if mb else 0
    if scenario.lua == "pipeline":
        lat = {}
    requests = int(total.group(1))
    bad = int(non2xx.group(1)) if non2xx else 0
    wrk_rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    # Only good answers count: a proxy that answers 503 at once must not look fast.
    good = max(0, requests - bad)
    return {
        "requests": requests,
        "good": good,
        "rps": wrk_rps * good / max(1, requests),
        "mib_s": mbps,
        "p50_ms": to_ms(lat.get("50", "")),
        "p99_ms": to_ms(lat.get("99", "")),
        "errors": socket_errors + bad,
        "non2xx": bad,
        "raw": out,
    }


def measure(scenario, proxy, secs, lua_files):
    pgid = proxy["proc"].pid
    t0, c0, w0 = group_cpu_ticks(pgid), cpu_times(PROXY_CPU), time.time()
    r = run_wrk(scenario, proxy["port"], secs, lua_files)
    t1, c1, w1 = group_cpu_ticks(pgid), cpu_times(PROXY_CPU), time.time()
    if proxy["proc"].poll() is not None:
        raise RuntimeError(f"{proxy['name']} exited during {scenario.name}")
    user_s, sys_s = ((x1 - x0) / os.sysconf("SC_CLK_TCK") for x0, x1 in zip(t0, t1))
    cpu_s = user_s + sys_s
    cpu1_busy = (c1[0] - c0[0]) / max(1, c1[1] - c0[1])
    r["cpu_us_per_req"] = cpu_s * 1e6 / r["good"] if r["good"] else float("nan")
    r["proxy_cpu_pct"] = 100 * cpu_s / (w1 - w0)
    r["sys_share_pct"] = 100 * sys_s / cpu_s if cpu_s else float("nan")
    r["cpu1_other_pct"] = max(0.0, 100 * cpu1_busy - r["proxy_cpu_pct"])
    r["loadavg"] = open("/proc/loadavg").read().split()[0]
    return r


# ---------------------------------------------------------------- setup and checks

def start_backends(procs, work):
    docroot = os.path.join(work, "www")
    os.makedirs(docroot)
    with open(os.path.join(docroot, "1m.bin"), "wb") as f:
        f.write(os.urandom(FILE_SIZE))
    backends = [free_port() for _ in range(3)]
    for i, port in enumerate(backends):
        conf = os.path.join(work, f"backend{i}.conf")
        open(conf, "w").write(backend_conf(work, i, port, docroot))
        p = procs.start(f"backend{i}", ["nginx", "-e", f"{work}/backend{i}.stderr", "-c", conf], LOAD_CPU)
        if not wait_listening(port, 10, p):
            sys.exit(f"backend {i} did not start:\n" + procs.log_tail(f"backend{i}"))
    return backends


def start_proxies(a, procs, work, backends, tag):
    """Starts every proxy under test on a fresh port; their logs are <name>-<tag>.log."""
    proxies = []
    for name in a.proxies:
        port = free_port()
        log = f"{name}-{tag}"
        if name.startswith("grapevine"):
            admin = free_port()
            variant = dict(a.variants.get(name, {}))
            servers = os.path.join(work, f"servers-{name}.conf")
            conf = {"backend_servers": [{"ip": "127.0.0.1", "port": p} for p in backends]}
            conf.update(json.loads(a.grapevine_conf))
            conf.update(json.loads(variant.pop("CONF", "{}")))
            json.dump(conf, open(servers, "w"))
            argv = [x.format(servers=servers, port=port, admin=admin) for x in shlex.split(a.grapevine_cmd)]
            env = os.environ.copy()
            env.update(variant)
            p = procs.start(log, argv, PROXY_CPU, cwd=REPO, env=env)
            wait = 120
        elif name == "haproxy":
            conf = os.path.join(work, "haproxy.cfg")
            open(conf, "w").write(haproxy_conf(port, backends))
            p = procs.start(log, ["haproxy", "-db", "-f", conf], PROXY_CPU)
            wait = 10
        else:
            conf = os.path.join(work, "nginx-proxy.conf")
            open(conf, "w").write(nginx_proxy_conf(work, port, backends, a.nginx_keepalive))
            p = procs.start(log, ["nginx", "-e", f"{work}/nginx-proxy.stderr", "-c", conf], PROXY_CPU)
            wait = 10
        if not wait_listening(port, wait, p):
            sys.exit(f"{name} did not start; the end of its log:\n" + procs.log_tail(log))
        proxies.append({"name": name, "port": port, "proc": p, "log": log})
    return proxies


def check_proxy(proxy):
    """Each proxy must answer the scenarios' requests correctly before it is measured."""
    base = f"http://127.0.0.1:{proxy['port']}"
    deadline = time.time() + 10
    while True:                              # health checks may need a moment to mark backends up
        try:
            with urllib.request.urlopen(base + "/", timeout=5) as r:
                if r.status == 200 and r.read().startswith(b"hello from backend"):
                    break
        except Exception as e:               # noqa: BLE001 - report whatever went wrong
            if time.time() > deadline:
                raise RuntimeError(f"{proxy['name']}: GET / failed: {e}")
            time.sleep(0.3)
    with urllib.request.urlopen(base + "/1m.bin", timeout=10) as r:
        n = len(r.read())
        if n != FILE_SIZE:
            raise RuntimeError(f"{proxy['name']}: /1m.bin gave {n} bytes")
    req = urllib.request.Request(base + "/upload", data=b"u" * BODY_SIZE, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 200:
            raise RuntimeError(f"{proxy['name']}: POST /upload gave {r.status}")


def describe_environment():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=REPO).stdout.strip()
        except Exception:                    # noqa: BLE001
            return "?"
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else "java"
    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": sh("git rev-parse --short HEAD") + (" (dirty)" if sh("git status --porcelain -uno") else ""),
        "java": sh(f"{shlex.quote(java)} -version 2>&1 | sed -n 2p"),
        "jvm_opts": os.environ.get("GRAPEVINE_JVM_OPTS", "(launcher defaults)"),
        "nproc": sh("nproc"),
        "cpu": model,
        "kernel": sh("uname -r"),
        "haproxy": sh("haproxy -v | head -1 | cut -d' ' -f3"),
        "nginx": sh("nginx -v 2>&1 | cut -d/ -f2"),
        "wrk": sh("wrk -v 2>&1 | head -1 | cut -d' ' -f2"),
        "loadavg_before": open("/proc/loadavg").read().strip(),
    }


# ---------------------------------------------------------------- report

def fmt_ms(x):
    return "-" if x != x else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def median(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def ratio(x, y):
    return f"{x / y:.2f}x" if y and x == x and y == y else "n/a"


def report(env, a, results, notes):
    lines = [f"# compare.py: {env['date']}, commit {env['commit']}",
             f"# {env['java']}; JVM options: {env['jvm_opts']}",
             f"# {env['nproc']} CPUs, {env['cpu']}, kernel {env['kernel']}; HAProxy {env['haproxy']}, "
             f"nginx {env['nginx']}, wrk {env['wrk']}",
             f"# load average before: {env['loadavg_before']}; after: {env.get('loadavg_after', '?')}"]
    for name, v in env.get("variants", {}).items():
        lines.append(f"# {name}: {' '.join(f'{k}={x}' for k, x in v['env'].items())} ({v['java']})")
    lines += [
             f"# {a.rounds} rounds of {a.secs} s per proxy and scenario, medians; proxies on CPU {PROXY_CPU}, "
             f"backends + wrk on CPU {LOAD_CPU}", ""]
    for name, per_proxy in results.items():
        s = BY_NAME[name]
        lines.append(f"## {name}: {s.title}")
        if s.lua == "pipeline":
            lines.append("\n(wrk samples one latency per batch of pipelined requests: its percentiles are not "
                         "per request, so they are left out.)")
        lines.append("")
        lines.append("| proxy | req/s | MiB/s | CPU µs/req | of it in kernel | proxy CPU % | cpu1 other % | p50 ms "
                     "| p99 ms | errors |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        med = {}
        for proxy, runs in per_proxy.items():
            m = {k: median([r[k] for r in runs]) for k in
                 ("rps", "mib_s", "cpu_us_per_req", "sys_share_pct", "proxy_cpu_pct", "cpu1_other_pct", "p50_ms",
                  "p99_ms")}
            m["errors"] = sum(r["errors"] for r in runs)
            med[proxy] = m
            lines.append(f"| {proxy} | {m['rps']:.0f} | {m['mib_s']:.1f} | {m['cpu_us_per_req']:.1f} | "
                         f"{m['sys_share_pct']:.0f}% | "
                         f"{m['proxy_cpu_pct']:.0f} | {m['cpu1_other_pct']:.0f} | {fmt_ms(m['p50_ms'])} | "
                         f"{fmt_ms(m['p99_ms'])} | {m['errors']} |")
        for proxy, n in notes.get(name, {}).items():
            lines.append(f"\n{proxy} logged {n['count']} warnings/errors in this scenario; the first: "
                         f"`{n['first'][0][:160]}`")
        if any(m["errors"] for m in med.values()):
            lines.append("\nreq/s and CPU µs/req count good (2xx/3xx) responses only.")
        pairs = [(g, o) for g in med if g.startswith("grapevine") for o in ("haproxy", "nginx") if o in med]
        pairs += [(g, "grapevine") for g in med if g.startswith("grapevine-") and "grapevine" in med]
        if pairs:
            lines.append("")
        for gname, other in pairs:
            g, o = med[gname], med[other]
            label = "Grapevine" if gname == "grapevine" else gname
            lines.append(f"- {label}/{other}: req/s {ratio(g['rps'], o['rps'])}, CPU/req "
                         f"{ratio(g['cpu_us_per_req'], o['cpu_us_per_req'])}, p99 "
                         f"{ratio(g['p99_ms'], o['p99_ms'])}")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS if s.default),
                    help="comma-separated scenario names, or 'all' (default: %(default)s)")
    ap.add_argument("--proxies", default=",".join(PROXIES), help="subset of %(default)s")
    ap.add_argument("--secs", type=int, default=5, help="seconds per measured run (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="measured runs per proxy and scenario (default %(default)s)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per proxy and scenario (default %(default)s)")
    ap.add_argument("--jit-warmup", type=int, default=8,
                    help="extra warm-up seconds for Grapevine (JIT) in each scenario (default %(default)s)")
    ap.add_argument("--grapevine-cmd", default=GRAPEVINE_CMD,
                    help="command that starts Grapevine, run from the repository root; {servers}, {port} and "
                         "{admin} are filled in (default: %(default)s)")
    ap.add_argument("--grapevine-conf", default="{}",
                    help='JSON merged into the servers.conf Grapevine gets, e.g. '
                         '\'{"limits": {"max_idle_per_server": 1024}}\' (default: none, Grapevine defaults)')
    ap.add_argument("--variant", nargs="+", action="append", metavar="NAME VAR=VALUE",
                    help="one more Grapevine, called grapevine-NAME, started with these environment variables "
                         "(e.g. --variant jdk25 JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64); CONF={...} is JSON "
                         "merged into its servers.conf instead; repeatable")
    ap.add_argument("--nginx-keepalive", type=int, default=192,
                    help="nginx 'keepalive N' (idle upstream connections per worker; Grapevine keeps 64 per "
                         "server, 3 servers; default %(default)s)")
    ap.add_argument("--json", help="also write every run (wrk output included) to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configs and logs)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    a = ap.parse_args()

    if a.list:
        for s in SCENARIOS:
            print(f"{s.name:9s} {s.title}{'' if s.default else '  (not in the default set)'}")
        return
    names = [s.name for s in SCENARIOS] if a.scenarios == "all" else a.scenarios.split(",")
    for n in names:
        if n not in BY_NAME:
            sys.exit(f"compare.py: unknown scenario '{n}' (try --list)")
    a.proxies = a.proxies.split(",")
    for p in a.proxies:
        if p not in PROXIES:
            sys.exit(f"compare.py: unknown proxy '{p}' (one of {', '.join(PROXIES)})")
    variants = {}
    for v in a.variant or []:
        if len(v) < 2 or not all("=" in x for x in v[1:]) or not re.fullmatch(r"[\w.-]+", v[0]):
            sys.exit("compare.py: --variant NAME VAR=VALUE [VAR=VALUE...]")
        for x in v[1:]:
            if x.startswith("CONF="):
                try:
                    json.loads(x[5:])
                except ValueError as e:
                    sys.exit(f"compare.py: --variant {v[0]}: CONF is not JSON ({e})")
        variants["grapevine-" + v[0]] = dict(x.split("=", 1) for x in v[1:])
    a.variants = variants
    a.proxies += list(variants)
    if os.cpu_count() < 2:
        sys.exit("compare.py: needs at least 2 CPUs (load on CPU 0, proxies on CPU 1)")
    ensure_tools()

    work = tempfile.mkdtemp(prefix="grapevine-bench-")
    os.chmod(work, 0o755)                    # nginx workers drop root and must read the files in here
    procs = Processes(work)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):   # SIGINT too: a background job inherits it ignored
        signal.signal(sig, on_signal)

    env = describe_environment()
    for name, vars_ in a.variants.items():
        java = os.path.join(vars_["JAVA_HOME"], "bin", "java") if "JAVA_HOME" in vars_ else "java"
        version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr.splitlines()
        env.setdefault("variants", {})[name] = {"env": vars_, "java": version[1] if len(version) > 1 else "?"}
    results, notes = {}, {}
    try:
        lua_files = {}
        for key, text in LUA.items():
            lua_files[key] = os.path.join(work, f"{key}.lua")
            open(lua_files[key], "w").write(text)
        backends = start_backends(procs, work)
        for name in names:
            s = BY_NAME[name]
            # Fresh proxies for every scenario, so that nothing one scenario leaves behind (a server
            # marked down, a leaked connection) weighs on the next one.
            proxies = start_proxies(a, procs, work, backends, name)
            results[name] = {p["name"]: [] for p in proxies}
            for p in proxies:
                check_proxy(p)
                # Grapevine's JIT gets its own warm-up, on this scenario's load.
                secs = a.warmup + (a.jit_warmup if p["name"].startswith("grapevine") else 0)
                run_wrk(s, p["port"], secs, lua_files)
            for r in range(a.rounds):
                k = r % len(proxies)
                for p in proxies[k:] + proxies[:k]:
                    m = measure(s, p, a.secs, lua_files)
                    results[name][p["name"]].append(m)
                    print(f"{name} round {r + 1}: {p['name']:9s} {m['rps']:9.0f} req/s "
                          f"{m['cpu_us_per_req']:7.1f} us/req  p99 {fmt_ms(m['p99_ms'])} ms  errors {m['errors']}"
                          f"  (cpu1 other {m['cpu1_other_pct']:.0f}%, load {m['loadavg']})", file=sys.stderr)
            procs.stop([p["proc"] for p in proxies])
            for p in proxies:
                warnings = [ln for ln in procs.log_tail(p["log"], 1 << 20).splitlines()
                            if re.search(r"\b(WARN|ERROR|ALERT)\b|\[(warn|error|crit|alert)\]", ln)]
                if warnings:
                    notes.setdefault(name, {})[p["name"]] = {"count": len(warnings), "first": warnings[:5]}
                    print(f"{name}: {p['name']} logged {len(warnings)} warnings/errors, first: {warnings[0][:200]}",
                          file=sys.stderr)
    except KeyboardInterrupt as e:
        print(f"compare.py: interrupted ({e}); stopping everything", file=sys.stderr)
        procs.stop_all(grace=5)
        shutil.rmtree(work, ignore_errors=True)
        sys.exit(130)
    finally:
        procs.stop_all()
        if a.keep:
            print(f"configs and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    env["loadavg_after"] = open("/proc/loadavg").read().strip()
    print(report(env, a, results, notes))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"env": env, "args": vars(a), "results": results, "log_warnings": notes}, f, indent=1)


if __name__ == "__main__":
    main()
