#!/usr/bin/env python3
"""Grapevine, HAProxy and nginx as reverse proxies, measured side by side in one run.

    bench/run                                # the usual entry point: every scenario, then the ratio table
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
"cpu0 busy" and "cpu0 µs/req" are what CPU 0 (load generator and backends) spent: when CPU 0 is saturated it,
not the proxy, sets req/s, and how much it spends per request depends on the proxy too (batching, headers,
packets).

Grapevine is started with the launcher (./grapevine proxy ... --no-gossip), so GRAPEVINE_JVM_OPTS and
JAVA_HOME in the environment reach it unchanged. Every process started here runs in its own process
group and is stopped (TERM, then KILL) on exit, Ctrl-C included. Only loopback and free ports are used.
Missing tools (nginx-light, haproxy, wrk, nghttp2-client for h2load, openssl) are installed with apt-get.

The load generators: wrk for HTTP/1.1 (plaintext and HTTPS; it resumes TLS sessions when it reconnects),
h2load for HTTP/2 (cleartext with prior knowledge, and over TLS with ALPN; its per-request log gives the
percentiles) and `openssl s_time -new` for full TLS handshakes (several processes; no percentiles).
"""
import argparse
import datetime
import gzip
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOAD_CPU, PROXY_CPU = 0, 1
PROXIES = ("grapevine", "haproxy", "nginx")
GRAPEVINE_CMD = ("./grapevine proxy --servers {servers} --listen 127.0.0.1:{port} "
                 "--admin 127.0.0.1:{admin} --no-gossip")
BODY_SIZE = 64 * 1024
FILE_SIZE = 1024 * 1024
PAGE_SIZE = 64 * 1024
# The ratelimit scenario's limit per client address, requests per second (and the burst: as many at once).
RATE_LIMIT = 10


# ---------------------------------------------------------------- scenarios

class Scenario:
    """One load: its tool (wrk, h2load or s_time), connections, path, and whether it speaks TLS or HTTP/2."""

    def __init__(self, name, title, conns, path="/", lua=None, headers=(), default=True, tool="wrk", tls=False,
                 h2=False, streams=1, refusals=False):
        self.name, self.title, self.conns, self.path = name, title, conns, path
        self.lua, self.headers, self.default = lua, headers, default
        self.tool, self.tls, self.h2, self.streams = tool, tls, h2, streams
        # The proxy's own refusals (429) are the answers measured: every answer counts, not only 2xx and 3xx.
        self.refusals = refusals

    @property
    def has_percentiles(self):
        # wrk records one latency per pipelined batch; s_time measures none.
        return self.lua != "pipeline" and self.tool != "s_time"


PIPELINE_DEPTH = 16
S_TIME_PROCESSES = 8
SCENARIOS = [
    Scenario("get", "small GET, keep-alive, 50 connections", 50),
    Scenario("pipeline", f"small GET, {PIPELINE_DEPTH} pipelined per write, 50 connections", 50,
             lua="pipeline"),
    Scenario("conns", "small GET, keep-alive, 400 connections", 400),
    Scenario("close", "small GET, new connection per request (Connection: close), 50 connections", 50,
             headers=("Connection: close",)),
    Scenario("https", "small GET over TLS, keep-alive, 50 connections", 50, tls=True),
    Scenario("tls-resume", "small GET, new TLS connection per request, session resumed (wrk), 50 connections", 50,
             headers=("Connection: close",), tls=True),
    Scenario("tls-full", f"small GET, new TLS connection per request, full handshake (openssl s_time -new, "
             f"{S_TIME_PROCESSES} processes)", S_TIME_PROCESSES, tool="s_time", tls=True),
    Scenario("h2", "small GET over HTTP/2 cleartext (prior knowledge), h2load -c10 -m20", 10, tool="h2load",
             h2=True, streams=20),
    Scenario("h2-tls", "small GET over HTTP/2 over TLS (ALPN h2), h2load -c10 -m20", 10, tool="h2load",
             h2=True, tls=True, streams=20),
    Scenario("download", "1 MiB response, keep-alive, 10 connections", 10, path="/1m.bin"),
    Scenario("h2-download", "1 MiB response over HTTP/2 cleartext (prior knowledge), h2load -c4 -m8", 4,
             path="/1m.bin", tool="h2load", h2=True, streams=8),
    Scenario("upload", "64 KiB POST body, keep-alive, 20 connections", 20, path="/upload", lua="upload"),
    Scenario("gzip", "64 KiB HTML page gzip-compressed by the proxy (level 1; HAProxy: libslz), keep-alive, "
             "20 connections", 20, path="/page.html", headers=("Accept-Encoding: gzip",)),
    Scenario("ratelimit", f"small GET from one client over its limit of {RATE_LIMIT}/s: all but {RATE_LIMIT} a second "
             "answered 429 by the proxy, keep-alive, 50 connections", 50, refusals=True),
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


def stat_fields(path):
    """The fields of a /proc stat file after the command name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12)."""
    with open(path + "/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def group_processes(pgid):
    """The live processes whose process group is pgid: (pid, stat_fields) for each, read once."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = stat_fields(f"/proc/{entry}")
                if int(fields[2]) == pgid:
                    found.append((entry, fields))
            except (OSError, ValueError, IndexError):
                continue
    return found


def group_pids(pgid):
    """The live processes whose process group is pgid, as /proc entries."""
    return [pid for pid, _ in group_processes(pgid)]


def group_cpu_ticks(pgid):
    """(utime, stime) in clock ticks, summed over every live process whose process group is pgid."""
    user = system = 0
    for _, fields in group_processes(pgid):
        user += int(fields[11])
        system += int(fields[12])
    return user, system


def compiler_ticks(pgid):
    """Clock ticks of the JIT compiler threads (HotSpot's "C1/C2 CompilerThread") of the process group pgid."""
    ticks = 0
    for pid in group_pids(pgid):
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            path = f"/proc/{pid}/task/{task}"
            try:
                with open(path + "/comm") as f:
                    if "CompilerThre" not in f.read():
                        continue
                fields = stat_fields(path)
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])
    return ticks


def jit_warm_up(scenario, proxy, min_secs, max_secs, files, quiet_pct=3.0, step=2):
    """
    Load for min_secs, then on in steps of `step` seconds until the JIT compilers used at most quiet_pct % of a
    core over the last step (the code the load runs is compiled), or max_secs in all. Returns the seconds of load
    and the compilers' share of a core in the last step. The compilers run on the proxy's core: measured while they
    still work, a JVM proxy is measured half-compiled (HTTP/2 takes 20-30 s here), which is what coldstart reports.
    """
    run_load(scenario, proxy, min_secs, files)
    secs, tick = min_secs, os.sysconf("SC_CLK_TCK")
    while True:
        c0, w0 = compiler_ticks(proxy["proc"].pid), time.time()
        run_load(scenario, proxy, step, files)
        secs += step
        pct = 100.0 * (compiler_ticks(proxy["proc"].pid) - c0) / tick / (time.time() - w0)
        if pct <= quiet_pct or secs >= max_secs:
            return secs, pct


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


TOOLS = (("nginx", "nginx-light"), ("haproxy", "haproxy"), ("wrk", "wrk"), ("h2load", "nghttp2-client"),
         ("openssl", "openssl"), ("taskset", "util-linux"))


def ensure_tools(tools=TOOLS):
    """Installs with apt-get the package of each (command, package) in tools whose command is missing."""
    missing = [pkg for tool, pkg in tools if not shutil.which(tool)]
    if missing:
        print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr)
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                       + " ".join(missing), shell=True, stdout=subprocess.DEVNULL)
    for tool, _ in tools:
        if not shutil.which(tool):
            sys.exit(f"compare.py: {tool} is missing and could not be installed")


