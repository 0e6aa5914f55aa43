#!/usr/bin/env bash
# Configuration database benchmark: ferrovs side by side with Open vSwitch, in one run.
#
#   bench/ovsdb.sh            # 3 rounds, 5 s per transaction measurement
#   ROUNDS=5 TXN_SECONDS=3 bench/ovsdb.sh
#
# Per round, interleaved so that both implementations see the same machine load:
#   (a) committed transactions/s and latency with 1 and 16 clients (the txn_load example of
#       fvs-ovsdb-server, a 50/50 insert/update mix) against fvs-ovsdb-server and against
#       Open vSwitch's ovsdb-server, both serving ferrovs's copy of the Open_vSwitch schema,
#       each from a fresh database;
#   (b) the time to create 1,000 ports on a fresh bridge (100 add-port per vsctl call, chained
#       with "--"), then the time of one more add-port on that bridge: fvs-vsctl against
#       fvs-vswitchd --enable-dummy, ovs-vsctl against ovs-vswitchd --enable-dummy=override
#       --disable-system (its own ovsdb-server with Debian's schema). Both vsctl wait for the
#       switch to apply the change (no --no-wait), as an agent's call does. Wall clock, and
#       the CPU time the daemons and vsctl spent (which other load on the machine does not
#       inflate).
# Prints median [min-max] per measurement and the ratio of medians (ferrovs / Open vSwitch).
#
# Everything lives in one private temporary directory; only the daemons this script started
# are stopped, each by its own pidfile; the directory is removed on exit.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
TXN_SECONDS=${TXN_SECONDS:-5}
PORTS=1000
BATCH=100

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
require_tools openvswitch-switch ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl
(cd "$root" &&
    cargo build --quiet --release -p fvs-ovsdb-server --bin fvs-ovsdb-server --example txn_load &&
    cargo build --quiet --release -p fvs-vswitchd --bin fvs-vswitchd &&
    cargo build --quiet --release -p fvs-vsctl --bin fvs-vsctl)
bin=$target/release
fvs_schema=$root/crates/vsctl/schema/vswitch.ovsschema
ovs_schema=/usr/share/openvswitch/vswitch.ovsschema

# Short path: unix socket paths must fit in 108 bytes.
work=$(mktemp -d "${TMPDIR:-/tmp}/fvs-bench.XXXXXX")
results=$work/results
mkdir "$results"
pidfiles=()

cleanup() {
    for p in "${pidfiles[@]}"; do stop_pidfile "$p"; done
    rm -rf "$work"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# CPU time (user + system, ms) of the processes named by PIDFILEs, from /proc: unlike wall
# clock it does not grow with other people's load on a shared machine.
cpu_ms() { # cpu_ms PIDFILE...
    local total=0 f pid tck
    tck=$(getconf CLK_TCK)
    for f in "$@"; do
        pid=$(cat "$f")
        total=$((total + $(awk -v t="$tck" '{ printf "%d", ($14 + $15) * 1000 / t }' "/proc/$pid/stat")))
    done
    echo "$total"
}
# CPU time (ms) of this shell's finished children (the vsctl runs), from `times`.
children_cpu_ms() {
    times | awk 'NR == 2 {
        split($1, u, /[ms]/); split($2, s, /[ms]/)
        printf "%d", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000 }'
}
record() { echo "$3" >>"$results/$1.$2"; } # record METRIC IMPL VALUE

# ---- (a) transactions/s ---------------------------------------------------------------------

txn_server() { # txn_server fvs|ovs DIR: a fresh server on DIR/db.sock.
    local d=$2
    mkdir -p "$d"
    if [ "$1" = fvs ]; then
        "$bin/fvs-ovsdb-server" --db "$d/conf.db" --schema "$fvs_schema" \
            --remote "punix:$d/db.sock" --pidfile "$d/server.pid" 2>"$d/server.log" &
    else
        ovsdb-tool create "$d/conf.db" "$fvs_schema"
        ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --pidfile="$d/server.pid" \
            --unixctl="$d/server.ctl" -vconsole:off --log-file="$d/server.log" --no-chdir --detach
    fi
    pidfiles+=("$d/server.pid")
    wait_file "$d/db.sock"
    wait_file "$d/server.pid"
}

txn_run() { # txn_run fvs|ovs CLIENTS ROUND
    local d=$work/txn-$1-$2-$3 line
    txn_server "$1" "$d"
    line=$("$bin/examples/txn_load" --socket "$d/db.sock" --clients "$2" --seconds "$TXN_SECONDS")
    stop_pidfile "$d/server.pid"
    echo "  $1 clients=$2: $line"
    # Fields: txn_per_s, p50_us, p99_us.
    for f in txn_per_s p50_us p99_us; do
        record "txn$2_$f" "$1" "$(sed -n "s/.* $f=\([0-9]*\).*/\1/p" <<<"$line")"
    done
    rm -rf "$d"
}

# ---- (b) add-port on a bridge with 1,000 ports ----------------------------------------------

