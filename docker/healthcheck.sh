#!/usr/bin/env bash
# The proxy image's HEALTHCHECK: healthy (exit 0) when the admin listener on 127.0.0.1 answers
# GET /health with status 200 within the check's timeout. Bash's /dev/tcp only: no curl in the image.
#   GRAPEVINE_ADMIN_PORT  the admin port (default 9001)
set -euo pipefail
port="${GRAPEVINE_ADMIN_PORT:-9001}"
exec 3<> "/dev/tcp/127.0.0.1/$port"
printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$port" >&3
IFS= read -r -t 2 status <&3
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "admin /health answered: ${status:-nothing}" >&2; exit 1 ;;
esac
