#!/usr/bin/env bash
# The test command: style gates, the architecture check, and every test in the workspace.
#
# The compatibility tests compare ferrovs against Debian's Open vSwitch 3.1 (the oracle); when
# it is missing and we are root, it is installed first. Without it those tests fail, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ovs-ofctl >/dev/null 2>&1 || missing+=(openvswitch-common)
command -v ovs-vswitchd >/dev/null 2>&1 || missing+=(openvswitch-switch)
# fvs-netdev's pcap files are checked by reading them back with tcpdump.
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
# fvs-netdev's root tests make network namespaces and veth pairs with ip(8).
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# fvs-ovsdb-server's Python client tests run Open vSwitch's Python IDL and ovsdbapp under the
# system Python.
/usr/bin/python3 -c 'import ovs.db.idl' >/dev/null 2>&1 || missing+=(python3-openvswitch)
/usr/bin/python3 -c 'import ovsdbapp' >/dev/null 2>&1 || missing+=(python3-ovsdbapp)
# fvs-vswitchd's datapath root tests ping between namespaces through the switch.
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
# fvs-vswitchd's two-host tunnel tests send malformed GRE with a Python raw socket.
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# ...and turn off a veth's transmit checksum offload in front of Open vSwitch's datapath.
command -v ethtool >/dev/null 2>&1 || missing+=(ethtool)
# fvs-vswitchd's controller test runs an os-ken application (PyPI) under the system Python;
# pip puts it in its own directory (below) so nothing shadows Debian's Python packages.
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "note: ${missing[*]} missing and not root; the oracle tests will fail" >&2
  fi
fi

export FVS_OSKEN_PATH="${FVS_OSKEN_PATH:-/usr/local/lib/ferrovs-test/os-ken}"
if ! PYTHONPATH="$FVS_OSKEN_PATH" /usr/bin/python3 -c 'import os_ken' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    /usr/bin/python3 -m pip install -q --disable-pip-version-check --target "$FVS_OSKEN_PATH" \
      os-ken==4.2.2
  else
    echo "note: os-ken missing in $FVS_OSKEN_PATH and not root; the controller test will fail" >&2
  fi
fi

export CARGO_TERM_COLOR=never
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo xtask layers
cargo test --workspace --locked
