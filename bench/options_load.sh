#!/usr/bin/env bash
# OPTIONS load over UDP on loopback: Locus against Kamailio in the same run.
#
#   bench/options_load.sh        # rates 2000 5000 10000 15000 20000 30000 40000, 3 s each
#   RATES="5000 10000" SECS=3 bench/options_load.sh
#
# For each server and each rate, SIPp (bench/sipp/options_uac.xml) sends
# RATE*SECS OPTIONS at RATE per second; the script reads SIPp's final
# statistics (-trace_stat CSV) and the server's CPU time (utime+stime from
# /proc/PID/stat, every process of the server) before and after the step.
# A rate passes with 0 failed calls and under 0.1% retransmissions; the
# escalation stops at the first rate that does not pass. The sockdrop column
# counts the datagrams the kernel dropped on the server's socket for a full
# receive buffer during the step (/proc/net/udp). The summary
# compares CPU per OPTIONS at the highest rate both servers passed.
#
# Locus: target/release/locus (built here with `cargo build --release -p
# locus`; CARGO_TARGET_DIR is honoured), UDP listener only, log level warn. Kamailio: Debian's 5.x with
# bench/kamailio/options.cfg (stateless 200 from the sl module), started
# with `-x tlsf -m 4096` (the default shm allocator of Debian's build carries
# memory debugging) and N_KAMAILIO UDP children (default: nproc).
#
# Loopback only, bounded in time (each SIPp step is capped), and every
# process started here is stopped on exit. Installs sip-tester and kamailio
# with apt-get when they are missing and we are root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
RATES=${RATES:-"2000 5000 10000 15000 20000 30000 40000"}
SECS=${SECS:-3}
LOCUS_PORT=${LOCUS_PORT:-15960}
KAM_PORT=${KAM_PORT:-15961}
N_KAMAILIO=${N_KAMAILIO:-$(nproc)}
KAMAILIO=${KAMAILIO:-/usr/sbin/kamailio}
TICK=$(getconf CLK_TCK)

die() { echo "options_load: $*" >&2; exit 1; }

install_missing() {
    local missing=()
    command -v sipp >/dev/null || missing+=(sip-tester)
    [ -x "$KAMAILIO" ] || missing+=(kamailio)
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
    echo "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    # The Debian package starts a system-wide Kamailio; this script needs none.
    if command -v systemctl >/dev/null; then systemctl disable --now kamailio >/dev/null 2>&1 || true; fi
}

