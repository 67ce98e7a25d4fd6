#!/usr/bin/env bash
# Opens the proxy's /stats page in headless Chromium on a demo that shows every state, saves screenshots at
# 1400 px and at phone width, and fails when the page reports a script error or does not render.
#
#   scripts/stats-screenshots.sh [--out DIR] [--traffic-seconds N]
#
# The demo, all on loopback: demo backends; a proxy with health checks; pool "web" of static servers (three
# up, one with nothing listening: down, one of weight 0: maint); pool "api", gzip-compressed and rate-limited (some of
# its requests get 429), of three gossip members (one drained by SIGTERM: draining, one killed: a crash on the timeline); traffic of varying rate, latency and
# status over both pools while the screenshots are taken. Installs Debian's chromium when it is missing.
# Screenshots go to docs/ (stats-1400.png, stats-phone.png) unless --out says otherwise.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GV="$HERE/grapevine"
OUT="$HERE/docs"
TRAFFIC_SECONDS=40

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --out=*) OUT="${1#--out=}"; shift ;;
    --traffic-seconds) TRAFFIC_SECONDS="$2"; shift 2 ;;
    --traffic-seconds=*) TRAFFIC_SECONDS="${1#--traffic-seconds=}"; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "stats-screenshots: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

say() { echo "stats-screenshots: $*" >&2; }

chromium_bin() {
  command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || true
}
if [[ -z "$(chromium_bin)" ]]; then
  say "installing Debian's chromium"
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    say "chromium is missing and cannot be installed here (needs root and apt-get)"
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
CHROMIUM="$(chromium_bin)"
command -v curl >/dev/null || { say "curl is needed"; exit 1; }

work="$(mktemp -d -t grapevine-stats.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # A draining agent waits out its drain: what is still running after 5 s is stopped outright.
  for _ in $(seq 1 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.25
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A port nothing listens on now (another process may take it later: each is used at once).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  say "no free port found"
  exit 1
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds="$1" what="$2"
  shift 2
  for _ in $(seq 1 $((seconds * 4))); do
    if "$@"; then return 0; fi
    sleep 0.25
  done
  say "gave up waiting for $what"
  return 1
}

# Demo backends: web-1..web-4 (static), api-1..api-2 are started by their agents (--demo).
"$GV" backend --port 0 --count 4 > "$work/backends.log" 2>&1 &
pids+=($!)
wait_for 60 "the demo backends" grep -q "backend 4 listening" "$work/backends.log" || { cat "$work/backends.log" >&2; exit 1; }
mapfile -t bport < <(sed -n 's/.*backend \([0-9]*\) listening on 127.0.0.1:\([0-9]*\).*/\2/p' "$work/backends.log")
nothing="$(free_port)"
gossip="$(free_port)"
listen="$(free_port)"
admin="$(free_port)"

cat > "$work/servers.conf" <<JSON
{
  "listen": "127.0.0.1:$listen",
  "admin": "127.0.0.1:$admin",
  "health_check": { "path": "/health", "interval_ms": 1000, "timeout_ms": 500, "rise": 2, "fall": 2 },
  "routes": [ { "host": "api.example", "pool": "api" } ],
  "pools": { "api": { "balance": "leastconn", "compression": { "types": ["application/octet-stream"] },
                     "rate_limit": { "requests": 30, "burst": 30 } } },
  "backend_servers": [
    { "name": "web-1", "ip": "127.0.0.1", "port": ${bport[0]} },
    { "name": "web-2", "ip": "127.0.0.1", "port": ${bport[1]} },
    { "name": "web-3", "ip": "127.0.0.1", "port": ${bport[2]}, "weight": 2 },
    { "name": "web-4", "ip": "127.0.0.1", "port": $nothing },
    { "name": "web-5", "ip": "127.0.0.1", "port": ${bport[3]}, "weight": 0 }
  ]
}
JSON
"$GV" keygen > "$work/cluster.key"
chmod 600 "$work/cluster.key"
"$GV" proxy --servers "$work/servers.conf" --gossip "$gossip" --cluster-key "$work/cluster.key" \
  > "$work/proxy.log" 2>&1 &
