#!/usr/bin/env python3
"""Garbage collectors side by side: Grapevine under each, HAProxy beside them, and every young pause logged.

    bench/run collectors                          # scenario get, 3 rounds of 10 s
    bench/run collectors --scenarios get,h2 --rounds 5

Runs compare.py (same machine layout: backends and load generators on CPU 0, each proxy alone on CPU 1,
its collector's threads too) with Grapevine started as the launcher starts it (Serial) and once more
under each collector below, each with `-Xlog:gc,gc+phases` to a file of its own. JDK 25's collectors run only
if Temurin 25 is installed (at /usr/lib/jvm/temurin-25-jdk-amd64). After compare.py's report, a table
of each variant's stop-the-world pauses, counted from the moment the variant's JVM was 20 s old (its
start-up collections left out): how many, median, largest. For ZGC these are its short pauses (mark
start and end, relocate start), not collections: its work runs beside the application, on the same core.
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
JDK25 = "/usr/lib/jvm/temurin-25-jdk-amd64"


def launcher_setting(name):
    """A shell variable the launcher (./grapevine) sets to a quoted constant, e.g. DEFAULT_JVM_OPTS."""
    with open(os.path.join(HERE, "..", "grapevine")) as f:
        for line in f:
            m = re.match(rf'^\s*{name}="(.*)"$', line.rstrip("\n"))
            if m:
                return m.group(1)
    sys.exit(f"collectors: no {name} in ./grapevine")


# The launcher's options, split into its collector's (the Serial variant) and the rest, which every variant
# keeps (GRAPEVINE_JVM_OPTS replaces the launcher's options, so a variant must carry them itself).
_DEFAULTS = launcher_setting("DEFAULT_JVM_OPTS").split()
_COLLECTOR = re.compile(r"^-XX:(\+Use\w+GC|MaxTenuringThreshold=.*)$")
BASE = " ".join(o for o in _DEFAULTS if not _COLLECTOR.match(o))
SERIAL = " ".join(o for o in _DEFAULTS if _COLLECTOR.match(o))
# What the launcher adds on Java 24 and later when GRAPEVINE_JVM_OPTS is not set.
MODERN = launcher_setting("MODERN_OPTS")
VARIANTS = [  # name, JDK home or None for the default JDK, collector options
    ("serial", None, SERIAL),
    ("parallel", None, "-XX:+UseParallelGC"),
    ("g1", None, "-XX:+UseG1GC"),
    ("zgc", None, "-XX:+UseZGC"),
    ("zgen25", JDK25, "-XX:+UseZGC"),
    ("serial25", JDK25, SERIAL),
]
PAUSE = re.compile(r"^\[([\d.]+)s\].*Pause.*?([\d.]+)ms$")


def pauses(log_dir, name, after_s=20.0):
    """The stop-the-world pauses in variant NAME's logs (one per JVM started) once the JVM was AFTER_S old."""
    found = []
    for path in glob.glob(os.path.join(log_dir, f"{name}-*.log")):
        with open(path) as f:
            for line in f:
                m = PAUSE.match(line.strip())
                if m and float(m.group(1)) >= after_s:
                    found.append(float(m.group(2)))
    return sorted(found)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="get", help="compare.py scenarios (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="measured runs per proxy (default %(default)s)")
    ap.add_argument("--secs", type=int, default=10, help="seconds per measured run (default %(default)s)")
    ap.add_argument("--json", help="compare.py's JSON of every run")
    ap.add_argument("--markdown", help="the report (Markdown), compare.py's with the pause table after it")
    a = ap.parse_args()

    log_dir = tempfile.mkdtemp(prefix="grapevine-collectors-")
    cmd = [sys.executable, os.path.join(HERE, "compare.py"), "--proxies", "grapevine,haproxy",
           "--scenarios", a.scenarios, "--rounds", str(a.rounds), "--secs", str(a.secs)]
    names = []
    for name, home, opts in VARIANTS:
        if home and not os.path.exists(os.path.join(home, "bin", "java")):
            print(f"collectors: {home} not installed, {name} left out", file=sys.stderr)
            continue
        jvm = f"{BASE} {MODERN if home else ''} {opts} -Xlog:gc,gc+phases:file={log_dir}/{name}-%p.log".replace("  ", " ")
        cmd += ["--variant", name] + ([f"JAVA_HOME={home}"] if home else []) + [f"GRAPEVINE_JVM_OPTS={jvm}"]
        names.append(name)
    report = a.markdown or os.path.join(log_dir, "report.md")
    cmd += ["--markdown", report] + (["--json", a.json] if a.json else [])
    subprocess.run(cmd, check=True)

    lines = ["", "### Stop-the-world pauses, each JVM 20 s after its start (`-Xlog:gc,gc+phases`)", "",
             "| variant | pauses | median ms | largest ms |", "|---|---:|---:|---:|"]
    for name in names:
        p = pauses(log_dir, name)
        if p:
            lines.append(f"| grapevine-{name} | {len(p)} | {statistics.median(p):.2f} | {p[-1]:.2f} |")
        else:
            lines.append(f"| grapevine-{name} | 0 | | |")
    table = "\n".join(lines) + "\n"
    print(table)
    with open(report, "a") as f:
        f.write(table)
    print(f"collectors: GC logs in {log_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
