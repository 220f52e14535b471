#!/usr/bin/env bash
# tools/bench/bench.sh: lb side by side with nginx and HAProxy, in one run,
# against one origin, one worker each, on loopback. See tools/bench/README.md.
set -euo pipefail
export LC_ALL=C

PROG=${0##*/}
HERE=$(cd "$(dirname "$0")" && pwd)

usage() {
	cat <<EOF
Usage: $PROG [options]

Starts an nginx origin (fixed 13 B and 64 KiB bodies), then lb, nginx and
HAProxy as reverse proxies in front of it (one worker each, upstream keep-alive),
and measures them in alternation with wrk: throughput, latency, proxy CPU; then
the memory each proxy needs per idle keep-alive client connection; optionally
(--instr) user-space instructions per request under callgrind.

Placement: the proxy under test runs on CPU --cpu-proxy (1), wrk, the origin
and the helper client on CPU --cpu-load (0), so proxy figures are per core.

Options:
  --build-dir DIR     lb binary is DIR/lb/lb (default: build)
  --lb BIN            lb binary (overrides --build-dir)
  --targets LIST      comma list of lb,nginx,haproxy,direct (default: all four);
                      direct = wrk straight to the origin (the ceiling)
  --scenarios LIST    small,64k,close (default: all three)
                        small: 13 B body, keep-alive
                        64k:   64 KiB body, keep-alive
                        close: 13 B body, "Connection: close" on every request
  --duration S        seconds per recorded wrk run (10)
  --warmup S          unrecorded wrk seconds per target and scenario (2)
  --rounds N          rounds per scenario; each round runs every target once (3)
  --connections N     wrk connections (50)
  --threads N         wrk threads (1)
  --idle-conns N      idle keep-alive connections per target (5000); 0 = skip
  --instr             also measure instructions/request under callgrind
  --instr-requests N  requests per callgrind measurement (20000)
  --instr-scenarios L small,64k,close subset for --instr (small)
  --instr-targets L   targets for --instr (lb,nginx; those also in --targets)
  --lb-trace          lb's listener gets 'request_id: true' and
                      'tracing: { start: true }' (their cost per request)
  --no-throughput     skip the wrk scenarios
  --quiet-wait S      before each recorded run, wait up to S seconds until the
                      rest of the machine uses < 10% of a CPU (30; 0 = off)
  --cpu-load N        CPU for wrk, origin and client (0)
  --cpu-proxy N       CPU for the proxy under test (1)
  --no-pin            no taskset
  --base-port N       uses 127.0.0.1 ports N..N+9 (19000)
  --out DIR           results dir (default: tools/bench/results/<timestamp>):
                      summary.txt, throughput.csv, idle.csv, instr.csv, meta.txt,
                      run.log, commands.log, conf/, logs/, raw/
  -h, --help          this text

Every load run is bounded in time; every process started is stopped by PID on
exit. Needs: nginx (nginx-light), haproxy, wrk, python3, curl, taskset, ss;
valgrind for --instr.
EOF
}

# ----------------------------------------------------------------- settings --
NGINX=${NGINX:-nginx}
HAPROXY=${HAPROXY:-haproxy}
WRK=${WRK:-wrk}
PYTHON=${PYTHON:-python3}
VALGRIND=${VALGRIND:-valgrind}
CURL=${CURL:-curl}

BUILD_DIR=build
LB_BIN=""
TARGETS="lb,nginx,haproxy,direct"
SCENARIOS="small,64k,close"
DURATION=10
WARMUP=2
ROUNDS=3
CONNS=50
THREADS=1
IDLE_CONNS=5000
INSTR=0
INSTR_REQUESTS=20000
INSTR_SCENARIOS=small
LB_TRACE=""
INSTR_TARGETS=lb,nginx
THROUGHPUT=1
QUIET_WAIT=30
QUIET_PCT=10
CPU_LOAD=0
CPU_PROXY=1
PIN=1
BASE_PORT=19000
OUT=""
ORIG_ARGS=("$@")

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
RUN_LOG=""
log() {
	local line
	line=$(printf '[%s] %s' "$(date +%H:%M:%S)" "$*")
	echo "$line" >&2
	[[ -z $RUN_LOG ]] || echo "$line" >>"$RUN_LOG"
}
need_arg() { [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value"; }

while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--build-dir) need_arg "$@"; BUILD_DIR=$2; shift ;;
	--lb) need_arg "$@"; LB_BIN=$2; shift ;;
	--targets) need_arg "$@"; TARGETS=$2; shift ;;
	--scenarios) need_arg "$@"; SCENARIOS=$2; shift ;;
	--duration) need_arg "$@"; DURATION=$2; shift ;;
	--warmup) need_arg "$@"; WARMUP=$2; shift ;;
	--rounds) need_arg "$@"; ROUNDS=$2; shift ;;
	--connections) need_arg "$@"; CONNS=$2; shift ;;
	--threads) need_arg "$@"; THREADS=$2; shift ;;
	--idle-conns) need_arg "$@"; IDLE_CONNS=$2; shift ;;
	--instr) INSTR=1 ;;
	--instr-requests) need_arg "$@"; INSTR_REQUESTS=$2; shift ;;
	--instr-scenarios) need_arg "$@"; INSTR_SCENARIOS=$2; shift ;;
	--instr-targets) need_arg "$@"; INSTR_TARGETS=$2; shift ;;
	--lb-trace) LB_TRACE=$'\n    request_id: true\n    tracing: { start: true }' ;;
	--no-throughput) THROUGHPUT=0 ;;
	--quiet-wait) need_arg "$@"; QUIET_WAIT=$2; shift ;;
	--cpu-load) need_arg "$@"; CPU_LOAD=$2; shift ;;
	--cpu-proxy) need_arg "$@"; CPU_PROXY=$2; shift ;;
	--no-pin) PIN=0 ;;
	--base-port) need_arg "$@"; BASE_PORT=$2; shift ;;
	--out) need_arg "$@"; OUT=$2; shift ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done

