#!/usr/bin/env bash
# Calls over UDP on loopback, carrier -> server -> far end: Locus as a B2BUA
# (with its RTP relay) against Kamailio as a stateful proxy (with rtpengine
# for media) in the same run (issue 3, "Speed").
#
#   bench/call_load.sh           # about 3 minutes after the build
#   RATES="500 1000" MEDIA_RATES="100 200" SECS=3 HOLD_MS=1000 bench/call_load.sh
#   RELAY_ONLY=1 bench/call_load.sh   # only the relay against rtpengine
#   RELAY_COMPARE=0 bench/call_load.sh   # calls only, without the relays alone
#   SERIES="locus kamailio" RELAY_COMPARE=0 bench/call_load.sh   # some series only
#
# A call (bench/sipp/call_uac.xml, SIPp from 127.0.0.2): INVITE with SDP,
# 100, 200 with SDP, ACK, HOLD_MS of hold, BYE, 200; the far end
# (bench/sipp/call_uas.xml, SIPp in server mode on 127.0.0.6) answers 200. Five series, each a rate escalation with RATE*SECS calls per
# step (bounded in time):
#
#   floor         bench/src/bin/call_floor.rs: a stateless proxy cut to the
#                 bone (a Via and Record-Route added, nothing parsed, no
#                 state, no 100), one thread of blocking recv and send: the
#                 kernel's cost of a call's datagrams, which no server goes
#                 below
#   locus         Locus, media off (no RTP sent; the relay still allocates
#                 its ports for every call, as it does in service)
#   locus-sig     Locus with [sip.media] relay = false: signalling only,
#                 the SDP passed after the trunk policy (as Kamailio here)
#   kamailio      Kamailio, media off (the SDP passes through)
#   locus+rtp     Locus, media on: both SIPps stream 20 ms PCMU with
#                 rtp_stream for the whole hold, through Locus's relay
#   kam+rtpeng    Kamailio with rtpengine (userspace, --table=-1) anchoring
#                 the media: offer, answer, delete over its ng protocol;
#                 the CPU is Kamailio's plus rtpengine's
#
# A rate passes with 0 failed calls, under 0.1% retransmissions and a 99th
# percentile setup time (INVITE sent to 200 received, SIPp -trace_rtt)
# under P99_MS (50 ms); the escalation stops at the first rate that does
# not pass. CPU is utime+stime from /proc/PID/stat over the step, every
# process and thread of the server, divided by the successful calls. For
# media on, the RTP packets SIPp sent (its rtpstream counters) give the
# relays' packets per CPU-second: rtpengine's from its own CPU, Locus's
# from its CPU per call with media minus without at the same rate.
#
# Then the relays alone (crates/media/benches/relay.rs, built by cargo
# bench): the same stream of 172-byte RTP packets, RELAY_PPS per second
# (default 50000: both keep up, so neither spends its CPU on a backlog) for
# RELAY_SECS into RELAY_SESSIONS sessions of Locus's relay (in process) and
# of rtpengine (sessions made by offer and answer over ng), forwarded
# packets per CPU-second of each, and of the floor forwarder (one thread,
# level-triggered epoll, one recv and one sendto per packet, nothing else:
# the kernel's own cost, which no relay goes below); then Locus's relay
# alone as fast as the sender can (its capacity per core; goal: at least
# 300,000).
#
# Locus: target/release/locus (`cargo build --release -p locus`;
# CARGO_TARGET_DIR is honoured; LOCUS_BIN runs another binary instead, for
# a before/after), a voice carrier trunk for 127.0.0.2 and a byoc trunk to
# the far end, log level warn. Kamailio: Debian's 5.x with
# bench/kamailio/call.cfg (tm, rr; rtpengine module for media), started
# with `-x tlsf -m 4096` and N_KAMAILIO children (default: nproc).
# rtpengine: Debian's rtpengine-daemon, userspace only. The common part is
# bench/lib.sh.
#
# Loopback only, bounded in time (each SIPp step is capped), and every
# process started here is stopped on exit. Installs sip-tester, kamailio
# and rtpengine-daemon with apt-get when they are missing and we are root.
set -euo pipefail

