#!/usr/bin/env bash
# `make run`: three demo backends on 127.0.0.1:9001..9003 and lb in front of
# them with config/lb.yaml. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
lb_bin=$build/lb/lb
backend_bin=$build/tools/backend/lb-backend

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

for i in 1 2 3; do
  "$backend_bin" --name "backend-$i" --listen "127.0.0.1:900$i" >/dev/null &
  pids+=($!)
done

"$lb_bin" --check --config config/lb.yaml >/dev/null
"$lb_bin" --config config/lb.yaml &
pids+=($!)

# Ready when the admin server says so (bounded wait).
for _ in $(seq 50); do
  curl -fsS -o /dev/null http://127.0.0.1:9901/readyz 2>/dev/null && break
  sleep 0.1
done

cat <<MSG

lb is up. Each answer names the backend that served it:
  curl http://127.0.0.1:8080/                 # round robin over backend-1..3
  curl http://127.0.0.1:8080/api/             # route 'api': backend-2 (weight 2) and backend-3
  curl 'http://127.0.0.1:8080/?echo=1'        # what the backend received (X-Forwarded-For, ...)
  curl http://127.0.0.1:9901/readyz           # admin
Ctrl-C to stop.
MSG
wait "${pids[-1]}"