for v in DURATION WARMUP ROUNDS CONNS THREADS IDLE_CONNS INSTR_REQUESTS QUIET_WAIT CPU_LOAD CPU_PROXY BASE_PORT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
((DURATION > 0 && ROUNDS > 0 && CONNS > 0 && THREADS > 0)) || die "--duration, --rounds, --connections, --threads must be > 0"
((CONNS >= THREADS)) || die "--connections must be >= --threads"
IFS=, read -r -a TARGET_LIST <<<"$TARGETS"
for t in "${TARGET_LIST[@]}"; do
	case $t in lb | nginx | haproxy | direct) ;; *) die "unknown target '$t' (lb,nginx,haproxy,direct)" ;; esac
done
IFS=, read -r -a SCEN_LIST <<<"$SCENARIOS"
for s in "${SCEN_LIST[@]}"; do
	case $s in small | 64k | close) ;; *) die "unknown scenario '$s' (small,64k,close)" ;; esac
done
IFS=, read -r -a INSTR_SCEN_LIST <<<"$INSTR_SCENARIOS"
for s in "${INSTR_SCEN_LIST[@]}"; do
	case $s in small | 64k | close) ;; *) die "unknown instr scenario '$s' (small,64k,close)" ;; esac
done
INSTR_LIST=()
for t in ${INSTR_TARGETS//,/ }; do
	case $t in lb | nginx | haproxy) ;; *) die "unknown instr target '$t' (lb,nginx,haproxy)" ;; esac
	if [[ ",$TARGETS," == *",$t,"* ]]; then INSTR_LIST+=("$t"); fi
done

has_target() { [[ ",$TARGETS," == *",$1,"* ]]; }

HOST=127.0.0.1
ORIGIN_PORT=$BASE_PORT
declare -A PORT=([direct]=$BASE_PORT [nginx]=$((BASE_PORT + 1)) [haproxy]=$((BASE_PORT + 2)) [lb]=$((BASE_PORT + 3)))