def make_certificate(work):
    """A self-signed ECDSA P-256 certificate for localhost: cert.pem, key.pem, and both in one file for HAProxy."""
    cert, key, both = (os.path.join(work, f) for f in ("cert.pem", "key.pem", "cert+key.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "7", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(both, "w") as f:
        f.write(open(cert).read() + open(key).read())
    return {"cert": cert, "key": key, "both": both}


BENCH_JAR = os.path.join(REPO, "bench", "target", "grapevine-bench.jar")


def bench_jar():
    """bench/target/grapevine-bench.jar (JMH and the open-loop client), built with every other jar when it is missing
    or older than a source. The build is Maven's `package` of the whole project, without `clean`, so the launcher
    finds its jars current afterwards."""
    sources = [os.path.join(REPO, "pom.xml")] + [os.path.join(REPO, m, d) for m in ("cluster", "proxy", "bench")
                                                   for d in ("pom.xml", "src/main")]
    newest = 0.0
    for path in sources:
        for root, _dirs, names in os.walk(path) if os.path.isdir(path) else [(os.path.dirname(path), [],
                                                                              [os.path.basename(path)])]:
            for n in names:
                try:
                    newest = max(newest, os.path.getmtime(os.path.join(root, n)))
                except OSError:
                    pass
    if not os.path.exists(BENCH_JAR) or os.path.getmtime(BENCH_JAR) < newest:
        print("building the jars (mvn -q -B -DskipTests package)...", file=sys.stderr)
        subprocess.run(["mvn", "-q", "-B", "-DskipTests", "package"], cwd=REPO, check=True, stdout=sys.stderr)
    return BENCH_JAR


# ---------------------------------------------------------------- configuration files

def nginx_common(work, tag, connections=8192):
    t = os.path.join(work, f"tmp-{tag}")
    os.makedirs(t, exist_ok=True)
    return (f"daemon off; master_process on; worker_processes 1; pid {work}/{tag}.pid;\n"
            f"error_log {work}/{tag}.error.log warn;\n"
            f"worker_rlimit_nofile {2 * connections + 1024};\n"
            f"events {{ worker_connections {connections}; }}\n"
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


def haproxy_conf(port, tls_port, h2c_port, backends, certs, maxconn=8000, idle_s=60, rate_limit=None):
    servers = "".join(f"  server s{i} 127.0.0.1:{p} check\n" for i, p in enumerate(backends))
    # A rate limit per client address as HAProxy's manual writes one: a stick table of each source's request rate
    # over the last second, and a deny over the limit.
    limit = "" if rate_limit is None else (
        f"  stick-table type ip size 100k expire 10s store http_req_rate(1s)\n"
        f"  http-request track-sc0 src\n"
        f"  http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt {rate_limit} }}\n")
    return f"""global
  nbthread 1
  maxconn {maxconn}
defaults
  mode http
  maxconn {maxconn}
  option http-keep-alive
  option forwardfor
  timeout connect 2s
  timeout client {idle_s}s
  timeout http-keep-alive {idle_s}s
  timeout server 30s
  timeout http-request 10s
frontend fe
  bind 127.0.0.1:{port}
  bind 127.0.0.1:{tls_port} ssl crt {certs["both"]} alpn h2,http/1.1
  bind 127.0.0.1:{h2c_port} proto h2
  http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
  http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}
  http-request set-header X-Request-ID %[uuid] unless {{ req.hdr(x-request-id) -m found }}
{limit}  default_backend be
backend be
  balance roundrobin
  http-reuse always
  compression algo gzip
  compression type text/html
{servers}"""


def nginx_proxy_conf(work, port, tls_port, h2c_port, backends, keepalive, certs, maxconn=8000, idle_s=60,
                     rate_limit=None):
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in backends)
    # limit_req with nodelay admits burst + 1 at once: burst rate_limit - 1 makes rate_limit, as the others.
    zone, limit = ("", "") if rate_limit is None else (
        f"  limit_req_zone $binary_remote_addr zone=perip:10m rate={rate_limit}r/s;\n",
        f"      limit_req zone=perip burst={rate_limit - 1} nodelay;\n      limit_req_status 429;\n")
    return nginx_common(work, "nginx-proxy", max(8192, maxconn + 1024)) + f"""
  keepalive_requests 1000000; keepalive_timeout {idle_s}s;
  client_max_body_size 4m;
  client_body_buffer_size 128k;   # a 64 KiB upload stays in memory
  proxy_max_temp_file_size 0;     # a large response streams through, never to a temp file
  upstream backends {{
{servers}    keepalive {keepalive};
    keepalive_requests 1000000;
  }}
  gzip on; gzip_comp_level 1; gzip_min_length 1024;   # text/html only, the default gzip_types
{zone}  ssl_protocols TLSv1.2 TLSv1.3;            # 1.22's default leaves TLS 1.3 out
  ssl_session_cache shared:SSL:10m;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    listen 127.0.0.1:{tls_port} ssl http2 backlog=4096;
    listen 127.0.0.1:{h2c_port} http2 backlog=4096;     # HTTP/2 cleartext, prior knowledge only
    ssl_certificate {certs["cert"]};
    ssl_certificate_key {certs["key"]};
    location / {{
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-ID $request_id;
{limit}    }}
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


def target(scenario, proxy):
    """The URL a scenario loads on a proxy: its TLS listener for TLS, its HTTP/2 cleartext one for h2."""
    if scenario.tls:
        return f"https://127.0.0.1:{proxy['tls_port']}{scenario.path}"
    if scenario.h2:
        return f"http://127.0.0.1:{proxy['h2c_port']}{scenario.path}"
    return f"http://127.0.0.1:{proxy['port']}{scenario.path}"


def run_load(scenario, proxy, secs, files):
    """One run of the scenario's load generator on CPU 0: requests, good (2xx/3xx) ones, req/s, p50/p99, errors."""
    if scenario.tool == "h2load":
        return run_h2load(scenario, proxy, secs, files)
    if scenario.tool == "s_time":
        return run_s_time(scenario, proxy, secs)
    return run_wrk(scenario, proxy, secs, files)


def run_wrk(scenario, proxy, secs, lua_files):
    argv = ["taskset", "-c", str(LOAD_CPU), "wrk", "-t1", f"-c{scenario.conns}", f"-d{secs}s", "--latency",
            "--timeout", "5s"]
    for h in scenario.headers:
        argv += ["-H", h]
    if scenario.lua:
        argv += ["-s", lua_files[scenario.lua]]
    argv.append(target(scenario, proxy))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", out)
    if not total:
        raise RuntimeError("wrk printed no totals:\n" + out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    socket_errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    mb = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mbps = float(mb.group(1)) * {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}.get(mb.group(2), 0) if mb else 0
    if not scenario.has_percentiles:
        lat = {}
    requests = int(total.group(1))
    bad = int(non2xx.group(1)) if non2xx else 0
    wrk_rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    # Only good answers count: a proxy that answers 503 at once must not look fast. Where the proxy's refusals are
    # what is measured, every answer counts.
    good = requests if scenario.refusals else max(0, requests - bad)
    return {
        "requests": requests,
        "good": good,
        "rps": wrk_rps * good / max(1, requests),
        "mib_s": mbps,
        "p50_ms": to_ms(lat.get("50", "")),
        "p99_ms": to_ms(lat.get("99", "")),
        "errors": socket_errors + (0 if scenario.refusals else bad),
        "non2xx": bad,
        "raw": out,
    }


def run_h2load(scenario, proxy, secs, files):
    """h2load for secs seconds; its per-request log (start, status, microseconds) gives the percentiles."""
    log = os.path.join(files["dir"], f"h2load-{scenario.name}.log")
    argv = ["taskset", "-c", str(LOAD_CPU), "h2load", "-t1", f"-c{scenario.conns}", f"-m{scenario.streams}",
            f"-D{secs}", "--warm-up-time=0", f"--log-file={log}", target(scenario, proxy)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60).stdout
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                     r"(\d+) errored, (\d+) timeout", out)
    finished = re.search(r"finished in ([\d.]+)(m?s)", out)
    if not done or not finished:
        raise RuntimeError("h2load printed no totals:\n" + out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    good = int(codes.group(1)) + int(codes.group(2)) if codes else int(done.group(4))
    non2xx = int(codes.group(3)) + int(codes.group(4)) if codes else 0
    wall = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    micros = []
    try:
        with open(log) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1].startswith(("2", "3")):
                    micros.append(int(parts[2]))
        os.remove(log)
    except OSError:
        pass
    micros.sort()

    def pct(q):
        return micros[min(len(micros) - 1, int(q * len(micros)))] / 1000 if micros else float("nan")
    received = re.search(r"traffic: [\d.]+\w*B \((\d+)\) total", out)
    return {
        "requests": int(done.group(1)),
        "good": good,
        "rps": good / wall if wall else 0.0,
        "mib_s": int(received.group(1)) / 2**20 / wall if received and wall else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        # "failed" counts the errored and timed-out requests too
        "errors": int(done.group(5)) + non2xx,
        "non2xx": non2xx,
        "raw": out,
    }


def run_s_time(scenario, proxy, secs):
    """Several `openssl s_time -new` processes: every connection a full TLS handshake and one GET /."""
    argv = ["taskset", "-c", str(LOAD_CPU), "openssl", "s_time", "-connect", f"127.0.0.1:{proxy['tls_port']}", "-new",
            "-time", str(secs), "-www", scenario.path]
    start = time.time()
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              stdin=subprocess.DEVNULL) for _ in range(scenario.conns)]
    outs = [p.communicate(timeout=secs + 60)[0] for p in procs]
    wall = time.time() - start
    connections = 0
    errors = 0
    for out in outs:
        m = re.search(r"(\d+) connections in [\d.]+ real seconds, (\d+) bytes read per connection", out)
        if not m or int(m.group(2)) == 0:
            errors += 1
            continue
        connections += int(m.group(1))
    return {
        "requests": connections,
        "good": connections,
        "rps": connections / wall,
        "mib_s": 0.0,
        "p50_ms": float("nan"),
        "p99_ms": float("nan"),
        "errors": errors,
        "non2xx": 0,
        "raw": "\n".join(outs),
    }


