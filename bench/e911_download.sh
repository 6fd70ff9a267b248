#!/usr/bin/env bash
# Full-state device download into the E911 manager on loopback (issue 4,
# "Speed"): the time from the manager's SUBSCRIBE until its inventory holds
# every registration of the SIP server, goal under 2 s for 100,000.
#
#   bench/e911_download.sh                    # 100,000 registrations, 14336-byte NOTIFYs
#   N=10000 MAX_BODY=60000 bench/e911_download.sh   # fewer, larger NOTIFYs (UDP: under 64 KB)
#
# The registrations: the script writes N bindings (one phone per AOR
# sip:uNNNNNN@127.0.0.1, each with a +sip.instance and a contact on its
# own 10.x.y.z address, expiring in an hour) straight into `locus sip`'s
# binding store (registrar.sqlite, the table crates/locus-sip/src/
# bindings.rs defines: what its registrar writes for each REGISTER and
# reads back at start) and the N users into its configuration, then
# starts `locus sip` on it. That is a restart with N phones registered,
# not N REGISTERs: the REGISTER path has its own benchmark
# (register_load.sh). LOCATE=0 leaves the phones unlocated (no region).
#
# Then `locus e911` (bench/e911/manager.toml), configured through its HTTP
# API (curl): a location "Campus" with one ELIN, the region 10.0.0.0/8 in
# it (so every phone is located and gets its ELIN PUBLISHed back, E11, as
# in production), and a call server whose member is `locus sip`
# (subscription mode server, one SUBSCRIBE). `locus sip`
# (bench/e911/download_sip.toml) splits the full state at MAX_BODY bytes
# (default 14336, DESIGN E2: first NOTIFY full, the rest partial, one at a
# time, each after the previous one's 200).
#
# Start: the SUBSCRIBE's arrival at `locus sip` (its debug log line "reg
# subscription", microsecond UTC timestamps on the same clock as the
# script's). End: when the manager's store, the one its API lists devices
# from, holds N devices: SELECT COUNT(*) every 20 ms on a read-only
# connection to e911.sqlite from the script (committed transactions only;
# the store is written after the in-memory inventory, so this is the
# later, user-visible moment; polling the API instead would load the
# store thread it measures). Then the API must list the N-th device. Also
# printed: when every device is located, and when locus sip holds every
# ELIN the manager PUBLISHed back (rows in its elins.sqlite, polled every
# 100 ms).
#
# Release build with `cargo build --release -p locus` (CARGO_TARGET_DIR is
# honoured). Apart from the build, bounded in time (each wait is capped;
# TIMEOUT, default 120 s, for the download), loopback only, and every
# process started here is stopped on exit.
set -euo pipefail

BENCH=e911_download
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
N=${N:-100000}
MAX_BODY=${MAX_BODY:-14336}
TIMEOUT=${TIMEOUT:-120}
ELIN=+15551230300

for c in curl python3; do command -v "$c" >/dev/null || die "$c is needed"; done

build_locus
locus=$target/release/locus

# N bindings in locus sip's store, as its registrar writes them.
mkdir -p "$work/e911" "$work/sip/data"
python3 - "$work/sip/data/registrar.sqlite" "$N" "$work/sip/users.toml" <<'PY'
import sqlite3, sys, time
path, n, users = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def short_id(*parts):
    # crates/locus-sip/src/registrar.rs short_id: FNV-1a 64 over each part
    # and a 0 byte.
    h = 0xcbf29ce484222325
    for p in parts:
        for b in p.encode() + b"\0":
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"

now = int(time.time())
db = sqlite3.connect(path)
# crates/locus-sip/src/bindings.rs SCHEMA
db.execute("""CREATE TABLE IF NOT EXISTS bindings (
    aor TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, uri TEXT NOT NULL,
    q TEXT, instance TEXT, reg_id INTEGER, call_id TEXT NOT NULL,
    cseq INTEGER NOT NULL, expires_unix INTEGER NOT NULL,
    registered_unix INTEGER NOT NULL, source TEXT NOT NULL,
    transport TEXT NOT NULL, PRIMARY KEY (aor, key))""")