# ------------------------------------------------------------- preflight ----
preflight() {
	local missing=() b c p
	for b in "$NGINX" "$WRK" "$PYTHON" "$CURL" taskset ss ps awk timeout; do
		command -v "$b" >/dev/null 2>&1 || missing+=("$b")
	done
	if has_target haproxy || [[ " ${INSTR_LIST[*]} " == *" haproxy "* ]]; then
		command -v "$HAPROXY" >/dev/null 2>&1 || missing+=("$HAPROXY")
	fi
	if ((INSTR)); then
		for b in "$VALGRIND" callgrind_control callgrind_annotate; do
			command -v "$b" >/dev/null 2>&1 || missing+=("$b")
		done
	fi
	((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (Debian: apt-get install nginx-light haproxy wrk python3 curl valgrind)"
	if has_target lb || [[ " ${INSTR_LIST[*]} " == *" lb "* ]]; then
		LB_BIN=${LB_BIN:-$BUILD_DIR/lb/lb}
		[[ -x $LB_BIN ]] || die "lb binary not found at $LB_BIN (build it, use --build-dir/--lb, or leave lb out of --targets)"
		LB_BIN=$(cd "$(dirname "$LB_BIN")" && pwd)/$(basename "$LB_BIN")
	fi
	if ((PIN)); then
		local ncpu
		ncpu=$(nproc)
		for c in "$CPU_LOAD" "$CPU_PROXY"; do
			((c < ncpu)) || die "CPU $c does not exist (nproc=$ncpu); use --cpu-load/--cpu-proxy or --no-pin"
		done
	fi
	for ((p = BASE_PORT; p < BASE_PORT + 10; p++)); do
		[[ -z $(ss -Htln "sport = :$p") ]] || die "port $p is in use; pick another --base-port"
	done
	# File descriptors: the idle test needs about IDLE_CONNS in the client and
	# IDLE_CONNS + upstream in the proxy. Raise the soft limit to the hard one.
	ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
	NOFILE=$(ulimit -n)
	if [[ $NOFILE == unlimited ]]; then NOFILE=1048576; fi
	if ((IDLE_CONNS + 1024 > NOFILE)); then
		die "--idle-conns $IDLE_CONNS needs an open-files limit of at least $((IDLE_CONNS + 1024)) (hard limit: $NOFILE)"
	fi
	MAX_CONNS=$((IDLE_CONNS + 2048))
}

# ---------------------------------------------------- process management ----
STARTED=()

tree_pids() { # PID and all its descendants
	local c
	echo "$1"
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do tree_pids "$c"; done
}

log_cmd() {
	printf '%q ' "$@" >>"$OUT/commands.log"
	echo >>"$OUT/commands.log"
}

pinned() { # pinned CPU CMD... -> prints nothing; sets CMD_PINNED
	local cpu=$1
	shift
	if ((PIN)); then CMD_PINNED=(taskset -c "$cpu" "$@"); else CMD_PINNED=("$@"); fi
}

# spawn NAME CPU CMD...: background process, output to logs/NAME.log; sets SPAWNED_PID
spawn() {
	local name=$1 cpu=$2
	shift 2
	pinned "$cpu" "$@"
	log_cmd "${CMD_PINNED[@]}"
	"${CMD_PINNED[@]}" >>"$OUT/logs/$name.log" 2>&1 </dev/null &
	SPAWNED_PID=$!
	STARTED+=("$SPAWNED_PID")
}

forget_pid() {
	local i
	local -a keep=()
	for i in "${STARTED[@]}"; do [[ $i == "$1" ]] || keep+=("$i"); done
	STARTED=("${keep[@]+"${keep[@]}"}")
}

# stop_pid PID: SIGTERM, then after 5 s SIGKILL it and the children it had.
stop_pid() {
	local pid=$1 kids i
	forget_pid "$pid"
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kids=$(tree_pids "$pid" | tail -n +2)
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "  note: pid $pid still running 5 s after SIGTERM; SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	for i in $kids; do
		if kill -0 "$i" 2>/dev/null; then kill -KILL "$i" 2>/dev/null || true; fi
	done
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? i
	set +e
	trap - EXIT INT TERM
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[i]}"; done
	[[ -z ${WORK:-} || ! -d $WORK ]] || rm -rf "$WORK"
	exit "$rc"
}

wait_port() { # wait_port PORT PID SECONDS
	local port=$1 pid=$2 deadline=$((SECONDS + $3))
	until (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || return 1
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# run_load LIMIT CMD...: foreground, pinned to the load CPU, killed after LIMIT s
run_load() {
	local limit=$1
	shift
	pinned "$CPU_LOAD" "$@"
	log_cmd timeout -k 5 "$limit" "${CMD_PINNED[@]}"
	timeout -k 5 "$limit" "${CMD_PINNED[@]}"
}

# ----------------------------------------------------------- config files ---
nginx_head() { # nginx_head NAME MASTER(on|off)
	local dir=$WORK/run/$1 d
	mkdir -p "$dir/tmp"
	cat <<EOF
worker_processes 1;
daemon off;
master_process $2;
pid $dir/nginx.pid;
error_log $OUT/logs/$1.error.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections $MAX_CONNS; }
http {
  access_log off;
EOF
	for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $dir/tmp/$d;"; done
}

gen_origin() {
	{
		nginx_head origin on
		cat <<EOF
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  server {
    listen $HOST:$ORIGIN_PORT backlog=4096;
    root $WORK/www;
    location = / { default_type text/plain; return 200 "Hello, World\n"; }
    location / { default_type application/octet-stream; }
  }
}
EOF
	} >"$OUT/conf/origin.conf"
}

gen_nginx() { # gen_nginx MASTER
	{
		nginx_head nginx "$1"
		cat <<EOF
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  upstream origin {
    server $HOST:$ORIGIN_PORT;
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen $HOST:${PORT[nginx]} backlog=4096;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
	} >"$OUT/conf/nginx.conf"
}

gen_haproxy() {
	cat >"$OUT/conf/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $MAX_CONNS
  ulimit-n $NOFILE
  no strict-limits
  # no "log" line: logging off, like nginx (access_log off) and lb (access_log off)

defaults
  mode http
  maxconn $MAX_CONNS
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  http-reuse always

frontend fe
  bind $HOST:${PORT[haproxy]} backlog 4096
  default_backend be

backend be
  server origin $HOST:$ORIGIN_PORT
EOF
}

lb_yaml() { # lb_yaml ACCESS_LOG_LINE
	cat <<EOF
# generated by tools/bench/bench.sh
workers: 1
drain_timeout: 1s
admin: { listen: 127.0.0.1:0 }$1
listeners:
  - name: bench
    listen: $HOST:${PORT[lb]}
    protocol: http$LB_TRACE
    routes:
      - match: { path_prefix: / }
        pool: origin
pools:
  - name: origin
    endpoints: [ { address: $HOST:$ORIGIN_PORT } ]
    keepalive: { max_idle: 64, idle_timeout: 60s }
EOF
}

# Access logging off, like nginx and HAProxy here. A build that does not know
# the access_log key yet (unknown keys are errors) has no access log to turn off.
LB_ACCESS_LOG=$'\naccess_log: { path: off }'
LB_CHECKED=0
gen_lb() {
	local conf=$OUT/conf/lb.yaml out rc=0
	lb_yaml "$LB_ACCESS_LOG" >"$conf"
	((LB_CHECKED == 0)) || return 0
	LB_CHECKED=1
	log_cmd "$LB_BIN" --check --config "$conf"
	out=$(timeout -k 2 20 "$LB_BIN" --check --config "$conf" 2>&1) || rc=$?
	if ((rc != 0)) && [[ $out == *access_log* ]]; then
		log "note: this lb build does not accept access_log (no access log); config without it"
		LB_ACCESS_LOG=""
		lb_yaml "" >"$conf"
		rc=0
		out=$(timeout -k 2 20 "$LB_BIN" --check --config "$conf" 2>&1) || rc=$?
	fi
	((rc == 0)) || die "lb --check --config $conf failed (status $rc):$(sed 's/^/\n    /' <<<"$out")"
}

# ------------------------------------------------------------- targets -----
declare -A TPID=()
ORIGIN_PID=""

start_origin() {
	gen_origin
	spawn origin "$CPU_LOAD" "$NGINX" -p "$WORK/run/origin" -c "$OUT/conf/origin.conf" -e "$OUT/logs/origin.error.log"
	ORIGIN_PID=$SPAWNED_PID
	wait_port "$ORIGIN_PORT" "$ORIGIN_PID" 20 || die "origin nginx did not start (see $OUT/logs/origin*)"
}

stop_origin() { [[ -z $ORIGIN_PID ]] || stop_pid "$ORIGIN_PID"; ORIGIN_PID=""; }

# start_target TARGET [callgrind]: sets TPID[TARGET]
start_target() {
	local t=$1 wrap=${2:-} master=on limit=30
	local -a pre=()
	if [[ $wrap == callgrind ]]; then
		master=off # one nginx process, so callgrind_control reaches the worker
		limit=180
		pre=("$VALGRIND" --tool=callgrind --compress-strings=no --compress-pos=no
			"--callgrind-out-file=$OUT/raw/callgrind-$t.%p.out")
	fi
	case $t in
	direct)
		TPID[direct]=$ORIGIN_PID
		return 0
		;;
	nginx)
		gen_nginx "$master"
		spawn nginx "$CPU_PROXY" "${pre[@]}" "$NGINX" -p "$WORK/run/nginx" -c "$OUT/conf/nginx.conf" -e "$OUT/logs/nginx.error.log"
		;;
	haproxy)
		gen_haproxy
		spawn haproxy "$CPU_PROXY" "${pre[@]}" "$HAPROXY" -db -f "$OUT/conf/haproxy.cfg"
		;;
	lb)
		gen_lb
		spawn lb "$CPU_PROXY" "${pre[@]}" "$LB_BIN" --config "$OUT/conf/lb.yaml"
		;;
	esac
	TPID[$t]=$SPAWNED_PID
	wait_port "${PORT[$t]}" "$SPAWNED_PID" "$limit" ||
		die "$t did not start listening on $HOST:${PORT[$t]} (log: $OUT/logs/$t.log)$(tail -n 5 "$OUT/logs/$t.log" 2>/dev/null | sed 's/^/\n    /')"
}