work=$(mktemp -d /tmp/locus-options-load.XXXXXX)
pids=()
cleanup() {
    local p kids=()
    for p in "${pids[@]}"; do kids+=($(pgrep -P "$p" || true)); done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    # Kamailio's workers exit with their parent; stop any that did not.
    for p in "${kids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU seconds used so far by PID and its child processes (Kamailio forks its
# workers; Locus is one process with threads, which /proc/PID/stat sums).
cpu_secs() {
    local pid=$1 ticks=0 p f
    for p in "$pid" $(pgrep -P "$pid" || true); do
        [ -r "/proc/$p/stat" ] || continue
        # Fields after the ")" of the command name: utime is the 12th, stime the 13th.
        f=$(sed 's/.*) //' "/proc/$p/stat")
        ticks=$((ticks + $(echo "$f" | awk '{print $12 + $13}')))
    done
    echo "$ticks $TICK" | awk '{printf "%.3f", $1 / $2}'
}

# Datagrams the kernel dropped on the server's socket because its receive
# buffer was full (the last column of /proc/net/udp): a server that does not
# drain its socket fast enough shows here.
udp_drops() {
    awk -v a="$(printf '0100007F:%04X' "$1")" '$2 == a { d += $NF } END { print d + 0 }' /proc/net/udp
}

wait_udp() {
    local port=$1 i
    for i in $(seq 50); do
        ss -Hlun "sport = :$port" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

# run_steps NAME PID PORT: one line per rate; the last pass is written to
# $work/NAME.best as "rate achieved us_per_options".
run_steps() {
    local name=$1 pid=$2 port=$3 rate calls c0 c1 d0 d1 csv line
    : >"$work/$name.best"
    : >"$work/$name.rates"
    for rate in $RATES; do
        calls=$((rate * SECS))
        csv="$work/$name-$rate.csv"
        c0=$(cpu_secs "$pid")
        d0=$(udp_drops "$port")
        # -timeout bounds the step: SECS plus the 4 s answer timeout and slack.
        (cd "$work" && timeout $((SECS + 30)) sipp -sf "$here/sipp/options_uac.xml" \
            -i 127.0.0.1 -p 0 -r "$rate" -m "$calls" -timeout $((SECS + 20))s \
            -nostdin -trace_stat -stf "$csv" -fd 1 -buff_size 4194304 \
            127.0.0.1:"$port" >"$work/sipp-$name-$rate.out" 2>&1) || true
        c1=$(cpu_secs "$pid")
        d1=$(udp_drops "$port")
        kill -0 "$pid" 2>/dev/null || die "$name died during the $rate/s step"
        [ -s "$csv" ] || die "SIPp wrote no statistics for $name at $rate/s: $(tail -3 "$work/sipp-$name-$rate.out")"
        line=$(awk -F';' -v name="$name" -v rate="$rate" -v c0="$c0" -v c1="$c1" -v drops=$((d1 - d0)) '
            NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
            { last = $0 }
            END {
                n = split(last, f, ";")
                split(f[col["StartTime"]], s, "\t"); split(f[col["CurrentTime"]], e, "\t")
                el = e[3] - s[3]
                ok = f[col["SuccessfulCall(C)"]]; failed = f[col["FailedCall(C)"]]
                retr = f[col["Retransmissions(C)"]]
                achieved = el > 0 ? ok / el : 0
                us = ok > 0 ? (c1 - c0) * 1e6 / ok : 0
                pass = (failed == 0 && ok > 0 && retr * 1000 < ok) ? "pass" : "FAIL"
                printf "%-9s %8d %9.0f %10d %8d %8d %8d %9.3f %8.1f  %s\n", name, rate, achieved, ok, failed, retr, drops, c1 - c0, us, pass
            }' "$csv")
        echo "$line"
        set -- $line
        if [ "${10}" = pass ]; then
            echo "$2 $3 $9" >"$work/$name.best"
            echo "$2 $9" >>"$work/$name.rates"
        else
            break
        fi
    done
}

install_missing
command -v ss >/dev/null || die "ss (iproute2) is needed"

echo "building locus (release)"
(cd "$root" && cargo build --release -p locus -q)

cat >"$work/locus.toml" <<EOF
[sip]
listen = ["udp:127.0.0.1:$LOCUS_PORT"]
[log]
level = "warn"
EOF

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1); kamailio: $("$KAMAILIO" -v 2>&1 | head -1 | sed 's/version: //')"
echo "each step: RATE*$SECS OPTIONS; CPU is the server's utime+stime over the step"
if pgrep -x rustc >/dev/null || pgrep -x cc1 >/dev/null; then
    echo "warning: a compiler is running on this machine: the figures below are noisy"
fi
echo
printf "%-9s %8s %9s %10s %8s %8s %8s %9s %8s  %s\n" server rate/s achieved/s successful failed retrans sockdrop cpu_s us/OPT verdict

"$target/release/locus" sip --config "$work/locus.toml" >"$work/locus.out" 2>"$work/locus.err" &
locus_pid=$!
pids+=("$locus_pid")
wait_udp "$LOCUS_PORT" || die "locus did not listen: $(cat "$work/locus.err")"
run_steps locus "$locus_pid" "$LOCUS_PORT"
kill "$locus_pid"; wait "$locus_pid" 2>/dev/null || true
if [ -s "$work/locus.err" ]; then
    echo "locus logged $(wc -l <"$work/locus.err") warning lines, the last: $(tail -1 "$work/locus.err" | sed "s/\x1b\[[0-9;]*m//g" | cut -c1-200)"
fi

mkdir -p "$work/kamailio"
"$KAMAILIO" -f "$here/kamailio/options.cfg" -L /usr/lib/x86_64-linux-gnu/kamailio/modules \
    -l "udp:127.0.0.1:$KAM_PORT" -n "$N_KAMAILIO" -x tlsf -m 4096 -DD -E \
    -Y "$work/kamailio" -P "$work/kamailio/kamailio.pid" >"$work/kamailio.log" 2>&1 &
kam_pid=$!
pids+=("$kam_pid")
wait_udp "$KAM_PORT" || die "kamailio did not listen: $(tail -5 "$work/kamailio.log")"
run_steps kamailio "$kam_pid" "$KAM_PORT"
kill "$kam_pid"; wait "$kam_pid" 2>/dev/null || true

echo
read -r l_rate l_ach l_us <"$work/locus.best" || true
read -r k_rate k_ach k_us <"$work/kamailio.best" || true
printf "%-9s %22s %14s\n" server "highest passing rate/s" "us/OPTIONS"
printf "%-9s %22s %14s\n" locus "${l_rate:-none} (${l_ach:-0} achieved)" "${l_us:--}"
printf "%-9s %22s %14s\n" kamailio "${k_rate:-none} (${k_ach:-0} achieved)" "${k_us:--}"
# The same load for both: the highest rate both passed.
common=
[ -s "$work/locus.rates" ] && [ -s "$work/kamailio.rates" ] && common=$(awk 'NR == FNR { l[$1] = $2; next } ($1 in l) { r = $1; k = $2 } END { if (r) print r, l[r], k }' \
    "$work/locus.rates" "$work/kamailio.rates")
if [ -n "$common" ]; then
    echo "$common" | awk '{printf "CPU per OPTIONS at %d/s, both servers: Locus %.1f us, Kamailio %.1f us, Locus/Kamailio %.2f (goal: at most 0.33)\n", $1, $2, $3, $2 / $3}'
fi