def measure(scenario, proxy, secs, lua_files):
    pgid = proxy["proc"].pid
    t0, c0, l0, w0 = group_cpu_ticks(pgid), cpu_times(PROXY_CPU), cpu_times(LOAD_CPU), time.time()
    r = run_load(scenario, proxy, secs, lua_files)
    t1, c1, l1, w1 = group_cpu_ticks(pgid), cpu_times(PROXY_CPU), cpu_times(LOAD_CPU), time.time()
    if proxy["proc"].poll() is not None:
        raise RuntimeError(f"{proxy['name']} exited during {scenario.name}")
    user_s, sys_s = ((x1 - x0) / os.sysconf("SC_CLK_TCK") for x0, x1 in zip(t0, t1))
    cpu_s = user_s + sys_s
    cpu1_busy = (c1[0] - c0[0]) / max(1, c1[1] - c0[1])
    r["cpu_us_per_req"] = cpu_s * 1e6 / r["good"] if r["good"] else float("nan")
    r["proxy_cpu_pct"] = 100 * cpu_s / (w1 - w0)
    r["sys_share_pct"] = 100 * sys_s / cpu_s if cpu_s else float("nan")
    r["cpu1_other_pct"] = max(0.0, 100 * cpu1_busy - r["proxy_cpu_pct"])
    # CPU 0 carries the load generator and the backends: what they spend per request depends on the proxy too
    # (how it batches, the headers it adds, the packets it sends), and when CPU 0 is saturated it sets req/s.
    cpu0_busy_s = (l1[0] - l0[0]) / os.sysconf("SC_CLK_TCK")
    r["cpu0_busy_pct"] = 100 * (l1[0] - l0[0]) / max(1, l1[1] - l0[1])
    r["cpu0_us_per_req"] = cpu0_busy_s * 1e6 / r["good"] if r["good"] else float("nan")
    r["loadavg"] = open("/proc/loadavg").read().split()[0]
    return r


