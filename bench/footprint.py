#!/usr/bin/env python3
"""What an idle agent and an idle proxy cost: memory, CPU, threads, and how fast an agent is announced.

    bench/run footprint                # 1 peer: one proxy, one agent; 60 s idle window
    bench/run footprint --agents 50    # 50 agents in the cluster; the first one is measured
    bench/run footprint --secs 120     # a longer idle window

Every sidecar runs an agent, so its idle cost is multiplied by the number of containers. This starts a
gossip proxy (with a fresh cluster key) and N agents, each with a demo backend (`--demo`), all on
loopback and free ports, with the launcher's default JVM options. It reports, for the first agent:

  start->announced   from spawning the agent to its "Announcing" log line, and to the proxy's /table
                     listing it
  RSS                resident memory once idle (/proc/PID/status VmRSS), and the JVM's own account of
                     it (heap, metaspace, code cache, thread stacks: jcmd VM.native_memory summary when
                     GRAPEVINE_JVM_OPTS enables -XX:NativeMemoryTracking=summary)
  idle CPU           utime+stime over the idle window divided by its length (/proc/PID/stat), in % of
                     one core; the same for the proxy
  threads            /proc/PID/status Threads

Nothing but loopback is used; every process started is stopped on exit (Ctrl-C included).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GV = os.path.join(REPO, "grapevine")

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--agents", type=int, default=1, help="agents in the cluster (the first is measured)")
ap.add_argument("--secs", type=int, default=60, help="idle window in seconds")
ap.add_argument("--settle", type=int, default=10, help="seconds to wait after the last announcement")
ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
ap.add_argument("--agent-opts", help="JVM options of the agents instead of the launcher's defaults (given to them "
                                    "as GRAPEVINE_JVM_OPTS, which only the agents see), for experiments")
args = ap.parse_args()

work = tempfile.mkdtemp(prefix="gv-footprint-")
procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def spawn(cmd, name, env=None):
    out = open(os.path.join(work, name + ".log"), "wb")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
                         env=env)
    procs.append(p)
    return p


def cleanup(*_):
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + 15
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass


signal.signal(signal.SIGINT, lambda *_: (cleanup(), sys.exit(130)))
signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(143)))


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split()[1]
    return None


def table(admin):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/table", timeout=2) as r:
        return json.load(r)


def wait_for(cond, secs, what):
    end = time.time() + secs
    while time.time() < end:
        try:
            if cond():
                return True
        except OSError:
            pass
        time.sleep(0.01)
    sys.exit(f"footprint: timed out waiting for {what}; logs in {work}")


def log_has(name, text):
    with open(os.path.join(work, name + ".log"), errors="replace") as f:
        return text in f.read()


def jvm_pid(p):
    """The launcher execs the JVM, so the spawned pid is the JVM."""
    return p.pid


try:
    if not os.path.exists(os.path.join(REPO, "proxy/target/grapevine-proxy.jar")):
        subprocess.run([GV, "build"], check=True, stdout=subprocess.DEVNULL)
    key = os.path.join(work, "cluster.key")
    with open(key, "w") as f:
        f.write(subprocess.run([GV, "keygen"], check=True, capture_output=True, text=True).stdout)
    os.chmod(key, 0o600)
    servers = os.path.join(work, "servers.conf")
    with open(servers, "w") as f:
        f.write('{"backend_servers": []}')
    listen, admin, gossip = free_port(), free_port(), free_port()
    proxy = spawn([GV, "proxy", "--servers", servers, "--listen", f"127.0.0.1:{listen}",
                   "--admin", f"127.0.0.1:{admin}", "--gossip", str(gossip), "--cluster-key", key], "proxy")
    wait_for(lambda: table(admin) is not None, 60, "the proxy's admin port")

    agent_env = dict(os.environ)
    if args.agent_opts:
        agent_env["GRAPEVINE_JVM_OPTS"] = args.agent_opts
    agents = []
    first = None
    for i in range(args.agents):
        target = free_port()
        t0 = time.monotonic()
        a = spawn([GV, "agent", "--join", f"127.0.0.1:{gossip}", "--service", "web", "--target",
                   f"127.0.0.1:{target}", "--demo", "--cluster-key", key], f"agent-{i}", agent_env)
        agents.append((a, target))
        if i == 0:
            wait_for(lambda: log_has("agent-0", "Announcing"), 60, "the first agent's announcement")
            logged = time.monotonic() - t0
            wait_for(lambda: any(s["port"] == target for s in table(admin)["servers"]), 60,
                     "the first agent in the proxy's table")
            routable = time.monotonic() - t0
            first = (a, logged, routable)
    wait_for(lambda: len(table(admin)["servers"]) == args.agents, 300, "every agent in the table")
    time.sleep(args.settle)

    a, logged, routable = first
    apid, ppid = jvm_pid(a), jvm_pid(proxy)
    hz = os.sysconf("SC_CLK_TCK")
    t0, a0, p0 = time.monotonic(), ticks(apid), ticks(ppid)
    time.sleep(args.secs)
    t1, a1, p1 = time.monotonic(), ticks(apid), ticks(ppid)
    window = t1 - t0
    result = {
        "agents": args.agents,
        "window_s": round(window, 1),
        "agent_start_to_announcing_s": round(logged, 3),
        "agent_start_to_proxy_table_s": round(routable, 3),
        "agent_rss_mb": round(int(status(apid, "VmRSS")) / 1024, 1),
        "agent_threads": int(status(apid, "Threads")),
        "agent_idle_cpu_pct": round((a1 - a0) / hz / window * 100, 3),
        "proxy_rss_mb": round(int(status(ppid, "VmRSS")) / 1024, 1),
        "proxy_threads": int(status(ppid, "Threads")),
        "proxy_idle_cpu_pct": round((p1 - p0) / hz / window * 100, 3),
    }
    nmt = subprocess.run(["jcmd", str(apid), "VM.native_memory", "summary"], capture_output=True, text=True)
    if nmt.returncode == 0 and "Total:" in nmt.stdout:
        result["agent_nmt"] = {m.group(1).strip(): int(m.group(2)) // 1024 for m in
                               re.finditer(r"-\s+([A-Za-z ]+) \(reserved=\d+KB, committed=(\d+)KB", nmt.stdout)}
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:32s} {v}")
    shutil.rmtree(work, ignore_errors=True)     # kept, with the logs, when anything above failed
finally:
    cleanup()
