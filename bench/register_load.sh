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
# `-x tlsf -m 4096` and N_KAMAILIO UDP children (default: nproc). The
# common part is bench/lib.sh.
#
# Loopback only, bounded in time (each SIPp step is capped), and every
# process started here is stopped on exit. Installs sip-tester and kamailio
# with apt-get when they are missing and we are root.
set -euo pipefail

BENCH=register_load
. "$(dirname "$0")/lib.sh"
RATES=${RATES:-"500 1000 2000 4000 8000"}
N_USERS=${N_USERS:-10000}
LOCUS_PORT=${LOCUS_PORT:-15970}
KAM_PORT=${KAM_PORT:-15971}

sipp_step() {
    local name=$1 rate=$2 calls=$3 dir=$4 port=$5
    # -timeout bounds the step: SECS plus the 4 s answer timeout and slack.
    (cd "$dir" && timeout $((SECS + 30)) sipp -sf "$here/sipp/register_uac.xml" \
        -inf "$work/users.csv" -i 127.0.0.1 -p 0 -r "$rate" -m "$calls" -timeout $((SECS + 20))s \
        -nostdin -trace_stat -stf "$dir/stat.csv" -fd 1 -buff_size 4194304 \
        127.0.0.1:"$port" >"$dir/sipp.out" 2>&1) || true
}

install_missing /usr/bin/sipp:sip-tester "$KAMAILIO":kamailio
build_locus

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

print_context "RATE*$SECS registrations (2 transactions each) over $N_USERS users"
echo
print_header REG

start_locus "$work/locus.toml" "$LOCUS_PORT"
run_steps locus "$LOCUS_PORT" "$locus_pid"
stop_locus

start_kamailio "$here/kamailio/register.cfg" "$KAM_PORT" -A "DBURL=\"text://$work/dbtext\""
run_steps kamailio "$KAM_PORT" "$kam_pid"
stop "$kam_pid"

echo
compare locus kamailio registration "at most 0.50"