# ---------------------------------------------------------------- setup and checks

def start_backends(procs, work):
    docroot = os.path.join(work, "www")
    os.makedirs(docroot)
    with open(os.path.join(docroot, "1m.bin"), "wb") as f:
        f.write(os.urandom(FILE_SIZE))
    with open(os.path.join(docroot, "page.html"), "wb") as f:
        f.write(page())
    backends = [free_port() for _ in range(3)]
    for i, port in enumerate(backends):
        conf = os.path.join(work, f"backend{i}.conf")
        open(conf, "w").write(backend_conf(work, i, port, docroot))
        p = procs.start(f"backend{i}", ["nginx", "-e", f"{work}/backend{i}.stderr", "-c", conf], LOAD_CPU)
        if not wait_listening(port, 10, p):
            sys.exit(f"backend {i} did not start:\n" + procs.log_tail(f"backend{i}"))
    return backends


def start_proxies(a, procs, work, backends, tag):
    """Starts every proxy under test on a fresh port; their logs are <name>-<tag>.log. a.maxconn and a.idle_s, when
    set, raise the connection limits and idle timeouts of all three alike (the idle-connection test)."""
    maxconn, idle_s = getattr(a, "maxconn", 8000), getattr(a, "idle_s", 60)
    # The ratelimit scenario's proxies limit each client address; no other scenario's do.
    rate_limit = RATE_LIMIT if tag == "ratelimit" else None
    proxies = []
    for name in a.proxies:
        port, tls_port = free_port(), free_port()
        h2c_port = port                      # Grapevine tells HTTP/2 from HTTP/1.1 by the first bytes
        log = f"{name}-{tag}"
        if name.startswith("grapevine"):
            admin = free_port()
            variant = dict(a.variants.get(name, {}))
            # servers.conf in a directory of its own, as in a deployment: the proxy watches the directory of its
            # servers.conf, and every write there (the load tools' logs, the processes' output) would wake it.
            conf_dir = os.path.join(work, f"conf-{name}-{tag}")
            os.makedirs(conf_dir, exist_ok=True)
            servers = os.path.join(conf_dir, "servers.conf")
            conf = {"backend_servers": [{"ip": "127.0.0.1", "port": p} for p in backends],
                    "tls": {"listen": f"127.0.0.1:{tls_port}", "cert": a.certs["cert"], "key": a.certs["key"]}}
            # as nginx's "gzip on; gzip_comp_level 1" and HAProxy's "compression type text/html" above
            conf["compression"] = {"enabled": True, "level": 1, "types": ["text/html"]}
            if rate_limit is not None:
                conf["rate_limit"] = {"requests": rate_limit, "burst": rate_limit}
            if hasattr(a, "maxconn"):
                conf["limits"] = {"max_connections": maxconn}
                conf["timeouts"] = {"client_idle_ms": idle_s * 1000}
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
            h2c_port = free_port()
            open(conf, "w").write(haproxy_conf(port, tls_port, h2c_port, backends, a.certs, maxconn, idle_s,
                                                rate_limit))
            p = procs.start(log, ["haproxy", "-db", "-f", conf], PROXY_CPU)
            wait = 10
        else:
            conf = os.path.join(work, "nginx-proxy.conf")
            h2c_port = free_port()
            open(conf, "w").write(nginx_proxy_conf(work, port, tls_port, h2c_port, backends, a.nginx_keepalive,
                                                   a.certs, maxconn, idle_s, rate_limit))
            p = procs.start(log, ["nginx", "-e", f"{work}/nginx-proxy.stderr", "-c", conf], PROXY_CPU)
            wait = 10
        if not wait_listening(port, wait, p):
            sys.exit(f"{name} did not start; the end of its log:\n" + procs.log_tail(log))
        proxies.append({"name": name, "port": port, "tls_port": tls_port, "h2c_port": h2c_port, "proc": p,
                        "log": log, "rate_limit": rate_limit})
    return proxies


