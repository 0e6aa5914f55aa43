#!/usr/bin/env bash
# Tunnel benchmark, case D of the performance baseline: the seed's two-host network (br-int
# with a VM port on tag 1, br-tun with the seed's flows, a GRE, VXLAN or Geneve tunnel
# between the hosts), with ferrovs (fvs-vswitchd) and Open vSwitch 3.1's userspace datapath
# as the switches, in one run, interleaved round by round.
#
#   sudo bench/tunnels.sh                     # 3 rounds, 5 s per measurement
#   sudo ROUNDS=5 T=3 SWITCHES="fvs ovs" bench/tunnels.sh
#   sudo FVS_OFFLOADS=1 bench/tunnels.sh       # ferrovs's VMs keep TSO and checksum offload
#   sudo FVS0=/path/to/old/fvs-vswitchd SWITCHES="fvs0 fvs ovs" bench/tunnels.sh
#                                              # a second fvs-vswitchd binary as "fvs0"
#   sudo PROTO=vxlan bench/tunnels.sh          # the tunnel: gre (default), vxlan or geneve
#   sudo SWITCHES="fvs fvsphy ovs" bench/tunnels.sh  # ferrovs's native tunnels too
#   sudo SWITCHES="fvsphy fvsphy-hw ovs" bench/tunnels.sh  # and with kernel offload
#   sudo UNDERLAY_RPS=3 bench/tunnels.sh       # host tuning: RPS on the underlay (CPU mask)
#   sudo RPS_DEVS=ha:vm RPS_MASK=2 TRAFGEN_OPTS="-t 0" bench/tunnels.sh
#                                              # host tuning: RPS on host a's VM port to CPU 1,
#                                              # the blast's generator in sendto(2) mode
#
# Topology (namespaces this script owns, prefix fvstn<pid>-): hosts ha and hb joined
# by a veth underlay (eth1, tunnel addresses 10.97.0.1 and 10.97.0.2); VMs a (eth0
# 10.97.1.1) on host a and b (eth0 10.97.1.2) on host b, each a veth into br-int (port
# vm, tag 1), MTU 1450, transmit checksum offload and TSO off (neither switch carries GSO
# frames through a tunnel; FVS_OFFLOADS=1 leaves them on in ferrovs's rounds, whose datapath
# segments TSO super-frames itself before encapsulating). Each host runs its own switch:
#   fvs  fvs-vswitchd; the tunnel address on eth1, the outer packets through the host's
#        IP stack (fvs-netdev's kernel-stack underlay).
#   ovs  ovs-vswitchd with datapath_type=netdev; eth1 in br-phy, the tunnel address on
#        br-phy's internal port and the neighbour pinned with tnl/arp/set, as Open vSwitch's
#        userspace tunnels need.
#   fvsphy  fvs-vswitchd laid out exactly as ovs (eth1 in br-phy, the address on br-phy's
#        internal port): its tunnels are native (encapsulated into br-phy, never through the
#        host's IP stack); the neighbour is not pinned but learned from ARP (the warm-up).
#   linux  no switch: a Linux bridge with the VM port and a gretap/vxlan/geneve device (key or
#        VNI 1), the kernel's own way over these devices, as a reference.
#   fvsphy-hw  fvsphy with other_config:hw-offload=true: the tunnel's megaflow pairs become
#        eBPF filters that push and strip the outer headers in the kernel; a second warm-up
#        ping, then a revalidation pass installs them.
# Both: br-int (secure) with `priority=1 actions=NORMAL`; br-tun (secure) with patch-int as
# port 1, $PROTO-<remote hex> as port 2 (type $PROTO; remote_ip, local_ip, in_key=flow,
# out_key=flow, df_default=true, as Neutron configures its tunnel ports) and the seed's flows
# verbatim (examples/seed/br-tun.flows). VXLAN and Geneve use their standard UDP ports.
#
# Per switch and round, after a warm-up ping both ways (ARP, MAC learning, br-tun learning):
#   ping      200 echo requests 10 ms apart, VM a to VM b: average and 99th percentile (µs)
#   tcp1/2    iperf3 -t T -O 1 with 1 and 2 streams: received Gbit/s
#   udp64     iperf3 -u -l 64 -b 0: datagrams received per second (kpps) and the share lost
#   pps       trafgen blasting 60-byte UDP frames from VM a to a non-local address behind
#             VM b: frames VM b received per second (kpps), and offered kpps
#   cpu       both switch processes' CPU (utime+stime, % of one core) during tcp1 and pps
# Prints median [min-max] per figure and the ratio ferrovs / Open vSwitch. Raw rows go to
# $OUT/tunnels-raw.tsv.
#
# Only processes this script started are stopped, each by its own pidfile; the namespaces it
# added (named with its pid, so runs at once do not meet; every device lives inside them) are
# deleted on exit, whatever ends it: the last round, an error, Ctrl-C or SIGTERM.
set -uo pipefail

