#!/usr/bin/env python3
"""What an idle agent and an idle proxy cost: memory, CPU, threads, and how fast an agent is announced.

    bench/run footprint                # 1 peer: one proxy, one agent; 60 s idle window
    bench/run footprint --agents 50    # 50 agents and the proxy: each agent has 50 peers
    bench/run footprint --nmt          # also the JVM's account of memory (Native Memory Tracking)
    bench/run footprint --agent-opts "-Xmx64m ..."   # other JVM options for the agents, for experiments

Every sidecar runs an agent, so its idle cost is multiplied by the number of containers. This starts a
gossip proxy (with a fresh cluster key) and N agents one after the other, each waiting for the previous one's
announcement, and beside them a proxy without gossip (the default: servers.conf alone, two static servers
served by this script, health-checked as configured by default), all on loopback and free ports, with the launcher's default JVM options (its class data
sharing archive made first, so that no agent's start pays for it). Each agent probes a backend served by
this script (a 200 for every GET), so the agent's figures are the agent's own; --demo gives each agent its
in-process demo backend instead, as ./grapevine demo runs it. It reports:

  start->announced   from spawning an agent to its "Announcing" log line (or "... is announced now" when its
                     first join attempt timed out), and, timed apart, to the proxy's /table listing it (the
                     moment it can be routed to): the first agent (the proxy its only peer), the last one,
                     the median
  RSS                resident memory once idle (/proc/PID/status VmRSS; RssAnon is the process's own memory,
                     RssFile the mapped jar, JVM library and class data sharing archive); PSS
                     (/proc/PID/smaps_rollup) splits each shared page between the processes that map it,
                     so with many agents on a host their common jar, JVM and archive pages count once
  idle CPU           utime+stime over the idle window divided by its length (/proc/PID/stat), in % of one
                     core: for the first agent, the median and maximum over all agents, and each proxy
  threads            /proc/PID/status Threads
  per thread         what each thread of the first agent and of each proxy used over the window
                     (/proc/PID/task/*/stat) and how often it woke (voluntary context switches, from
                     /proc/PID/task/*/status): the timers that tick while nothing happens
  memory             after the window, the first agent's heap and metaspace (jcmd GC.heap_info); with --nmt
                     the first agent and the proxy run with -XX:NativeMemoryTracking=summary (a few MB of
                     its own) and jcmd VM.native_memory summary says what holds the committed memory
                     (heap, class metadata, thread stacks, code cache, GC, ...)

The figures are printed as Markdown (and written with --markdown FILE, every figure as JSON with --json
FILE; bench/run footprint does both under bench/results/). Nothing but loopback is used; every process
started is stopped on exit (Ctrl-C included). Idle figures are small: run on a quiet machine
(cat /proc/loadavg), and read them with the load average printed next to them.
"""
import argparse
import datetime
import http.server
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import compare

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GV = os.path.join(REPO, "grapevine")
HZ = os.sysconf("SC_CLK_TCK")
NMT_OPTS = "-XX:NativeMemoryTracking=summary"


class Run:
    """The processes and files of one run; everything is stopped and removed by close()."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="gv-footprint-")
        self.procs = []
        self.servers = []

    def spawn(self, cmd, name, env=None):
        with open(self.log(name), "wb") as out:
            p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
                                 env=env)
        self.procs.append(p)
        return p

    def times_to(self, t0, conditions, secs, what):
        """Seconds from t0 until each of conditions ({name: callable}) first held, all polled together: one
        event is not timed only once another has happened."""
        end, times = time.monotonic() + secs, {}
        while time.monotonic() < end:
            for name, cond in conditions.items():
                if name not in times:
                    try:
                        if cond():
                            times[name] = time.monotonic() - t0
                    except OSError:
                        pass
            if len(times) == len(conditions):
                return times
            time.sleep(0.01)
        raise TimeoutError(f"timed out waiting for {what}; logs in {self.work}")

    def start_times(self, t0, log, admin, target, name):
        """(to the agent's announcement in its log, to its place in the proxy's /table), timed apart from t0."""
        t = self.times_to(t0, {"log": lambda: self.announced(log),
                               "table": lambda: any(s["port"] == target for s in table(admin)["servers"])},
                          60, f"agent {name}'s announcement and its place in the proxy's table")
        return t["log"], t["table"]

    def log(self, name):
        return os.path.join(self.work, name + ".log")

    def announced(self, name):
        """The agent logged its announcement: at once, or after a first join that timed out."""
        with open(self.log(name), errors="replace") as f:
            text = f.read()
        return "Announcing" in text or "is announced now" in text

    def close(self):
        for server in self.servers:
            server.shutdown()
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.time() + 20
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass

    def wait_for(self, cond, secs, what):
        self.times_to(time.monotonic(), {what: cond}, secs, what)


class HealthHandler(http.server.BaseHTTPRequestHandler):
    """The agents' backends: 200 and a short body for every GET."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):                        # noqa: N802 (http.server's naming)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass                             # the agent's probe reads the status line only, then closes

    def log_message(self, *_):
        pass