stop_target() {
	local t=$1
	if [[ -n ${TPID[$t]:-} && ${TPID[$t]} != "$ORIGIN_PID" ]]; then stop_pid "${TPID[$t]}"; fi
	unset 'TPID[$t]'
}

# alive TARGET: die with the log tail if the target's process is gone
alive() {
	local pid=${TPID[$1]:-}
	[[ -z $pid ]] || kill -0 "$pid" 2>/dev/null && return 0
	local rc=0
	wait "$pid" 2>/dev/null || rc=$?
	forget_pid "$pid"
	die "$1 (pid $pid) exited (status $rc) during the benchmark; log tail:$(tail -n 10 "$OUT/logs/$1.log" 2>/dev/null | sed 's/^/\n    /')"
}

# check_target TARGET: GET both bodies through it, compare with the origin's files
check_target() {
	local t=$1 path got want f
	for path in /:index.txt /64k:64k; do
		f=$OUT/raw/check-$t-${path#*:}
		want=$(wc -c <"$WORK/www/${path#*:}")
		got=$("$CURL" -s -o "$f" -m 10 -w '%{http_code} %{size_download}' "http://$HOST:${PORT[$t]}${path%%:*}" || true)
		[[ $got == "200 $want" ]] || die "$t: GET ${path%%:*} gave '$got', want '200 $want' (log: $OUT/logs/$t.log)"
		cmp -s "$f" "$WORK/www/${path#*:}" || die "$t: GET ${path%%:*}: body differs from the origin's (see $f)"
		rm -f "$f"
	done
	log "ok: $t on $HOST:${PORT[$t]} returns the origin's bodies"
}

# ------------------------------------------------------------- sampling ----
tree_ticks() { # utime+stime (clock ticks) of a process tree
	local p total=0 line
	local -a f
	for p in $(tree_pids "$1"); do
		read -r line 2>/dev/null <"/proc/$p/stat" || continue
		read -r -a f <<<"${line##*) }"
		total=$((total + f[11] + f[12]))
	done
	echo "$total"
}

tree_rss_kb() { # VmRSS (KiB) summed over a process tree
	local p v total=0
	for p in $(tree_pids "$1"); do
		v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
		total=$((total + ${v:-0}))
	done
	echo "$total"
}

core_ticks() { # core_ticks CPU -> "busy total" jiffies
	awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# snapshot PROXY_PID -> "time proxy origin loadgen all_busy load_busy load_total proxy_busy proxy_total"
# loadgen: CPU of reaped children of this shell (wrk via timeout), /proc/$$/stat cutime+cstime
snapshot() {
	local p=0
	[[ -z $1 ]] || p=$(tree_ticks "$1")
	echo "$EPOCHREALTIME $p $(tree_ticks "$ORIGIN_PID")" \
		"$(awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$$/stat")" \
		"$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)" \
		"$(core_ticks "$CPU_LOAD") $(core_ticks "$CPU_PROXY")"
}

