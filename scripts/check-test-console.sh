#!/usr/bin/env bash
# Checks that the console output of a test run (a file, or stdin) shows results and failures, not logs:
# the logs of the tests and of what they start belong in target/*-reports/CLASS-output.txt
# (maven.test.redirectTestOutputToFile in pom.xml). Fails, naming the first such lines, when a log line
# (a timestamp and a level, or logback's own status) reached the console.
#   scripts/check-test-console.sh FILE     or     mvn -B verify | scripts/check-test-console.sh
set -euo pipefail

input="${1:-}"
if [[ -z "$input" ]]; then
  input="$(mktemp)"
  trap 'rm -f "$input"' EXIT
  cat > "$input"
fi
log_line='^([0-9]{2}:[0-9]{2}:[0-9]{2}[.,][0-9]{3}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})) +(TRACE|DEBUG|INFO|WARN|ERROR)|\|-(INFO|WARN|ERROR) in ch\.qos\.logback'
found="$(grep -E -n "$log_line" "$input" | head -n 5 || true)"
if [[ -n "$found" ]]; then
  echo "check-test-console: log lines reached the test console (they belong in target/*-reports/*-output.txt):" >&2
  echo "$found" >&2
  exit 1
fi
grep -Eq 'Tests run: [0-9]+' "$input" || { echo "check-test-console: no test results in the output" >&2; exit 1; }
echo "check-test-console: ok (results only; test logs in target/surefire-reports and target/failsafe-reports)"
