//! The seed's compute node as test input: the commands that build its br-tun and the file
//! with its br-tun flows, shared by every test that drives a switch through the seed.

/// The seed's br-tun as `ovs-vsctl` commands, one invocation each: a secure bridge, the patch
/// port to br-int (ofport 1) and the GRE tunnel to 10.0.1.21 (ofport 2) with the seed's options.
pub const SEED_BR_TUN_VSCTL: &[&[&str]] = &[
    &[
        "add-br",
        "br-tun",
        "--",
        "set",
        "bridge",
        "br-tun",
        "fail_mode=secure",
    ],
    &[
        "add-port",
        "br-tun",
        "patch-int",
        "--",
        "set",
        "interface",
        "patch-int",
        "type=patch",
        "options:peer=patch-tun",
    ],
    &[
        "add-port",
        "br-tun",
        "gre-0a000115",
        "--",
        "set",
        "interface",
        "gre-0a000115",
        "type=gre",
        "options:df_default=true",
        "options:in_key=flow",
        "options:local_ip=10.0.1.31",
        "options:out_key=flow",
        "options:remote_ip=10.0.1.21",
    ],
];

/// The seed's br-tun flows as its `ovs-ofctl dump-flows` printed them; `add-flows` reads that
/// format back (it ignores the statistics).
pub const SEED_BR_TUN_FLOWS_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/seed/br-tun.flows"
);