# wait_quiet: wait up to QUIET_WAIT s until the machine uses < QUIET_PCT% of a CPU
wait_quiet() {
	((QUIET_WAIT > 0)) || return 0
	local deadline=$((SECONDS + QUIET_WAIT)) a b pct warned=0
	while :; do
		a=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)
		sleep 0.5
		b=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)
		pct=$(((b - a) * 200 / CLK_TCK))
		((pct >= QUIET_PCT)) || return 0
		if ((SECONDS >= deadline)); then
			((warned)) && log "  note: other load still ${pct}% of a CPU after ${QUIET_WAIT}s; measuring anyway"
			return 0
		fi
		warned=1
	done
}

# ------------------------------------------------------------ throughput ---
scenario_args() { # sets S_PATH, S_ARGS
	S_ARGS=()
	case $1 in
	small) S_PATH=/ ;;
	64k) S_PATH=/64k ;;
	close) S_PATH=/ S_ARGS=(-H "Connection: close") ;;
	esac
}

wrk_once() { # wrk_once PORT SECONDS OUTFILE
	run_load $(($2 + 60)) "$WRK" -t"$THREADS" -c"$CONNS" -d"$2"s --latency -s "$WORK/report.lua" \
		"${S_ARGS[@]+"${S_ARGS[@]}"}" "http://$HOST:$1$S_PATH" >"$3" 2>&1
}

