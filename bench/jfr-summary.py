#!/usr/bin/env python3
"""Where a Grapevine JFR recording says the CPU went: a plain-text summary of one .jfr file.

    bench/jfr-summary.py RECORDING.jfr [--threads grapevine-io] [--top 25]

Reads the recording with `jfr print --json` (the jfr tool of $JAVA_HOME, else the one on PATH) and
prints, for the threads whose name matches --threads:

  * Java execution samples (jdk.ExecutionSample) by category of the top frame, and the hottest
    methods with the callers that reach them most often;
  * inclusive shares of the proxy's own methods (time spent in them and everything they call);
  * native samples (jdk.NativeMethodSample): where the threads sat outside Java, i.e. in the JNI calls
    of Netty's epoll transport (epoll_wait, read, write...). A thread blocked in epoll_wait is counted
    there too, so these are wall-clock, not CPU;
  * garbage collection (jdk.GCPhasePause), allocation (jdk.ObjectAllocationSample, weighted),
    exceptions (jdk.ExceptionStatistics) and logging frames.

ExecutionSample only sees threads running Java code; time inside system calls is not in it. The
kernel's share of the process's CPU comes from /proc (compare.py's "of it in kernel" column).
"""
import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys

# Category of a top frame: first matching rule wins.
CATEGORIES = [
    ("refcount / accessibility checks", r"^io\.netty\.util\.internal\.RefCnt|ReferenceCount|\.ensureAccessible|"
                                        r"\.checkIndex|\.isAccessible|\.refCnt$|\.release$|\.retain$"),
    ("buffer allocation", r"^io\.netty\.buffer\..*(Allocator|Magazine|Chunk|Recycler|PoolThreadCache)|"
                          r"^io\.netty\.channel\.unix\.PreferredDirectByteBufAllocator|"
                          r"^io\.netty\.util\.Recycler|^io\.netty\.channel\.AdaptiveRecvByteBufAllocator|"
                          r"^io\.netty\.channel\.DefaultMaxMessagesRecvByteBufAllocator"),
    ("buffer reads/writes/copies", r"^io\.netty\.buffer\.|^jdk\.internal\.misc\.Unsafe|^java\.nio\."),
    ("HTTP head parsing and re-encoding", r"^io\.grapevine\.proxy\.http\."),
    ("forwarding logic (grapevine forward/lb/pool/table)", r"^io\.grapevine\.proxy\.(forward|lb|pool|table)\."),
    ("stats counters", r"^io\.grapevine\.proxy\.stats\.|^java\.util\.concurrent\.atomic\.(LongAdder|Striped64)"),
    ("Netty pipeline (handler context dispatch)", r"^io\.netty\.channel\.(AbstractChannelHandlerContext|"
                                                  r"DefaultChannelPipeline|ChannelHandlerMask|"
                                                  r"DefaultChannelPromise|VoidChannelPromise)"),
    ("Netty outbound buffer / flush", r"^io\.netty\.channel\.ChannelOutboundBuffer|^io\.netty\.channel\.unix\.IovArray"),
    ("Netty epoll transport glue", r"^io\.netty\.channel\.(epoll|unix)\.|^io\.netty\.channel\.(AbstractChannel|"
                                   r"SingleThreadIoEventLoop|IoEventLoop)"),
    ("Netty event loop / tasks / timers", r"^io\.netty\.util\.concurrent\.|^io\.netty\.channel\.SingleThread"),
    ("logging", r"^ch\.qos\.logback\.|^org\.slf4j\."),
    ("other Netty", r"^io\.netty\."),
    ("other Grapevine", r"^io\.grapevine\."),
    ("JDK", r"^(java|jdk|sun)\."),
]
COMPILED = [(name, re.compile(rx)) for name, rx in CATEGORIES]


def jfr_tool():
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "jfr")):
        return os.path.join(home, "bin", "jfr")
    tool = shutil.which("jfr")
    if not tool:
        sys.exit("jfr-summary.py: no jfr tool (set JAVA_HOME to a JDK)")
    return tool


def events(path, names, depth):
    out = subprocess.run([jfr_tool(), "print", "--json", "--stack-depth", str(depth), "--events", ",".join(names),
                          path], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"jfr print failed: {out.stderr.strip()}")
    return json.loads(out.stdout)["recording"]["events"]


def frame_name(f):
    m = f["method"]
    return m["type"]["name"].replace("/", ".") + "." + m["name"]


def stack(e):
    st = e["values"].get("stackTrace") or {}
    return [frame_name(f) for f in st.get("frames") or []]


def thread_name(e, key):
    t = e["values"].get(key) or {}
    return t.get("javaName") or t.get("osName") or "?"


def category(frame):
    for name, rx in COMPILED:
        if rx.search(frame):
            return name
    return "other"


def pct(n, total):
    return f"{100.0 * n / total:5.1f}%" if total else "   - "


def duration_ms(v):
    if isinstance(v, (int, float)):
        return v / 1e6
    m = re.fullmatch(r"PT(?:(\d+)M)?([\d.]+)S", str(v))
    return (int(m.group(1) or 0) * 60 + float(m.group(2))) * 1000 if m else 0.0