BENCH=call_load
. "$(dirname "$0")/lib.sh"
RATES=${RATES:-"100 250 500 1000 1500 2000 3000 4000 6000 8000 10000"}
MEDIA_RATES=${MEDIA_RATES:-"100 250 500 1000 1500"}
HOLD_MS=${HOLD_MS:-1000}
P99_MS=${P99_MS:-50}
# The achieved rate leaves out the last call's hold.
TAIL_S=$(echo "$HOLD_MS" | awk '{print $1 / 1000}')
RELAY_SESSIONS=${RELAY_SESSIONS:-100}
RELAY_SECS=${RELAY_SECS:-3}
RELAY_PPS=${RELAY_PPS:-50000}
RTPENGINE=${RTPENGINE:-/usr/bin/rtpengine}
SERIES=${SERIES:-"floor locus locus-sig kamailio locus+rtp kam+rtpeng"}
# series NAME: whether NAME is one of SERIES.
series() { case " $SERIES " in *" $1 "*) return 0 ;; esac; return 1; }
CARRIER_IP=127.0.0.2
FAR_IP=127.0.0.6
LOCUS_PORT=${LOCUS_PORT:-15980}
KAM_PORT=${KAM_PORT:-15981}
FAR_PORT=${FAR_PORT:-15982}
NG_PORT=${NG_PORT:-15983}
CLI_PORT=${CLI_PORT:-15984}

# The scenarios with media: the MEDIA comment markers removed, the audio
# file (1 s of PCMU silence, looped) filled in.
scenario() {
    local name=$1 media=$2 out="$work/$1${2:+-media}.xml"
    if [ -n "$media" ]; then
        sed -e '/<!--MEDIA/d' -e '/MEDIA-->/d' -e "s|@AUDIO@|$work/silence.ulaw|" "$here/sipp/$name.xml" >"$out"
    else
        cp "$here/sipp/$name.xml" "$out"
    fi
    echo "$out"
}

# start_far MEDIA: the far-end SIPp (server mode) for one series; sets far_pid.
start_far() {
    local sf
    sf=$(scenario call_uas "$1")
    (cd "$work" && exec sipp -sf "$sf" -i "$FAR_IP" -mi "$FAR_IP" -p "$FAR_PORT" -nostdin \
        -buff_size 4194304 -fd 1 >"$work/far-$2.out" 2>&1) &
    far_pid=$!
    pids+=("$far_pid")
    local i
    for i in $(seq 50); do
        ss -Hlun "src $FAR_IP:$FAR_PORT" | grep -q . && return 0
        sleep 0.1
    done
    die "the far-end SIPp did not listen: $(tail -3 "$work/far-$2.out")"
}

uac=
sipp_step() {
    local name=$1 rate=$2 calls=$3 dir=$4 port=$5 hold_s=$(((HOLD_MS + 999) / 1000))
    (cd "$dir" && timeout $((SECS + hold_s + 40)) sipp -sf "$uac" \
        -i "$CARRIER_IP" -mi "$CARRIER_IP" -p 0 -r "$rate" -m "$calls" -d "$HOLD_MS" \
        -timeout $((SECS + hold_s + 30))s -nostdin -trace_stat -stf "$dir/stat.csv" -trace_rtt -rtt_freq 20 \
        -fd 1 -buff_size 4194304 127.0.0.1:"$port" >"$dir/sipp.out" 2>&1) || true
}

# rtpengine's relayed packets so far (its CLI totals: finished sessions,
# and --delete-delay=0 finishes them at the BYE).
rtpengine_relayed() {
    rtpengine-ctl -ip 127.0.0.1 -port "$CLI_PORT" list totals 2>/dev/null |
        awk -F: '/Total relayed packets \(userspace\)/ { print $2 + 0; exit }'
}

# Media on: after each step, the packets the relay forwarded and their CPU.
# Locus: the "media session released" debug lines of the step (JSON, the
# forwarded counts of both legs); its media CPU is the step's CPU minus the
# media-off CPU per call at the same rate (the locus series) times the
# calls. rtpengine: the change of its relayed total over its own CPU.
log_seen=0
relayed_seen=0
after_step() {
    local name=$1 rate=$2 dir=$3 ok cpu pkts off rtp_cpu now
    set -- $4
    ok=$4 cpu=$8
    # Only passed steps count towards the summary's packets per CPU-second.
    local sum="$work/relay.pps"
    [ "${11}" = pass ] || sum=/dev/null
    case $name in
    locus+rtp)
        pkts=$(tail -n +$((log_seen + 1)) "$work/locus.err" | grep -o '"[ab]_forwarded":[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }')
        log_seen=$(wc -l <"$work/locus.err")
        off=
        if [ -e "$work/locus.rates" ]; then
            off=$(awk -v r="$rate" '$1 == r { print $2 }' "$work/locus.rates")
        fi
        if [ -n "$off" ]; then
            awk -v p="$pkts" -v cpu="$cpu" -v off="$off" -v ok="$ok" -v rate="$rate" 'BEGIN {
                m = cpu - off * ok / 1e6
                printf "             relay: %d packets, media CPU %.3f s (%.3f s minus %.1f us x %d calls): %s packets per CPU-second\n", p, m, cpu, off, ok, (m > 0 ? sprintf("%.0f", p / m) : "-")
                if (m > 0) printf "%s %d %d %.3f %.0f\n", "locus", rate, p, m, p / m >> "'"$sum"'"
            }'
        else
            echo "             relay: $pkts packets (no media-off step at $rate/s to subtract)"
        fi
        ;;
    kam+rtpeng)
        now=$(rtpengine_relayed)
        pkts=$((${now:-0} - relayed_seen))
        relayed_seen=${now:-0}
        rtp_cpu=$(awk -v p="$rtpengine_pid" '$1 == p { print $2 }' "$dir/cpu")
        awk -v p="$pkts" -v c="$rtp_cpu" -v rate="$rate" 'BEGIN {
            printf "             rtpengine: %d packets, its CPU %.3f s: %s packets per CPU-second\n", p, c, (c > 0 ? sprintf("%.0f", p / c) : "-")
            if (c > 0) printf "%s %d %d %.3f %.0f\n", "rtpengine", rate, p, c, p / c >> "'"$sum"'"
        }'
        ;;
    esac
}