ROUNDS=${ROUNDS:-3}
T=${T:-5}
SWITCHES=${SWITCHES:-"fvs ovs"}
PROTO=${PROTO:-gre}
case $PROTO in gre|vxlan|geneve) ;; *) echo "PROTO must be gre, vxlan or geneve, not $PROTO" >&2; exit 2 ;; esac
P=fvstn$$-
HA=${P}ha HB=${P}hb VA=${P}a VB=${P}b
TUN_A=10.97.0.1 TUN_B=10.97.0.2
IPA=10.97.1.1 IPB=10.97.1.2
MACA=02:97:01:00:00:01 MACB=02:97:01:00:00:02
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
FLOWS=$root/examples/seed/br-tun.flows
W=$(mktemp -d /tmp/fvstn.XXXXXX)
OUT=${OUT:-$W}
RAW=$OUT/tunnels-raw.tsv

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
require_root "namespaces, veth pairs, raw sockets"
require_tools "iproute2 ethtool iperf3 iputils-ping netsniff-ng openvswitch-switch" \
    ip ethtool iperf3 ping trafgen ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl ovs-appctl python3
(cd "$root" && cargo build --quiet --release -p fvs-vswitchd -p fvs-cli --bins) || die "build failed"
FVS=$target/release/fvs-vswitchd
FVS_OFCTL=$target/release/fvs-ofctl
# A second ferrovs to compare with (SWITCHES="fvs0 fvs ovs"): an older build, say.
FVS0=${FVS0:-$FVS}

stop_switches() {
    for h in a b; do
        stop_pidfile "$W/$h/fvs.pid"
        stop_pidfile "$W/$h/ovs-vswitchd.pid"
        stop_pidfile "$W/$h/ovsdb-server.pid"
    done
    rm -rf "$W/a" "$W/b"
}

cleanup() {
    stop_pidfile "$W/iperf3.pid"
    stop_switches
    del_netns
    [ "$OUT" = "$W" ] || rm -rf "$W"
}
on_exit cleanup

