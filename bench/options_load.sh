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
# locus`; CARGO_TARGET_DIR is honoured), UDP listener only, log level warn.
# Kamailio: Debian's 5.x with bench/kamailio/options.cfg (stateless 200 from
# the sl module), started with `-x tlsf -m 4096` (the default shm allocator
# of Debian's build carries memory debugging) and N_KAMAILIO UDP children
# (default: nproc). The common part is bench/lib.sh.
#
# Loopback only, bounded in time (each SIPp step is capped), and every
# process started here is stopped on exit. Installs sip-tester and kamailio
# with apt-get when they are missing and we are root.
set -euo pipefail

BENCH=options_load
. "$(dirname "$0")/lib.sh"
RATES=${RATES:-"2000 5000 10000 15000 20000 30000 40000"}
LOCUS_PORT=${LOCUS_PORT:-15960}
KAM_PORT=${KAM_PORT:-15961}

sipp_step() {
    local name=$1 rate=$2 calls=$3 dir=$4 port=$5
    # -timeout bounds the step: SECS plus the 4 s answer timeout and slack.
    (cd "$dir" && timeout $((SECS + 30)) sipp -sf "$here/sipp/options_uac.xml" \
        -i 127.0.0.1 -p 0 -r "$rate" -m "$calls" -timeout $((SECS + 20))s \
        -nostdin -trace_stat -stf "$dir/stat.csv" -fd 1 -buff_size 4194304 \
        127.0.0.1:"$port" >"$dir/sipp.out" 2>&1) || true
}

install_missing /usr/bin/sipp:sip-tester "$KAMAILIO":kamailio
build_locus

cat >"$work/locus.toml" <<EOF
[sip]
listen = ["udp:127.0.0.1:$LOCUS_PORT"]
[log]
level = "warn"
EOF

print_context "RATE*$SECS OPTIONS"
echo
print_header OPT

start_locus "$work/locus.toml" "$LOCUS_PORT"
run_steps locus "$LOCUS_PORT" "$locus_pid"
stop_locus

start_kamailio "$here/kamailio/options.cfg" "$KAM_PORT"
run_steps kamailio "$KAM_PORT" "$kam_pid"
stop "$kam_pid"

echo
compare locus kamailio OPTIONS "at most 0.33"