def short(frame):
    return re.sub(r"^io\.(grapevine\.proxy|netty)\.", "", frame)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recording")
    ap.add_argument("--threads", default="grapevine-io", help="regex on thread names (default: %(default)s)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--depth", type=int, default=48, help="stack depth to read (default %(default)s)")
    a = ap.parse_args()
    want = re.compile(a.threads)

    # ---- Java execution samples
    samples = events(a.recording, ["jdk.ExecutionSample"], a.depth)
    by_thread = collections.Counter(thread_name(e, "sampledThread") for e in samples)
    mine = [stack(e) for e in samples if want.search(thread_name(e, "sampledThread"))]
    mine = [s for s in mine if s]
    n = len(mine)
    print(f"Java execution samples: {len(samples)} in all, {n} on threads matching /{a.threads}/")
    for t, c in by_thread.most_common(6):
        print(f"  {c:7d}  {t}")
    if not n:
        return

    print("\nSelf time by category (top frame):")
    cats = collections.Counter(category(s[0]) for s in mine)
    for c, k in cats.most_common():
        print(f"  {pct(k, n)}  {c}")

    print(f"\nHottest methods (self), with the most frequent caller outside the method's category:")
    tops = collections.Counter(s[0] for s in mine)
    for f, k in tops.most_common(a.top):
        callers = collections.Counter()
        for s in mine:
            if s[0] == f:
                # first frame below the top that is in the proxy's code, else the direct caller
                mine_frame = next((x for x in s[1:] if x.startswith("io.grapevine.")), s[1] if len(s) > 1 else "")
                callers[mine_frame] += 1
        c, ck = callers.most_common(1)[0] if callers else ("", 0)
        print(f"  {pct(k, n)}  {short(f)}   <- {short(c)} ({100 * ck // k}%)")

    print("\nInclusive time in the proxy's own methods (samples with the method anywhere on the stack):")
    incl = collections.Counter()
    for s in mine:
        for f in set(s):
            if f.startswith("io.grapevine."):
                incl[f] += 1
    for f, k in incl.most_common(a.top):
        print(f"  {pct(k, n)}  {short(f)}")

    logging = sum(1 for s in mine if any(f.startswith(("ch.qos.logback.", "org.slf4j.")) for f in s))
    print(f"\nSamples with a logging frame on the stack: {logging} ({pct(logging, n).strip()})")

    # ---- native samples
    natives = [e for e in events(a.recording, ["jdk.NativeMethodSample"], 4)
               if want.search(thread_name(e, "sampledThread"))]
    if natives:
        print(f"\nNative samples (wall clock in JNI, idle waiting included): {len(natives)}")
        nat = collections.Counter(short(stack(e)[0]) if stack(e) else "?" for e in natives)
        for f, k in nat.most_common(8):
            print(f"  {pct(k, len(natives))}  {f}")

    # ---- GC, allocation, exceptions
    pauses = events(a.recording, ["jdk.GCPhasePause"], 1)
    total = sum(duration_ms(e["values"].get("duration", 0)) for e in pauses)
    gcs = events(a.recording, ["jdk.GarbageCollection"], 1)
    print(f"\nGC: {len(gcs)} collections, {len(pauses)} pauses, {total:.1f} ms paused in all"
          + (f", longest {max(duration_ms(e['values'].get('duration', 0)) for e in pauses):.1f} ms" if pauses else ""))
    for e in gcs[:6]:
        v = e["values"]
        print(f"  {v.get('name')}: cause {v.get('cause')}, {duration_ms(v.get('duration', 0)):.1f} ms")

    alloc = [e for e in events(a.recording, ["jdk.ObjectAllocationSample"], a.depth)
             if want.search(thread_name(e, "eventThread"))]
    if alloc:
        weight = sum(e["values"].get("weight", 0) for e in alloc)
        print(f"\nAllocation samples on these threads: {len(alloc)}, weight {weight / 2**20:.0f} MiB in all")
        by_class = collections.Counter()
        by_site = collections.Counter()
        for e in alloc:
            w = e["values"].get("weight", 0)
            cls = (e["values"].get("objectClass") or {}).get("name", "?").replace("/", ".")
            by_class[cls] += w
            s = stack(e)
            site = next((f for f in s if f.startswith("io.grapevine.")), s[0] if s else "?")
            by_site[site] += w
        print("  by class:")
        for c, w in by_class.most_common(8):
            print(f"    {pct(w, weight)}  {c}")
        print("  by allocating site (first Grapevine frame):")
        for c, w in by_site.most_common(8):
            print(f"    {pct(w, weight)}  {short(c)}")

    stats = events(a.recording, ["jdk.ExceptionStatistics"], 1)
    if len(stats) >= 2:
        first, last = stats[0]["values"].get("throwables", 0), stats[-1]["values"].get("throwables", 0)
        print(f"\nThrowables created during the recording: {last - first}")


if __name__ == "__main__":
    main()