def page():
    """The gzip scenario's HTML page: PAGE_SIZE bytes of markup and words, the same in every run (it compresses to
    about a fifth at level 1)."""
    words = ["grapevine", "proxy", "gossip", "member", "backend", "table", "generation", "swap", "event", "loop",
             "request", "response", "header", "balance", "health", "drain"]
    r = random.Random(7)
    out = ["<!DOCTYPE html><html><head><title>bench</title></head><body>\n"]
    size = len(out[0])
    while size < PAGE_SIZE:
        line = "<p class=\"item\">" + " ".join(r.choice(words) for _ in range(r.randint(5, 15))) + "</p>\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:PAGE_SIZE]


def check_rate_limit(proxy):
    """A proxy that limits each client must refuse a burst over the limit with 429s, and admit the limit's worth."""
    base = f"http://127.0.0.1:{proxy['port']}"
    deadline = time.time() + 10
    while True:                              # health checks may need a moment to mark backends up
        try:
            with urllib.request.urlopen(base + "/", timeout=5) as r:
                if r.status == 200:
                    break
        except Exception as e:               # noqa: BLE001 - report whatever went wrong (a 429 included)
            if time.time() > deadline:
                raise RuntimeError(f"{proxy['name']}: GET / failed: {e}")
            time.sleep(1.5)                  # a refusal: let the bucket fill again
    time.sleep(1.5)
    statuses = []
    for _ in range(3 * proxy["rate_limit"]):
        try:
            with urllib.request.urlopen(base + "/", timeout=5) as r:
                statuses.append(r.status)
        except urllib.error.HTTPError as e:
            statuses.append(e.code)
    ok, refused = statuses.count(200), statuses.count(429)
    if refused == 0 or ok + refused != len(statuses) or not proxy["rate_limit"] <= ok <= proxy["rate_limit"] + 3:
        raise RuntimeError(f"{proxy['name']}: {len(statuses)} requests at once over a limit of "
                           f"{proxy['rate_limit']}/s were answered {statuses}")


