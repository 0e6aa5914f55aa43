#!/usr/bin/env bash
# The main job: fvs-vswitchd with its embedded database, configured as the seed's OpenStack
# compute node by the same commands an operator would type, then asked what it would do with
# traffic. Runs without root: every port is a dummy port (--enable-dummy), and everything lives
# in a private run directory that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p fvs-vswitchd -p fvs-vsctl
bin=target/release
run=$(mktemp -d)
export FVS_RUNDIR=$run FVS_DBDIR=$run FVS_LOGDIR=$run
"$bin/fvs-vswitchd" --enable-dummy --detach --pidfile --log-file
# End only the daemon this script started, by its pid, and remove its directory.
trap 'kill "$(cat "$run/fvs-vswitchd.pid")" 2>/dev/null || true; rm -rf "$run"' EXIT

say() { printf '\n### %s\n' "$*"; }
vsctl() { printf '$ ovs-vsctl %s\n' "$*"; "$bin/fvs-vsctl" "$@"; }
appctl() { printf '$ ovs-appctl %s\n' "$*"; "$bin/fvs-appctl" "$@"; }

say "The compute node's bridges, built with ovs-vsctl's language (fvs-vsctl)"
vsctl add-br br-int -- set Bridge br-int fail_mode=secure
vsctl add-port br-int qvo37b25c08-e8 tag=1
vsctl add-port br-int patch-tun -- set Interface patch-tun type=patch options:peer=patch-int
vsctl add-port br-int qvo155845ae-5e tag=1
vsctl add-br br-tun
vsctl add-port br-tun patch-int -- set Interface patch-int type=patch options:peer=patch-tun
vsctl add-port br-tun gre-0a000115 -- set Interface gre-0a000115 type=gre \
  options:df_default=true options:in_key=flow options:local_ip=10.0.1.31 \
  options:out_key=flow options:remote_ip=10.0.1.21
vsctl show

say "br-int learns MACs (NORMAL); br-tun gets the seed's flows verbatim"
echo "priority=1 actions=NORMAL" > "$run/br-int.flows"
appctl bridge/add-flows br-int "$run/br-int.flows"
appctl bridge/add-flows br-tun examples/seed/br-tun.flows
appctl bridge/dump-flows br-tun

remote=dl_src=fa:16:3e:aa:aa:aa,dl_dst=fa:16:3e:fe:c7:87
say "A frame from the remote VM arrives over GRE with key 0x1 (and is learned)"
appctl ofproto/trace br-tun "in_port=2,tun_id=0x1,$remote" -generate

say "The local VM answers by unicast: the learned rule sends it into the tunnel"
appctl ofproto/trace br-int "in_port=1,dl_src=fa:16:3e:fe:c7:87,dl_dst=fa:16:3e:aa:aa:aa" -generate

say "What br-tun learned (table 20)"
appctl bridge/dump-flows br-tun | grep -E 'table_id=20' || true
