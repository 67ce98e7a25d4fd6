#!/usr/bin/env bash
# ./grapevine demo: a gossip proxy on 127.0.0.1:9000 (admin :9001) and three demo backends, each
# announced by its own agent, all on loopback, with a fresh cluster key. Ctrl-C stops everything.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GV="$HERE/grapevine"
LISTEN_PORT="${GRAPEVINE_DEMO_PORT:-9000}"
ADMIN_PORT="${GRAPEVINE_DEMO_ADMIN_PORT:-9001}"
GOSSIP_PORT="${GRAPEVINE_DEMO_GOSSIP_PORT:-7946}"
BACKEND_BASE="${GRAPEVINE_DEMO_BACKEND_BASE:-8081}"

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  cat <<TXT
usage: ./grapevine demo

Starts on loopback: a proxy on :$LISTEN_PORT (admin :$ADMIN_PORT, gossip :$GOSSIP_PORT) and three demo
backends on :$BACKEND_BASE.. each announced by an agent; a cluster key is generated into a temporary
file. Ports can be changed with GRAPEVINE_DEMO_PORT, GRAPEVINE_DEMO_ADMIN_PORT,
GRAPEVINE_DEMO_GOSSIP_PORT and GRAPEVINE_DEMO_BACKEND_BASE. Ctrl-C stops everything.
TXT
  exit 0
fi
[[ $# -eq 0 ]] || { echo "grapevine demo: unknown option '$1' (try --help)" >&2; exit 2; }

work="$(mktemp -d -t grapevine-demo.XXXXXX)"
pids=()
# Stops what the demo started, whatever became of its output: a terminal closed under it (SIGHUP, then EIO on
# each write) or a `| tee` that the same Ctrl-C ended (SIGPIPE). A failed write must not end the cleanup half way
# (set -e), nor kill it: the proxy and the agents survive SIGHUP by design, and would run on. A second Ctrl-C or
# SIGTERM while they drain is passed on to them, which stops them at once.
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
# Exits with its argument: 0 for a stop asked for (Ctrl-C, SIGTERM), otherwise the status the script was ending
# with (a port in use: 1), which the cleanup used to turn into 0.
cleanup() {
  local status="$1"
  trap - EXIT
  trap '' PIPE HUP
  trap stop_all INT TERM
  set +e
  if [[ ${#pids[@]} -gt 0 ]]; then
    echo
    echo "stopping the demo..."
  fi
  stop_all
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do wait "$pid" 2>/dev/null; done   # again after a signal interrupts it
  done
  rm -rf "$work"
  exit "$status"
}
trap 'cleanup 0' INT TERM
trap 'cleanup $?' EXIT

for port in "$LISTEN_PORT" "$ADMIN_PORT" "$GOSSIP_PORT" $(seq "$BACKEND_BASE" $((BACKEND_BASE + 2))); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "grapevine demo: port $port is already in use; stop what uses it or set GRAPEVINE_DEMO_* ports" >&2
    exit 1
  fi
done

key="$work/cluster.key"
"$GV" keygen > "$key"
chmod 600 "$key"
echo '{ "backend_servers": [] }' > "$work/servers.conf"

# The proxy's output goes through a process substitution rather than a pipe, so that $! is the proxy
# itself (the launcher execs the JVM), which cleanup must signal; sed ends when the proxy closes it.
"$GV" proxy --servers "$work/servers.conf" --listen "127.0.0.1:$LISTEN_PORT" --admin "127.0.0.1:$ADMIN_PORT" \
  --gossip "$GOSSIP_PORT" --cluster-key "$key" > >(sed -u 's/^/[proxy] /') 2>&1 &
pids+=($!)
for i in 1 2 3; do
  port=$((BACKEND_BASE + i - 1))
  "$GV" agent --join "127.0.0.1:$GOSSIP_PORT" --service web --target "127.0.0.1:$port" --demo \
    --cluster-key "$key" > "$work/agent-$port.log" 2>&1 &
  pids+=($!)
done

# Wait (bounded) until the three backends are in the proxy's table and up.
for _ in $(seq 1 120); do
  up=$(curl -s "http://127.0.0.1:$ADMIN_PORT/table" 2>/dev/null | grep -c '"state" : "up"' || true)
  [[ "$up" -ge 3 ]] && break
  sleep 0.5
done

cat <<TXT

  Grapevine demo is running (logs of the agents: $work/agent-*.log).

    curl http://127.0.0.1:$LISTEN_PORT/                 a request, balanced over the backends
    http://127.0.0.1:$ADMIN_PORT/stats                  status page      /stats.json /stats.csv /metrics
    http://127.0.0.1:$ADMIN_PORT/table                  backend table    /members (the gossip view)

  Add a 4th backend from a second terminal:
    ./grapevine agent --join 127.0.0.1:$GOSSIP_PORT --service web --target 127.0.0.1:$((BACKEND_BASE + 3)) --demo --cluster-key $key

  Ctrl-C stops everything.

TXT
wait