# Fresh namespaces per switch ($1): ovs and fvsphy move eth1 into br-phy, fvs does not.
topology() {
    del_netns
    for ns in "$HA" "$HB" "$VA" "$VB"; do
        add_netns "$ns"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    done
    ip -n "$HA" link add eth1 type veth peer name eth1 netns "$HB"
    ip -n "$HA" link set eth1 up
    ip -n "$HB" link set eth1 up
    if [ -n "${UNDERLAY_RPS:-}" ]; then
        # Host tuning, for every switch alike: receive packet steering on the underlay, so
        # a host's receive work may run on another CPU than the sender's.
        for ns in "$HA" "$HB"; do
            ip netns exec "$ns" sh -c "echo $UNDERLAY_RPS > /sys/class/net/eth1/queues/rx-0/rps_cpus" ||
                die "rps_cpus"
        done
    fi
    local host vm mac addr
    for side in a b; do
        if [ $side = a ]; then host=$HA vm=$VA mac=$MACA addr=$IPA; else host=$HB vm=$VB mac=$MACB addr=$IPB; fi
        ip -n "$host" link add vm type veth peer name eth0 netns "$vm"
        ip -n "$host" link set vm up
        ip -n "$vm" link set eth0 address "$mac" mtu 1450
        ip -n "$vm" addr add "$addr/24" dev eth0
        ip -n "$vm" link set eth0 up
        [ "${1#fvs}" != "$1" ] && [ -n "${FVS_OFFLOADS:-}" ] ||
            ip netns exec "$vm" ethtool -K eth0 tx off tso off >/dev/null 2>&1
    done
    if [ -n "${RPS_DEVS:-}" ]; then
        # Host tuning, for every switch alike: RPS on the named devices (NS:DEV, NS one of
        # ha, hb, a, b), e.g. ha:vm with mask 2 moves everything after VM a's first veth hop
        # off the sender's CPU.
        local nd ns dev
        for nd in $RPS_DEVS; do
            ns=$P${nd%%:*} dev=${nd#*:}
            ip netns exec "$ns" sh -c "echo ${RPS_MASK:-3} > /sys/class/net/$dev/queues/rx-0/rps_cpus" || die "rps $dev"
        done
    fi
    ip netns exec "$VB" iperf3 -s -D -B "$IPB" --pidfile "$W/iperf3.pid" >/dev/null 2>&1
}

hexip() { printf '%02x' ${1//./ }; }

# br-int and br-tun on one host through `vsctl` (a function), flows through `ofctl BRIDGE`.
seed_host() { # local remote
    local tun
    tun=$PROTO-$(hexip "$2")
    vsctl add-br br-int -- set bridge br-int fail_mode=secure $DPTYPE \
        -- add-port br-int patch-tun -- set interface patch-tun type=patch options:peer=patch-int \
        -- add-port br-int vm tag=1 || die "add br-int"
    vsctl add-br br-tun -- set bridge br-tun fail_mode=secure $DPTYPE \
        -- add-port br-tun patch-int -- set interface patch-int type=patch options:peer=patch-tun \
        ofport_request=1 || die "add br-tun"
    vsctl add-port br-tun "$tun" -- set interface "$tun" type="$PROTO" ofport_request=2 \
        options:df_default=true options:in_key=flow options:local_ip="$1" options:out_key=flow \
        options:remote_ip="$2" || die "add $tun"
    ofctl br-int add-flow "priority=1 actions=NORMAL" || die "br-int flows"
    ofctl br-tun add-flows "$FLOWS" || die "br-tun flows"
}

# Open vSwitch's userspace-tunnel layout through `vsctl`: eth1 in br-phy (MAC
# 02:97:00:00:00:01 on host a, :02 on b) and the tunnel address on br-phy's internal port.
br_phy() { # host local side [bridge settings...]
    local host=$1 local=$2 side=$3
    shift 3
    vsctl add-br br-phy -- set bridge br-phy "$@" \
        other_config:hwaddr=02:97:00:00:00:0$([ "$side" = a ] && echo 1 || echo 2) \
        -- add-port br-phy eth1 || die "add br-phy"
    ip -n "$host" addr add "$local/24" dev br-phy
    ip -n "$host" link set br-phy up
}

start_host() { # switch side
    local sw=$1 side=$2 host local remote d
    if [ "$side" = a ]; then host=$HA local=$TUN_A remote=$TUN_B; else host=$HB local=$TUN_B remote=$TUN_A; fi
    d=$W/$side
    mkdir -p "$d"
    case $sw in
    fvs|fvs0|fvsphy|fvsphy-hw)
        local bin=$FVS
        [ "$sw" = fvs0 ] && bin=$FVS0
        [ "${sw%-hw}" = fvsphy ] || ip -n "$host" addr add "$local/24" dev eth1
        FVS_RUNDIR=$d FVS_DBDIR=$d FVS_LOGDIR=$d ip netns exec "$host" "$bin" \
            --detach --pidfile="$d/fvs.pid" --log-file="$d/fvs-vswitchd.log"
        wait_file "$d/db.sock"
        vsctl() { ovs-vsctl --db="unix:$d/db.sock" --timeout=20 "$@"; }
        ofctl() { local br=$1; shift; FVS_RUNDIR=$d "$FVS_OFCTL" "$1" "$br" "${@:2}"; }
        DPTYPE=
        [ "${sw%-hw}" = fvsphy ] && br_phy "$host" "$local" "$side"
        seed_host "$local" "$remote"
        [ "$sw" = fvsphy-hw ] && { vsctl set Open_vSwitch . other_config:hw-offload=true || die "hw-offload"; }
        BENCH_PIDS="$BENCH_PIDS $(cat "$d/fvs.pid")"
        ;;
    linux)
        # No switch: the kernel's own bridge and tunnel device ($PROTO, key/VNI 1, the first
        # network's), a reference for what any switch on these veth devices can reach.
        ip -n "$host" addr add "$local/24" dev eth1
        case $PROTO in
        gre) ip -n "$host" link add name ktun type gretap local "$local" remote "$remote" key 1 ;;
        vxlan) ip -n "$host" link add name ktun type vxlan id 1 local "$local" remote "$remote" dstport 4789 ;;
        geneve) ip -n "$host" link add name ktun type geneve id 1 remote "$remote" ;;
        esac || die "linux: this kernel has no $PROTO device"
        ip -n "$host" link add name kbr type bridge || die "linux: bridge"
        ip -n "$host" link set ktun master kbr
        ip -n "$host" link set vm master kbr
        ip -n "$host" link set ktun up
        ip -n "$host" link set kbr up
        ;;
    ovs)
        local sock=$d/db.sock
        ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema
        ovsdb-server "$d/conf.db" --remote="punix:$sock" --pidfile="$d/ovsdb-server.pid" \
            --detach --no-chdir --log-file="$d/ovsdb-server.log" --unixctl="$d/ovsdb-server.ctl" 2>/dev/null
        ovs-vsctl --db="unix:$sock" --no-wait init
        OVS_RUNDIR=$d ip netns exec "$host" ovs-vswitchd "unix:$sock" --pidfile="$d/ovs-vswitchd.pid" \
            --detach --no-chdir --log-file="$d/ovs-vswitchd.log" --unixctl="$d/ovs-vswitchd.ctl" 2>/dev/null
        vsctl() { ovs-vsctl --db="unix:$sock" --timeout=20 "$@"; }
        ofctl() { local br=$1; shift; ovs-ofctl "$1" "unix:$d/$br.mgmt" "${@:2}"; }
        DPTYPE="datapath_type=netdev"
        br_phy "$host" "$local" "$side" datapath_type=netdev
        seed_host "$local" "$remote"
        BENCH_PIDS="$BENCH_PIDS $(cat "$d/ovs-vswitchd.pid")"
        ;;
    esac
}

