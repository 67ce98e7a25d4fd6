#!/usr/bin/env bash
# Checks that the build is reproducible: the working tree's sources, copied into two different
# directories and built there one after the other, give byte-identical jars (same sha256). The fixed
# entry times come from project.build.outputTimestamp in pom.xml. Exits non-zero on any difference.
#
# --built: the working tree's own jars, as the build that just ran in it left them (CI runs this right
# after the test run built the clone), are the first build; one copy is built to compare with them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

builds=(a b)
case "${1:-}" in
  --built) builds=(b) ;;
  "") ;;
  *) echo "usage: scripts/check-reproducible.sh [--built]" >&2; exit 2 ;;
esac

jars=(cluster/target/grapevine-cluster-0.1.0-SNAPSHOT.jar agent/target/grapevine-agent.jar proxy/target/grapevine-proxy.jar)
if [[ ${#builds[@]} == 1 ]]; then
  echo "check-reproducible: the working tree's jars are copy a" >&2
  (cd "$HERE" && sha256sum "${jars[@]}") > "$WORK/a.sha256"
fi
for copy in "${builds[@]}"; do
  mkdir -p "$WORK/$copy"
  # The sources as they are in the working tree (tracked and new files, not what .gitignore leaves out).
  (cd "$HERE" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$WORK/$copy" 2>/dev/null || true)
  echo "check-reproducible: building copy $copy" >&2
  (cd "$WORK/$copy" && mvn -q -B -DskipTests package >&2)
  (cd "$WORK/$copy" && sha256sum "${jars[@]}") > "$WORK/$copy.sha256"
done
if ! diff "$WORK/a.sha256" "$WORK/b.sha256" >&2; then
  echo "check-reproducible: the two builds differ (above); an entry time or order depends on the build" >&2
  exit 1
fi
cat "$WORK/a.sha256"
echo "check-reproducible: ok, ${#jars[@]} jars identical across two builds"
