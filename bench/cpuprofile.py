#!/usr/bin/env python3
"""Where Grapevine's CPU goes under a scenario, kernel included: async-profiler's CPU samples, summed by kind.

    bench/run cpuprofile                                  # get, pipeline, close, https, tls-resume, h2; 20 s each
    bench/run cpuprofile --scenarios https --secs 30
    bench/run cpuprofile --keep-stacks                    # also keep the collapsed stacks (flame graph input)
    bench/cpuprofile.py --summarise bench/results/cpuprofile-get-*.collapsed   # kept stacks, summed again

The set-up is compare.py's (three nginx backends and the load generator on CPU 0, Grapevine alone on CPU 1,
started by the launcher with its default options), with HAProxy beside it: for each scenario both are warmed
up, HAProxy is measured once for the ratio, then Grapevine is measured while async-profiler (the
`tools.profiler:async-profiler` jar from Maven Central, its Linux library attached with `jcmd`) samples its
CPU time every millisecond: Java, JVM and kernel frames alike. async-profiler uses perf events where the
kernel allows them; otherwise it falls back by itself to an interval timer (`setitimer`), whose samples carry
no kernel frames, and the report then says so for each scenario (the kernel's time shows up as libc's
system call wrappers). The report gives, per scenario, the share of Grapevine's samples by kind:

- the thread: the event loop (which carries the requests), the JIT compilers, the garbage collector and
  the JVM's own threads, the rest;
- on the event loop: the kernel, by system call (`sendto`, `writev`, `recvfrom`, `epoll_wait`, ...) or as
  interrupt work; else whose code it was in (the innermost Java frame's package, or the native library):
  TLS (BoringSSL in netty-tcnative, Netty's SslHandler), the HTTP/2 codec, Grapevine's own code, Netty's
  buffers, channels and codecs, the JDK, libc's system call wrappers, the JVM's stubs;
- the user-space frames that take the most samples themselves.

Samples are CPU time, so the shares hold on a busy or slow machine; req/s and the ratio to HAProxy
printed beside them are the run's and need a quiet machine to be quoted.
"""
import argparse
import collections
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402 - the bench's shared set-up

PROFILER_VERSION = "3.0"
DEFAULT_SCENARIOS = "get,pipeline,close,https,tls-resume,h2"
# Below the system call dispatcher (do_syscall_64, el0_svc), the first frame that names a call: __x64_sys_sendto,
# __arm64_sys_..., __do_sys_..., __sys_..., or do_writev.
SYSCALL = re.compile(r"^(?:__x64_sys_|__arm64_sys_|__do_sys_|__se_sys_|__sys_|do_)(\w+?)_\[k\]$")
NOT_A_CALL = re.compile(r"^(?:do_el0_svc|do_syscall|x64_sys_call|__x64_sys_call|el0_svc_common|invoke_syscall)")
# User-space halves of the system calls and the clock: libc's wrappers and the vDSO.
LIBC_IO = re.compile(r"^(?:__GI_|__libc_|__)*(?:recv|send|writev|readv|read|write|recvfrom|sendto|sendmsg|recvmsg|"
                     r"epoll_pwait2?|epoll_wait|epoll_ctl|io_uring_enter|syscall|clock_gettime|vdso_clock_gettime)$"
                     r"|^\[vdso\]$")


JVM_STUBS = ("Interpreter", "itable stub", "vtable stub", "I2C/C2I adapters", "C2I adapters", "I2C adapters")
# The innermost Java frame's package says whose code a sample is in; first match wins.
JAVA_KINDS = [
    ("io/netty/handler/ssl/", "TLS: Netty's SslHandler"),
    ("io/netty/internal/tcnative/", "TLS: BoringSSL (netty-tcnative)"),
    ("io/netty/handler/codec/http2/", "HTTP/2 codec (Netty)"),
    ("io/grapevine/", "Grapevine"),
    ("io/netty/buffer/", "Netty buffers"),
    ("io/netty/util/Recycler", "Netty buffers"),
    ("io/netty/handler/", "Netty codecs and handlers"),
    ("io/netty/", "Netty channels, event loop, utilities"),
    ("java/", "JDK"), ("jdk/", "JDK"), ("sun/", "JDK"),
]


