#!/usr/bin/env bash
# tools/bench/upstream-tls.sh: the cost of upstream TLS. One lb (one worker,
# pinned to CPU 1) with two HTTP listeners in front of one nginx origin, one
# pool plain and one over TLS (keep-alive both); wrk on CPU 0 drives each in
# turn and lb's CPU time per request is read from /proc. Bounded: ROUNDS x 2
# runs of DURATION seconds. Needs nginx-light, wrk, openssl.
#   tools/bench/upstream-tls.sh [BUILD_DIR] (env: DURATION=5 ROUNDS=3 CONNS=20)
set -euo pipefail
export LC_ALL=C
BUILD=${1:-build}
LB=$(cd "$BUILD" && pwd)/lb/lb
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-20}
D=$(mktemp -d /tmp/lb-uptls-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$D"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/o.key" -out "$D/o.crt" \
	-days 1 -subj /CN=origin -addext subjectAltName=IP:127.0.0.1 2>/dev/null
PLAIN=$(free_port); TLS=$(free_port); L1=$(free_port); L2=$(free_port)
mkdir -p "$D/tmp"
cat >"$D/nginx.conf" <<NGX
daemon off; master_process off; worker_processes 1; pid $D/nginx.pid; error_log $D/error.log;
events { worker_connections 1024; }
http {
  access_log off; client_body_temp_path $D/tmp; proxy_temp_path $D/tmp; fastcgi_temp_path $D/tmp;
  uwsgi_temp_path $D/tmp; scgi_temp_path $D/tmp; keepalive_requests 1000000; default_type text/plain;
  server { listen 127.0.0.1:$PLAIN; location / { return 200 "hello, world\n"; } }
  server { listen 127.0.0.1:$TLS ssl; ssl_certificate $D/o.crt; ssl_certificate_key $D/o.key;
           location / { return 200 "hello, world\n"; } }
}
NGX
taskset -c 0 nginx -c "$D/nginx.conf" -p "$D" -e "$D/error.log" & PIDS+=($!)
cat >"$D/lb.yaml" <<YAML
workers: 1
access_log: { path: "off" }
listeners:
  - { name: plain, listen: "127.0.0.1:$L1", routes: [{ pool: plain }] }
  - { name: tls, listen: "127.0.0.1:$L2", routes: [{ pool: tls }] }
pools:
  - { name: plain, endpoints: ["127.0.0.1:$PLAIN"], keepalive: { max_idle: 64 } }
  - { name: tls, endpoints: ["127.0.0.1:$TLS"], keepalive: { max_idle: 64 }, tls: { ca: "$D/o.crt" } }
YAML
"$LB" --check --config "$D/lb.yaml" >/dev/null
taskset -c 1 "$LB" --config "$D/lb.yaml" 2>"$D/lb.log" & LBPID=$!; PIDS+=($LBPID)
for _ in $(seq 1 50); do grep -q "msg=ready" "$D/lb.log" 2>/dev/null && break; sleep 0.1; done; grep -q "msg=ready" "$D/lb.log" || { cat "$D/lb.log"; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$LBPID/stat"; }
hz=$(getconf CLK_TCK)
run() {  # port -> "requests us_per_request"
	local before after out reqs
	before=$(cpu)
	out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$1/")
	after=$(cpu)
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	echo "$reqs $(awk -v t=$((after - before)) -v r="$reqs" -v hz="$hz" 'BEGIN {printf "%.1f", t * 1e6 / hz / r}')"
}
run "$L1" >/dev/null; run "$L2" >/dev/null  # warm-up: connections open, sessions made
printf '%-6s %-10s %-12s %s\n' round upstream requests "lb us/req"
for r in $(seq 1 "$ROUNDS"); do
	read -r n us <<<"$(run "$L1")"; printf '%-6s %-10s %-12s %s\n' "$r" plain "$n" "$us"
	read -r n us <<<"$(run "$L2")"; printf '%-6s %-10s %-12s %s\n' "$r" tls "$n" "$us"
done
