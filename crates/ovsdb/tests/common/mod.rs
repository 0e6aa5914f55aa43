//! Shared test helpers: a small schema of our own and access to the Open vSwitch oracle.
#![allow(dead_code, unreachable_pub)]

use std::process::Command;

use serde_json::{Value, json};

/// A schema in the spirit of a switch configuration, written for these tests: a root table
/// of bridges, ports referenced strongly (garbage-collected when unreferenced), a weak
/// reference, an index, a row limit, an immutable column and constraints.
pub fn test_schema() -> Value {
    json!({
        "name": "Switch",
        "version": "1.0.0",
        "tables": {
            "Root": {
                "isRoot": true,
                "maxRows": 1,
                "columns": {
                    "bridges": {"type": {"key": {"type": "uuid", "refTable": "Bridge"}, "min": 0, "max": "unlimited"}},
                    "next_cfg": {"type": "integer"}
                }
            },
            "Bridge": {
                "indexes": [["name"]],
                "columns": {
                    "name": {"type": "string", "mutable": false},
                    "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}},
                    "mirror": {"type": {"key": {"type": "uuid", "refTable": "Port", "refType": "weak"}, "min": 0, "max": 1}},
                    "fail_mode": {"type": {"key": {"type": "string", "enum": ["set", ["standalone", "secure"]]}, "min": 0, "max": 1}},
                    "external_ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                    "flood_vlans": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 4}}
                }
            },
            "Port": {
                "columns": {
                    "name": {"type": "string"},
                    "tag": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 1}},
                    "weight": {"type": "real"},
                    "enabled": {"type": "boolean"},
                    "peer": {"type": {"key": {"type": "uuid", "refTable": "Port", "refType": "weak"}, "min": 1, "max": 1}},
                    "stats": {"type": {"key": "string", "value": "integer", "min": 0, "max": "unlimited"}, "ephemeral": true}
                }
            },
            "Lone": {
                "columns": {
                    "n": {"type": "integer"},
                    "must": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 1, "max": 1}}
                }
            }
        }
    })
}

/// Runs a command, returning stdout; fails the test with stderr when it fails.
pub fn run(cmd: &mut Command) -> String {
    fvs_test_support::run(cmd).unwrap_or_else(|e| panic!("{e}"))
}
