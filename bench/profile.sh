#!/usr/bin/env bash
# Profiles Grapevine with JDK Flight Recorder under one of compare.py's scenarios, then summarises it.
#
#   bench/profile.sh [SCENARIO] [SECONDS]          # default: get 40
#   JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 bench/profile.sh get 40
#
# Grapevine runs alone on CPU 1 (compare.py --proxies grapevine) with the launcher's default JVM
# options plus a recording that starts after the warm-up and samples Java code every millisecond.
# The recording is kept in bench/results/ (git-ignored); the summary is bench/jfr-summary.py's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenario="${1:-get}"
secs="${2:-40}"
java_home="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}"
mkdir -p bench/results
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
jfr="$PWD/bench/results/grapevine-$scenario-$stamp.jfr"
jfc="$PWD/bench/results/profile-1ms.jfc"

# The JDK's "profile" settings, with Java code sampled every 1 ms instead of 10 ms.
sed -e 's|\(control="method-sampling-java-interval">\)[^<]*<|\11 ms<|' \
    -e 's|\(control="method-sampling-native-interval">\)[^<]*<|\15 ms<|' \
    "$java_home/lib/jfr/profile.jfc" > "$jfc"

# The launcher's defaults, read from the launcher so that they cannot drift apart.
defaults="$(sed -n 's/^DEFAULT_JVM_OPTS="\(.*\)"$/\1/p' grapevine)"
[[ -n "$defaults" ]] || { echo "profile.sh: no DEFAULT_JVM_OPTS in ./grapevine" >&2; exit 1; }

# compare.py warms up for 2 + 8 s after start; the recording begins once that is over.
export GRAPEVINE_JVM_OPTS="$defaults -XX:+FlightRecorder -XX:StartFlightRecording=delay=12s,filename=$jfr,settings=$jfc,dumponexit=true"
echo "GRAPEVINE_JVM_OPTS=$GRAPEVINE_JVM_OPTS" >&2
bench/compare.py --proxies grapevine --scenarios "$scenario" --secs "$secs" --rounds 1 --warmup 2 --jit-warmup 8
echo
echo "recording: $jfr"
JAVA_HOME="$java_home" bench/jfr-summary.py "$jfr"
