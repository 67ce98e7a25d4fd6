#!/usr/bin/env bash
# Checks docker-compose.yml and docker/Dockerfile without a Docker engine (the images are not built or
# run here):
#  1. docker-compose (Debian's package, installed with apt-get when missing) validates the compose file,
#     which must declare the keygen, proxy and web services;
#  2. the Dockerfile has a Maven + JDK 17 build stage, and proxy and web stages on a JRE 17 that run as
#     a non-root user; the proxy stage has a HEALTHCHECK;
#  3. the jars the images copy out of the build stage are the paths the build makes, and every file the
#     Dockerfile copies from the context exists;
#  4. every flag the images pass to the agent and the proxy is one their --help lists.
# ComposeFilesIntegrationTest checks the same and more (the health check against a live admin port).
# Run from anywhere; builds the jars first when they are missing. Exits non-zero on the first problem.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
DOCKERFILE=docker/Dockerfile
fail() { echo "check-compose: $*" >&2; exit 1; }

if ! command -v docker-compose > /dev/null; then
  echo "check-compose: docker-compose missing; installing Debian's package" >&2
  if [[ $(id -u) -ne 0 ]]; then fail "docker-compose is not installed and this is not root: apt-get install docker-compose"; fi
  apt-get update -qq > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose > /dev/null
fi

docker-compose -f docker-compose.yml config -q || fail "docker-compose.yml is not valid"
services=$(docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' ')
[[ "$services" == "keygen proxy web " ]] || fail "expected services keygen, proxy and web, found: $services"
echo "docker-compose.yml: valid (services: $services)"

# The instructions of one stage (from its FROM line to the next FROM), continuation lines joined.
stage() {
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$DOCKERFILE" \
    | awk -v want="$1" '/^FROM /{ on = ($NF == want) } on'
}
stage build | grep -Eq '^FROM maven:3\.[0-9.]+-eclipse-temurin-17 AS build$' || fail "$DOCKERFILE: no 'FROM maven:3.x-eclipse-temurin-17 AS build' stage"
stage build | grep -Eq '^RUN .*mvn .*-DskipTests package' || fail "$DOCKERFILE: the build stage does not run mvn package"
stage runtime | grep -Eq '^FROM eclipse-temurin:17-jre(-[a-z]+)? AS runtime$' || fail "$DOCKERFILE: the runtime stage is not on eclipse-temurin:17-jre"
stage proxy | grep -q '^HEALTHCHECK .*healthcheck.sh' || fail "$DOCKERFILE: the proxy stage has no HEALTHCHECK"
[[ -x docker/healthcheck.sh ]] || fail "docker/healthcheck.sh is missing or not executable"

[[ -f proxy/target/grapevine-proxy.jar && -f agent/target/grapevine-agent.jar ]] || ./grapevine build

check_image() {  # stage, jar it must copy from the build stage
  local name=$1 jar=$2
  stage "$name" | grep -Eq '^FROM runtime AS '"$name"'$' || fail "$DOCKERFILE: stage $name is not built FROM runtime"
  local user
  user=$(stage "$name" | grep '^USER ' | tail -1 | awk '{print $2}')
  [[ "${user%%:*}" =~ ^[1-9][0-9]*$ ]] || fail "$DOCKERFILE: stage $name runs as '${user:-root}', not a numeric non-root uid"
  stage "$name" | grep -q "^COPY --from=build /src/$jar /opt/grapevine/$(basename "$jar")\$" \
    || fail "$DOCKERFILE: stage $name does not copy $jar out of the build stage"
  [[ -f "$jar" ]] || fail "$DOCKERFILE copies $jar, which the build did not produce"
  local entry help flags missing=()
  entry=$(stage "$name" | grep '^ENTRYPOINT')
  grep -q -- "-jar /opt/grapevine/$(basename "$jar")" <<< "$entry" || fail "stage $name does not run $(basename "$jar")"
  help=$("$JAVA" -jar "$jar" --help) || fail "$jar --help failed"
  flags=$(grep -o -- '--[a-z][a-z-]*' <<< "$entry" | sort -u)
  [[ -n "$flags" ]] || fail "no flags found in stage $name"
  for flag in $flags; do
    grep -q -- "$flag" <<< "$help" || missing+=("$flag")
  done
  [[ ${#missing[@]} -eq 0 ]] || fail "stage $name passes flags that $(basename "$jar") does not know: ${missing[*]}"
  echo "$DOCKERFILE: stage $name runs $jar as uid ${user%%:*}; flags known: $(tr '\n' ' ' <<< "$flags")"
}
check_image proxy proxy/target/grapevine-proxy.jar
check_image web agent/target/grapevine-agent.jar

while read -r source; do
  [[ -e "$source" ]] || fail "$DOCKERFILE copies $source, which is not in the repository"
done < <(grep '^COPY ' "$DOCKERFILE" | grep -v -- '--from=' | sed -e 's/--chmod=[^ ]* //' | awk '{print $2}')
echo "check-compose: ok (the images were not built or run: no Docker engine here)"
