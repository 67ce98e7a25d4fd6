#!/usr/bin/env python3
"""JMH: what a table generation costs and what one pick costs, as tables.

    bench/run jmh                    # both benchmarks, 3 warm-up and 5 measured iterations of 1 s: ~6 minutes
    bench/run jmh --quick            # 1 + 1 iterations of 0.3 s: a check that everything runs, not a figure
    bench/run jmh --only pick        # PickBenchmark alone (or --only publish)

Runs bench/target/grapevine-bench.jar (built when missing or stale) in one fork per benchmark and parameter
set, pinned to CPU 1 like the proxies, and reads JMH's JSON result:

  * TablePublishBenchmark: ms per TableHolder.publish of 1,000 and 10,000 servers, first build, one weight
    changed, one member joining or leaving; roundrobin and a hashing pool (source). Target: < 10 ms at 10,000.
  * PickBenchmark: ns per pick for roundrobin, leastconn, p2c, source, uri and sticky at 3, 100, 1,000 and
    10,000 servers. Target: flat (the 10,000 column close to the 3 column).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import compare

BENCHMARKS = {"publish": "TablePublishBenchmark", "pick": "PickBenchmark"}


def run_jmh(jar, pattern, a, out):
    iterations = ["-wi", "1", "-i", "1", "-w", "300ms", "-r", "300ms"] if a.quick else \
        ["-wi", str(a.warmup_iterations), "-i", str(a.iterations), "-w", f"{a.time}s", "-r", f"{a.time}s"]
    argv = ["taskset", "-c", str(compare.PROXY_CPU), "java", "-jar", jar, pattern, "-f", "1", *iterations,
            "-jvmArgs", "-Xms512m -Xmx512m", "-rf", "json", "-rff", out]
    print(" ".join(argv), file=sys.stderr)
    subprocess.run(argv, check=True, stdout=sys.stderr)
    with open(out) as f:
        return json.load(f)


def table(results, benchmark, row_params, unit_note):
    """Rows: the benchmark method and the row parameters; columns: the server counts."""
    rows, columns = {}, set()
    unit = ""
    for r in results:
        if f".{benchmark}." not in r["benchmark"]:
            continue
        method = r["benchmark"].rsplit(".", 1)[1]
        params = r.get("params", {})
        key = tuple([method] + [params.get(p, "") for p in row_params])
        servers = int(params["servers"])
        columns.add(servers)
        m = r["primaryMetric"]
        unit = m["scoreUnit"]
        try:
            error = float(m.get("scoreError"))
        except (TypeError, ValueError):
            error = float("nan")               # one iteration: JMH gives "NaN"
        rows.setdefault(key, {})[servers] = (float(m["score"]), error)
    cols = sorted(columns)
    head = "| " + " | ".join(["benchmark"] + row_params) + " | " + " | ".join(f"{c} servers" for c in cols) + \
           f" | {cols[-1]} ÷ {cols[0]} |" if cols else ""
    lines = [head, "|" + "---|" * (1 + len(row_params)) + "---:|" * (len(cols) + 1)]
    for key, per in rows.items():
        cells = []
        for c in cols:
            score, err = per.get(c, (float("nan"), float("nan")))
            cells.append(f"{score:.3g}" + (f" ± {err:.2g}" if err == err else ""))
        first, last = per.get(cols[0], (float("nan"),))[0], per.get(cols[-1], (float("nan"),))[0]
        lines.append("| " + " | ".join(str(k) for k in key) + " | " + " | ".join(cells) + f" | "
                     f"{compare.ratio(last, first)} |")
    return [f"Unit: {unit} ({unit_note}); ± is JMH's 99.9 % confidence interval (none with one iteration).", ""] + lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=sorted(BENCHMARKS), help="one of the two benchmarks")
    ap.add_argument("--quick", action="store_true", help="one short iteration each: checks that it runs")
    ap.add_argument("--warmup-iterations", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--time", type=int, default=1, help="seconds per iteration (default %(default)s)")
    ap.add_argument("--json", help="write JMH's results to this file")
    ap.add_argument("--markdown", help="write the tables to this file")
    a = ap.parse_args()
    jar = compare.bench_jar()
    env = compare.describe_environment()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in ([a.only] if a.only else ["publish", "pick"]):
            results += run_jmh(jar, BENCHMARKS[key], a, os.path.join(tmp, key + ".json"))
    env["loadavg_after"] = open("/proc/loadavg").read().strip()
    lines = ["## JMH: table publication and per-request pick", "",
             f"Measured {env['date']}, commit `{env['commit']}`; {env['java']}; {env['cpu']}; pinned to CPU "
             f"{compare.PROXY_CPU}; load average before {env['loadavg_before']}, after {env['loadavg_after']}"
             + ("; --quick: one short iteration, not a figure to quote." if a.quick else "."), ""]
    if any("TablePublishBenchmark" in r["benchmark"] for r in results):
        lines += ["### TableHolder.publish (target: < 10 ms at 10,000 servers)", ""]
        lines += table(results, "TablePublishBenchmark", ["balance"], "per publication, 2 event loops")
        lines.append("")
    if any("PickBenchmark" in r["benchmark"] for r in results):
        lines += ["### One pick per request (target: flat from 3 to 10,000 servers)", ""]
        lines += table(results, "PickBenchmark", ["algorithm"], "per pick")
        lines.append("")
    compare.write_outputs(a, "\n".join(lines), {"env": env, "jmh": results})


if __name__ == "__main__":
    main()
