#!/usr/bin/env bash
# Datapath benchmark, case C of the performance baseline: one bridge, NORMAL, two veth ports,
# with ferrovs (fvs-vswitchd), Open vSwitch 3.1's userspace datapath (datapath_type=netdev,
# AF_PACKET ports) and the Linux bridge as the switch, in one run, interleaved round by round.
#
#   sudo bench/datapath.sh                    # 3 rounds, 5 s per measurement, six cases
#   sudo ROUNDS=5 T=3 SWITCHES="fvs ovs" bench/datapath.sh
#   sudo SWITCHES="fvs-tso bridge-tso" bench/datapath.sh
#
# Topology (all inside namespaces this script owns, prefix fvsdp<pid>-): a (eth0 10.98.1.1)
# and b (eth0 10.98.1.2) are joined through sw, which holds the veth ends p1 and p2
# and the switch. Each switch is measured twice: as `fvs`, `ovs`, `bridge` the endpoints run
# with transmit checksum offload and TSO off, the baseline's case C (Open vSwitch without
# userspace TSO cannot carry GSO frames); as `fvs-tso`, `ovs-tso`, `bridge-tso` they keep the
# kernel's default offloads (TSO, checksum offload), Open vSwitch gets
# userspace-tso-enable=true (the baseline's C_tso) and the Linux bridge is the baseline's B;
# ferrovs carries the super-frames with virtio-net headers on its AF_PACKET ports.
#
# Per switch and round, after a warm-up ping both ways (ARP, MAC learning, megaflows):
#   ping      200 echo requests 10 ms apart: average and 99th percentile RTT (µs)
#   tcp1      iperf3 -t T -O 1, one stream: received Gbit/s
#   tcp2      iperf3 -P 2: received Gbit/s
#   pps       trafgen blasting 60-byte UDP frames (64 on the wire) for T s to a non-local
#             address behind b: frames b's eth0 received per second (kpps), and offered kpps
#   cpu       the switch process's CPU (utime+stime, % of one core) during tcp1 and pps
# Prints median [min-max] per figure and the ratios ferrovs / Open vSwitch and
# ferrovs / Linux bridge. Raw rows go to $OUT/datapath-raw.tsv.
#
# Only processes this script started are stopped, each by its own pidfile; the namespaces
# are deleted on exit, whatever happens.
set -uo pipefail

ROUNDS=${ROUNDS:-3}
T=${T:-5}
SWITCHES=${SWITCHES:-"fvs ovs bridge fvs-tso ovs-tso bridge-tso"}
P=fvsdp$$-
NSA=${P}a NSB=${P}b SW=${P}sw
IPA=10.98.1.1 IPB=10.98.1.2
MACA=02:98:01:00:00:01 MACB=02:98:01:00:00:02
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
W=$(mktemp -d /tmp/fvsdp.XXXXXX)
OUT=${OUT:-$W}
RAW=$OUT/datapath-raw.tsv

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "datapath.sh: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (namespaces, veth pairs, AF_PACKET)"
# Tools from Debian packages: installed when missing (the script runs as root).
missing=()
for pair in ip:iproute2 ethtool:ethtool iperf3:iperf3 ping:iputils-ping trafgen:netsniff-ng \
    ovs-vswitchd:openvswitch-switch python3:python3; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >/dev/null; } || die "cannot install ${missing[*]}"
fi
for tool in ip ethtool iperf3 ping trafgen ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl python3; do
    command -v "$tool" >/dev/null || die "$tool missing"
done
(cd "$root" && cargo build --quiet --release -p fvs-vswitchd --bins) || die "build failed"
FVS=$target/release/fvs-vswitchd

stop_pidfile() {
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null)
    rm -f "$f"
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
}

stop_switch() {
    stop_pidfile "$W/fvs.pid"
    stop_pidfile "$W/ovs-vswitchd.pid"
    stop_pidfile "$W/ovsdb-server.pid"
    ip -n "$SW" link del br0 2>/dev/null
    rm -rf "$W/fvs" "$W/ovs"
}

cleanup() {
    stop_switch
    stop_pidfile "$W/iperf3.pid"
    for ns in "$NSA" "$NSB" "$SW"; do ip netns del "$ns" 2>/dev/null; done
    [ "$OUT" = "$W" ] || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

topology() {
    for ns in "$NSA" "$NSB" "$SW"; do
        ip netns del "$ns" 2>/dev/null
        ip netns add "$ns" || die "netns add $ns"
        ip -n "$ns" link set lo up
    done
    for side in a b; do
        local ns=${P}$side mac ipaddr
        if [ $side = a ]; then mac=$MACA ipaddr=$IPA; else mac=$MACB ipaddr=$IPB; fi
        ip -n "$SW" link add "p$side" type veth peer name eth0 netns "$ns"
        ip -n "$SW" link set "p$side" up
        ip -n "$ns" link set eth0 address "$mac"
        ip -n "$ns" addr add "$ipaddr/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
    ip netns exec "$NSB" iperf3 -s -D -B "$IPB" --pidfile "$W/iperf3.pid" >/dev/null 2>&1
}

wait_file() {
    for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
    die "$1 never appeared"
}

# Endpoint offloads for case $1: on for the -tso cases, off (the baseline's case C) otherwise.
endpoint_offloads() {
    local on=off ns
    case $1 in *-tso) on=on ;; esac
    for ns in "$NSA" "$NSB"; do
        ip netns exec "$ns" ethtool -K eth0 tx "$on" tso "$on" >/dev/null 2>&1 ||
            log "ethtool -K eth0 tx $on tso $on failed in $ns"
    done
}

