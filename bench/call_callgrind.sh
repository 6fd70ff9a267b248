#!/usr/bin/env bash
# User-space instructions per call through Locus (B2BUA and relay, media
# off), counted by callgrind: deterministic where CPU time on a shared
# machine is not (issue 3, Speed). The same calls as call_load.sh
# (bench/sipp/call_uac.xml from 127.0.0.2 through Locus to
# bench/sipp/call_uas.xml on 127.0.0.6, 200 ms hold), at a low fixed rate.
#
#   bench/call_callgrind.sh                  # 300 calls at 20/s
#   CALLS=500 RATE=25 LOCUS_BIN=/tmp/locus.old bench/call_callgrind.sh
#
# Locus runs under valgrind --tool=callgrind; 20 warm-up calls, then the
# counters are zeroed, CALLS calls placed and the counters dumped: the
# dump's total divided by CALLS is the figure. Kernel time (sockets,
# epoll) is not counted: call_load.sh measures all of it. The profile
# stays in the work directory (KEEP=1 keeps it) for callgrind_annotate.
# Loopback only, bounded in time; every process started here is stopped.
set -euo pipefail

BENCH=call_callgrind
. "$(dirname "$0")/lib.sh"
CALLS=${CALLS:-300}
RATE=${RATE:-20}
PORT=${PORT:-15990}
FAR_PORT=${FAR_PORT:-15992}

install_missing /usr/bin/sipp:sip-tester /usr/bin/valgrind:valgrind
[ -n "${LOCUS_BIN:-}" ] || build_locus
call_config "$work/locus.toml" "$PORT" "$FAR_PORT" 20000 29999 "${CG_MEDIA:-}"

valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "${LOCUS_BIN:-$target/release/locus}" sip --config "$work/locus.toml" >"$work/locus.out" 2>"$work/locus.err" &
vg_pid=$!
pids+=("$vg_pid")
(cd "$work" && exec sipp -sf "$here/sipp/call_uas.xml" -i 127.0.0.6 -mi 127.0.0.6 -p "$FAR_PORT" \
    -nostdin -fd 1 >"$work/far.out" 2>&1) &
pids+=("$!")
# valgrind starts slowly: up to 30 s.
for _ in $(seq 6); do wait_udp "$PORT" && break; done
wait_udp "$PORT" || die "locus did not listen under valgrind: $(cat "$work/locus.err")"
uac() {
    (cd "$work" && timeout 300 sipp -sf "$here/sipp/call_uac.xml" -i 127.0.0.2 -mi 127.0.0.2 -p 0 \
        -r "$1" -m "$2" -d 200 -nostdin -timeout 240s 127.0.0.1:"$PORT" >"$work/uac-$2.out" 2>&1)
}
uac 10 20 || die "warm-up calls failed: $(tail -5 "$work/uac-20.out")"
callgrind_control -z "$vg_pid" >/dev/null
uac "$RATE" "$CALLS" || die "calls failed: $(tail -5 "$work/uac-$CALLS.out")"
callgrind_control -d "$vg_pid" >/dev/null
total=$(callgrind_annotate "$work/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
echo "locus: $CALLS calls at $RATE/s: $total instructions, $((total / CALLS)) per call"
if [ -n "${KEEP:-}" ]; then
    cp "$work/cg.out.1" "./$BENCH.out" && echo "profile: ./$BENCH.out"
fi
