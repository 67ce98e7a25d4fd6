#!/usr/bin/env bash
# Load check of the original assignment: three demo backends behind the proxy, then
#   ab  -n 500 -c 10 -k                      (keep-alive)
#   wrk with 16 pipelined requests per write, 5 s
# Fails (exit 1) unless both report zero errors and zero non-2xx responses.
#
#   bench/load-check.sh            (installs apache2-utils / wrk with apt-get when missing)
#
# Everything listens on 127.0.0.1, on free ports picked at start; the processes it starts are
# stopped on exit, whatever the outcome.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GRAPEVINE="$HERE/grapevine"
AB_REQUESTS=500
AB_CONCURRENCY=10
WRK_SECONDS=5
WRK_CONNECTIONS=10
PIPELINE_DEPTH=16

WORK="$(mktemp -d "${TMPDIR:-/tmp}/grapevine-load-check.XXXXXX")"
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf 'load-check: %s\n' "$*"; }
die() { printf 'load-check: FAIL: %s\n' "$*" >&2; exit 1; }

install_tools() {
  local missing=()
  command -v ab >/dev/null 2>&1 || missing+=(apache2-utils)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  [[ ${#missing[@]} -eq 0 ]] && return
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  say "installing ${missing[*]} (apt-get)"
  $sudo apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Free: no socket of any state uses it locally (ss), or at least nothing accepts on it.
port_free() {
  if command -v ss >/dev/null 2>&1; then
    [[ -z "$(ss -Hant "( sport = :$1 )" 2>/dev/null)" ]]
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# A base port P with P..P+4 free: three backends, the proxy and its admin listener. Below the
# ephemeral range, so no outgoing connection takes one of them meanwhile.
pick_ports() {
  local tries base i ok low=32768
  [[ -r /proc/sys/net/ipv4/ip_local_port_range ]] && read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  (( low > 10100 )) || low=61000
  for tries in $(seq 1 50); do
    base=$((10000 + RANDOM % (low - 10100)))
    ok=1
    for i in 0 1 2 3 4; do
      port_free $((base + i)) || { ok=0; break; }
    done
    if [[ $ok -eq 1 ]]; then
      echo "$base"
      return
    fi
  done
  die "no five free consecutive ports found"
}

wait_for() { # URL, what, log file, seconds
  local deadline=$((SECONDS + $4)) pid
  until curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; do
    for pid in "${PIDS[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 20 "$3" >&2 || true
        die "a process exited while waiting for $2"
      fi
    done
    if (( SECONDS >= deadline )); then
      tail -n 20 "$3" >&2 || true
      die "$2 did not answer $1 within $4 s"
    fi
    sleep 0.2
  done
}

install_tools
[[ -f "$HERE/proxy/target/grapevine-proxy.jar" && -f "$HERE/agent/target/grapevine-agent.jar" ]] || "$GRAPEVINE" build

BASE=$(pick_ports)
B1=$BASE B2=$((BASE + 1)) B3=$((BASE + 2)) LISTEN=$((BASE + 3)) ADMIN=$((BASE + 4))
cat >"$WORK/servers.conf" <<JSON
{ "backend_servers": [ { "ip": "127.0.0.1", "port": $B1 }, { "ip": "127.0.0.1", "port": $B2 }, { "ip": "127.0.0.1", "port": $B3 } ] }
JSON

say "backends on $B1-$B3, proxy on $LISTEN (admin $ADMIN)"
"$GRAPEVINE" backend --port "$B1" --count 3 >"$WORK/backend.log" 2>&1 &
PIDS+=($!)
"$GRAPEVINE" proxy --servers "$WORK/servers.conf" --no-gossip \
  --listen "127.0.0.1:$LISTEN" --admin "127.0.0.1:$ADMIN" >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
for port in "$B1" "$B2" "$B3"; do
  wait_for "http://127.0.0.1:$port/health" "backend $port" "$WORK/backend.log" 30
done
wait_for "http://127.0.0.1:$ADMIN/health" "the proxy" "$WORK/proxy.log" 30
wait_for "http://127.0.0.1:$LISTEN/" "the proxy listener" "$WORK/proxy.log" 10

failed=0

# ---- ab, keep-alive
say "ab -n $AB_REQUESTS -c $AB_CONCURRENCY -k"
if ! ab -n "$AB_REQUESTS" -c "$AB_CONCURRENCY" -k "http://127.0.0.1:$LISTEN/" >"$WORK/ab.txt" 2>&1; then
  cat "$WORK/ab.txt" >&2
  die "ab failed"
fi
complete=$(awk '/^Complete requests:/ {print $3}' "$WORK/ab.txt")
ab_failed=$(awk '/^Failed requests:/ {print $3}' "$WORK/ab.txt")
ab_non2xx=$(awk '/^Non-2xx responses:/ {print $3}' "$WORK/ab.txt")
ab_keepalive=$(awk '/^Keep-Alive requests:/ {print $3}' "$WORK/ab.txt")
ab_rps=$(awk '/^Requests per second:/ {print $4}' "$WORK/ab.txt")
say "ab: complete=${complete:-?} failed=${ab_failed:-?} non-2xx=${ab_non2xx:-0} keep-alive=${ab_keepalive:-?} rps=${ab_rps:-?}"
if [[ "${complete:-}" != "$AB_REQUESTS" || "${ab_failed:-}" != "0" || "${ab_non2xx:-0}" != "0" ]]; then
  cat "$WORK/ab.txt" >&2
  say "ab reported errors"
  failed=1
fi

# ---- wrk, pipelined
cat >"$WORK/pipeline.lua" <<LUA
-- $PIPELINE_DEPTH requests per write; counts every response outside 2xx across threads.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  local r = {}
  for i = 1, $PIPELINE_DEPTH do
    r[i] = wrk.format("GET", "/")
  end
  pipelined = table.concat(r)
end

function request()
  return pipelined
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format("LOADCHECK requests=%d errors=%d non2xx=%d\n", summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout, bad))
end
LUA
say "wrk -t2 -c$WRK_CONNECTIONS -d${WRK_SECONDS}s, $PIPELINE_DEPTH requests per write"
if ! wrk -t2 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" -s "$WORK/pipeline.lua" "http://127.0.0.1:$LISTEN/" \
    >"$WORK/wrk.txt" 2>&1; then
  cat "$WORK/wrk.txt" >&2
  die "wrk failed"
fi
line=$(grep '^LOADCHECK ' "$WORK/wrk.txt" || true)
wrk_requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
wrk_errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$line")
wrk_non2xx=$(sed -n 's/.*non2xx=\([0-9]*\).*/\1/p' <<<"$line")
wrk_rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.txt")
say "wrk: requests=${wrk_requests:-?} errors=${wrk_errors:-?} non-2xx=${wrk_non2xx:-?} rps=${wrk_rps:-?}"
if [[ -z "$line" || "${wrk_requests:-0}" -eq 0 || "$wrk_errors" != "0" || "$wrk_non2xx" != "0" ]]; then
  cat "$WORK/wrk.txt" >&2
  say "wrk reported errors"
  failed=1
fi

if [[ $failed -ne 0 ]]; then
  tail -n 30 "$WORK/proxy.log" >&2 || true
  die "errors under load"
fi
say "OK: zero errors and zero non-2xx from ab and wrk"