pids+=($!)
ADMIN="http://127.0.0.1:$admin"
wait_for 60 "the proxy" curl -fs -o /dev/null "$ADMIN/health" || { cat "$work/proxy.log" >&2; exit 1; }

agent_pids=()
for i in 1 2 3; do
  port="$(free_port)"
  "$GV" agent --join "127.0.0.1:$gossip" --service api --tag pool=api --target "127.0.0.1:$port" --demo \
    --cluster-key "$work/cluster.key" --drain-seconds 600 > "$work/agent-$i.log" 2>&1 &
  pids+=($!)
  agent_pids+=($!)
done
api_servers() { [[ "$(curl -fs "$ADMIN/table" | grep -c '"pool" : "api"')" -ge 3 ]]; }
wait_for 90 "three gossip servers in pool api" api_servers || { tail -20 "$work/proxy.log" >&2; exit 1; }

# Traffic: bursts of parallel requests (curl's URL globbing makes the list), with delays from 1 to 80 ms
# and some 3xx, 4xx and 5xx answers, and a rate that rises and falls.
burst() { # burst PARALLEL
  local p="$1" d=$((RANDOM % 20 + 1))
  curl -s --parallel --parallel-max "$p" \
    "http://127.0.0.1:$listen/slow?ms=[$d-$((d + 60))]" \
    "http://127.0.0.1:$listen/status?code={200,200,200,200,302,404,500}" \
    > /dev/null 2>&1 || true
  curl -s --parallel --parallel-max "$p" -H "Host: api.example" -H "Accept-Encoding: gzip" \
    "http://127.0.0.1:$listen/slow?ms=[$((d + 10))-$((d + 40))]" \
    "http://127.0.0.1:$listen/bytes?n=[20000-20003]" > /dev/null 2>&1 || true
}
traffic() {
  local end=$((SECONDS + TRAFFIC_SECONDS + 30)) n=0
  while ((SECONDS < end)); do
    n=$((n + 1))
    burst $((2 + (n % 12) / 2))
  done
}
traffic &
traffic_pid=$!
pids+=($traffic_pid)

sleep $((TRAFFIC_SECONDS / 4))
say "draining api agent 2 (SIGTERM)"
kill -TERM "${agent_pids[1]}"
sleep $((TRAFFIC_SECONDS / 4))
say "killing api agent 3 (SIGKILL: a crash)"
kill -KILL "${agent_pids[2]}"
sleep $((TRAFFIC_SECONDS / 2))

# The page, in two sizes. Chromium's console goes to its log: an uncaught error there fails the run, as does
# a page that never says data-state="ready" or that lists data-js-errors.
# First the DOM (is the page complete, without errors, and how tall is it?), then the picture at that height.
shoot() { # shoot NAME WIDTH
  local name="$1" width="$2" log="$work/chromium-$1.log" height
  local chrome=("$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
    --user-data-dir="$work/chromium-profile" --enable-logging=stderr --v=0 --virtual-time-budget=6000)
  "${chrome[@]}" --window-size="$width,1000" --dump-dom "$ADMIN/stats" > "$work/$name.html" 2> "$log" \
    || { cat "$log" >&2; return 1; }
  if grep -q 'data-js-errors' "$work/$name.html"; then
    say "$name: the page reported script errors: $(grep -o 'data-js-errors="[^"]*"' "$work/$name.html")"
    return 1
  fi
  if ! grep -q 'data-state="ready"' "$work/$name.html"; then
    say "$name: the page never rendered (no data-state=\"ready\")"
    return 1
  fi
  for server in web-1 web-4 web-5; do
    grep -q ">$server<" "$work/$name.html" || { say "$name: server $server is not on the page"; return 1; }
  done
  height="$(grep -o 'data-height="[0-9]*"' "$work/$name.html" | grep -o '[0-9]*' | head -1)"
  "${chrome[@]}" --window-size="$width,$((height + 24))" --screenshot="$OUT/$name.png" "$ADMIN/stats" >> "$log" 2>&1 \
    || { cat "$log" >&2; return 1; }
  if grep -E "Uncaught|CONSOLE" "$log" >&2; then
    say "$name: the page wrote to the console (above): a script error or a failed request"
    return 1
  fi
  say "$name: $OUT/$name.png (${width}x$((height + 24)))"
}
shoot stats-1400 1400
shoot stats-phone 390
