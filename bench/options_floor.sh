#!/usr/bin/env bash
# The floor under OPTIONS over UDP: a kernel-only responder against Locus
# and Kamailio, under the SIPp load of bench/options_load.sh.
#
#   bench/options_floor.sh                      # rates 10000 20000 30000 40000, 3 s each
#   RATES="20000 40000" SECS=3 SERVERS="plain mmsg locus" bench/options_floor.sh
#
# SERVERS (default: plain mmsg tokio tokio-mmsg locus kamailio) are run one
# after the other on a loopback UDP port. The first four are modes of
# bench/src/bin/udp_floor.rs, which answers each OPTIONS with a fixed 200 OK
# and does nothing else: what it spends per request is the kernel's UDP
# receive and send plus a syscall loop, the least any server can spend.
#   plain       blocking recv_from/send_to, one datagram per syscall
#   mmsg        blocking recvmmsg (up to BATCH datagrams, default 64) + sendmmsg
#   tokio       current-thread tokio, recv_from/send_to awaited per datagram
#   tokio-mmsg  current-thread tokio, recvmmsg/sendmmsg through try_io
#   mmsg-paced  mmsg, sleeping PACE_US (default 1000) after each batch: the
#               kernel's cost per datagram without a wake-up per datagram or
#               two, at the price of up to PACE_US of latency (not default)
#   locus       target/release/locus, UDP listener only, log level warn
#   kamailio    Debian's 5.x, bench/kamailio/options.cfg, -x tlsf -m 4096
#
# For each server and rate, SIPp (bench/sipp/options_uac.xml) sends
# RATE*SECS OPTIONS at RATE per second. CPU is utime+stime from
# /proc/PID/stat (every process of the server) over the step, divided by the
# successful OPTIONS. A step passes with 0 failed calls and under 0.1%
# retransmissions; a server's escalation stops at its first failing rate.
# dg/recv is the datagrams udp_floor took per receive syscall.
#
# Loopback only, bounded in time, every process started here is stopped on
# exit. Needs sipp (sip-tester) and, for the kamailio row, kamailio.
set -euo pipefail

BENCH=options_floor
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
RATES=${RATES:-"10000 20000 30000 40000"}
SERVERS=${SERVERS:-"plain mmsg tokio tokio-mmsg locus kamailio"}
BATCH=${BATCH:-64}
PACE_US=${PACE_US:-1000}
PORT=${PORT:-15970}

command -v sipp >/dev/null || die "sipp is needed (apt-get install sip-tester)"
command -v ss >/dev/null || die "ss (iproute2) is needed"

# One server at a time; lib.sh's cleanup stops whatever is left in pids.
pid=
stop_server() {
    [ -n "$pid" ] || return 0
    local kids
    kids=$(pgrep -P "$pid" || true)
    stop "$pid"
    # Kamailio's workers exit with their parent; stop any that did not.
    for p in $kids; do kill "$p" 2>/dev/null || true; done
    pid=
    pids=()
}

# udp_floor's cumulative "datagrams recv_calls" (its last counter line).
floor_counts() {
    tail -1 "$work/server.out" 2>/dev/null | sed -n 's/datagrams=\([0-9]*\) recv_calls=\([0-9]*\).*/\1 \2/p'
}

start_server() {
    local name=$1
    : >"$work/server.out"
    case $name in
    plain | mmsg | tokio | tokio-mmsg | mmsg-paced)
        "$target/release/udp_floor" "$name" "127.0.0.1:$PORT" "$BATCH" "$PACE_US" >"$work/server.out" 2>"$work/server.err" &
        ;;
    locus)
        printf '[sip]\nlisten = ["udp:127.0.0.1:%s"]\n[log]\nlevel = "warn"\n' "$PORT" >"$work/locus.toml"
        "$target/release/locus" sip --config "$work/locus.toml" >"$work/server.out" 2>"$work/server.err" &
        ;;
    kamailio)
        mkdir -p "$work/kamailio"
        "$KAMAILIO" -f "$here/kamailio/options.cfg" -L /usr/lib/x86_64-linux-gnu/kamailio/modules \
            -l "udp:127.0.0.1:$PORT" -n "$N_KAMAILIO" -x tlsf -m 4096 -DD -E \
            -Y "$work/kamailio" -P "$work/kamailio/kamailio.pid" >"$work/server.err" 2>&1 &
        ;;
    *) die "unknown server $name" ;;
    esac
    pid=$!
    pids=("$pid")
    wait_udp "$PORT" || die "$name did not listen: $(tail -5 "$work/server.err")"
}

