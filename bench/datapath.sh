#!/usr/bin/env bash
# Datapath benchmark, case C of the performance baseline: one bridge, NORMAL, two veth ports,
# with ferrovs (fvs-vswitchd), Open vSwitch 3.1's userspace datapath (datapath_type=netdev,
# AF_PACKET ports) and the Linux bridge as the switch, in one run, interleaved round by round.
#
#   sudo bench/datapath.sh                    # 3 rounds, 5 s per measurement, six cases
#   sudo ROUNDS=5 T=3 SWITCHES="fvs ovs" bench/datapath.sh
#   sudo SWITCHES="fvs-tso bridge-tso" bench/datapath.sh
#   sudo SWITCHES="fvs fvs-v3 fvs-mmsg" bench/datapath.sh   # ferrovs's receive paths
#   sudo SWITCHES="fvs fvs-2t ovs" bench/datapath.sh        # one datapath thread against two
#   sudo SWITCHES="fvs fvs-bp ovs" bench/datapath.sh        # without and with busy polling
#   sudo SWITCHES="fvs fvs-r1024 fvs-r256" bench/datapath.sh # receive ring sizes
#   sudo SWITCHES="fvs-tso fvs-hwoff-tso bridge-tso" bench/datapath.sh # kernel flow offload
#
# Topology (all inside namespaces this script owns, prefix fvsdp<pid>-): a (eth0 10.98.1.1)
# and b (eth0 10.98.1.2) are joined through sw, which holds the veth ends p1 and p2
# and the switch. Each switch is measured twice: as `fvs`, `ovs`, `bridge` the endpoints run
# with transmit checksum offload and TSO off, the baseline's case C (Open vSwitch without
# userspace TSO cannot carry GSO frames); as `fvs-tso`, `ovs-tso`, `bridge-tso` they keep the
# kernel's default offloads (TSO, checksum offload), Open vSwitch gets
# userspace-tso-enable=true (the baseline's C_tso) and the Linux bridge is the baseline's B;
# ferrovs carries the super-frames with virtio-net headers on its AF_PACKET ports.
# `fvs-v3` and `fvs-mmsg` (and their -tso variants) are ferrovs with another receive path on
# its ports (options:rx-path=tpacket-v3 or recvmmsg; the default is a TPACKET_V2 ring), to
# compare the receive paths in one run. `fvs-2t` (and `fvs-2t-tso`) is ferrovs with two
# datapath threads (other_config:pmd-cpu-mask=0x3: pinned to CPUs 0 and 1, one port each).
# `fvs-r<N>` (and `fvs-r<N>-tso`) is ferrovs with a TPACKET_V2 ring of N slots
# (options:rx-ring-slots=N) on both ports, to weigh the ring's memory against its rate.
# `fvs-bp` (and `fvs-bp-tso`) is ferrovs with busy polling after traffic
# (other_config:pmd-busy-poll=200, or PMD_BUSY_POLL µs; the default is off).
# `fvs-hwoff` (and `fvs-hwoff-tso`) is ferrovs with other_config:hw-offload=true: the warm-up
# ping's megaflows (one plain output between the two system ports) are forwarded by tc u32
# filters with a mirred redirect, so measured traffic mostly never reaches the datapath thread.
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
# Only processes this script started are stopped, each by its own pidfile; the namespaces it
# added (named with its pid, so runs at once do not meet; every device lives inside them) are
# deleted on exit, whatever ends it: the last round, an error, Ctrl-C or SIGTERM.
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

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
require_root "namespaces, veth pairs, AF_PACKET"
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
require_tools "iproute2 ethtool iperf3 iputils-ping netsniff-ng openvswitch-switch python3" \
    ip ethtool iperf3 ping trafgen ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl python3
(cd "$root" && cargo build --quiet --release -p fvs-vswitchd --bins) || die "build failed"
FVS=$target/release/fvs-vswitchd

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
    del_netns
    [ "$OUT" = "$W" ] || rm -rf "$W"
}
on_exit cleanup

