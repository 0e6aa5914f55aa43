//! Schemas: ours, malformed ones, and the one Open vSwitch installs.

mod common;

use fvs_ovsdb::{DatabaseSchema, ErrorKind, RefType};
use fvs_test_support::{TempDir, require_tool};
use serde_json::json;

#[test]
fn our_schema_parses_with_its_attributes() {
    let s = DatabaseSchema::from_json(&common::test_schema()).unwrap();
    assert_eq!(s.name, "Switch");
    assert_eq!(s.version, "1.0.0");
    let root = s.table("Root").unwrap();
    assert!(root.is_root);
    assert_eq!(root.max_rows, Some(1));
    let bridge = s.table("Bridge").unwrap();
    assert!(!bridge.is_root);
    assert_eq!(bridge.indexes, vec![vec!["name".to_string()]]);
    assert!(!bridge.column("name").unwrap().mutable);
    assert_eq!(
        bridge.column("mirror").unwrap().ty.key.reference(),
        Some(("Port", RefType::Weak))
    );
    assert!(s.table("Port").unwrap().column("stats").unwrap().ephemeral);
    // The implicit columns answer by name and are immutable UUIDs.
    let uuid = bridge.column("_uuid").unwrap();
    assert!(!uuid.mutable);
    assert!(bridge.column("_version").is_some());
    assert!(!bridge.columns.contains_key("_uuid"));
}

#[test]
fn bad_schemas_are_syntax_errors() {
    let mut bad_ref = common::test_schema();
    bad_ref["tables"]["Root"]["columns"]["bridges"]["type"]["key"]["refTable"] = json!("Nope");
    let mut bad_version = common::test_schema();
    bad_version["version"] = json!("1.0");
    let mut reserved = common::test_schema();
    reserved["tables"]["Port"]["columns"]["_x"] = json!({"type": "integer"});
    let mut bad_index = common::test_schema();
    bad_index["tables"]["Bridge"]["indexes"] = json!([["nope"]]);
    let mut extra = common::test_schema();
    extra["tables"]["Port"]["colour"] = json!(1);
    for (what, s) in [
        ("undefined refTable", bad_ref),
        ("version", bad_version),
        ("reserved column name", reserved),
        ("unknown index column", bad_index),
        ("unknown member", extra),
        ("not an object", json!([1])),
    ] {
        let e = DatabaseSchema::from_json(&s).expect_err(what);
        assert_eq!(e.kind, ErrorKind::SyntaxError, "{what}");
    }
}

#[test]
fn schema_without_roots_makes_every_table_a_root() {
    let s = DatabaseSchema::from_json(&json!({
        "name": "Old", "version": "0.0.1",
        "tables": {"A": {"columns": {"x": {"type": "integer"}}}, "B": {"columns": {"y": {"type": "integer"}}}}
    }))
    .unwrap();
    assert!(s.tables.values().all(|t| t.is_root));
}

/// Oracle: what we write back is a schema `ovsdb-tool` accepts, with the same name and version.
#[test]
fn written_schema_is_accepted_by_ovsdb_tool() {
    let tool = require_tool("ovsdb-tool");
    let dir = TempDir::new("schema");
    let s = DatabaseSchema::from_json(&common::test_schema()).unwrap();
    let path = dir.join("switch.ovsschema");
    std::fs::write(&path, s.to_json().to_string()).unwrap();
    let name = common::run(tool.command().arg("schema-name").arg(&path));
    let version = common::run(tool.command().arg("schema-version").arg(&path));
    assert_eq!(name.trim(), "Switch");
    assert_eq!(version.trim(), "1.0.0");
    common::run(tool.command().arg("create").arg(dir.join("db")).arg(&path));
    // And it reads back to the same schema.
    assert_eq!(DatabaseSchema::from_json(&s.to_json()).unwrap(), s);
}

/// Oracle: the schema Open vSwitch installs parses (read at test time, never copied).
#[test]
fn installed_vswitch_schema_parses() {
    let path = "/usr/share/openvswitch/vswitch.ovsschema";
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; install Open vSwitch (openvswitch-common) for this oracle test")
    });
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let s = DatabaseSchema::from_json(&json).unwrap();
    assert_eq!(s.name, "Open_vSwitch");
    assert_eq!(Some(s.version.as_str()), json["version"].as_str());
    assert_eq!(s.tables.len(), json["tables"].as_object().unwrap().len());
    // Writing it back and reading again loses nothing.
    assert_eq!(DatabaseSchema::from_json(&s.to_json()).unwrap(), s);
    // The table and column counts match what ovsdb-tool would see.
    for (name, t) in json["tables"].as_object().unwrap() {
        assert_eq!(
            s.table(name).unwrap().columns.len(),
            t["columns"].as_object().unwrap().len(),
            "{name}"
        );
    }
}