install_missing /usr/bin/sipp:sip-tester "$KAMAILIO":kamailio "$RTPENGINE":rtpengine-daemon
build_locus
if series floor; then
    echo "building call_floor (release)"
    (cd "$root" && cargo build --release -p locus-bench --bin call_floor -q)
fi
if [ "${RELAY_COMPARE:-1}" != 0 ]; then
    echo "building the relay benchmark (cargo bench -p media --bench relay --no-run)"
    (cd "$root" && cargo bench -p media --bench relay --no-run -q 2>/dev/null)
fi

head -c 8000 /dev/zero | tr '\0' '\377' >"$work/silence.ulaw"

call_config "$work/locus.toml" "$LOCUS_PORT" "$FAR_PORT" 20000 59999 "${LOCUS_MEDIA:-}"

# start_rtpengine: userspace only (--table=-1), ng and CLI on loopback,
# sessions gone at delete (--delete-delay=0); sets rtpengine_pid.
start_rtpengine() {
    "$RTPENGINE" --config-file=none --table=-1 --interface=127.0.0.1 --listen-ng="127.0.0.1:$NG_PORT" \
        --listen-cli="127.0.0.1:$CLI_PORT" --port-min=60000 --port-max=64999 --delete-delay=0 \
        --foreground --log-stderr --log-level=4 >"$work/rtpengine.log" 2>&1 &
    rtpengine_pid=$!
    pids+=("$rtpengine_pid")
    wait_udp "$NG_PORT" || die "rtpengine did not listen: $(tail -5 "$work/rtpengine.log")"
}

relay_compare() {
    start_rtpengine
    echo "relays alone: $RELAY_SESSIONS sessions, $RELAY_PPS packets/s for ${RELAY_SECS} s each"
    (cd "$root" && MEDIA_BENCH_SECS=$RELAY_SECS MEDIA_BENCH_SESSIONS=$RELAY_SESSIONS MEDIA_BENCH_PPS=$RELAY_PPS \
        MEDIA_BENCH_RTPENGINE="127.0.0.1:$NG_PORT,$rtpengine_pid" MEDIA_BENCH_FLOOR=1 \
        cargo bench -p media --bench relay -q 2>/dev/null) | grep -E '^(media|locus|rtpengine|floor)' | tee "$work/relay.out"
    stop "$rtpengine_pid"
    echo "Locus's relay at its capacity: as fast as the sender can, the same sessions"
    (cd "$root" && MEDIA_BENCH_SECS=$RELAY_SECS MEDIA_BENCH_SESSIONS=$RELAY_SESSIONS MEDIA_BENCH_PPS=0 \
        cargo bench -p media --bench relay -q 2>/dev/null) | grep -E '^locus'
    awk '$1 == "locus" { for (i = 1; i < NF; i++) if ($(i + 1) == "pkt/s" && $(i + 2) == "per") l = $i }
         $1 == "rtpengine" { for (i = 1; i < NF; i++) if ($(i + 1) == "pkt/s" && $(i + 2) == "per") r = $i }
         $1 == "floor" { for (i = 1; i < NF; i++) if ($(i + 1) == "pkt/s" && $(i + 2) == "per") f = $i }
         END { if (l && r) printf "relay packets per CPU-second at the same load: Locus %.0f, rtpengine %.0f, Locus/rtpengine %.2f (goal: 3)\n", l, r, l / r
               if (f && r) printf "the kernel floor (recv + sendto, nothing else): %.0f, floor/rtpengine %.2f, Locus/floor %.2f\n", f, f / r, l / f }' "$work/relay.out"
}

print_context "RATE*$SECS calls, $HOLD_MS ms hold"
echo
if [ -n "${RELAY_ONLY:-}" ]; then
    relay_compare
    exit 0
fi
print_header call

