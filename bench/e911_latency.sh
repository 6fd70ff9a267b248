#!/usr/bin/env bash
# 911 latency through the manager on loopback (issue 4, "Speed"): the time
# from the phone's 911 INVITE to the gateway's INVITE, goal p99 under 5 ms.
#
#   bench/e911_latency.sh            # 200 sequential calls
#   CALLS=500 bench/e911_latency.sh
#
# Starts `locus e911` (bench/e911/manager.toml) and `locus sip`
# (bench/e911/sip.toml: the manager's trunk, prefix 911, and the gateway's,
# prefix 91) in temporary data directories on loopback, then configures the
# manager through its HTTP API (curl): a location with the ELIN
# +15551230300, a region 127.0.0.5/32 in it, a call server of type locus
# whose member is `locus sip` (subscription mode server). A SIPp phone
# (alice, MD5 digest with -au/-ap, bench/sipp/e911_register.xml) registers
# from 127.0.0.5; the script waits (10 s at most) until the manager lists
# the device located with its ELIN. A SIPp gateway (bench/sipp/
# e911_gateway_uas.xml) listens on 127.0.0.9 and checks the ELIN in From;
# the phone (bench/sipp/e911_phone_uac.xml) places CALLS calls to 911 one
# at a time (INVITE, 200, ACK, BYE): locus sip sends each to the manager,
# follows its 302 to the gateway.
#
# Latency per call: the gateway's receive time of the n-th INVITE minus
# the phone's send time of the n-th INVITE, both from SIPp's -trace_msg
# timestamps (microseconds, same clock; calls are sequential, so the n-th
# INVITE on each side is the same call; the first INVITE per Call-ID on
# each side, retransmissions ignored). Prints count, p50, p90, p99, max in
# ms.
#
# Release build with `cargo build --release -p locus` (CARGO_TARGET_DIR is
# honoured). Apart from the build, bounded in time (each step is capped;
# about 10 s for 200 calls), loopback only, and every process started here
# is stopped on exit.
set -euo pipefail

BENCH=e911_latency
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
CALLS=${CALLS:-200}
PHONE_IP=127.0.0.5
GATEWAY_IP=127.0.0.9
ELIN=+15551230300

for c in sipp curl python3; do command -v "$c" >/dev/null || die "$c is needed"; done

build_locus
locus=$target/release/locus

# The manager first: locus sip's configuration names its SIP address.
mkdir -p "$work/e911" "$work/sip"
sed "s#@DATA@#$work/e911/data#" "$here/e911/manager.toml" >"$work/e911/locus.toml"
RUST_LOG=warn "$locus" e911 --config "$work/e911/locus.toml" >"$work/e911.out" 2>"$work/e911.err" &
pids+=($!)
http=$(wait_line "$work/e911.out" "locus e911: http://") || die "locus e911 did not start: $(tail -5 "$work/e911.err")"
manager=$(wait_line "$work/e911.out" "locus e911: sip listening on udp:") || die "locus e911 has no UDP listener"

sip_port=$(free_udp_port 127.0.0.1)
gw_port=$(free_udp_port "$GATEWAY_IP")
sed -e "s#@DATA@#$work/sip/data#" -e "s#@SIP_PORT@#$sip_port#" \
    -e "s#@MANAGER_IP@#${manager%:*}#g" -e "s#@MANAGER@#$manager#" \
    -e "s#@GATEWAY_IP@#$GATEWAY_IP#g" -e "s#@GATEWAY@#$GATEWAY_IP:$gw_port#" \
    "$here/e911/sip.toml" >"$work/sip/locus.toml"
"$locus" sip --config "$work/sip/locus.toml" >"$work/sip.out" 2>"$work/sip.err" &
pids+=($!)
sip=$(wait_line "$work/sip.out" "locus sip: listening on udp:") || die "locus sip did not start: $(tail -5 "$work/sip.err")"
echo "locus e911: http $http, sip $manager; locus sip: $sip; gateway: $GATEWAY_IP:$gw_port"

# The manager's configuration, as in crates/locus/tests/e911_scenario.rs.
loc=$(api POST /api/v1/locations \
    '{"name":"HQ floor 3","civic":{"country":"US","A1":"TX","A3":"Austin","RD":"Main St","HNO":"100","FLR":"3"},"elins":["'"$ELIN"'"]}' | id_of)
api POST /api/v1/network-regions \
    '{"name":"floor 3 phone","cidr":"'"$PHONE_IP"'/32","location_id":'"$loc"'}' >/dev/null
api POST /api/v1/call-servers \
    '{"type":"locus","name":"locus sip","subscription_mode":"server","members":[{"ip":"'"${sip%:*}"'","port":'"${sip##*:}"',"transport":"udp"}]}' >/dev/null