topology() {
    for ns in "$NSA" "$NSB" "$SW"; do add_netns "$ns"; done
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
    fvs | fvs-v3 | fvs-mmsg | fvs-2t | fvs-bp | fvs-hwoff | fvs-r[0-9]*)
        local rx=tpacket-v2 mask= slots= bp= hwoff=
        [ "${1%-tso}" = fvs-hwoff ] && hwoff=true
        [ "${1%-tso}" = fvs-bp ] && bp=${PMD_BUSY_POLL:-200}
        [ "${1%-tso}" = fvs-v3 ] && rx=tpacket-v3
        [ "${1%-tso}" = fvs-mmsg ] && rx=recvmmsg
        [ "${1%-tso}" = fvs-2t ] && mask=0x3
        case ${1%-tso} in fvs-r[0-9]*) slots=" options:rx-ring-slots=${1#fvs-r}" slots=${slots%-tso} ;; esac
        mkdir -p "$W/fvs"
        FVS_RUNDIR=$W/fvs FVS_DBDIR=$W/fvs FVS_LOGDIR=$W/fvs ip netns exec "$SW" "$FVS" \
            --detach --pidfile="$W/fvs.pid" --log-file="$W/fvs/fvs-vswitchd.log"
        wait_file "$W/fvs/db.sock"
        ovs-vsctl --db="unix:$W/fvs/db.sock" --timeout=20 add-br br0 \
            -- add-port br0 pa -- set interface pa options:rx-path=$rx$slots \
            -- add-port br0 pb -- set interface pb options:rx-path=$rx$slots || die "fvs: add-br"
        [ -z "$bp" ] || ovs-vsctl --db="unix:$W/fvs/db.sock" set Open_vSwitch . \
            other_config:pmd-busy-poll="$bp" || die "fvs: pmd-busy-poll"
        [ -z "$hwoff" ] || ovs-vsctl --db="unix:$W/fvs/db.sock" set Open_vSwitch . \
            other_config:hw-offload=true || die "fvs: hw-offload"
        if [ -n "$mask" ]; then
            ovs-vsctl --db="unix:$W/fvs/db.sock" set Open_vSwitch . other_config:pmd-cpu-mask=$mask
            # Applied before ovs-vsctl returns; the loop only guards against a thread that
            # did not start.
            local i
            for i in $(seq 100); do
                [ "$(ovs-appctl -t "$W/fvs/fvs-vswitchd.ctl" dpif-netdev/pmd-rxq-show 2>/dev/null |
                    grep -c '  port: ')" = 2 ] &&
                    ovs-appctl -t "$W/fvs/fvs-vswitchd.ctl" dpif-netdev/pmd-rxq-show 2>/dev/null |
                    grep -q 'core_id 1:' && break
                sleep 0.1
            done
            [ "$i" = 100 ] && die "fvs: the datapath threads did not start"
        fi
        BENCH_PIDS=$(cat "$W/fvs.pid")
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
        BENCH_PIDS=$(cat "$W/ovs-vswitchd.pid")
        ;;
    bridge)
        ip -n "$SW" link add br0 type bridge stp_state 0
        ip -n "$SW" link set pa master br0
        ip -n "$SW" link set pb master br0
        ip -n "$SW" link set br0 up
        BENCH_PIDS=
        ;;
    esac
}

write_udp60_trafgen "$W/udp60.trafgen" "$MACB" "$MACA" "$IPA" 10.98.1.200

measure() { # switch round
    bench_ping "$1" "$2" "$NSA" "$IPA" "$NSB" "$IPB"
    bench_tcp "$1" "$2" "$NSA" "$IPB"
    bench_pps "$1" "$2" "$NSA" "$NSB" "$W/udp60.trafgen"
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
                             ("fvs-tso", "bridge-tso"), ("fvs", "fvs-mmsg"),
                             ("fvs-v3", "fvs-mmsg"), ("fvs-tso", "fvs-mmsg-tso"),
                             ("fvs-v3-tso", "fvs-mmsg-tso"), ("fvs-2t", "fvs"),
                             ("fvs-2t-tso", "fvs-tso"), ("fvs-2t", "ovs"),
                             ("fvs-bp", "fvs"), ("fvs-bp-tso", "fvs-tso"),
                             ("fvs-bp", "ovs"), ("fvs-hwoff", "fvs"),
                             ("fvs-hwoff-tso", "fvs-tso"), ("fvs-hwoff", "bridge"),
                             ("fvs-hwoff-tso", "bridge-tso")]
         if a in switches and b in switches]
# Each ring size against the default ring, within its offload setting.
pairs += [(sw, "fvs-tso" if sw.endswith("-tso") else "fvs") for sw in switches
          if sw.startswith("fvs-r") and ("fvs-tso" if sw.endswith("-tso") else "fvs") in switches]
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