def check_proxy(proxy):
    """Each proxy must answer the scenarios' requests correctly before it is measured."""
    if proxy.get("rate_limit"):
        check_rate_limit(proxy)
        return
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
    req = urllib.request.Request(base + "/page.html", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.headers.get("Content-Encoding") != "gzip" or gzip.decompress(r.read()) != page():
            raise RuntimeError(f"{proxy['name']}: /page.html was not gzip-compressed whole")
    req = urllib.request.Request(base + "/upload", data=b"u" * BODY_SIZE, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 200:
            raise RuntimeError(f"{proxy['name']}: POST /upload gave {r.status}")
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"https://127.0.0.1:{proxy['tls_port']}/", timeout=10, context=insecure) as r:
        if r.status != 200 or not r.read().startswith(b"hello from backend"):
            raise RuntimeError(f"{proxy['name']}: GET / over TLS gave {r.status}")
    for url in (f"http://127.0.0.1:{proxy['h2c_port']}/", f"https://127.0.0.1:{proxy['tls_port']}/"):
        out = subprocess.run(["h2load", "-n4", "-c1", url], capture_output=True, text=True, timeout=30).stdout
        if not re.search(r"status codes: 4 2xx", out) or "h2" not in (re.search(r"Application protocol: (\S+)", out)
                                                                     or [None, "h2"])[1]:
            raise RuntimeError(f"{proxy['name']}: HTTP/2 GET {url} failed:\n{out}")
    proxy["tls_resumption"] = tls_resumes(proxy["tls_port"])


def tls_resumes(port):
    """Whether a TLS 1.3 client that reconnects with the session ticket of its first connection is resumed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    session = None
    try:
        for attempt in range(2):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                    # The ticket arrives after the handshake: read an answer before taking the session.
                    tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    while tls.recv(65536):
                        pass
                    if attempt == 1:
                        return tls.session_reused
                    session = tls.session
    except OSError:
        return None
    return None


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
        "h2load": sh("h2load --version | head -1"),
        "openssl": sh("openssl version | cut -d' ' -f1-2"),
        "transport": os.environ.get("GRAPEVINE_TRANSPORT", "(default)"),
        "loop_slice_us": os.environ.get("GRAPEVINE_LOOP_SLICE_US", "(default)"),
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


MEDIAN_KEYS = ("rps", "mib_s", "cpu_us_per_req", "sys_share_pct", "proxy_cpu_pct", "cpu1_other_pct", "cpu0_busy_pct",
               "cpu0_us_per_req", "p50_ms", "p99_ms")


def medians(runs):
    m = {k: median([r[k] for r in runs]) for k in MEDIAN_KEYS}
    m["errors"] = sum(r["errors"] for r in runs)
    m["rounds"] = len(runs)
    return m


def loop_slice(env):
    """GRAPEVINE_LOOP_SLICE_US as the run had it (--loop-slice-us): "the kernel's" when not set or 0."""
    micros = env.get("loop_slice_us", "(default)")
    return "the kernel's" if micros in ("(default)", "0") else f"{micros} µs"


def header(env, a):
    lines = [f"Measured {env['date']}, commit `{env['commit']}`; {env['java']} (JVM options: {env['jvm_opts']}); "
             f"{env['nproc']} CPUs, {env['cpu']}; kernel {env['kernel']}; HAProxy {env['haproxy']}, nginx "
             f"{env['nginx']}, wrk {env['wrk']}, {env['h2load']}, {env['openssl']}; Grapevine's transport "
             f"{env.get('transport', '(default)')}, event loop scheduler slice {loop_slice(env)}.",
             f"Load average before: {env['loadavg_before']}; after: {env.get('loadavg_after', '?')}. "
             f"{a.rounds} rounds of {a.secs} s per proxy and scenario, medians; proxies alone on CPU {PROXY_CPU}, "
             f"backends and load generators on CPU {LOAD_CPU}."]
    resumption = env.get("tls_resumption") or {}
    if resumption:
        lines.append("TLS 1.3 session resumption (a client reconnecting with its ticket): " + ", ".join(
            f"{p} {'yes' if r else 'no' if r is False else '?'}" for p, r in resumption.items()) + ".")
    for name, v in env.get("variants", {}).items():
        lines.append(f"{name}: {' '.join(f'{k}={x}' for k, x in v['env'].items())} ({v['java']}).")
    return lines


def ratio_table(results):
    """One row per scenario: Grapevine's medians, then its ratios to HAProxy and to nginx."""
    others = [o for o in ("haproxy", "nginx") if any(o in per for per in results.values())]
    head = "| scenario | Grapevine req/s | CPU µs/req | p50 ms | p99 ms |"
    rule = "|---|---:|---:|---:|---:|"
    for o in others:
        label = "HAProxy" if o == "haproxy" else "nginx"
        head += f" ÷ {label}: req/s | CPU/req | p50 | p99 |"
        rule += "---:|---:|---:|---:|"
    lines = [head, rule]
    for name, per in results.items():
        if "grapevine" not in per:
            continue
        g = medians(per["grapevine"])
        row = (f"| {name} | {g['rps']:.0f} | {g['cpu_us_per_req']:.1f} | {fmt_ms(g['p50_ms'])} | "
               f"{fmt_ms(g['p99_ms'])} |")
        for o in others:
            if o in per:
                m = medians(per[o])
                row += (f" {ratio(g['rps'], m['rps'])} | {ratio(g['cpu_us_per_req'], m['cpu_us_per_req'])} | "
                        f"{ratio(g['p50_ms'], m['p50_ms'])} | {ratio(g['p99_ms'], m['p99_ms'])} |")
            else:
                row += " | | | |"
        lines.append(row)
    return lines


def report(env, a, results, notes):
    lines = ["## Summary: Grapevine and its ratios to HAProxy and nginx", ""] + header(env, a) + [""]
    lines += ratio_table(results)
    lines += ["", "Ratios: above 1.00x is more req/s, more CPU per request, or higher latency than the other proxy. "
              "req/s and CPU per request count good (2xx/3xx) answers only, but in ratelimit, where the proxy's "
              "429s are what is measured.", ""]
    for name, per_proxy in results.items():
        s = BY_NAME[name]
        lines.append(f"### {name}: {s.title}")
        if not s.has_percentiles:
            lines.append("\n(no per-request latency: wrk samples one per pipelined batch, openssl s_time none)")
        lines.append("")
        lines.append("| proxy | req/s | MiB/s | CPU µs/req | of it in kernel | proxy CPU % | cpu1 other % "
                     "| cpu0 busy % | cpu0 µs/req | p50 ms | p99 ms | errors |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        med = {}
        for proxy, runs in per_proxy.items():
            m = med[proxy] = medians(runs)
            lines.append(f"| {proxy} | {m['rps']:.0f} | {m['mib_s']:.1f} | {m['cpu_us_per_req']:.1f} | "
                         f"{m['sys_share_pct']:.0f}% | "
                         f"{m['proxy_cpu_pct']:.0f} | {m['cpu1_other_pct']:.0f} | {m['cpu0_busy_pct']:.0f} | "
                         f"{m['cpu0_us_per_req']:.1f} | {fmt_ms(m['p50_ms'])} | "
                         f"{fmt_ms(m['p99_ms'])} | {m['errors']} |")
        for proxy, (secs, pct) in env.get("warmups", {}).get(name, {}).items():
            lines.append(f"\n{proxy} was warmed up {secs} s ({a.warmup} s for the others), until its JIT compilers "
                         f"used {pct:.1f} % of a core (at most {a.warmup + a.jit_warmup_max} s).")
        for proxy, n in notes.get(name, {}).items():
            lines.append(f"\n{proxy} logged {n['count']} warnings/errors in this scenario; the first: "
                         f"`{n['first'][0][:160]}`")
        pairs = [(g, "grapevine") for g in med if g.startswith("grapevine-") and "grapevine" in med]
        for gname, other in pairs:
            g, o = med[gname], med[other]
            lines.append(f"\n- {gname}/grapevine: req/s {ratio(g['rps'], o['rps'])}, CPU/req "
                         f"{ratio(g['cpu_us_per_req'], o['cpu_us_per_req'])}, p99 {ratio(g['p99_ms'], o['p99_ms'])}")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- a bench: backends, certificates, proxies

class Bench:
    """The set-up every measurement shares: a temporary directory, the three nginx backends on CPU 0, a TLS
    certificate, the load scripts, and the proxies under test on CPU 1 (fresh ones for each scenario). Everything
    started is stopped on close, on Ctrl-C and on SIGTERM / SIGHUP."""

    def __init__(self, a):
        self.a = a
        self.work = tempfile.mkdtemp(prefix="grapevine-bench-")
        os.chmod(self.work, 0o755)           # nginx workers drop root and must read the files in here
        self.procs = Processes(self.work)

        def on_signal(signum, _frame):
            raise KeyboardInterrupt(f"signal {signum}")
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGINT too: a background job inherits it ignored
            signal.signal(sig, on_signal)
        try:
            # The certificate in a directory of its own too: Grapevine watches its certificate's directory.
            os.makedirs(os.path.join(self.work, "certs"))
            a.certs = make_certificate(os.path.join(self.work, "certs"))
            self.files = {"dir": self.work}
            for key, text in LUA.items():
                self.files[key] = os.path.join(self.work, f"{key}.lua")
                open(self.files[key], "w").write(text)
            self.backends = start_backends(self.procs, self.work)
        except BaseException:
            self.close(grace=5)
            raise

    def start_proxies(self, tag):
        """Every proxy under test, started and checked; Grapevine's launcher may build the jars first."""
        proxies = start_proxies(self.a, self.procs, self.work, self.backends, tag)
        for p in proxies:
            check_proxy(p)
        return proxies

    def stop_proxies(self, proxies):
        """Stops them and returns {proxy: {"count", "first"}} for those that logged warnings or errors."""
        self.procs.stop([p["proc"] for p in proxies])
        notes = {}
        for p in proxies:
            warnings = [ln for ln in self.procs.log_tail(p["log"], 1 << 20).splitlines()
                        if re.search(r"\b(WARN|ERROR|ALERT)\b|\[(warn|error|crit|alert)\]", ln)]
            if warnings:
                notes[p["name"]] = {"count": len(warnings), "first": warnings[:5]}
                print(f"{p['log']}: {p['name']} logged {len(warnings)} warnings/errors, first: {warnings[0][:200]}",
                      file=sys.stderr)
        return notes

    def close(self, grace=15.0):
        self.procs.stop_all(grace)
        if self.a.keep:
            print(f"configs and logs kept in {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def with_bench(a, prog, body):
    """body(bench) with a Bench set up; everything started is stopped afterwards, and on Ctrl-C or SIGTERM, which
    exit 130."""
    bench = None
    try:
        bench = Bench(a)
        return body(bench)
    except KeyboardInterrupt as e:
        print(f"{prog}: interrupted ({e}); stopping everything", file=sys.stderr)
        if bench:
            bench.close(grace=5)
            bench = None
        sys.exit(130)
    finally:
        if bench:
            bench.close()


def write_outputs(a, text, document):
    """Prints the Markdown report and writes it to --markdown, and the figures to --json, when given."""
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(document, f, indent=1)


def add_common_options(ap):
    """The options of the set-up (which proxies, how Grapevine is started), shared by bench/run's commands."""
    ap.add_argument("--proxies", default=",".join(PROXIES), help="subset of %(default)s")
    ap.add_argument("--grapevine-cmd", default=GRAPEVINE_CMD,
                    help="command that starts Grapevine, run from the repository root; {servers}, {port} and "
                         "{admin} are filled in (default: %(default)s)")
    ap.add_argument("--grapevine-conf", default="{}",
                    help='JSON merged into the servers.conf Grapevine gets, e.g. '
                         '\'{"limits": {"max_idle_per_server": 1024}}\' (default: none, Grapevine defaults)')
    ap.add_argument("--variant", nargs="+", action="append", metavar="NAME VAR=VALUE",
                    help="one more Grapevine, called grapevine-NAME, started with these environment variables "
                         "(e.g. --variant iouring GRAPEVINE_TRANSPORT=io_uring, or --variant jdk25 "
                         "JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64); CONF={...} is JSON merged into its "
                         "servers.conf instead; repeatable")
    ap.add_argument("--nginx-keepalive", type=int, default=192,
                    help="nginx 'keepalive N' (idle upstream connections per worker; default %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configs and logs)")


def check_common_options(a, prog):
    a.proxies = a.proxies.split(",")
    for p in a.proxies:
        if p not in PROXIES:
            sys.exit(f"{prog}: unknown proxy '{p}' (one of {', '.join(PROXIES)})")
    variants = {}
    for v in a.variant or []:
        if len(v) < 2 or not all("=" in x for x in v[1:]) or not re.fullmatch(r"[\w.-]+", v[0]):
            sys.exit(f"{prog}: --variant NAME VAR=VALUE [VAR=VALUE...]")
        for x in v[1:]:
            if x.startswith("CONF="):
                try:
                    json.loads(x[5:])
                except ValueError as e:
                    sys.exit(f"{prog}: --variant {v[0]}: CONF is not JSON ({e})")
        variants["grapevine-" + v[0]] = dict(x.split("=", 1) for x in v[1:])
    a.variants = variants
    a.proxies += list(variants)
    if os.cpu_count() < 2:
        sys.exit(f"{prog}: needs at least 2 CPUs (load on CPU 0, proxies on CPU 1)")
    ensure_tools()


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS if s.default),
                    help="comma-separated scenario names, or 'all' (default: %(default)s)")
    ap.add_argument("--secs", type=int, default=5, help="seconds per measured run (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="measured runs per proxy and scenario (default %(default)s)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per proxy and scenario (default %(default)s)")
    ap.add_argument("--jit-warmup", type=int, default=8,
                    help="extra warm-up seconds for Grapevine (JIT) in each scenario (default %(default)s)")
    ap.add_argument("--jit-warmup-max", type=int, default=60,
                    help="Grapevine's warm-up goes on past --jit-warmup, 2 s at a time, while its JIT compilers "
                         "use more than 3 %% of a core, up to this many seconds (default %(default)s)")
    add_common_options(ap)
    ap.add_argument("--json", help="also write every run (load generator output included) to this file")
    ap.add_argument("--markdown", help="also write the report (Markdown) to this file")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    a = ap.parse_args()

    if a.list:
        for s in SCENARIOS:
            print(f"{s.name:10s} {s.title}{'' if s.default else '  (not in the default set)'}")
        return
    names = [s.name for s in SCENARIOS] if a.scenarios == "all" else a.scenarios.split(",")
    for n in names:
        if n not in BY_NAME:
            sys.exit(f"compare.py: unknown scenario '{n}' (try --list)")
    check_common_options(a, "compare.py")

    env = describe_environment()
    for name, vars_ in a.variants.items():
        java = os.path.join(vars_["JAVA_HOME"], "bin", "java") if "JAVA_HOME" in vars_ else "java"
        version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr.splitlines()
        env.setdefault("variants", {})[name] = {"env": vars_, "java": version[1] if len(version) > 1 else "?"}
    results, notes, resumption = {}, {}, {}

    def run(bench):
        for name in names:
            s = BY_NAME[name]
            # Fresh proxies for every scenario, so that nothing one scenario leaves behind (a server
            # marked down, a leaked connection) weighs on the next one.
            proxies = bench.start_proxies(name)
            results[name] = {p["name"]: [] for p in proxies}
            for p in proxies:
                resumption[p["name"]] = p.get("tls_resumption")
                # Grapevine's JIT gets its own warm-up, on this scenario's load, until its compilers are done.
                if p["name"].startswith("grapevine"):
                    secs, pct = jit_warm_up(s, p, a.warmup + a.jit_warmup, a.warmup + a.jit_warmup_max, bench.files)
                    print(f"{name}: {p['name']} warmed up {secs} s (JIT compilers {pct:.1f} % of a core in the "
                          f"last 2 s)", file=sys.stderr)
                    env.setdefault("warmups", {}).setdefault(name, {})[p["name"]] = [secs, round(pct, 1)]
                else:
                    run_load(s, p, a.warmup, bench.files)
            for r in range(a.rounds):
                k = r % len(proxies)
                for p in proxies[k:] + proxies[:k]:
                    m = measure(s, p, a.secs, bench.files)
                    results[name][p["name"]].append(m)
                    print(f"{name} round {r + 1}: {p['name']:9s} {m['rps']:9.0f} req/s "
                          f"{m['cpu_us_per_req']:7.1f} us/req  p99 {fmt_ms(m['p99_ms'])} ms  errors {m['errors']}"
                          f"  (cpu1 other {m['cpu1_other_pct']:.0f}%, load {m['loadavg']})", file=sys.stderr)
            scenario_notes = bench.stop_proxies(proxies)
            if scenario_notes:
                notes[name] = scenario_notes
    with_bench(a, "compare.py", run)
    env["loadavg_after"] = open("/proc/loadavg").read().strip()
    env["tls_resumption"] = resumption
    write_outputs(a, report(env, a, results, notes), {
        "env": env, "args": {k: v for k, v in vars(a).items() if k != "certs"},
        "medians": {n: {p: medians(runs) for p, runs in per.items()} for n, per in results.items()},
        "results": results, "log_warnings": notes})


if __name__ == "__main__":
    main()
