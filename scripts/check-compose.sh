#!/usr/bin/env bash
# Checks docker-compose.yml and the Dockerfiles without a Docker engine:
#  1. docker-compose (Debian's package, installed with apt-get when missing) validates the compose file;
#  2. every jar the Dockerfiles copy is one the build produces (and exists once built);
#  3. every flag the Dockerfiles pass to the agent and the proxy is one their --help lists.
# Run from anywhere; builds the jars first when they are missing. Exits non-zero on the first problem.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
fail() { echo "check-compose: $*" >&2; exit 1; }

if ! command -v docker-compose > /dev/null; then
  echo "check-compose: docker-compose missing; installing Debian's package" >&2
  if [[ $(id -u) -ne 0 ]]; then fail "docker-compose is not installed and this is not root: apt-get install docker-compose"; fi
  apt-get update -qq > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose > /dev/null
fi

# The secret file must exist for the file to be complete; a throwaway key when there is none.
key_made=
if [[ ! -f cluster.key ]]; then
  ./grapevine keygen > cluster.key 2>/dev/null || "$JAVA" -cp agent/target/grapevine-agent.jar io.grapevine.cluster.KeygenMain > cluster.key
  key_made=1
fi
trap 'if [[ -n "$key_made" ]]; then rm -f cluster.key; fi' EXIT
docker-compose -f docker-compose.yml config -q || fail "docker-compose.yml is not valid"
services=$(docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' ')
[[ "$services" == "proxy web " ]] || fail "expected services proxy and web, found: $services"
echo "docker-compose.yml: valid (services: $services)"

[[ -f proxy/target/grapevine-proxy.jar && -f agent/target/grapevine-agent.jar ]] || ./grapevine build

check_image() {  # Dockerfile, jar it must copy, main class help command
  local dockerfile=$1 jar=$2; shift 2
  grep -q "^COPY $jar " "$dockerfile" || fail "$dockerfile does not copy $jar"
  [[ -f "$jar" ]] || fail "$dockerfile copies $jar, which the build did not produce"
  grep -q -- "-jar /opt/grapevine/$(basename "$jar")" "$dockerfile" || fail "$dockerfile does not run $(basename "$jar")"
  local help flags missing=()
  help=$("$JAVA" -jar "$jar" --help) || fail "$jar --help failed"
  flags=$(grep '^ENTRYPOINT' "$dockerfile" | grep -o -- '--[a-z][a-z-]*' | sort -u)
  [[ -n "$flags" ]] || fail "no flags found in $dockerfile"
  for flag in $flags; do
    grep -q -- "$flag" <<< "$help" || missing+=("$flag")
  done
  [[ ${#missing[@]} -eq 0 ]] || fail "$dockerfile passes flags that $(basename "$jar") does not know: ${missing[*]}"
  echo "$dockerfile: copies and runs $jar; flags known: $(tr '\n' ' ' <<< "$flags")"
}
check_image docker/proxy.Dockerfile proxy/target/grapevine-proxy.jar
check_image docker/web.Dockerfile agent/target/grapevine-agent.jar
echo "check-compose: ok"
