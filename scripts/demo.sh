#!/usr/bin/env bash
# The main job: fvs-vswitchd with its embedded database, configured as the seed's OpenStack
# compute node by the same commands an operator would type.
#
# As root, the seed's network for real: two hosts (network namespaces joined by a veth
# underlay, 10.0.1.31 and 10.0.1.21, no route out), each running fvs-vswitchd with br-int,
# br-tun (the seed's flows verbatim) and the GRE port gre-<remote ip in hex>, and VMs as
# namespaces on veth pairs into br-int (tag 1). A VM pings the VM on the other host across the
# GRE tunnel, then the demo prints what the seed prints: `ovs-vsctl show`, `ovs-ofctl show
# br-tun` and `ovs-ofctl dump-flows br-tun` with the learned flow and the counters.
#
# Without root: every port is a dummy port (--enable-dummy) and the demo asks the switch what
# it would do with traffic (ofproto/trace).
#
# Everything lives in private directories and namespaces that are removed at the end; only
# the daemons this script started are stopped, by their pids. DEMO_PROFILE=debug uses debug
# binaries (quicker to build); DEMO_DUMMY=1 runs the dummy demo even as root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${DEMO_PROFILE:-release}" = debug ]; then
  cargo build --quiet -p fvs-vswitchd -p fvs-vsctl -p fvs-cli
  bin=${CARGO_TARGET_DIR:-target}/debug
else
  cargo build --release --quiet -p fvs-vswitchd -p fvs-vsctl -p fvs-cli
  bin=${CARGO_TARGET_DIR:-target}/release
fi

say() { printf '\n### %s\n' "$*"; }
vsctl() { printf '$ ovs-vsctl %s\n' "$*"; "$bin/fvs-vsctl" "$@"; }
ofctl() { printf '$ ovs-ofctl %s\n' "$*"; "$bin/fvs-ofctl" "$@"; }
appctl() { printf '$ ovs-appctl %s\n' "$*"; "$bin/fvs-appctl" "$@"; }