measure() { # measure SCENARIO TARGET ROUND
	local scen=$1 t=$2 round=$3 raw pid="" s0 s1 res
	raw=$OUT/raw/$scen-$t-r$round.txt
	[[ $t == direct ]] || pid=${TPID[$t]}
	wait_quiet
	s0=$(snapshot "$pid")
	wrk_once "${PORT[$t]}" "$DURATION" "$raw" || log "  warning: wrk exited non-zero ($raw)"
	s1=$(snapshot "$pid")
	alive "$t"
	res=$(grep '^RESULT ' "$raw" | tail -n 1) || die "no result from wrk, see $raw"
	awk -v scen="$scen" -v t="$t" -v round="$round" -v hz="$CLK_TCK" -v haspid="${pid:+1}" \
		-v s0="$s0" -v s1="$s1" -v res="${res#RESULT }" '
	BEGIN {
		n = split(res, kv, " ")
		for (i = 1; i <= n; i++) { split(kv[i], p, "="); R[p[1]] = p[2] }
		split(s0, a, " "); split(s1, b, " ")
		for (i = 1; i <= 10; i++) d[i] = b[i] - a[i]
		wall = d[1]; secs = R["duration_us"] / 1e6; req = R["requests"]
		errs = R["err_connect"] + R["err_read"] + R["err_write"] + R["err_status"] + R["err_timeout"]
		pcpu = haspid ? sprintf("%.1f", 100 * d[2] / hz / wall) : ""
		pus = (haspid && req) ? sprintf("%.2f", 1e6 * d[2] / hz / req) : ""
		other = d[5] - d[2] - d[3] - d[4]
		printf "%s,%s,%d,%d,%.2f,%.1f,%.2f,%.0f,%d,%d,%d,%d,%d,%s,%s,%.1f,%.1f,%.1f,%.1f,%.1f\n",
			scen, t, round, req, secs, req / secs, R["bytes"] / secs / 1048576, (req ? R["bytes"] / req : 0),
			R["p50_us"], R["p90_us"], R["p99_us"], R["max_us"], errs, pcpu, pus,
			100 * d[3] / hz / wall, 100 * d[4] / hz / wall, (other > 0 ? 100 * other / hz / wall : 0),
			(d[7] ? 100 * d[6] / d[7] : 0), (d[9] ? 100 * d[8] / d[9] : 0)
	}' >>"$OUT/throughput.csv"
	tail -n 1 "$OUT/throughput.csv" | awk -F, '{
		printf "  %-6s %-8s r%-2s %9.0f req/s  p50 %6.3f ms  p99 %7.3f ms  %6s B/resp  err %d  cpu%%: proxy %s origin %s wrk %s other %s  busy%% load/proxy core %s/%s\n",
			$1, $2, $3, $6, $9 / 1000, $11 / 1000, $8, $13, ($14 == "" ? "-" : $14), $16, $17, $18, $19, $20 }' |
		tee -a "$RUN_LOG" >&2
	local errs
	errs=$(tail -n 1 "$OUT/throughput.csv" | cut -d, -f13)
	((errs == 0)) || log "  warning: $t $scen: $errs errors (wrk output: $raw)"
}

run_throughput() {
	local t scen r
	log "throughput: targets ${TARGET_LIST[*]}; scenarios ${SCEN_LIST[*]}; $ROUNDS x ${DURATION}s (+${WARMUP}s warmup); wrk -t$THREADS -c$CONNS"
	for t in "${TARGET_LIST[@]}"; do start_target "$t"; done
	for t in "${TARGET_LIST[@]}"; do check_target "$t"; done
	for scen in "${SCEN_LIST[@]}"; do
		scenario_args "$scen"
		if ((WARMUP > 0)); then
			for t in "${TARGET_LIST[@]}"; do
				wrk_once "${PORT[$t]}" "$WARMUP" "$OUT/raw/$scen-$t-warmup.txt" || true
				alive "$t"
			done
		fi
		for ((r = 1; r <= ROUNDS; r++)); do
			for t in "${TARGET_LIST[@]}"; do measure "$scen" "$t" "$r"; done
		done
	done
	for t in "${TARGET_LIST[@]}"; do check_target "$t"; done # still correct after the load
	for t in "${TARGET_LIST[@]}"; do stop_target "$t"; done
}

# ------------------------------------------------------------------- idle ---
idle_one() { # RSS of the target's process tree before / while holding IDLE_CONNS connections
	local t=$1 port=${PORT[$1]} pid dir rss0 rss1 rss2 est ups cpid ok failed still
	pid=${TPID[$t]}
	dir=$WORK/run/idle-$t
	mkdir -p "$dir"
	# warm up so lazily created state (buffers, upstream pool) is in the baseline
	run_load 60 "$PYTHON" "$HERE/client.py" count --port "$port" -n 2000 -c 32 --max-seconds 50 \
		>"$OUT/raw/idle-$t-warmup.txt" 2>&1 || log "  warning: idle warm-up through $t failed: $(cat "$OUT/raw/idle-$t-warmup.txt")"
	sleep 1
	rss0=$(tree_rss_kb "$pid")
	pinned "$CPU_LOAD" "$PYTHON" "$HERE/client.py" idle --port "$port" -n "$IDLE_CONNS" --window 32 \
		--ready "$dir/ready" --release "$dir/release" --max-seconds $((90 + IDLE_CONNS / 100))
	log_cmd "${CMD_PINNED[@]}"
	"${CMD_PINNED[@]}" >"$OUT/raw/idle-$t.txt" 2>&1 &
	cpid=$!
	STARTED+=("$cpid")
	while [[ ! -f $dir/ready ]] && kill -0 "$cpid" 2>/dev/null; do sleep 0.2; done
	[[ -f $dir/ready ]] || die "idle client for $t failed: $(cat "$OUT/raw/idle-$t.txt")"
	sleep 2 # let the proxy settle
	rss1=$(tree_rss_kb "$pid")
	est=$(ss -Htn state established "( sport = :$port )" | wc -l)
	ups=0
	[[ $t == direct ]] || ups=$(ss -Htn state established "( dport = :$ORIGIN_PORT )" | wc -l)
	touch "$dir/release"
	wait "$cpid" || true
	forget_pid "$cpid"
	sleep 1
	rss2=$(tree_rss_kb "$pid")
	alive "$t"
	cp "$dir/ready" "$OUT/raw/idle-$t.ready"
	ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' "$dir/ready")
	failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' "$dir/ready")
	still=$(sed -n 's/.*still_open=\([0-9]*\).*/\1/p' "$OUT/raw/idle-$t.txt")
	((ok > 0)) || die "idle client for $t opened no connection: $(cat "$dir/ready")"
	((failed == 0)) || log "  warning: idle $t: $failed connections failed: $(cat "$dir/ready")"
	echo "$t,$IDLE_CONNS,$ok,$failed,${still:-},$est,$ups,$rss0,$rss1,$rss2,$(((rss1 - rss0) * 1024 / ok))" >>"$OUT/idle.csv"
	log "  idle $t: ok=$ok failed=$failed still_open=${still:-?} proxy-side=$est upstream=$ups" \
		"rss $rss0 -> $rss1 -> $rss2 KiB: $(((rss1 - rss0) * 1024 / ok)) B/conn"
}