# Media off.
uac=$(scenario call_uac "")
if series floor; then
    "$target/release/call_floor" "127.0.0.1:$LOCUS_PORT" "$FAR_IP:$FAR_PORT" >"$work/floor.out" 2>&1 &
    floor_pid=$!
    pids+=("$floor_pid")
    wait_udp "$LOCUS_PORT" || die "call_floor did not listen: $(cat "$work/floor.out")"
    start_far "" floor
    run_steps floor "$LOCUS_PORT" "$floor_pid"
    stop "$far_pid"
    stop "$floor_pid"
fi
if series locus; then
    start_locus "$work/locus.toml" "$LOCUS_PORT"
    start_far "" locus
    run_steps locus "$LOCUS_PORT" "$locus_pid"
    stop "$far_pid"
    stop_locus
fi

# Signalling only, as Kamailio is here: the SDP passes (after the trunk
# policy) and no relay port is allocated.
if series locus-sig; then
    sed 's/^\[sip.media\]$/[sip.media]\nrelay = false/' "$work/locus.toml" >"$work/locus-sig.toml"
    start_locus "$work/locus-sig.toml" "$LOCUS_PORT"
    start_far "" locus-sig
    run_steps locus-sig "$LOCUS_PORT" "$locus_pid"
    stop "$far_pid"
    stop_locus
fi

if series kamailio; then
    start_kamailio "$here/kamailio/call.cfg" "$KAM_PORT" -A "FAR_URI=\"sip:$FAR_IP:$FAR_PORT\""
    start_far "" kamailio
    run_steps kamailio "$KAM_PORT" "$kam_pid"
    stop "$far_pid"
    stop "$kam_pid"
fi

# Media on.
uac=$(scenario call_uac media)
RATES=$MEDIA_RATES
if series locus+rtp; then
    sed 's/^level = "warn"/level = "warn"\nformat = "json"/' "$work/locus.toml" >"$work/locus-media.toml"
    # One debug line per call from the relay's anchor, with its packet counts.
    RUST_LOG=warn,locus_sip::anchor=debug start_locus "$work/locus-media.toml" "$LOCUS_PORT"
    start_far media locus+rtp
    run_steps locus+rtp "$LOCUS_PORT" "$locus_pid"
    stop "$far_pid"
    stop "$locus_pid"
fi

if series kam+rtpeng; then
    start_rtpengine
    relayed_seen=$(rtpengine_relayed)
    start_kamailio "$here/kamailio/call.cfg" "$KAM_PORT" -A "FAR_URI=\"sip:$FAR_IP:$FAR_PORT\"" \
        -A MEDIA -A "RTPENGINE_SOCK=\"udp:127.0.0.1:$NG_PORT\""
    start_far media kam+rtpeng
    run_steps kam+rtpeng "$KAM_PORT" "$kam_pid" "$rtpengine_pid"
    stop "$far_pid"
    stop "$kam_pid"
    stop "$rtpengine_pid"
fi

# Each comparison whose two series ran.
for pair in "locus kamailio" "locus-sig kamailio" "locus+rtp kam+rtpeng"; do
    set -- $pair
    if series "$1" && series "$2"; then
        echo
        compare "$1" "$2" call "at most 0.75"
    fi
done
# Above the floor: at the highest rate the floor, Locus signalling only and
# Kamailio all passed, what each spends above the kernel's cost of the same
# calls, and what the goal (0.75 of Kamailio) leaves above it.
if series floor && series locus-sig && series kamailio; then
    common=$(awk 'FILENAME ~ /floor/ { f[$1] = $2; next } FILENAME ~ /locus-sig/ { l[$1] = $2; next }
        ($1 in f) && ($1 in l) { r = $1; k = $2 } END { if (r) print r, f[r], l[r], k }' \
        "$work/floor.rates" "$work/locus-sig.rates" "$work/kamailio.rates")
    if [ -n "$common" ]; then
        echo
        echo "$common" | awk '{ printf "above the floor at %d/s: floor %.1f us/call; locus-sig %.1f above it, kamailio %.1f above it; the goal (0.75 x kamailio = %.1f) leaves %.1f above the floor\n", $1, $2, $3 - $2, $4 - $2, 0.75 * $4, 0.75 * $4 - $2 }'
    fi
fi
if [ -s "$work/relay.pps" ]; then
    echo
    awk '{ p[$1] += $3; c[$1] += $4 } END {
        for (n in p) printf "%-12s relayed %d packets in the passed media steps, %.3f CPU s: %.0f packets per CPU-second\n", n, p[n], c[n], p[n] / c[n] }' "$work/relay.pps" | sort
fi

if [ "${RELAY_COMPARE:-1}" != 0 ]; then
    echo
    relay_compare
fi
