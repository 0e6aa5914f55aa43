# Shared by the benchmark scripts (bench/*.sh), which source it: logging, the root and tool
# checks, stopping daemons by their own pidfiles, CPU accounting of the switch processes, and
# the measurements every datapath benchmark takes between two namespaces (ping latency, iperf3
# TCP and UDP, trafgen packet rate), each appending rows `SWITCH<TAB>ROUND<TAB>FIGURE<TAB>VALUE`
# to "$RAW".
#
# The caller sets before measuring:
#   RAW          the raw rows file
#   W            its private work directory (scratch files)
#   T            seconds per iperf3/trafgen measurement
#   BENCH_PIDS   the switch processes whose CPU is counted (empty: the kernel's own bridge,
#                which has no process; its CPU reads as 0)
#
# Processes are only ever stopped by pids from pidfiles the scripts wrote, never by name;
# namespaces are named with the script's pid and only those the run added are deleted. Every
# function returns success unless it says otherwise, so scripts may run under `set -e`.
# shellcheck shell=bash

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "${0##*/}: $*"; exit 1; }

require_root() { # why
    [ "$(id -u)" = 0 ] || die "run as root ($1)"
}

# require_tools "apt-get install hint" tool...
require_tools() {
    local hint=$1 tool
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool missing (apt-get install $hint)"
    done
}

# Stops the process whose pid is in FILE (SIGTERM, then SIGKILL after 2 s) and removes FILE.
stop_pidfile() {
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null)
    rm -f "$f"
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

# Namespaces this run added (add_netns), the only ones del_netns deletes: two runs at once
# never touch each other's, and a leftover namespace of a dead run is never taken over.
BENCH_NETNS=()

add_netns() { # name: adds it (with lo up) or dies if it exists
    ip netns add "$1" 2>/dev/null || die "cannot add namespace $1 (left by an earlier run? ip netns del $1)"
    BENCH_NETNS+=("$1")
    ip -n "$1" link set lo up
}

del_netns() { # deletes every namespace add_netns added, and with them their devices
    local ns
    for ns in "${BENCH_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    BENCH_NETNS=()
}