def profiler_library():
    """async-profiler's Linux library for this machine, from its jar: Maven copies the jar from the local
    repository (whichever that is), fetching it from Maven Central the first time, and the library is unpacked
    into bench/target."""
    arch = {"x86_64": "linux-x64", "aarch64": "linux-arm64"}.get(platform.machine())
    if arch is None:
        sys.exit(f"cpuprofile: async-profiler has no library for {platform.machine()}")
    home = os.path.join(HERE, "target", f"async-profiler-{PROFILER_VERSION}")
    target = os.path.join(home, arch, "libasyncProfiler.so")
    if os.path.exists(target):
        return target
    artifact = f"tools.profiler:async-profiler:{PROFILER_VERSION}"
    print(f"cpuprofile: getting {artifact} (Maven; from Maven Central if it is not in the local repository)",
          file=sys.stderr)
    subprocess.run(["mvn", "-B", "-q", "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={home}"],
                   check=True, stdout=sys.stderr, cwd=HERE)
    with zipfile.ZipFile(os.path.join(home, f"async-profiler-{PROFILER_VERSION}.jar")) as z:
        z.extract(f"{arch}/libasyncProfiler.so", home)
    return target


def jvm_pid(pgid):
    """The Java process of Grapevine's process group (the launcher execs it, but look rather than assume)."""
    for pid in compare.group_pids(pgid):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "java":
                    return int(pid)
        except OSError:
            continue
    raise RuntimeError("no Java process in Grapevine's process group")


def jcmd_path():
    java = os.path.realpath(subprocess.run(["bash", "-c", "command -v \"${JAVA_HOME:+$JAVA_HOME/bin/}java\""],
                                           capture_output=True, text=True).stdout.strip() or "java")
    jcmd = os.path.join(os.path.dirname(java), "jcmd")
    if not os.path.exists(jcmd):
        sys.exit(f"cpuprofile: no jcmd beside {java}: a JDK, not a JRE, is needed to attach the profiler")
    return jcmd


def profiler(jcmd, pid, lib, command, attempts=3):
    """Runs an async-profiler command in the JVM (jcmd JVMTI.agent_load; the options quoted so that jcmd does not
    split them at '='). An attach that fails (the JVM's attach listener is started on the first request, and can
    miss it) is tried again after a second."""
    for attempt in range(attempts):
        out = subprocess.run([jcmd, str(pid), "JVMTI.agent_load", lib, f'"{command}"'], capture_output=True,
                             text=True, timeout=60)
        if out.returncode == 0 and "return code: 0" in out.stdout:
            return
        if attempt + 1 < attempts:
            print(f"cpuprofile: async-profiler '{command}' failed, trying again: {out.stdout.strip()} "
                  f"{out.stderr.strip()}"[:400], file=sys.stderr)
            time.sleep(1)
    raise RuntimeError(f"async-profiler '{command}' failed: {out.stdout.strip()} {out.stderr.strip()}")


def thread_kind(name):
    if name.startswith("grapevine-io"):
        return "event loop"
    if "CompilerThre" in name:
        return "JIT compilers"
    if name in ("VM Thread",) or name.startswith("GC ") or "Sweeper" in name:
        return "GC and VM thread"
    return "other threads"


def loop_kind(frames):
    """What one event-loop sample was doing, from its frames (root first): the kernel by system call, else the
    code the sample was in (the innermost Java frame's package, or the native library)."""
    kernel = [f for f in frames if f.endswith("_[k]")]
    if kernel:
        for i, f in enumerate(kernel[:-1]):
            if f.startswith("do_syscall_64") or f.startswith("el0_svc"):
                for g in kernel[i + 1:i + 6]:
                    if NOT_A_CALL.match(g):
                        continue
                    m = SYSCALL.match(g)
                    if m:
                        name = m.group(1)
                        if name.startswith("epoll_ctl"):
                            return "kernel: epoll_ctl"
                        return "kernel: " + ("epoll_wait" if name.startswith("epoll") else name)
                    break
                # Samples taken as the call enters or leaves the kernel (a VM's interrupt switching shows here).
                return "kernel: system call entry and exit"
        return "kernel: interrupts, page faults"
    leaf = frames[-1] if frames else ""
    if leaf in JVM_STUBS:
        return "JVM stubs and interpreter"
    if "/" not in leaf or leaf.startswith("/"):
        if "tcnative" in leaf:
            return "TLS: BoringSSL (netty-tcnative)"
        if LIBC_IO.match(leaf) or leaf == "__GI_epoll_ctl":
            return "libc system call wrappers, vDSO clock"
        if "libnetty_transport" in leaf:
            return "Netty's native transport (JNI)"
    for f in reversed(frames):
        if "/" not in f or f.startswith(("[", "/")):
            continue
        for prefix, kind in JAVA_KINDS:
            if f.startswith(prefix):
                return kind
        return "other Java"
    return "native runtime (JVM, libc)"