run_idle() {
	local t
	log "idle: $IDLE_CONNS keep-alive connections per target, each after one GET"
	echo "target,conns,conns_ok,conns_failed,still_open,proxy_side_established,upstream_conns,rss_base_kb,rss_loaded_kb,rss_closed_kb,bytes_per_conn" >"$OUT/idle.csv"
	for t in "${TARGET_LIST[@]}"; do
		start_target "$t"
		check_target "$t"
		idle_one "$t"
		stop_target "$t"
	done
}

# ------------------------------------------------------------------ instr ---
drive() { # drive SCENARIO PORT COUNT OUTFILE: exactly COUNT requests
	local scen=$1 port=$2 n=$3 out=$4 limit=$((60 + $3 / 100))
	local -a extra=()
	case $scen in
	small) extra=(--path / --body-len 13) ;;
	64k) extra=(--path /64k --body-len 65536) ;;
	close) extra=(--path / --body-len 13 --close) ;;
	esac
	run_load "$((limit + 10))" "$PYTHON" "$HERE/client.py" count --port "$port" -n "$n" -c 10 \
		--max-seconds "$limit" "${extra[@]}" >"$out" 2>&1 ||
		die "did not complete $n requests through port $port: $(cat "$out")"
}

instr_one() { # instr_one TARGET: callgrind, counters zeroed after a warm-up
	local t=$1 scen pid dump ir top
	start_target "$t" callgrind
	pid=${TPID[$t]}
	check_target "$t"
	for scen in "${INSTR_SCEN_LIST[@]}"; do
		drive "$scen" "${PORT[$t]}" 2000 "$OUT/raw/instr-$t-$scen-warmup.txt"
		callgrind_control -z "$pid" >/dev/null 2>&1 || die "callgrind_control cannot reach $t (pid $pid)"
		drive "$scen" "${PORT[$t]}" "$INSTR_REQUESTS" "$OUT/raw/instr-$t-$scen.txt"
		callgrind_control -d "instr-$scen" "$pid" >/dev/null 2>&1 || die "callgrind_control -d failed for $t"
		sleep 1
		dump=$(ls -t "$OUT/raw/callgrind-$t.$pid.out".* 2>/dev/null | head -n 1)
		[[ -n $dump ]] || die "no callgrind dump for $t in $OUT/raw"
		ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
		echo "$t,$scen,$INSTR_REQUESTS,$((ir / INSTR_REQUESTS))" >>"$OUT/instr.csv"
		# Calls in progress when the counters were zeroed appear as "calls=0";
		# callgrind_annotate (3.19) then books their inclusive cost as self cost.
		sed 's/^calls=0 /calls=1 /' "$dump" >"$OUT/raw/callgrind-$t-$scen.out"
		rm -f "$dump"
		top=$OUT/raw/callgrind-$t-$scen.top.txt
		{
			echo "# $t, scenario $scen: $INSTR_REQUESTS requests, $ir instructions (divide by $INSTR_REQUESTS for per request)"
			echo "# self cost by component, per request"
			"$PYTHON" "$HERE/cg_group.py" "$OUT/raw/callgrind-$t-$scen.out" "$INSTR_REQUESTS" 2>&1 || true
			echo
			echo "# self cost (exclusive)"
			callgrind_annotate --auto=no "$OUT/raw/callgrind-$t-$scen.out" 2>&1 | sed -n '/file:function/,$p' | head -n 50 || true
			echo
			echo "# inclusive cost"
			callgrind_annotate --auto=no --inclusive=yes "$OUT/raw/callgrind-$t-$scen.out" 2>&1 | sed -n '/file:function/,$p' | head -n 50 || true
		} >"$top"
		log "  callgrind $t $scen: $((ir / INSTR_REQUESTS)) instructions/request (top functions: $top)"
	done
	stop_target "$t"
	rm -f "$OUT/raw/callgrind-$t.$pid.out" # the final dump at exit (warm-up and shutdown)
}