switch_start() { # switch_start fvs|ovs DIR: a fresh switch and its database on DIR/db.sock.
    local d=$2
    mkdir -p "$d"
    if [ "$1" = fvs ]; then
        FVS_RUNDIR=$d FVS_DBDIR=$d FVS_LOGDIR=$d "$bin/fvs-vswitchd" --enable-dummy \
            --pidfile="$d/vswitchd.pid" 2>"$d/vswitchd.log" &
        pidfiles+=("$d/vswitchd.pid")
        wait_file "$d/db.sock"
    else
        ovsdb-tool create "$d/conf.db" "$ovs_schema"
        OVS_RUNDIR=$d OVS_DBDIR=$d OVS_LOGDIR=$d ovsdb-server "$d/conf.db" \
            --remote="punix:$d/db.sock" --pidfile="$d/server.pid" \
            -vconsole:off --log-file="$d/server.log" --no-chdir --detach
        pidfiles+=("$d/server.pid")
        ovs-vsctl --db="unix:$d/db.sock" --no-wait init
        OVS_RUNDIR=$d OVS_DBDIR=$d OVS_LOGDIR=$d ovs-vswitchd "unix:$d/db.sock" \
            --enable-dummy=override --disable-system --pidfile="$d/vswitchd.pid" \
            -vconsole:off --log-file="$d/vswitchd.log" --no-chdir --detach
        pidfiles+=("$d/vswitchd.pid")
    fi
    wait_file "$d/vswitchd.pid"
}

ports_run() { # ports_run fvs|ovs ROUND
    local d=$work/sw-$1-$2 vsctl t0 t1 t2 i j
    switch_start "$1" "$d"
    if [ "$1" = fvs ]; then vsctl=$bin/fvs-vsctl; else vsctl=ovs-vsctl; fi
    vsctl() { "$vsctl" --db="unix:$d/db.sock" --timeout=120 "$@"; }
    local daemons=("$d/vswitchd.pid") c0 c1 c2 k0 k1 k2
    [ "$1" = ovs ] && daemons+=("$d/server.pid")
    vsctl add-br br0
    c0=$(cpu_ms "${daemons[@]}") k0=$(children_cpu_ms)
    t0=$(now_ms)
    for ((i = 0; i < PORTS; i += BATCH)); do
        local args=()
        for ((j = i; j < i + BATCH; j++)); do args+=(-- add-port br0 "p$j"); done
        vsctl "${args[@]:1}"
    done
    t1=$(now_ms)
    c1=$(cpu_ms "${daemons[@]}") k1=$(children_cpu_ms)
    vsctl add-port br0 extra
    t2=$(now_ms)
    c2=$(cpu_ms "${daemons[@]}") k2=$(children_cpu_ms)
    local n
    n=$(vsctl list-ports br0 | wc -l)
    [ "$n" -eq $((PORTS + 1)) ] || die "$1: br0 has $n ports"
    echo "  $1: $PORTS ports in $((t1 - t0)) ms (CPU $((c1 - c0 + k1 - k0)) ms)," \
        "one more add-port in $((t2 - t1)) ms (CPU $((c2 - c1 + k2 - k1)) ms)"
    record create_1000_ms "$1" $((t1 - t0))
    record add_port_ms "$1" $((t2 - t1))
    # CPU of the daemons and of vsctl together.
    record create_1000_cpu_ms "$1" $((c1 - c0 + k1 - k0))
    record add_port_cpu_ms "$1" $((c2 - c1 + k2 - k1))
    stop_pidfile "$d/vswitchd.pid"
    [ "$1" = ovs ] && stop_pidfile "$d/server.pid"
    rm -rf "$d"
}

echo "ovsdb.sh: $ROUNDS rounds, ${TXN_SECONDS}s per transaction run; $(uptime)"
for ((r = 1; r <= ROUNDS; r++)); do
    echo "round $r"
    for c in 1 16; do
        txn_run fvs "$c" "$r"
        txn_run ovs "$c" "$r"
    done
    ports_run fvs "$r"
    ports_run ovs "$r"
done
echo "ovsdb.sh: done; $(uptime)"

# ---- summary --------------------------------------------------------------------------------

stats() { # stats FILE: "median min max" of the numbers in FILE.
    sort -n "$1" | awk '{v[NR] = $1} END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s %s %s\n", m, v[1], v[NR] }'
}
echo
printf '| %-22s | %-24s | %-24s | %-7s |\n' measurement ferrovs "Open vSwitch 3.1" "fvs/ovs"
printf '|%s|%s|%s|%s|\n' ------------------------ -------------------------- -------------------------- ---------
for m in txn1_txn_per_s txn1_p50_us txn1_p99_us txn16_txn_per_s txn16_p50_us txn16_p99_us \
    create_1000_ms add_port_ms create_1000_cpu_ms add_port_cpu_ms; do
    read -r fm fmin fmax < <(stats "$results/$m.fvs")
    read -r om omin omax < <(stats "$results/$m.ovs")
    ratio=$(awk -v a="$fm" -v b="$om" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '| %-22s | %-24s | %-24s | %-7s |\n' "$m" "$fm [$fmin-$fmax]" "$om [$omin-$omax]" "$ratio"
done
