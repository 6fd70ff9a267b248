# Shared part of the SIPp load scripts (options_load.sh, register_load.sh,
# call_load.sh): sourced, not run. It sets up a temporary work directory
# and stops every process the script started on exit, installs missing
# Debian peers, builds Locus in release, reads CPU time from /proc and runs
# the rate escalation against one server.
#
# The sourcing script sets BENCH (its name, for messages and the work
# directory) before sourcing, and defines
#
#   sipp_step NAME RATE CALLS DIR PORT
#
# which runs SIPp for one step (RATE*SECS calls at RATE per second against
# PORT), bounded in time, with `-trace_stat -stf DIR/stat.csv` (and, when
# P99_MS is set, `-trace_rtt` with DIR as working directory: the response
# times of the calls' `rtd` go to DIR/*_rtt.csv). It may define
# `after_step NAME RATE DIR LINE` to print more about a step (LINE: the
# step's line as printed).

here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
SECS=${SECS:-3}
KAMAILIO=${KAMAILIO:-/usr/sbin/kamailio}
KAM_MODULES=${KAM_MODULES:-/usr/lib/x86_64-linux-gnu/kamailio/modules}
N_KAMAILIO=${N_KAMAILIO:-$(nproc)}
TICK=$(getconf CLK_TCK)
# Upper bound of the 99th percentile of the calls' response times (ms) for
# a step to pass; empty: not checked.
P99_MS=${P99_MS:-}
# Seconds of each SIPp step after the last call was placed that are not
# part of the offered rate (a call's hold), left out of the achieved rate.
TAIL_S=${TAIL_S:-0}

die() { echo "$BENCH: $*" >&2; exit 1; }