def summarise(collapsed_path):
    """{"samples", "kernel_samples", "threads": Counter, "loop": Counter, "leaves": Counter} from a collapsed-stacks file."""
    threads, loop, leaves = collections.Counter(), collections.Counter(), collections.Counter()
    total = kernel = 0
    with open(collapsed_path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = stack.split(";")
            thread = re.sub(r"\s*tid=\d+\]$", "", frames[0]).lstrip("[")
            total += n
            kind = thread_kind(thread)
            threads[kind] += n
            if kind == "event loop":
                loop[loop_kind(frames[1:])] += n
            leaf = frames[-1]
            if leaf.endswith("_[k]"):
                kernel += n
            else:
                leaves[leaf] += n
    return {"samples": total, "kernel_samples": kernel, "threads": threads, "loop": loop, "leaves": leaves}


def pct(part, whole):
    return f"{100.0 * part / whole:.1f} %" if whole else "n/a"


def report(env, a, rows):
    out = ["## Where Grapevine's CPU goes: `bench/run cpuprofile`", "",
           f"Measured {env['date']}, commit `{env['commit']}`; {env['java']} (JVM options: {env['jvm_opts']}); "
           f"{env['nproc']} CPUs, {env['cpu']}; kernel {env['kernel']}; HAProxy {env['haproxy']}, {env['openssl']}. "
           f"async-profiler {PROFILER_VERSION}, a sample every {a.interval_ms:g} ms of CPU time, "
           f"{a.secs} s of load per scenario after the warm-up. "
           f"Load average before: {env['loadavg_before']}; after: {open('/proc/loadavg').read().strip()}.", ""]
    for r in rows:
        s, prof = r["scenario"], r["profile"]
        total = prof["samples"]
        loop_total = prof["threads"]["event loop"]
        out += [f"### {s.name}: {s.title}", "",
                f"Grapevine {r['grapevine']['rps']:.0f} req/s, {r['grapevine']['cpu_us_per_req']:.1f} µs CPU per request "
                f"({r['grapevine']['sys_share_pct']:.0f} % in the kernel by /proc); HAProxy in the same run "
                f"{r['haproxy']['rps']:.0f} req/s, {r['haproxy']['cpu_us_per_req']:.1f} µs "
                f"({r['haproxy']['sys_share_pct']:.0f} % in the kernel): req/s {compare.ratio(r['grapevine']['rps'], r['haproxy']['rps'])}, "
                f"CPU per request {compare.ratio(r['grapevine']['cpu_us_per_req'], r['haproxy']['cpu_us_per_req'])}. "
                f"{total} samples: {r['event']}.", "",
                "| thread | share of samples |", "|---|---:|"]
        for kind, n in prof["threads"].most_common():
            out.append(f"| {kind} | {pct(n, total)} |")
        out += ["", "| on the event loop | share of the loop's samples | µs per request |", "|---|---:|---:|"]
        per_req = r["grapevine"]["cpu_us_per_req"] * loop_total / total if total else 0
        for kind, n in prof["loop"].most_common():
            out.append(f"| {kind} | {pct(n, loop_total)} | {per_req * n / loop_total:.2f} |")
        out += ["", "| user-space frame (self time) | share of all samples |", "|---|---:|"]
        for leaf, n in prof["leaves"].most_common(a.top):
            out.append(f"| `{leaf[:110]}` | {pct(n, total)} |")
        for proxy, note in r.get("log_warnings", {}).items():
            out += [f"{proxy} logged {note['count']} warnings or errors, the first: `{note['first'][0][:200]}`", ""]
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default=DEFAULT_SCENARIOS, help="compare.py's scenario names (default %(default)s)")
    ap.add_argument("--secs", type=int, default=20, help="seconds of profiled load per scenario (default %(default)s)")
    ap.add_argument("--interval-ms", type=float, default=1.0, help="CPU time between samples (default %(default)s)")
    ap.add_argument("--top", type=int, default=12, help="user-space frames listed per scenario (default %(default)s)")
    ap.add_argument("--keep-stacks", action="store_true",
                    help="keep the collapsed stacks in bench/results/ (flame graph input)")
    ap.add_argument("--summarise", nargs="+", metavar="STACKS",
                    help="run nothing: sum up these collapsed-stacks files (kept by --keep-stacks) by kind")
    ap.add_argument("--grapevine-cmd", default=compare.GRAPEVINE_CMD,
                    help="command that starts Grapevine, run from the repository root (default: %(default)s)")
    ap.add_argument("--grapevine-conf", default="{}", help="JSON merged into the servers.conf Grapevine gets")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configs and logs)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--markdown", help="also write the report (Markdown) to this file")
    a = ap.parse_args()
    if a.summarise:
        lines, figures = [], {}
        for path in a.summarise:
            prof = summarise(path)
            loop = prof["threads"]["event loop"]
            lines.append(f"{path}: {prof['samples']} samples, {pct(loop, prof['samples'])} on the event loop"
                         + ("" if prof["kernel_samples"] else ", no kernel frames"))
            lines += [f"  {pct(n, loop):>7}  {kind}" for kind, n in prof["loop"].most_common()]
            figures[path] = {"samples": prof["samples"], "threads": dict(prof["threads"]), "event_loop": dict(prof["loop"])}
        compare.write_outputs(a, "\n".join(lines), figures)
        return
    a.warmup, a.jit_warmup, a.jit_warmup_max = 2, 8, 60
    names = a.scenarios.split(",")
    for n in names:
        if n not in compare.BY_NAME:
            sys.exit(f"cpuprofile: unknown scenario '{n}' (compare.py --list)")
    a.proxies, a.variant, a.nginx_keepalive = "grapevine,haproxy", None, 192
    compare.check_common_options(a, "cpuprofile")
    lib, jcmd = profiler_library(), jcmd_path()
    env = compare.describe_environment()
    results_dir = os.path.join(HERE, "results")
    os.makedirs(results_dir, exist_ok=True)
    rows = []

    def run(bench):
        for name in names:
            s = compare.BY_NAME[name]
            proxies = {p["name"]: p for p in bench.start_proxies(name)}
            gv, hap = proxies["grapevine"], proxies["haproxy"]
            secs, pct_ = compare.jit_warm_up(s, gv, a.warmup + a.jit_warmup, a.warmup + a.jit_warmup_max, bench.files)
            print(f"{name}: grapevine warmed up {secs} s (JIT compilers {pct_:.1f} % of a core in the last 2 s)",
                  file=sys.stderr)
            compare.run_load(s, hap, a.warmup, bench.files)
            hap_m = compare.measure(s, hap, a.secs, bench.files)
            pid = jvm_pid(gv["proc"].pid)
            stacks = os.path.join(bench.work, f"{name}.collapsed")
            # event=cpu: perf events where the kernel allows them, else async-profiler's own fall-back to an interval
            # timer, without kernel frames; the summary tells the two apart by the kernel frames it finds.
            profiler(jcmd, pid, lib, f"start,event=cpu,interval={int(a.interval_ms * 1e6)},threads")
            gv_m = compare.measure(s, gv, a.secs, bench.files)
            profiler(jcmd, pid, lib, f"stop,file={stacks},collapsed")
            deadline = time.time() + 10
            while not os.path.exists(stacks) and time.time() < deadline:
                time.sleep(0.1)
            prof = summarise(stacks)
            if a.keep_stacks:
                kept = os.path.join(results_dir, f"cpuprofile-{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
                                                 ".collapsed")
                shutil.move(stacks, kept)
                print(f"{name}: stacks kept in {kept}", file=sys.stderr)
            event = "perf events, kernel frames included" if prof["kernel_samples"] else \
                "no kernel frames (perf events not allowed here?): the kernel's time is counted in libc's wrappers"
            print(f"{name}: grapevine {gv_m['rps']:.0f} req/s, haproxy {hap_m['rps']:.0f} req/s, "
                  f"{prof['samples']} samples, {event}", file=sys.stderr)
            warnings = bench.stop_proxies(list(proxies.values()))
            rows.append({"scenario": s, "grapevine": gv_m, "haproxy": hap_m, "profile": prof, "event": event,
                         "log_warnings": warnings})
    compare.with_bench(a, "cpuprofile", run)
    text = report(env, a, rows)
    compare.write_outputs(a, text, {
        "env": env,
        "scenarios": {r["scenario"].name: {
            "grapevine": r["grapevine"], "haproxy": r["haproxy"], "event": r["event"],
            "samples": r["profile"]["samples"], "kernel_samples": r["profile"]["kernel_samples"],
            "threads": dict(r["profile"]["threads"]), "log_warnings": r["log_warnings"],
            "event_loop": dict(r["profile"]["loop"]),
            "top_frames": r["profile"]["leaves"].most_common(a.top)} for r in rows}})


if __name__ == "__main__":
    main()