run_steps() {
    local name=$1 rate calls c0 c1 d0 d1 f0 f1 csv line
    for rate in $RATES; do
        calls=$((rate * SECS))
        csv="$work/$name-$rate.csv"
        f0=$(floor_counts)
        c0=$(cpu_secs "$pid")
        d0=$(udp_drops "$PORT")
        (cd "$work" && timeout $((SECS + 30)) sipp -sf "$here/sipp/options_uac.xml" \
            -i 127.0.0.1 -p 0 -r "$rate" -m "$calls" -timeout $((SECS + 20))s \
            -nostdin -trace_stat -stf "$csv" -fd 1 -buff_size 4194304 \
            127.0.0.1:"$PORT" >"$work/sipp-$name-$rate.out" 2>&1) || true
        c1=$(cpu_secs "$pid")
        d1=$(udp_drops "$PORT")
        kill -0 "$pid" 2>/dev/null || die "$name died during the $rate/s step"
        [ -s "$csv" ] || die "SIPp wrote no statistics for $name at $rate/s: $(tail -3 "$work/sipp-$name-$rate.out")"
        # udp_floor prints its counters once a second: wait for this step's.
        f1=$f0
        case $name in plain | mmsg | tokio | tokio-mmsg | mmsg-paced) sleep 1.2; f1=$(floor_counts) ;; esac
        line=$(awk -F';' -v name="$name" -v rate="$rate" -v c0="$c0" -v c1="$c1" \
            -v drops=$((d1 - d0)) -v f0="${f0:-0 0}" -v f1="${f1:-0 0}" '
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
                split(f0, a, " "); split(f1, b, " ")
                per = (b[2] - a[2]) > 0 ? sprintf("%.2f", (b[1] - a[1]) / (b[2] - a[2])) : "-"
                pass = (failed == 0 && ok > 0 && retr * 1000 < ok) ? "pass" : "FAIL"
                printf "%-10s %7d %9.0f %10d %7d %8d %8d %8.3f %7.2f %7s  %s\n", name, rate, achieved, ok, failed, retr, drops, c1 - c0, us, per, pass
            }' "$csv")
        echo "$line"
        set -- $line
        [ "${11}" = pass ] || break
    done
}

need_floor=false
for s in $SERVERS; do
    case $s in plain | mmsg | tokio | tokio-mmsg | mmsg-paced) need_floor=true ;; esac
done
if $need_floor; then
    echo "building udp_floor (release)"
    (cd "$root" && cargo build --release -p locus-bench --bin udp_floor -q)
fi
case " $SERVERS " in *" locus "*)
    echo "building locus (release)"
    (cd "$root" && cargo build --release -p locus -q) ;;
esac

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
echo "sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1); each step: RATE*$SECS OPTIONS; CPU is the server's utime+stime over the step"
if pgrep -x rustc >/dev/null || pgrep -x cc1 >/dev/null; then
    echo "warning: a compiler is running on this machine: the figures below are noisy"
fi
echo
printf "%-10s %7s %9s %10s %7s %8s %8s %8s %7s %7s  %s\n" server rate/s achieved/s successful failed retrans sockdrop cpu_s us/OPT dg/recv verdict
for s in $SERVERS; do
    start_server "$s"
    run_steps "$s"
    stop_server
done