rows = []
for i in range(n):
    ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    aor = f"sip:u{i:06d}@127.0.0.1"
    uri = f"sip:u{i:06d}@{ip}:5060"
    mac = f"00005e{i:06x}"
    instance = f'"<urn:uuid:00000000-0000-1000-8000-{mac}>"'
    key = f"inst:{instance}"
    rows.append((aor, key, short_id(aor, key), uri, None, instance, None,
                 f"reg-{i}@{ip}", 1, now + 3600, now, f"{ip}:5060", "udp"))
db.executemany("INSERT INTO bindings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
db.close()
with open(users, "w") as f:
    for i in range(n):
        f.write(f'\n[[sip.users]]\nusername = "u{i:06d}"\npassword = "secret-{i}"\n')
PY
echo "wrote $N bindings into locus sip's store"

sed "s#@DATA@#$work/e911/data#" "$here/e911/manager.toml" >"$work/e911/locus.toml"
RUST_LOG=warn "$locus" e911 --config "$work/e911/locus.toml" >"$work/e911.out" 2>"$work/e911.err" &
pids+=($!)
http=$(wait_line "$work/e911.out" "locus e911: http://") || die "locus e911 did not start: $(tail -5 "$work/e911.err")"
manager=$(wait_line "$work/e911.out" "locus e911: sip listening on udp:") || die "locus e911 has no UDP listener"

sip_port=$(free_udp_port 127.0.0.1)
sed -e "s#@DATA@#$work/sip/data#" -e "s#@SIP_PORT@#$sip_port#" \
    -e "s#@MANAGER_IP@#${manager%:*}#g" -e "s#@MANAGER@#$manager#" -e "s#@MAX_BODY@#$MAX_BODY#" \
    "$here/e911/download_sip.toml" >"$work/sip/locus.toml"
cat "$work/sip/users.toml" >>"$work/sip/locus.toml"
RUST_LOG=warn,locus_sip::regevent=debug "$locus" sip --config "$work/sip/locus.toml" \
    >"$work/sip.out" 2>"$work/sip.err" &
pids+=($!)
sip=$(wait_line "$work/sip.out" "locus sip: listening on udp:" 60) || die "locus sip did not start: $(tail -5 "$work/sip.err")"
echo "locus e911: http $http, sip $manager; locus sip: $sip with $N registrations"

loc=$(api POST /api/v1/locations \
    '{"name":"Campus","civic":{"country":"US","A1":"TX","A3":"Austin","RD":"Main St","HNO":"100"},"elins":["'"$ELIN"'"]}' | id_of)
if [ "${LOCATE:-1}" = 1 ]; then
    api POST /api/v1/network-regions \
        '{"name":"all phones","cidr":"10.0.0.0/8","location_id":'"$loc"'}' >/dev/null
fi
# CPU of both processes' threads before the download (the script prints
# what the download used).
cpu0=$(python3 - "${pids[0]}" "${pids[1]}" <<'PY'
import glob, json, os, sys
tick = os.sysconf("SC_CLK_TCK")
def cpu_by_thread(pid):
    out = {}
    for stat in glob.glob(f"/proc/{pid}/task/*/stat"):
        text = open(stat).read()
        name = text[text.index("(") + 1:text.rindex(")")]
        f = text[text.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + (int(f[11]) + int(f[12])) / tick
    return out
print(json.dumps({"e911": cpu_by_thread(sys.argv[1]), "sip": cpu_by_thread(sys.argv[2])}))
PY
)
# The call server last: creating it makes the manager SUBSCRIBE.
api POST /api/v1/call-servers \
    '{"type":"locus","name":"locus sip","subscription_mode":"server","members":[{"ip":"'"${sip%:*}"'","port":'"${sip##*:}"',"transport":"udp"}]}' >/dev/null

# Poll until the manager's store holds N devices (and N located ones),
# then check the API lists the N-th one.
python3 - "$http" "$N" "$loc" "$TIMEOUT" "$work/sip.err" "$work/e911/data/e911.sqlite" \
    "$work/sip/data" "${pids[0]}" "${pids[1]}" "$cpu0" <<'PY'
import glob, json, os, re, sqlite3, sys, time, urllib.request
from datetime import datetime, timezone

http, n, loc, timeout, sip_log, store, sip_data, e911_pid, sip_pid, cpu0 = sys.argv[1:11]
n, timeout = int(n), float(timeout)
tick = os.sysconf("SC_CLK_TCK")

def cpu_by_thread(pid):
    """CPU seconds (user + system) of each thread of pid, by thread name."""
    out = {}
    for stat in glob.glob(f"/proc/{pid}/task/*/stat"):
        try:
            text = open(stat).read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        f = text[text.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + (int(f[11]) + int(f[12])) / tick
    return out

def subscribed_at():
    """When locus sip took the manager's SUBSCRIBE (its log's timestamp)."""
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    with open(sip_log, errors="replace") as f:
        for line in f:
            line = ansi.sub("", line)
            if "reg subscription" in line:
                stamp = line.split()[0].rstrip("Z")
                whole, _, frac = stamp.partition(".")
                t = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
                return t.timestamp() + float("0." + (frac or "0"))
    return None

# The manager's store, read-only from this process (WAL: committed
# transactions only), so polling costs the manager nothing.
db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
def count(where=""):
    return db.execute(f"SELECT COUNT(*) FROM devices {where}").fetchone()[0]

start = time.time()
all_in = located = None
while time.time() - start < timeout:
    if all_in is None and count() >= n:
        all_in = time.time()
        cpu_e911, cpu_sip = cpu_by_thread(e911_pid), cpu_by_thread(sip_pid)
    if all_in is not None and count("WHERE location_id IS NOT NULL") >= n:
        located = time.time()
        break
    time.sleep(0.02)
sub = subscribed_at()
if sub is None:
    sys.exit("locus sip never logged the manager's SUBSCRIBE")
if all_in is None:
    sys.exit(f"the manager's store did not hold {n} devices within {timeout:.0f} s (it has {count()})")
with urllib.request.urlopen(f"http://{http}/api/v1/devices?limit=1&offset={n - 1}", timeout=10) as r:
    listed = json.load(r)
if len(listed) != 1:
    sys.exit(f"the API does not list the {n}-th device: {listed}")

# The ELINs the manager PUBLISHed back (E11): rows in locus sip's ELIN
# store, written after the download (publications wait for it).
published = None
elins = glob.glob(f"{sip_data}/elins.sqlite")
if elins and located:
    edb = sqlite3.connect(f"file:{elins[0]}?mode=ro", uri=True, timeout=5)
    table = edb.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchone()[0]
    while time.time() - start < timeout:
        if edb.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] >= n:
            published = time.time()
            break
        time.sleep(0.1)

def secs(t):
    return f"{t - sub:.3f}" if t else f">{timeout:.0f}"
print(f"{'devices':>8} {'in_store_s':>11} {'located_s':>10} {'published_s':>12}")
print(f"{n:>8} {secs(all_in):>11} {secs(located):>10} {secs(published):>12}")
# CPU used from before the call server was created to the moment every
# device was in the store: what the machine's other load cannot inflate.
before = json.loads(cpu0)
def used(now, then):
    return sum(now.values()) - sum(then.values())
store_cpu = cpu_e911.get("locus-e911-stor", 0) - before["e911"].get("locus-e911-stor", 0)
print(f"CPU to get them in: locus e911 {used(cpu_e911, before['e911']):.2f} s "
      f"(store thread {store_cpu:.2f} s), locus sip {used(cpu_sip, before['sip']):.2f} s")
print(f"goal: every device in the inventory under 2 s after the SUBSCRIBE -> {'met' if all_in - sub < 2 else 'NOT met'}")
PY