# Runs the function named $1 when the script exits, however it exits: normally, by `die`, or
# on Ctrl-C (SIGINT), SIGTERM or SIGHUP, which end the script with 128 + the signal's number.
# A signal that arrives while a command runs in the foreground takes effect when that command
# ends (bash runs traps between commands; every measurement is bounded by T or a timeout).
# The cleanup itself ignores further signals, so a second Ctrl-C cannot cut it short.
on_exit() { # cleanup_function
    # shellcheck disable=SC2064 # the function's name is fixed now, on purpose
    trap "trap '' INT TERM HUP; $1" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

wait_file() { # path: waits up to 10 s for it to exist
    for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
    die "$1 never appeared"
}

now() { date +%s.%N; }

# utime+stime of $BENCH_PIDS, in clock ticks.
cpu_ticks() {
    local t=0 p
    for p in ${BENCH_PIDS:-}; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
BENCH_HZ=$(getconf CLK_TCK)
cpu_pct() { # ticks_before ticks_after seconds: % of one core
    python3 -c "print(round(($2 - $1) * 100 / $BENCH_HZ / $3))"
}
elapsed() { python3 -c "print($2 - $1)"; } # t0 t1

row() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; } # switch round figure value

# A trafgen configuration in FILE: one 60-byte UDP frame DST_MAC <- SRC_MAC, SRC_IP -> DST_IP,
# port 1024 -> 1025. MACs as 02:98:01:00:00:02, addresses dotted.
write_udp60_trafgen() { # file dst_mac src_mac src_ip dst_ip
    local dst=0x${2//:/, 0x} src=0x${3//:/, 0x} sip=${4//./, } dip=${5//./, }
    cat >"$1" <<EOF
{
  $dst,
  $src,
  0x08, 0x00,
  0x45, 0x00, 0x00, 46, 0x00, 0x00, 0x40, 0x00, 64, 17, csumip(14, 33),
  $sip,
  $dip,
  0x04, 0x00, 0x04, 0x01, 0x00, 26, 0x00, 0x00,
  fill(0x00, 18)
}
EOF
}

# A warm-up ping both ways (ARP, MAC learning), then 200 echo requests 10 ms apart from NS_A:
# ping_avg_us and ping_p99_us.
bench_ping() { # switch round ns_a ip_a ns_b ip_b
    local sw=$1 round=$2
    ip netns exec "$3" ping -n -c 3 -i 0.2 -W 2 "$6" >/dev/null || log "$sw: warm-up ping a->b failed"
    ip netns exec "$5" ping -n -c 3 -i 0.2 -W 2 "$4" >/dev/null || log "$sw: warm-up ping b->a failed"
    ip netns exec "$3" ping -n -c 200 -i 0.01 -W 1 "$6" >"$W/ping.out" 2>/dev/null || true
    python3 - "$sw" "$round" "$W/ping.out" >>"$RAW" <<'PY'
import re, sys
rtts = sorted(float(x) for x in re.findall(r"time=([0-9.]+) ms", open(sys.argv[3]).read()))
if rtts:
    avg = sum(rtts) / len(rtts) * 1000
    p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] * 1000
    print(f"{sys.argv[1]}\t{sys.argv[2]}\tping_avg_us\t{avg:.0f}")
    print(f"{sys.argv[1]}\t{sys.argv[2]}\tping_p99_us\t{p99:.0f}")
PY
}

# iperf3 -t T -O 1 with 1 and 2 streams from NS to the server at SERVER_IP: tcp1_gbps,
# tcp2_gbps received, and the switches' CPU during the single stream, cpu_tcp1_pct.
bench_tcp() { # switch round ns server_ip
    local sw=$1 round=$2 streams c0 c1 t0 t1
    for streams in 1 2; do
        c0=$(cpu_ticks); t0=$(now)
        timeout 30 ip netns exec "$3" iperf3 -c "$4" -J -t "$T" -O 1 -P "$streams" >"$W/iperf.json" 2>/dev/null || true
        c1=$(cpu_ticks); t1=$(now)
        python3 - "$sw" "$round" "$streams" "$W/iperf.json" >>"$RAW" <<'PY'
import json, sys
try:
    bps = json.load(open(sys.argv[4]))["end"]["sum_received"]["bits_per_second"]
except Exception:
    bps = 0.0
print(f"{sys.argv[1]}\t{sys.argv[2]}\ttcp{sys.argv[3]}_gbps\t{bps / 1e9:.2f}")
PY
        if [ "$streams" = 1 ]; then
            row "$sw" "$round" cpu_tcp1_pct "$(cpu_pct "$c0" "$c1" "$(elapsed "$t0" "$t1")")"
        fi
    done
}

# iperf3 -u -l 64 -b 0 from NS to SERVER_IP: udp64_rx_kpps received and udp64_loss_pct.
bench_udp64() { # switch round ns server_ip
    timeout 30 ip netns exec "$3" iperf3 -c "$4" -J -t "$T" -O 1 -u -l 64 -b 0 >"$W/udp.json" 2>/dev/null || true
    python3 - "$1" "$2" "$W/udp.json" >>"$RAW" <<'PY'
import json, sys
# Received datagrams from the receiver's byte count (64 bytes each): with -O the packet and
# loss counters mix the omitted second in and can exceed 100 %.
try:
    end = json.load(open(sys.argv[3]))["end"]
    rx = end["sum_received"]["bytes"] / 64
    tx = end["sum_sent"]["bytes"] / 64
    pps = rx / end["sum_received"]["seconds"]
    loss = 100 * (1 - rx / tx) if tx else 100.0
except Exception:
    pps, loss = 0.0, 100.0
print(f"{sys.argv[1]}\t{sys.argv[2]}\tudp64_rx_kpps\t{pps / 1000:.0f}")
print(f"{sys.argv[1]}\t{sys.argv[2]}\tudp64_loss_pct\t{loss:.0f}")
PY
}

# trafgen blasting TRAFGEN_FILE out of NS_TX's eth0 for T seconds: frames NS_RX's eth0
# received per second (pps_rx_k), frames offered (pps_offered_k), and the switches' CPU
# meanwhile (cpu_pps_pct). TRAFGEN_OPTS adds options: "-t 0" sends with sendto(2) instead of
# the TX_RING, which stalls (a few kpps) when the frames' skbs are freed on another CPU.
bench_pps() { # switch round ns_tx ns_rx trafgen_file
    local sw=$1 round=$2 c0 c1 t0 t1 r0 r1 o0 o1
    local rx=/sys/class/net/eth0/statistics/rx_packets tx=/sys/class/net/eth0/statistics/tx_packets
    r0=$(ip netns exec "$4" cat "$rx"); o0=$(ip netns exec "$3" cat "$tx"); c0=$(cpu_ticks); t0=$(now)
    timeout -s INT "$T" ip netns exec "$3" trafgen -o eth0 -P 1 --no-sock-mem -Q -C ${TRAFGEN_OPTS:-} -i "$5" >/dev/null 2>&1 || true
    sleep 0.5
    r1=$(ip netns exec "$4" cat "$rx"); o1=$(ip netns exec "$3" cat "$tx"); c1=$(cpu_ticks); t1=$(now)
    python3 - "$sw" "$round" >>"$RAW" <<PY
import sys
secs = $t1 - $t0 - 0.5
print(f"{sys.argv[1]}\t{sys.argv[2]}\tpps_rx_k\t{($r1 - $r0) / secs / 1000:.0f}")
print(f"{sys.argv[1]}\t{sys.argv[2]}\tpps_offered_k\t{($o1 - $o0) / secs / 1000:.0f}")
PY
    row "$sw" "$round" cpu_pps_pct "$(cpu_pct "$c0" "$c1" "$(elapsed "$t0" "$t1")")"
}