class Backend(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def start_backend(run):
    """A backend on a free loopback port, served by a thread of this process; returns its port."""
    server = Backend(("127.0.0.1", 0), HealthHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    run.servers.append(server)
    return server.server_address[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def table(admin):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/table", timeout=2) as r:
        return json.load(r)


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def ticks(path):
    with open(path + "/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def threads(pid):
    """{tid: (name, cpu ticks, voluntary switches, involuntary switches)} of a live process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        path = f"/proc/{pid}/task/{tid}"
        try:
            with open(path + "/comm") as f:
                name = f.read().strip()
            out[tid] = (name, ticks(path), status(f"{pid}/task/{tid}", "voluntary_ctxt_switches"),
                        status(f"{pid}/task/{tid}", "nonvoluntary_ctxt_switches"))
        except OSError:
            pass                             # the thread ended while being read
    return out


def thread_group(name):
    """Threads of one pool under one name: digits and the address in scalecube's names stripped."""
    name = re.sub(r"sc-cluster-.*", "sc-cluster-<addr>", name) if not name.startswith("sc-cluster-io") else name
    return re.sub(r"[-#]?\d+$", "-N", name)


def per_thread(before, after, window):
    """Per thread group: CPU in % of a core, wakeups/s (voluntary switches) and threads, busiest first."""
    groups = {}
    for tid, (name, cpu, vol, invol) in after.items():
        _, cpu0, vol0, invol0 = before.get(tid, (name, 0, 0, 0))
        g = groups.setdefault(thread_group(name), {"threads": 0, "cpu_pct": 0.0, "wakeups_s": 0.0, "preempted_s": 0.0})
        g["threads"] += 1
        g["cpu_pct"] += (cpu - cpu0) / HZ / window * 100
        g["wakeups_s"] += (vol - vol0) / window
        g["preempted_s"] += (invol - invol0) / window
    rows = sorted(groups.items(), key=lambda kv: (-kv[1]["cpu_pct"], -kv[1]["wakeups_s"], kv[0]))
    return [{"thread": k, **{f: round(v, 3) if isinstance(v, float) else v for f, v in g.items()}} for k, g in rows]


def jcmd(pid, *command):
    try:
        r = subprocess.run([jcmd_path(), str(pid), *command], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout if r.returncode == 0 else ""


def jcmd_path():
    home = os.environ.get("JAVA_HOME")
    return os.path.join(home, "bin", "jcmd") if home else "jcmd"


def heap_info(pid):
    """Heap and metaspace in MB from GC.heap_info (any collector: the totals and the Metaspace line)."""
    text = jcmd(pid, "GC.heap_info")
    info = {}
    gens = re.findall(r"^\s*(\w[\w ]*?)\s+total (\d+)K, used (\d+)K", text, re.M)
    if gens:
        info["heap_committed_mb"] = round(sum(int(t) for _, t, _ in gens) / 1024, 1)
        info["heap_used_mb"] = round(sum(int(u) for _, _, u in gens) / 1024, 1)
    m = re.search(r"Metaspace\s+used (\d+)K, committed (\d+)K", text)
    if m:
        info["metaspace_used_mb"] = round(int(m.group(1)) / 1024, 1)
        info["metaspace_committed_mb"] = round(int(m.group(2)) / 1024, 1)
    m = re.search(r"class space\s+used (\d+)K, committed (\d+)K", text)
    if m:
        info["class_space_used_mb"] = round(int(m.group(1)) / 1024, 1)
    return info


def native_memory(pid):
    """Committed MB per NMT category, and the total; empty unless the JVM runs with NMT."""
    text = jcmd(pid, "VM.native_memory", "summary")
    out = {}
    m = re.search(r"Total: reserved=\d+KB, committed=(\d+)KB", text)
    if not m:
        return out
    out["Total"] = round(int(m.group(1)) / 1024, 1)
    for m in re.finditer(r"-\s+([A-Za-z][A-Za-z ]*?) \(reserved=\d+KB, committed=(\d+)KB", text):
        out[m.group(1).strip()] = round(int(m.group(2)) / 1024, 1)
    m = re.search(r"Thread \(reserved=\d+KB, committed=\d+KB\)\s*\n\s*\(thread #(\d+)\)", text)
    if m:
        out["threads"] = int(m.group(1))
    return out


def pss(pid):
    """Proportional set size in kB: each shared page divided by the processes that map it (/proc/PID/smaps_rollup)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(pid):
    rss, anon, file_ = (status(pid, k) for k in ("VmRSS", "RssAnon", "RssFile"))
    return {"rss_mb": round(rss / 1024, 1), "rss_anon_mb": round(anon / 1024, 1), "rss_file_mb": round(file_ / 1024, 1),
            "pss_mb": round(pss(pid) / 1024, 1),
            "threads": status(pid, "Threads")}


def describe_environment():
    def sh(cmd):
        r = subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=REPO)
        return r.stdout.strip() or r.stderr.strip()
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else "java"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": sh("git rev-parse --short HEAD") + (" (dirty)" if sh("git status --porcelain -uno") else ""),
        "java": sh(f"'{java}' -version 2>&1 | sed -n 2p"),
        "nproc": sh("nproc"),
        "kernel": sh("uname -r"),
        "loadavg_before": open("/proc/loadavg").read().strip(),
    }


def median(values):
    return statistics.median(values) if values else float("nan")


def agent_summary(ag, mem, cpu_pct):
    return {"name": ag["name"], "env": ag["env"], "start_to_announcing_s": round(ag["announcing_s"], 3),
            "start_to_proxy_table_s": round(ag["in_table_s"], 3), **mem, "idle_cpu_pct": round(cpu_pct, 3)}


def time_starts(a, run, plan, base_env, key, gossip, admin):
    """Each of plan's agents started --starts times more, in turns, one at a time, each stopped (without a
    drain) once it is in the proxy's table: start-to-announced medians that do not hang on one start."""
    times = {name: [] for name, _ in plan}
    for n in range(a.starts):
        for name, extra in plan:
            target = start_backend(run)
            log = f"start-{name}-{n}"
            t0 = time.monotonic()
            p = run.spawn([GV, "agent", "--join", f"127.0.0.1:{gossip}", "--service", "web", "--target",
                           f"127.0.0.1:{target}", "--cluster-key", key, "--drain-seconds", "0"], log,
                          {**base_env, **extra})
            times[name].append(run.start_times(t0, log, admin, target, name))
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(30)
        print(f"footprint: start round {n + 1}/{a.starts} done", file=sys.stderr)
    return {name: {"announcing_s": [round(x, 3) for x, _ in t], "in_table_s": [round(y, 3) for _, y in t],
                   "announcing_median_s": round(median([x for x, _ in t]), 3),
                   "in_table_median_s": round(median([y for _, y in t]), 3)} for name, t in times.items() if t}


def measure(a, run):
    if not (os.path.exists(os.path.join(REPO, "proxy/target/grapevine-proxy.jar"))
            and os.path.exists(os.path.join(REPO, "agent/target/grapevine-agent.jar"))):
        subprocess.run([GV, "build"], check=True, stdout=subprocess.DEVNULL)
    base_env = dict(os.environ)
    if a.agent_opts:
        base_env["GRAPEVINE_JVM_OPTS"] = a.agent_opts
    plan = [("default" if i == 0 else f"agent-{i}", {}) for i in range(a.agents)] + list(a.variants.items())
    # The launcher makes the agents' class data sharing archive when there is none for the jar and the JVM
    # options; here, before any agent is timed (an agent's --help starts nothing else).
    for _, extra in plan[:1] + plan[a.agents:]:
        subprocess.run([GV, "agent", "--help"], env={**base_env, **extra}, check=True, stdout=subprocess.DEVNULL)

    def nmt(env):
        return {**env, "JAVA_TOOL_OPTIONS": (env.get("JAVA_TOOL_OPTIONS", "") + " " + NMT_OPTS).strip()}

    key = os.path.join(run.work, "cluster.key")
    with open(key, "w") as f:
        f.write(subprocess.run([GV, "keygen"], check=True, capture_output=True, text=True).stdout)
    os.chmod(key, 0o600)
    # Each proxy's servers.conf in a directory of its own: a proxy watches that directory, and the processes'
    # logs written beside it would wake it.
    servers = os.path.join(run.work, "gossip-proxy", "servers.conf")
    os.makedirs(os.path.dirname(servers))
    with open(servers, "w") as f:
        f.write('{"backend_servers": []}')
    listen, admin, gossip = free_port(), free_port(), free_port()
    proxy = run.spawn([GV, "proxy", "--servers", servers, "--listen", f"127.0.0.1:{listen}",
                       "--admin", f"127.0.0.1:{admin}", "--gossip", str(gossip), "--cluster-key", key], "proxy",
                      nmt(dict(os.environ)) if a.nmt else None)
    run.wait_for(lambda: table(admin) is not None, 60, "the proxy's admin port")
    # The proxy as it runs by default, without gossip: servers.conf alone, two static servers, health checks.
    static_servers = os.path.join(run.work, "static-proxy", "servers.conf")
    os.makedirs(os.path.dirname(static_servers))
    with open(static_servers, "w") as f:
        json.dump({"backend_servers": [{"name": f"static-{i}", "ip": "127.0.0.1", "port": start_backend(run)}
                                       for i in (1, 2)]}, f)
    static_admin = free_port()
    static_proxy = run.spawn([GV, "proxy", "--servers", static_servers, "--listen", f"127.0.0.1:{free_port()}",
                              "--admin", f"127.0.0.1:{static_admin}"], "static-proxy")
    run.wait_for(lambda: all(srv["state"] == "up" for srv in table(static_admin)["servers"]), 60,
                 "the static proxy's servers up")

    agents = []
    for i, (name, extra) in enumerate(plan):
        target = free_port() if a.demo else start_backend(run)
        argv = [GV, "agent", "--join", f"127.0.0.1:{gossip}", "--service", "web", "--target", f"127.0.0.1:{target}",
                "--cluster-key", key] + (["--demo"] if a.demo else [])
        env = {**base_env, **extra}
        t0 = time.monotonic()
        p = run.spawn(argv, f"agent-{i}", nmt(env) if a.nmt and (i == 0 or i >= a.agents) else env)
        logged, listed = run.start_times(t0, f"agent-{i}", admin, target, name)
        agents.append({"name": name, "env": extra, "pid": p.pid, "announcing_s": logged, "in_table_s": listed})
        print(f"footprint: agent {i + 1}/{len(plan)} ({name}) announced after {logged:.2f} s", file=sys.stderr)
    run.wait_for(lambda: len(table(admin)["servers"]) == len(plan), 120, "every agent in the table")
    time.sleep(a.settle)

    # The launcher execs the JVM, so each spawned pid is the JVM's.
    base, variants, ppid, spid = agents[:a.agents], agents[a.agents:], proxy.pid, static_proxy.pid
    first = base[0]["pid"]
    detailed = [first, ppid, spid] + [v["pid"] for v in variants]
    t0 = time.monotonic()
    cpu0 = {ag["pid"]: ticks(f"/proc/{ag['pid']}") for ag in agents}
    cpu0[ppid] = ticks(f"/proc/{ppid}")
    cpu0[spid] = ticks(f"/proc/{spid}")
    threads0 = {pid: threads(pid) for pid in detailed}
    time.sleep(a.secs)
    window = time.monotonic() - t0
    cpu1 = {pid: ticks(f"/proc/{pid}") for pid in cpu0}
    threads1 = {pid: threads(pid) for pid in detailed}
    pct = {pid: (cpu1[pid] - cpu0[pid]) / HZ / window * 100 for pid in cpu0}
    mems = {pid: memory(pid) for pid in cpu0}
    loadavg_after = open("/proc/loadavg").read().strip()

    # jcmd starts an attach listener thread in the JVM: only once every other figure is read.
    def details(pid):
        return {"per_thread": per_thread(threads0[pid], threads1[pid], window), "heap": heap_info(pid),
                "native_memory": native_memory(pid) if a.nmt else {}}

    starts = time_starts(a, run, plan[:1] + plan[a.agents:], base_env, key, gossip, admin)
    return {
        "agents": a.agents,
        "starts": starts,
        "demo_backend_in_agent": a.demo,
        "window_s": round(window, 1),
        "loadavg_after": loadavg_after,
        "agent": {**agent_summary(base[0], mems[first], pct[first]), **details(first)},
        "all_agents": {
            "start_to_announcing_s": {"median": round(median([ag["announcing_s"] for ag in base]), 3),
                                      "last": round(base[-1]["announcing_s"], 3),
                                      "max": round(max(ag["announcing_s"] for ag in base), 3)},
            "rss_mb": {"median": round(median([mems[ag["pid"]]["rss_mb"] for ag in base]), 1),
                       "max": max(mems[ag["pid"]]["rss_mb"] for ag in base)},
            "pss_mb": {"median": round(median([mems[ag["pid"]]["pss_mb"] for ag in base]), 1),
                       "max": max(mems[ag["pid"]]["pss_mb"] for ag in base)},
            "idle_cpu_pct": {"median": round(median([pct[ag["pid"]] for ag in base]), 3),
                             "max": round(max(pct[ag["pid"]] for ag in base), 3)},
        },
        "variants": [{**agent_summary(v, mems[v["pid"]], pct[v["pid"]]), **details(v["pid"])} for v in variants],
        "proxy": {**mems[ppid], "idle_cpu_pct": round(pct[ppid], 3), **details(ppid)},
        "static_proxy": {**mems[spid], "idle_cpu_pct": round(pct[spid], 3), **details(spid)},
    }


def mb_pair(h, used, committed):
    return f"{h[used]} / {h[committed]} MB" if used in h else "?"


def report(env, a, r):
    ag, px, sp, every = r["agent"], r["proxy"], r["static_proxy"], r["all_agents"]
    opts = a.agent_opts or "the launcher's defaults"
    lines = [
        f"Measured {env['date']}, commit `{env['commit']}`; {env['java']}; {env['nproc']} CPUs, kernel {env['kernel']}.",
        f"Load average before: {env['loadavg_before']}; after: {r['loadavg_after']}.",
        f"{r['agents']} agent(s) and one proxy (each agent has {r['agents'] + len(r['variants'])} peer(s)); agent JVM "
        f"options: {opts}; {'demo backend inside each agent' if r['demo_backend_in_agent'] else 'backends served by the bench'}"
        f"; idle window {r['window_s']} s{'; Native Memory Tracking on (its own memory is in the RSS)' if a.nmt else ''}.",
        "",
        "| | first agent | all agents: median / max | proxy (gossip) | proxy without gossip |",
        "|---|---:|---:|---:|---:|",
        f"| start to \"Announcing\" | {ag['start_to_announcing_s']:.2f} s | {every['start_to_announcing_s']['median']:.2f}"
        f" / {every['start_to_announcing_s']['max']:.2f} s (last {every['start_to_announcing_s']['last']:.2f} s) | | |",
        f"| start to listed in the proxy's /table | {ag['start_to_proxy_table_s']:.2f} s | | | |",
        f"| RSS | {ag['rss_mb']} MB | {every['rss_mb']['median']} / {every['rss_mb']['max']} MB | {px['rss_mb']} MB | "
        f"{sp['rss_mb']} MB |",
        f"| PSS (shared pages split between the processes mapping them) | {ag['pss_mb']} MB | "
        f"{every['pss_mb']['median']} / {every['pss_mb']['max']} MB | {px['pss_mb']} MB | {sp['pss_mb']} MB |",
        f"| RSS anonymous / file-backed | {ag['rss_anon_mb']} / {ag['rss_file_mb']} MB | | "
        f"{px['rss_anon_mb']} / {px['rss_file_mb']} MB | {sp['rss_anon_mb']} / {sp['rss_file_mb']} MB |",
        f"| threads | {ag['threads']} | | {px['threads']} | {sp['threads']} |",
        f"| idle CPU, % of a core | {ag['idle_cpu_pct']:.2f} | {every['idle_cpu_pct']['median']:.2f} / "
        f"{every['idle_cpu_pct']['max']:.2f} | {px['idle_cpu_pct']:.2f} | {sp['idle_cpu_pct']:.2f} |",
        f"| heap used / committed | {mb_pair(ag['heap'], 'heap_used_mb', 'heap_committed_mb')} | | "
        f"{mb_pair(px['heap'], 'heap_used_mb', 'heap_committed_mb')} | "
        f"{mb_pair(sp['heap'], 'heap_used_mb', 'heap_committed_mb')} |",
        f"| metaspace used / committed | {mb_pair(ag['heap'], 'metaspace_used_mb', 'metaspace_committed_mb')} | | "
        f"{mb_pair(px['heap'], 'metaspace_used_mb', 'metaspace_committed_mb')} | "
        f"{mb_pair(sp['heap'], 'metaspace_used_mb', 'metaspace_committed_mb')} |",
    ]
    if r["variants"]:
        lines += ["", "Variants, measured in the same idle window (one agent each; the first agent for reference):", "",
                  "| agent | start to Announcing | RSS (anon / file) | threads | idle CPU % | heap used / committed | "
                  "environment |", "|---|---:|---:|---:|---:|---:|---|"]
        for v in [ag] + r["variants"]:
            lines.append(f"| {v['name']} | {v['start_to_announcing_s']:.2f} s | {v['rss_mb']} ({v['rss_anon_mb']} / "
                         f"{v['rss_file_mb']}) MB | {v['threads']} | {v['idle_cpu_pct']:.2f} | "
                         f"{mb_pair(v['heap'], 'heap_used_mb', 'heap_committed_mb')} | "
                         f"{' '.join(f'{k}={x}' for k, x in v['env'].items()) or '(as the others)'} |")
    if r["starts"]:
        lines += ["", f"Start to announced, {a.starts} more starts each, in turns (median, min-max):", "",
                  "| agent | start to Announcing | start to listed in /table |", "|---|---:|---:|"]
        for name, t in r["starts"].items():
            lines.append(f"| {name} | {t['announcing_median_s']:.2f} s ({min(t['announcing_s']):.2f}-"
                         f"{max(t['announcing_s']):.2f}) | {t['in_table_median_s']:.2f} s ({min(t['in_table_s']):.2f}-"
                         f"{max(t['in_table_s']):.2f}) |")
    measured = [("first agent", ag)] + [(v["name"], v) for v in r["variants"]] + [("proxy (gossip)", px),
                                                                                   ("proxy without gossip", sp)]
    with_nmt = [(who, m) for who, m in measured if m["native_memory"]]
    if with_nmt:
        lines += ["", "Committed memory by the JVM's account (jcmd VM.native_memory summary), MB:", "",
                  "| category | " + " | ".join(who for who, _ in with_nmt) + " |",
                  "|---|" + "---:|" * len(with_nmt)]
        names = []
        for _, m in with_nmt:
            names += [k for k in m["native_memory"] if k not in names]
        for name in names:
            values = [m["native_memory"].get(name) for _, m in with_nmt]
            if any(values):
                lines.append(f"| {name} | " + " | ".join("" if v is None else str(v) for v in values) + " |")
    for who, m in measured if a.all_threads else [measured[0], measured[-2], measured[-1]]:
        rows = m["per_thread"]
        lines += ["", f"Per thread, {who} (wakeups: voluntary context switches; threads of one pool summed):", "",
                  "| thread | threads | CPU % of a core | wakeups/s | preempted/s |", "|---|---:|---:|---:|---:|"]
        for t in rows:
            if t["cpu_pct"] > 0 or t["wakeups_s"] >= 0.05:
                lines.append(f"| {t['thread']} | {t['threads']} | {t['cpu_pct']:.3f} | {t['wakeups_s']:.1f} | "
                             f"{t['preempted_s']:.1f} |")
        quiet = [t for t in rows if not (t["cpu_pct"] > 0 or t["wakeups_s"] >= 0.05)]
        if quiet:
            lines.append(f"| never woke: {', '.join(t['thread'] for t in quiet)} | "
                         f"{sum(t['threads'] for t in quiet)} | 0 | 0 | |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--agents", type=int, default=1, help="agents in the cluster, the first one measured in detail "
                                                          "(default %(default)s)")
    ap.add_argument("--secs", type=int, default=60, help="idle window in seconds (default %(default)s)")
    ap.add_argument("--settle", type=int, default=10, help="seconds to wait after the last announcement "
                                                           "(default %(default)s)")
    ap.add_argument("--demo", action="store_true", help="each agent runs its demo backend in its own JVM (--demo)")
    ap.add_argument("--nmt", action="store_true", help="Native Memory Tracking in the first agent and the proxy")
    ap.add_argument("--agent-opts", help="JVM options of the agents instead of the launcher's defaults (given to "
                                         "them as GRAPEVINE_JVM_OPTS, which only the agents see)")
    ap.add_argument("--variant", nargs="+", action="append", default=[], metavar="NAME VAR=VALUE",
                    help="one more agent, NAME, started with these environment variables and measured in the same "
                         "window (e.g. --variant small GRAPEVINE_JVM_OPTS='-Xmx32m ...', or --variant jdk25 "
                         "JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64); repeatable")
    ap.add_argument("--starts", type=int, default=5,
                    help="after the window, start the first agent's set-up and each variant this many more times, "
                         "in turns, for start-to-announced medians (default %(default)s; 0: none)")
    ap.add_argument("--all-threads", action="store_true", help="per-thread tables of the variants too")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (the logs of every process)")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--markdown", help="write the report to this file")
    a = ap.parse_args()
    if a.agents < 1:
        ap.error("--agents must be at least 1")
    a.variants = {}
    for v in a.variant:
        if len(v) < 2 or not all("=" in x for x in v[1:]) or not re.fullmatch(r"[\w.-]+", v[0]) or v[0] in a.variants:
            ap.error("--variant NAME VAR=VALUE [VAR=VALUE...], a different NAME each")
        a.variants[v[0]] = dict(x.split("=", 1) for x in v[1:])
    env = describe_environment()
    run = Run()
    signal.signal(signal.SIGINT, lambda *_: (run.close(), sys.exit(130)))
    signal.signal(signal.SIGTERM, lambda *_: (run.close(), sys.exit(143)))
    try:
        result = measure(a, run)
    except (TimeoutError, subprocess.CalledProcessError) as e:
        run.close()
        sys.exit(f"footprint: {e}")
    run.close()
    compare.write_outputs(a, report(env, a, result), {"env": env, "agent_opts": a.agent_opts, "results": result})
    if a.keep:
        print(f"footprint: logs kept in {run.work}", file=sys.stderr)
    else:
        shutil.rmtree(run.work, ignore_errors=True)  # kept, with the logs, when anything above failed


if __name__ == "__main__":
    main()