run_instr() {
	local t
	echo "target,scenario,requests,instr_per_req" >"$OUT/instr.csv"
	((${#INSTR_LIST[@]} > 0)) || { log "instr: no target (--instr-targets ∩ --targets is empty)"; return 0; }
	log "instr: callgrind, $INSTR_REQUESTS requests per scenario (${INSTR_SCEN_LIST[*]}), targets ${INSTR_LIST[*]}"
	for t in "${INSTR_LIST[@]}"; do instr_one "$t"; done
}

# ------------------------------------------------------------------- main ---
write_helpers() {
	mkdir -p "$WORK/www" "$WORK/run"
	printf 'Hello, World\n' >"$WORK/www/index.txt"
	head -c 65536 /dev/zero | tr '\0' 'a' >"$WORK/www/64k"
	cat >"$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
}

write_meta() {
	local rev
	rev=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
	[[ -z $(git -C "$HERE" status --porcelain -- lb 2>/dev/null) ]] || rev+=" (lb/ has uncommitted changes)"
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "command: $PROG $*"
		echo "repo: $rev"
		echo "kernel: $(uname -srm)"
		echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) x $(nproc)"
		echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
		[[ -z $LB_BIN ]] || echo "lb: $LB_BIN ($("$LB_BIN" --version 2>&1 | head -n 1 || true))"
		echo "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
		command -v "$HAPROXY" >/dev/null && echo "haproxy: $("$HAPROXY" -v 2>&1 | head -n 1)"
		echo "wrk: $("$WRK" -v 2>&1 | head -n 1)"
		echo "targets: ${TARGET_LIST[*]}; scenarios: ${SCEN_LIST[*]}"
		echo "wrk: -t$THREADS -c$CONNS -d${DURATION}s --latency, warmup ${WARMUP}s, rounds $ROUNDS"
		echo "idle conns: $IDLE_CONNS; instr: $( ((INSTR)) && echo "$INSTR_REQUESTS requests, ${INSTR_SCEN_LIST[*]}, ${INSTR_LIST[*]}" || echo off)"
		if ((PIN)); then echo "pinning: wrk + origin + client on cpu $CPU_LOAD, proxy under test on cpu $CPU_PROXY"; else echo "pinning: none"; fi
		echo "ports: origin $ORIGIN_PORT, nginx ${PORT[nginx]}, haproxy ${PORT[haproxy]}, lb ${PORT[lb]}"
		echo "open files limit: $NOFILE"
	} >"$OUT/meta.txt"
}

main() {
	preflight
	CLK_TCK=$(getconf CLK_TCK)
	OUT=${OUT:-$HERE/results/$(date +%Y%m%d-%H%M%S)}
	mkdir -p "$OUT/raw" "$OUT/conf" "$OUT/logs"
	OUT=$(cd "$OUT" && pwd)
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/lb-bench.XXXXXX")
	chmod 755 "$WORK" # nginx workers drop privileges when started as root
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	: >"$OUT/commands.log"
	write_helpers
	write_meta "${ORIG_ARGS[@]+"${ORIG_ARGS[@]}"}"
	cat "$OUT/meta.txt" >&2
	RUN_LOG=$OUT/run.log
	: >"$RUN_LOG"
	start_origin
	if ((THROUGHPUT)); then
		echo "scenario,target,round,requests,seconds,rps,mib_s,bytes_per_resp,p50_us,p90_us,p99_us,max_us,errors,proxy_cpu_pct,proxy_us_per_req,origin_cpu_pct,wrk_cpu_pct,other_cpu_pct,load_core_busy_pct,proxy_core_busy_pct" >"$OUT/throughput.csv"
		run_throughput
	fi
	((IDLE_CONNS == 0)) || run_idle
	((INSTR == 0)) || run_instr
	stop_origin
	{
		cat "$OUT/meta.txt"
		"$PYTHON" "$HERE/summarize.py" "$OUT" "$TARGETS"
	} >"$OUT/summary.txt"
	"$PYTHON" "$HERE/summarize.py" "$OUT" "$TARGETS"
	log "results: $OUT"
}

main