start_switch() {
    endpoint_offloads "$1"
    case ${1%-tso} in
    fvs)
        mkdir -p "$W/fvs"
        FVS_RUNDIR=$W/fvs FVS_DBDIR=$W/fvs FVS_LOGDIR=$W/fvs ip netns exec "$SW" "$FVS" \
            --detach --pidfile="$W/fvs.pid" --log-file="$W/fvs/fvs-vswitchd.log"
        wait_file "$W/fvs/db.sock"
        ovs-vsctl --db="unix:$W/fvs/db.sock" --timeout=20 add-br br0 -- add-port br0 pa -- add-port br0 pb ||
            die "fvs: add-br"
        SWITCH_PID=$(cat "$W/fvs.pid")
        ;;
    ovs)
        mkdir -p "$W/ovs"
        local db=$W/ovs/conf.db sock=$W/ovs/db.sock
        ovsdb-tool create "$db" /usr/share/openvswitch/vswitch.ovsschema
        ip netns exec "$SW" ovsdb-server "$db" --remote="punix:$sock" --pidfile="$W/ovsdb-server.pid" \
            --detach --no-chdir --log-file="$W/ovs/ovsdb-server.log" --unixctl="$W/ovs/ovsdb-server.ctl" \
            2>/dev/null
        ovs-vsctl --db="unix:$sock" --no-wait init
        [ "$1" = ovs-tso ] &&
            ovs-vsctl --db="unix:$sock" --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true
        OVS_RUNDIR=$W/ovs ip netns exec "$SW" ovs-vswitchd "unix:$sock" --pidfile="$W/ovs-vswitchd.pid" \
            --detach --no-chdir --log-file="$W/ovs/ovs-vswitchd.log" --unixctl="$W/ovs/ovs-vswitchd.ctl" \
            2>/dev/null
        ovs-vsctl --db="unix:$sock" --timeout=20 add-br br0 -- set bridge br0 datapath_type=netdev \
            -- add-port br0 pa -- add-port br0 pb || die "ovs: add-br"
        SWITCH_PID=$(cat "$W/ovs-vswitchd.pid")
        ;;
    bridge)
        ip -n "$SW" link add br0 type bridge stp_state 0
        ip -n "$SW" link set pa master br0
        ip -n "$SW" link set pb master br0
        ip -n "$SW" link set br0 up
        SWITCH_PID=
        ;;
    esac
}

cpu_ticks() { # utime+stime of the switch process, in clock ticks (0 for the kernel bridge)
    [ -n "$SWITCH_PID" ] || { echo 0; return; }
    awk '{print $14 + $15}' "/proc/$SWITCH_PID/stat" 2>/dev/null || echo 0
}
hz=$(getconf CLK_TCK)
cpu_pct() { # ticks_before ticks_after seconds
    python3 -c "print(round(($2 - $1) * 100 / $hz / $3))"
}
now() { date +%s.%N; }

cat >"$W/udp60.trafgen" <<EOF
{
  0x02, 0x98, 0x01, 0x00, 0x00, 0x02,
  0x02, 0x98, 0x01, 0x00, 0x00, 0x01,
  0x08, 0x00,
  0x45, 0x00, 0x00, 46, 0x00, 0x00, 0x40, 0x00, 64, 17, csumip(14, 33),
  10, 98, 1, 1,
  10, 98, 1, 200,
  0x04, 0x00, 0x04, 0x01, 0x00, 26, 0x00, 0x00,
  fill(0x00, 18)
}
EOF

rx_packets() { ip netns exec "$NSB" cat /sys/class/net/eth0/statistics/rx_packets; }
tx_packets() { ip netns exec "$NSA" cat /sys/class/net/eth0/statistics/tx_packets; }

measure() { # switch round
    local sw=$1 round=$2 c0 c1 t0 t1 r0 r1 o0 o1
    ip netns exec "$NSA" ping -n -c 3 -i 0.2 -W 2 "$IPB" >/dev/null || log "$sw: warm-up ping a->b failed"
    ip netns exec "$NSB" ping -n -c 3 -i 0.2 -W 2 "$IPA" >/dev/null || log "$sw: warm-up ping b->a failed"

    ip netns exec "$NSA" ping -n -c 200 -i 0.01 -W 1 "$IPB" >"$W/ping.out" 2>/dev/null
    python3 - "$sw" "$round" "$W/ping.out" >>"$RAW" <<'PY'
import re, sys
rtts = sorted(float(x) for x in re.findall(r"time=([0-9.]+) ms", open(sys.argv[3]).read()))
if rtts:
    avg = sum(rtts) / len(rtts) * 1000
    p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] * 1000
    print(f"{sys.argv[1]}\t{sys.argv[2]}\tping_avg_us\t{avg:.0f}")
    print(f"{sys.argv[1]}\t{sys.argv[2]}\tping_p99_us\t{p99:.0f}")