# install_missing PATH:PACKAGE...: installs the Debian packages whose file
# is missing (we must be root), and stops the system-wide service some of
# them start (kamailio, rtpengine-daemon): the scripts start their own.
install_missing() {
    local spec missing=()
    for spec in "$@"; do
        [ -x "${spec%%:*}" ] || missing+=("${spec#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
    echo "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    if command -v systemctl >/dev/null; then
        systemctl disable --now kamailio rtpengine-daemon >/dev/null 2>&1 || true
    fi
}

work=$(mktemp -d "/tmp/locus-$BENCH.XXXXXX")
pids=()
cleanup() {
    local p kids=()
    for p in "${pids[@]}"; do kids+=($(pgrep -P "$p" || true)); done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    # Kamailio's workers exit with their parent; stop any that did not.
    for p in "${kids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop PID: stops one process this script started and waits for it.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# cpu_secs PID [sys]: CPU seconds used so far by PID and its child
# processes (Kamailio forks its workers; Locus and rtpengine are one process
# with threads, which /proc/PID/stat sums); with `sys`, the kernel's part
# (stime) only.
cpu_secs() {
    local pid=$1 ticks=0 p f
    local fields='$12 + $13'
    [ "${2:-}" = sys ] && fields='$13'
    for p in "$pid" $(pgrep -P "$pid" || true); do
        [ -r "/proc/$p/stat" ] || continue
        # Fields after the ")" of the command name: utime is the 12th, stime the 13th.
        f=$(sed 's/.*) //' "/proc/$p/stat")
        ticks=$((ticks + $(echo "$f" | awk "{print $fields}")))
    done
    echo "$ticks $TICK" | awk '{printf "%.3f", $1 / $2}'
}

# udp_drops PORT: datagrams the kernel dropped on the 127.0.0.1:PORT socket
# because its receive buffer was full (the last column of /proc/net/udp): a
# server that does not drain its socket fast enough shows here.
udp_drops() {
    awk -v a="$(printf '0100007F:%04X' "$1")" '$2 == a { d += $NF } END { print d + 0 }' /proc/net/udp
}

# wait_udp PORT: waits (5 s at most) until something listens on UDP PORT.
wait_udp() {
    local port=$1 i
    for i in $(seq 50); do
        ss -Hlun "sport = :$port" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

build_locus() {
    command -v ss >/dev/null || die "ss (iproute2) is needed"
    echo "building locus (release)"
    (cd "$root" && cargo build --release -p locus -q)
}

# print_context WHAT: the machine, the peers' versions and what a step is.
print_context() {
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
    echo "sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1); kamailio: $("$KAMAILIO" -v 2>&1 | head -1 | sed 's/version: //')"
    echo "each step: $1; CPU is the server's utime+stime over the step"
    if pgrep -x rustc >/dev/null || pgrep -x cc1 >/dev/null; then
        echo "warning: a compiler is running on this machine: the figures below are noisy"
    fi
}

# call_config FILE PORT FAR_PORT FIRST_MEDIA_PORT LAST_MEDIA_PORT [MEDIA_KEYS]:
# the Locus configuration of the call benchmarks: a voice carrier trunk for
# 127.0.0.2 and a byoc trunk to the far end on 127.0.0.6:FAR_PORT (the load
# comes from one address: no per-source limit, C20), the test DID routed
# to it, no call limit to speak of, MEDIA_KEYS added to [sip.media].
call_config() {
    cat >"$1" <<EOT
[sip]
listen = ["udp:127.0.0.1:$2"]

[[sip.trunks]]
name = "carrier"
profile = "voice"
carrier_addresses = ["127.0.0.2"]
rate_limit = { per_second = 0, burst = 0 }

[[sip.trunks]]
name = "far"
profile = "byoc"
carrier_addresses = ["127.0.0.6"]
outbound = ["127.0.0.6:$3"]
rate_limit = { per_second = 0, burst = 0 }

[[sip.routes.inbound]]
did = "+15551230000"
trunks = ["far"]

[sip.calls]
max_calls = 1000000

[sip.media]
port_range = [$4, $5]
${6:-}

[log]
level = "warn"
EOT
}

# start_locus CONFIG PORT: starts target/release/locus sip (or LOCUS_BIN,
# e.g. an older build kept aside for a before/after run) in the
# background; sets locus_pid.
start_locus() {
    "${LOCUS_BIN:-$target/release/locus}" sip --config "$1" >"$work/locus.out" 2>"$work/locus.err" &
    locus_pid=$!
    pids+=("$locus_pid")
    wait_udp "$2" || die "locus did not listen: $(cat "$work/locus.err")"
}

# stop_locus: stops it and shows what it logged (warn and above).
stop_locus() {
    stop "$locus_pid"
    if [ -s "$work/locus.err" ]; then
        echo "locus logged $(wc -l <"$work/locus.err") warning lines, the last: $(tail -1 "$work/locus.err" | sed "s/\x1b\[[0-9;]*m//g" | cut -c1-200)"
    fi
}

# start_kamailio CFG PORT [ARG...]: Debian's Kamailio with CFG on
# udp:127.0.0.1:PORT, N_KAMAILIO children, `-x tlsf -m 4096` (the default
# shm allocator of Debian's build carries memory debugging); more kamailio
# arguments (-A DEFINE...) may follow. Sets kam_pid.
start_kamailio() {
    local cfg=$1 port=$2
    shift 2
    mkdir -p "$work/kamailio"
    "$KAMAILIO" -f "$cfg" -L "$KAM_MODULES" -l "udp:127.0.0.1:$port" -n "$N_KAMAILIO" \
        -x tlsf -m 4096 -DD -E -Y "$work/kamailio" -P "$work/kamailio/kamailio.pid" "$@" \
        >"$work/kamailio.log" 2>&1 &
    kam_pid=$!
    pids+=("$kam_pid")
    wait_udp "$port" || die "kamailio did not listen: $(tail -5 "$work/kamailio.log")"
}

# print_header UNIT: the column names of run_steps' lines.
print_header() {
    printf "%-12s %7s %9s %10s %7s %8s %8s %8s %8s %7s  %-7s %s\n" server rate/s achieved/s successful failed retrans sockdrop cpu_s "us/$1" p99_ms verdict "kernel_us/$1"
}

# run_steps NAME PORT PID...: the rate escalation against the server on
# PORT whose processes are PID... (their CPU is summed). One line per rate;
# a rate passes with 0 failed calls, under 0.1% retransmissions and, when
# P99_MS is set, a 99th percentile response time under P99_MS; the
# escalation stops at the first rate that does not pass. Writes
# $work/NAME.rates ("rate us_per_call" per passed rate) and $work/NAME.best
# ("rate achieved us_per_call" of the highest) and DIR/cpu ("pid cpu_s" per
# PID) for after_step. The last column is the kernel's part of us/UNIT
# (stime): what no server can spend less of for the same datagrams.
run_steps() {
    local name=$1 port=$2 rate calls c0 c1 s0 s1 d0 d1 dir line p99 p
    shift 2
    local spids=("$@")
    : >"$work/$name.best"
    : >"$work/$name.rates"
    for rate in $RATES; do
        calls=$((rate * SECS))
        dir="$work/$name-$rate"
        mkdir -p "$dir"
        c0=()
        s0=0
        for p in "${spids[@]}"; do
            c0+=("$(cpu_secs "$p")")
            s0=$(echo "$s0 $(cpu_secs "$p" sys)" | awk '{printf "%.3f", $1 + $2}')
        done
        d0=$(udp_drops "$port")
        sipp_step "$name" "$rate" "$calls" "$dir" "$port"
        d1=$(udp_drops "$port")
        : >"$dir/cpu"
        local i=0 total=0
        s1=0
        for p in "${spids[@]}"; do
            c1=$(cpu_secs "$p")
            s1=$(echo "$s1 $(cpu_secs "$p" sys)" | awk '{printf "%.3f", $1 + $2}')
            kill -0 "$p" 2>/dev/null || die "$name (pid $p) died during the $rate/s step"
            echo "$p $(echo "$c1 ${c0[$i]}" | awk '{printf "%.3f", $1 - $2}')" >>"$dir/cpu"
            i=$((i + 1))
        done
        total=$(awk '{ s += $2 } END { printf "%.3f", s }' "$dir/cpu")
        [ -s "$dir/stat.csv" ] || die "SIPp wrote no statistics for $name at $rate/s: $(tail -3 "$dir"/*.out 2>/dev/null)"
        p99=-
        if [ -n "$P99_MS" ]; then
            # -trace_rtt lines: date_ms;response_time_ms;rtd_no (one header line).
            p99=$(cat "$dir"/*_rtt.csv 2>/dev/null | awk -F';' '$2 ~ /^[0-9.]+$/ { print $2 }' | sort -n |
                awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else { i = int(NR * 0.99); if (i < NR * 0.99) i++; printf "%.1f", v[i] } }') || true
            # No RTT file (no call completed): the step fails, the script goes on.
            p99=${p99:--}
        fi
        line=$(awk -F';' -v name="$name" -v rate="$rate" -v cpu="$total" -v sys="$(echo "$s1 $s0" | awk '{print $1 - $2}')" -v drops=$((d1 - d0)) -v p99="$p99" -v p99max="$P99_MS" -v tail="$TAIL_S" '
            NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
            { last = $0 }
            END {
                split(last, f, ";")
                split(f[col["StartTime"]], s, "\t"); split(f[col["CurrentTime"]], e, "\t")
                el = e[3] - s[3] - tail
                ok = f[col["SuccessfulCall(C)"]]; failed = f[col["FailedCall(C)"]]
                retr = f[col["Retransmissions(C)"]]
                achieved = el > 0 ? ok / el : 0
                us = ok > 0 ? cpu * 1e6 / ok : 0
                pass = (failed == 0 && ok > 0 && retr * 1000 < ok)
                if (p99max != "" && (p99 == "-" || p99 + 0 >= p99max + 0)) pass = 0
                printf "%-12s %7d %9.0f %10d %7d %8d %8d %8.3f %8.1f %7s  %-7s %.1f\n", name, rate, achieved, ok, failed, retr, drops, cpu, us, p99, pass ? "pass" : "FAIL", (ok > 0 ? sys * 1e6 / ok : 0)
            }' "$dir/stat.csv")
        echo "$line"
        if declare -F after_step >/dev/null; then after_step "$name" "$rate" "$dir" "$line"; fi
        set -- $line
        if [ "${11}" = pass ]; then
            echo "$2 $3 $9" >"$work/$name.best"
            echo "$2 $9" >>"$work/$name.rates"
        else
            break
        fi
    done
}

# compare A B UNIT GOAL: the highest passing rate of A and B, and CPU per
# UNIT at the highest rate both passed (the same load for both), with the
# ratio A/B against GOAL.
compare() {
    local a=$1 b=$2 unit=$3 goal=$4 a_rate a_ach a_us b_rate b_ach b_us common=
    read -r a_rate a_ach a_us <"$work/$a.best" || true
    read -r b_rate b_ach b_us <"$work/$b.best" || true
    printf "%-12s %22s %14s\n" server "highest passing rate/s" "us/$unit"
    printf "%-12s %22s %14s\n" "$a" "${a_rate:-none} (${a_ach:-0} achieved)" "${a_us:--}"
    printf "%-12s %22s %14s\n" "$b" "${b_rate:-none} (${b_ach:-0} achieved)" "${b_us:--}"
    [ -s "$work/$a.rates" ] && [ -s "$work/$b.rates" ] && common=$(awk 'NR == FNR { l[$1] = $2; next } ($1 in l) { r = $1; k = $2 } END { if (r) print r, l[r], k }' \
        "$work/$a.rates" "$work/$b.rates")
    if [ -n "$common" ]; then
        echo "$common" | awk -v a="$a" -v b="$b" -v unit="$unit" -v goal="$goal" \
            '{printf "CPU per %s at %d/s, both: %s %.1f us, %s %.1f us, %s/%s %.2f (goal: %s)\n", unit, $1, a, $2, b, $3, a, b, $2 / $3, goal}'
    fi
}

# free_udp_port IP: a UDP port free on IP right now.
free_udp_port() {
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

# wait_line FILE PREFIX [SECS]: the rest of the first line of FILE starting
# with PREFIX, waiting SECS (default 10) at most.
wait_line() {
    local file=$1 prefix=$2 secs=${3:-10} i line
    for i in $(seq $((secs * 10))); do
        line=$(grep -m1 "^$prefix" "$file" 2>/dev/null || true)
        [ -n "$line" ] && { echo "${line#"$prefix"}"; return 0; }
        sleep 0.1
    done
    return 1
}

# api METHOD PATH [JSON]: the E911 manager's HTTP API at $http; the
# response body; fails on an HTTP error.
api() {
    local args=(-sS --max-time 10 -f -X "$1" "http://$http$2")
    [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
    curl "${args[@]}"
}

# id_of: the "id" of the JSON object on standard input.
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
