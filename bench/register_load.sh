#!/usr/bin/env bash
# REGISTER load with digest authentication over UDP on loopback: Locus
# against Kamailio (auth_db) in the same run (issue 4, "Speed").
#
#   bench/register_load.sh       # rates 500 1000 2000 4000 8000 registrations/s, 3 s each
#   RATES="1000 2000" SECS=3 N_USERS=10000 bench/register_load.sh
#
# One registration = two transactions: REGISTER, 401 with an MD5 challenge
# (qop=auth), REGISTER with the digest, 200 (bench/sipp/register_uac.xml;
# SIPp 3.6 computes MD5 only, so Locus runs with algorithms = ["MD5"]).
# The script writes N_USERS users (user00000..) with their passwords into a
# SIPp injection file (-inf, sequential, wrapping around), into Locus's
# [[sip.users]] (a temporary TOML) and into Kamailio's db_text subscriber
# table (plaintext passwords, calculate_ha1), so every call in a step
# registers another user.
#
# For each server and each rate, SIPp sends RATE*SECS registrations at RATE
# per second; the script reads SIPp's final statistics (-trace_stat CSV) and
# the server's CPU time (utime+stime from /proc/PID/stat, every process of
# the server) before and after the step. A rate passes with 0 failed calls
# and under 0.1% retransmissions; the escalation stops at the first rate
# that does not pass. The summary compares CPU per registration at the
# highest rate both servers passed (goal: Locus at most half of Kamailio's).
#
# Locus: target/release/locus (built here with `cargo build --release -p
# locus`; CARGO_TARGET_DIR is honoured), UDP listener only, log level warn,
# temporary data_dir. Kamailio: Debian's 5.x with bench/kamailio/register.cfg
# (auth + auth_db over db_text, usrloc db_mode 0, registrar), started with
# `-x tlsf -m 4096` and N_KAMAILIO UDP children (default: nproc).
#
# Loopback only, bounded in time (each SIPp step is capped), and every
# process started here is stopped on exit. Installs sip-tester and kamailio
# with apt-get when they are missing and we are root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
RATES=${RATES:-"500 1000 2000 4000 8000"}
N_USERS=${N_USERS:-10000}
SECS=${SECS:-3}
LOCUS_PORT=${LOCUS_PORT:-15970}
KAM_PORT=${KAM_PORT:-15971}
N_KAMAILIO=${N_KAMAILIO:-$(nproc)}
KAMAILIO=${KAMAILIO:-/usr/sbin/kamailio}
TICK=$(getconf CLK_TCK)

die() { echo "register_load: $*" >&2; exit 1; }

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

work=$(mktemp -d /tmp/locus-register-load.XXXXXX)
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
# $work/NAME.best as "rate achieved us_per_registration".
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
        (cd "$work" && timeout $((SECS + 30)) sipp -sf "$here/sipp/register_uac.xml" \
            -inf "$work/users.csv" -i 127.0.0.1 -p 0 -r "$rate" -m "$calls" -timeout $((SECS + 20))s \
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

# The users, the same for SIPp, Locus and Kamailio.
mkdir -p "$work/locus-data" "$work/dbtext"
awk -v n="$N_USERS" -v csv="$work/users.csv" -v sub_="$work/dbtext/subscriber" -v toml="$work/users.toml" 'BEGIN {
    print "SEQUENTIAL" > csv
    print "id(int,auto) username(str) domain(str) password(str) ha1(str,null) ha1b(str,null)" > sub_
    for (i = 0; i < n; i++) {
        u = sprintf("user%05d", i); p = sprintf("pw%05d-%d", i, (i * 7919) % 100003)
        print u ";[authentication username=" u " password=" p "]" > csv
        print i + 1 ":" u ":127.0.0.1:" p "::" > sub_
        printf "[[sip.users]]\nusername = \"%s\"\npassword = \"%s\"\n\n", u, p > toml
    }
}'
printf 'table_name(str) table_version(int)\nsubscriber:7\nlocation:9\n' >"$work/dbtext/version"

cat >"$work/locus.toml" <<EOF
[sip]
listen = ["udp:127.0.0.1:$LOCUS_PORT"]
data_dir = "$work/locus-data"
[sip.registrar]
algorithms = ["MD5"]
[log]
level = "warn"

EOF
cat "$work/users.toml" >>"$work/locus.toml"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1); kamailio: $("$KAMAILIO" -v 2>&1 | head -1 | sed 's/version: //')"
echo "each step: RATE*$SECS registrations (2 transactions each) over $N_USERS users; CPU is the server's utime+stime over the step"
if pgrep -x rustc >/dev/null || pgrep -x cc1 >/dev/null; then
    echo "warning: a compiler is running on this machine: the figures below are noisy"
fi
echo
printf "%-9s %8s %9s %10s %8s %8s %8s %9s %8s  %s\n" server rate/s achieved/s successful failed retrans sockdrop cpu_s us/REG verdict

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
"$KAMAILIO" -f "$here/kamailio/register.cfg" -L /usr/lib/x86_64-linux-gnu/kamailio/modules \
    -l "udp:127.0.0.1:$KAM_PORT" -n "$N_KAMAILIO" -x tlsf -m 4096 -DD -E \
    -A "DBURL=\"text://$work/dbtext\"" -Y "$work/kamailio" -P "$work/kamailio/kamailio.pid" >"$work/kamailio.log" 2>&1 &
kam_pid=$!
pids+=("$kam_pid")
wait_udp "$KAM_PORT" || die "kamailio did not listen: $(tail -5 "$work/kamailio.log")"
run_steps kamailio "$kam_pid" "$KAM_PORT"
kill "$kam_pid"; wait "$kam_pid" 2>/dev/null || true

echo
read -r l_rate l_ach l_us <"$work/locus.best" || true
read -r k_rate k_ach k_us <"$work/kamailio.best" || true
printf "%-9s %22s %14s\n" server "highest passing rate/s" "us/registration"
printf "%-9s %22s %14s\n" locus "${l_rate:-none} (${l_ach:-0} achieved)" "${l_us:--}"
printf "%-9s %22s %14s\n" kamailio "${k_rate:-none} (${k_ach:-0} achieved)" "${k_us:--}"
# The same load for both: the highest rate both passed.
common=
[ -s "$work/locus.rates" ] && [ -s "$work/kamailio.rates" ] && common=$(awk 'NR == FNR { l[$1] = $2; next } ($1 in l) { r = $1; k = $2 } END { if (r) print r, l[r], k }' \
    "$work/locus.rates" "$work/kamailio.rates")
if [ -n "$common" ]; then
    echo "$common" | awk '{printf "CPU per registration at %d/s, both servers: Locus %.1f us, Kamailio %.1f us, Locus/Kamailio %.2f (goal: at most 0.50)\n", $1, $2, $3, $2 / $3}'
fi