# The phone registers from 127.0.0.5 (digest).
phone_port=$(free_udp_port "$PHONE_IP")
(cd "$work" && timeout 30 sipp -sf "$here/sipp/e911_register.xml" -i "$PHONE_IP" -p "$phone_port" \
    -t u1 -m 1 -au alice -ap secret-a -key aor alice -key expires 600 \
    -timeout 10s -timeout_error -nostdin "$sip" >"$work/register.out" 2>&1) \
    || die "alice could not register: $(tail -5 "$work/register.out")"

# Bounded wait until the manager has located the phone with its ELIN.
located=
for i in $(seq 100); do
    if api GET /api/v1/devices 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d if isinstance(d, list) else next((v for v in d.values() if isinstance(v, list)), [])
sys.exit(0 if any(x.get("elin") == sys.argv[1] and x.get("source_ip") == sys.argv[2] for x in d) else 1)
' "$ELIN" "$PHONE_IP"; then located=1; break; fi
    sleep 0.1
done
[ -n "$located" ] || die "the manager never located alice with $ELIN: $(api GET /api/v1/devices || true)"
echo "manager located alice at HQ floor 3 with $ELIN after $((i * 100)) ms or less"

# The gateway, then the phone's calls, one at a time.
(cd "$work" && exec timeout $((CALLS / 5 + 60)) sipp -sf "$here/sipp/e911_gateway_uas.xml" \
    -i "$GATEWAY_IP" -p "$gw_port" -t u1 -m "$CALLS" -nostdin -trace_msg -trace_err \
    -message_file "$work/gateway_msg.log" -error_file "$work/gateway_err.log" \
    >"$work/gateway.out" 2>&1) &
gw_pid=$!
pids+=("$gw_pid")
sleep 0.3
echo "placing $CALLS calls to 911, one at a time"
(cd "$work" && timeout $((CALLS / 5 + 50)) sipp -sf "$here/sipp/e911_phone_uac.xml" \
    -i "$PHONE_IP" -p 0 -t u1 -m "$CALLS" -l 1 -r 1000 -key caller alice -s 911 \
    -timeout $((CALLS / 5 + 40))s -nostdin -trace_msg -trace_err \
    -message_file "$work/phone_msg.log" -error_file "$work/phone_err.log" \
    "$sip" >"$work/phone.out" 2>&1) || echo "warning: the phone's SIPp exited non-zero (failed calls?): $(tail -3 "$work/phone_err.log" 2>/dev/null)"
# The gateway ends after CALLS calls; give it 5 s more.
for i in $(seq 50); do kill -0 "$gw_pid" 2>/dev/null || break; sleep 0.1; done
kill "$gw_pid" 2>/dev/null || true

# Through the manager: its record of emergency calls (a 302 per call).
recorded=$(api GET /api/v1/emergency-calls 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d if isinstance(d, list) else next((v for v in d.values() if isinstance(v, list)), [])
print(len(d))' || echo "?")
echo "the manager recorded $recorded emergency calls (answered 302 with the ELIN)"

python3 - "$work/phone_msg.log" "$work/gateway_msg.log" "$CALLS" <<'PY'
import math, re, sys
from datetime import datetime

def invites(path):
    """Time (s) of the first INVITE per Call-ID, in trace order."""
    out, seen, stamp, msg = [], set(), None, []
    def flush():
        if msg and msg[0].startswith("INVITE "):
            cid = next((l.split(":", 1)[1].strip() for l in msg if l.lower().startswith("call-id:")), None)
            if cid not in seen:
                seen.add(cid)
                out.append(stamp)
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.startswith("----------"):
                flush()
                msg = []
                m = re.search(r"(\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d(?:\.\d+)?)", line)
                stamp = datetime.strptime(m.group(1) + " " + m.group(2), "%Y-%m-%d %H:%M:%S.%f").timestamp() if m else None
            elif stamp is not None and not re.match(r"^(UDP|TCP|TLS|SCTP) message", line):
                if msg or line.strip():
                    msg.append(line.strip())
        flush()
    return out

sent = invites(sys.argv[1])
got = invites(sys.argv[2])
calls = int(sys.argv[3])
n = min(len(sent), len(got))
lat = sorted((g - s) * 1000 for s, g in zip(sent[:n], got[:n]))
print(f"phone sent {len(sent)} INVITEs, gateway received {len(got)} (of {calls} calls)")
if not lat:
    sys.exit("no latency samples")
def pct(p):  # nearest rank
    return lat[min(len(lat) - 1, max(0, math.ceil(p / 100 * len(lat)) - 1))]
print(f"{'count':>6} {'p50_ms':>8} {'p90_ms':>8} {'p99_ms':>8} {'max_ms':>8}")
print(f"{len(lat):>6} {pct(50):8.3f} {pct(90):8.3f} {pct(99):8.3f} {lat[-1]:8.3f}")
print(f"p99 goal: under 5 ms -> {'met' if pct(99) < 5 else 'NOT met'}")
PY