# The seed's compute node: br-int with two VM ports on VLAN 1, br-tun with the GRE port from
# $1 (local) to $2 (remote), named as Neutron names it. Prints each command.
seed_bridges() {
  local gre
  gre=gre-$(printf '%02x' ${2//./ })
  vsctl add-br br-int -- set Bridge br-int fail_mode=secure
  vsctl add-port br-int qvo37b25c08-e8 tag=1
  vsctl add-port br-int patch-tun -- set Interface patch-tun type=patch options:peer=patch-int
  vsctl add-port br-int qvo155845ae-5e tag=1
  vsctl add-br br-tun
  vsctl add-port br-tun patch-int -- set Interface patch-int type=patch options:peer=patch-tun
  vsctl add-port br-tun "$gre" -- set Interface "$gre" type=gre \
    options:df_default=true options:in_key=flow options:local_ip="$1" \
    options:out_key=flow options:remote_ip="$2"
}

dummy_demo() {
  # Global, not local: the EXIT trap runs after this function has returned.
  run=$(mktemp -d)
  export FVS_RUNDIR=$run FVS_DBDIR=$run FVS_LOGDIR=$run
  "$bin/fvs-vswitchd" --enable-dummy --detach --pidfile --log-file
  # End only the daemon this script started, by its pid, and remove its directory.
  trap 'kill "$(cat "$run/fvs-vswitchd.pid")" 2>/dev/null || true; rm -rf "$run"' EXIT

  say "The compute node's bridges, built with ovs-vsctl's language (fvs-vsctl)"
  seed_bridges 10.0.1.31 10.0.1.21
  vsctl show

  say "br-int learns MACs (NORMAL); br-tun gets the seed's flows verbatim"
  ofctl add-flow br-int "priority=1 actions=NORMAL"
  ofctl add-flows br-tun examples/seed/br-tun.flows
  ofctl dump-flows br-tun

  local remote=dl_src=fa:16:3e:aa:aa:aa,dl_dst=fa:16:3e:fe:c7:87
  say "A frame from the remote VM arrives over GRE with key 0x1 (and is learned)"
  appctl ofproto/trace br-tun "in_port=2,tun_id=0x1,$remote" -generate

  say "The local VM answers by unicast: the learned rule sends it into the tunnel"
  appctl ofproto/trace br-int "in_port=1,dl_src=fa:16:3e:fe:c7:87,dl_dst=fa:16:3e:aa:aa:aa" -generate

  say "What br-tun learned (table 20)"
  appctl bridge/dump-flows br-tun | grep -E 'table_id=20' || true
}

real_demo() {
  # Global, not local: the EXIT trap runs after this function has returned.
  tag=fvsdemo$$
  host_a=$tag-a host_b=$tag-b vm1=$tag-vm1 vm2=$tag-vm2 vm_b=$tag-vmb
  dir_a=$(mktemp -d) dir_b=$(mktemp -d)
  cleanup() {
    for d in "$dir_a" "$dir_b"; do
      [ -f "$d/fvs-vswitchd.pid" ] && kill "$(cat "$d/fvs-vswitchd.pid")" 2>/dev/null
    done
    for ns in "$host_a" "$host_b" "$vm1" "$vm2" "$vm_b"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$dir_a" "$dir_b"
    return 0
  }
  trap cleanup EXIT
  for ns in "$host_a" "$host_b" "$vm1" "$vm2" "$vm_b"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  done
  # The underlay: one veth "wire" between the hosts, their tunnel addresses on it.
  ip -n "$host_a" link add eth1 type veth peer name eth1 netns "$host_b"
  ip -n "$host_a" addr add 10.0.1.31/24 dev eth1
  ip -n "$host_b" addr add 10.0.1.21/24 dev eth1
  ip -n "$host_a" link set eth1 up
  ip -n "$host_b" link set eth1 up
  # The VMs: each one's eth0 is the peer of its port on br-int (MTU 1400 leaves room for GRE).
  vm() { # host, port, vm namespace, MAC, address
    ip -n "$1" link add "$2" type veth peer name eth0 netns "$3"
    ip -n "$1" link set "$2" up
    ip -n "$3" link set eth0 address "$4" mtu 1400 up
    ip -n "$3" addr add "$5/24" dev eth0
  }
  vm "$host_a" qvo37b25c08-e8 "$vm1" fa:16:3e:fe:c7:87 10.10.1.1
  vm "$host_a" qvo155845ae-5e "$vm2" fa:16:3e:5e:5e:5e 10.10.1.3
  vm "$host_b" qvo-remote "$vm_b" fa:16:3e:aa:aa:aa 10.10.1.2

  # Host B (the other end) is built quietly.
  (
    export FVS_RUNDIR=$dir_b FVS_DBDIR=$dir_b FVS_LOGDIR=$dir_b
    ip netns exec "$host_b" "$bin/fvs-vswitchd" --detach --pidfile --log-file
    {
      seed_bridges 10.0.1.21 10.0.1.31
      vsctl del-port br-int qvo37b25c08-e8 -- del-port br-int qvo155845ae-5e
      vsctl add-port br-int qvo-remote tag=1
      ofctl add-flow br-int "priority=1 actions=NORMAL"
      ofctl add-flows br-tun examples/seed/br-tun.flows
    } >/dev/null
  )

  export FVS_RUNDIR=$dir_a FVS_DBDIR=$dir_a FVS_LOGDIR=$dir_a
  ip netns exec "$host_a" "$bin/fvs-vswitchd" --detach --pidfile --log-file
  say "Host 10.0.1.31: the compute node's bridges, built with ovs-vsctl's language (fvs-vsctl)"
  seed_bridges 10.0.1.31 10.0.1.21
  # The bridges' own devices start down, as Open vSwitch leaves them; the seed's host had
  # brought them up (its LOCAL ports read config 0, state 0).
  ip -n "$host_a" link set br-int up
  ip -n "$host_a" link set br-tun up
  say "br-int learns MACs (NORMAL); br-tun gets the seed's flows verbatim"
  ofctl add-flow br-int "priority=1 actions=NORMAL"
  ofctl add-flows br-tun examples/seed/br-tun.flows

  say "The VM on 10.0.1.31 pings the VM on 10.0.1.21 across the GRE tunnel"
  printf '$ ping -c 3 10.10.1.2\n'
  ip netns exec "$vm1" ping -c 3 -i 0.2 -W 2 10.10.1.2
  # Statistics of cached traffic reach the rules when the revalidator runs.
  "$bin/fvs-appctl" revalidator/wait

  say "What the seed prints"
  vsctl show
  ofctl show br-tun
  ofctl dump-flows br-tun
}

if [ "$(id -u)" = 0 ] && [ -z "${DEMO_DUMMY:-}" ]; then
  real_demo
else
  dummy_demo
fi