PY

    for streams in 1 2; do
        c0=$(cpu_ticks); t0=$(now)
        timeout 30 ip netns exec "$NSA" iperf3 -c "$IPB" -J -t "$T" -O 1 -P "$streams" >"$W/iperf.json" 2>/dev/null
        c1=$(cpu_ticks); t1=$(now)
        python3 - "$sw" "$round" "$streams" "$W/iperf.json" >>"$RAW" <<'PY'
import json, sys
try:
    bps = json.load(open(sys.argv[4]))["end"]["sum_received"]["bits_per_second"]
except Exception:
    bps = 0.0
print(f"{sys.argv[1]}\t{sys.argv[2]}\ttcp{sys.argv[3]}_gbps\t{bps / 1e9:.2f}")
PY
        [ "$streams" = 1 ] &&
            printf '%s\t%s\tcpu_tcp1_pct\t%s\n' "$sw" "$round" "$(cpu_pct "$c0" "$c1" "$(python3 -c "print($t1 - $t0)")")" >>"$RAW"
    done

    r0=$(rx_packets); o0=$(tx_packets); c0=$(cpu_ticks); t0=$(now)
    timeout -s INT "$T" ip netns exec "$NSA" trafgen -o eth0 -P 1 --no-sock-mem -Q -C -i "$W/udp60.trafgen" \
        >/dev/null 2>&1
    sleep 0.5
    r1=$(rx_packets); o1=$(tx_packets); c1=$(cpu_ticks); t1=$(now)
    python3 - "$sw" "$round" >>"$RAW" <<PY
import sys
secs = $t1 - $t0 - 0.5
print(f"{sys.argv[1]}\t{sys.argv[2]}\tpps_rx_k\t{($r1 - $r0) / secs / 1000:.0f}")
print(f"{sys.argv[1]}\t{sys.argv[2]}\tpps_offered_k\t{($o1 - $o0) / secs / 1000:.0f}")
PY
    printf '%s\t%s\tcpu_pps_pct\t%s\n' "$sw" "$round" "$(cpu_pct "$c0" "$c1" "$(python3 -c "print($t1 - $t0)")")" >>"$RAW"
}

mkdir -p "$OUT"
: >"$RAW"
log "work directory $W"
topology
for round in $(seq "$ROUNDS"); do
    for sw in $SWITCHES; do
        log "round $round: $sw"
        start_switch "$sw"
        measure "$sw" "$round"
        stop_switch
    done
done

python3 - "$RAW" "$SWITCHES" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    sw, _, metric, value = line.split("\t")
    rows[(sw, metric)].append(float(value))
switches = sys.argv[2].split()
metrics = ["ping_avg_us", "ping_p99_us", "tcp1_gbps", "tcp2_gbps", "pps_rx_k", "pps_offered_k",
           "cpu_tcp1_pct", "cpu_pps_pct"]
def med(sw, m):
    v = rows.get((sw, m))
    return statistics.median(v) if v else None
# Ratios within each offload setting, plus ferrovs with offloads against the Linux bridge
# with offloads (the baseline's B, the issue's TCP goal).
pairs = [(a, b) for a, b in [("fvs", "ovs"), ("fvs", "bridge"), ("fvs-tso", "ovs-tso"),
                             ("fvs-tso", "bridge-tso")] if a in switches and b in switches]
print("| figure | " + " | ".join(switches) + " | " + " | ".join(f"{a} / {b}" for a, b in pairs) + " |")
print("|---|" + "---|" * (len(switches) + len(pairs)))
for m in metrics:
    cells = []
    for sw in switches:
        v = rows.get((sw, m))
        cells.append(f"{statistics.median(v):g} [{min(v):g}–{max(v):g}]" if v else "–")
    ratios = []
    for a, b in pairs:
        x, y = med(a, m), med(b, m)
        ratios.append(f"{x / y:.2f}" if x is not None and y else "–")
    print(f"| {m} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
# On a shared machine the load changes between rounds more than within one: the ratio of two
# switches measured in the same round, median over rounds, is the steadier comparison.
byround = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    sw, rnd, metric, value = line.split("\t")
    byround[(metric, rnd)][sw] = float(value)
print()
print("| paired per round (median [min–max]) | " + " | ".join(f"{a} / {b}" for a, b in pairs) + " |")
print("|---|" + "---|" * len(pairs))
for m in metrics:
    cells = []
    for a, b in pairs:
        r = [v[a] / v[b] for (mm, _), v in byround.items() if mm == m and v.get(a) is not None and v.get(b)]
        cells.append(f"{statistics.median(r):.2f} [{min(r):.2f}–{max(r):.2f}]" if r else "–")
    print(f"| {m} | " + " | ".join(cells) + " |")
PY