start_switch() {
    BENCH_PIDS=
    topology "$1"
    start_host "$1" a
    start_host "$1" b
    if [ "$1" = ovs ]; then
        ovs-appctl -t "$W/a/ovs-vswitchd.ctl" tnl/arp/set br-phy "$TUN_B" 02:97:00:00:00:02 >/dev/null
        ovs-appctl -t "$W/b/ovs-vswitchd.ctl" tnl/arp/set br-phy "$TUN_A" 02:97:00:00:00:01 >/dev/null
    fi
}

write_udp60_trafgen "$W/udp60.trafgen" "$MACB" "$MACA" "$IPA" 10.97.1.200

measure() { # switch round
    if [ "$1" = fvsphy-hw ]; then
        # Megaflows both ways, then a revalidation pass to turn them into filters.
        ip netns exec "$VA" ping -n -c 3 -i 0.2 -W 2 "$IPB" >/dev/null || log "$1: warm-up failed"
        ip netns exec "$VB" ping -n -c 3 -i 0.2 -W 2 "$IPA" >/dev/null || log "$1: warm-up failed"
        sleep 0.5
    fi
    bench_ping "$1" "$2" "$VA" "$IPA" "$VB" "$IPB"
    bench_tcp "$1" "$2" "$VA" "$IPB"
    bench_udp64 "$1" "$2" "$VA" "$IPB"
    bench_pps "$1" "$2" "$VA" "$VB" "$W/udp60.trafgen"
}

mkdir -p "$OUT"
: >"$RAW"
log "work directory $W, tunnel $PROTO"
for round in $(seq "$ROUNDS"); do
    for sw in $SWITCHES; do
        log "round $round: $sw"
        start_switch "$sw"
        measure "$sw" "$round"
        stop_pidfile "$W/iperf3.pid"
        stop_switches
    done
done

python3 - "$RAW" "$SWITCHES" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    sw, _, metric, value = line.split("\t")
    rows[(sw, metric)].append(float(value))
switches = sys.argv[2].split()
metrics = ["ping_avg_us", "ping_p99_us", "tcp1_gbps", "tcp2_gbps", "udp64_rx_kpps", "udp64_loss_pct",
           "pps_rx_k", "pps_offered_k", "cpu_tcp1_pct", "cpu_pps_pct"]
ours = [sw for sw in switches if (sw.startswith("fvs") or sw == "linux") and "ovs" in switches]
print("| figure | " + " | ".join(switches) + "".join(f" | {sw}/ovs" for sw in ours) + " |")
print("|---|" + "---|" * (len(switches) + len(ours)))
for m in metrics:
    cells = []
    for sw in switches:
        v = rows.get((sw, m))
        cells.append(f"{statistics.median(v):g} [{min(v):g}–{max(v):g}]" if v else "–")
    b = rows.get(("ovs", m))
    ratios = []
    for sw in ours:
        a = rows.get((sw, m))
        ratios.append(f"{statistics.median(a) / statistics.median(b):.2f}" if a and b and statistics.median(b) else "–")
    print(f"| {m} | " + " | ".join(cells + ratios) + " |")
PY
