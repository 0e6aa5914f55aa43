//! The `_Server` database: what the server says about the databases it serves.
//!
//! The OVS IDL (and so `ovs-vsctl`) first monitors `_Server`'s `Database` table to learn
//! whether its database is there, connected, and led by this server, and what its schema is.
//! A standalone server's answers never change: every database is `standalone`, `connected`
//! and `leader`; `cid`, `sid` and `index` (cluster facts) are empty.

use std::collections::BTreeSet;
use std::sync::Arc;

use fvs_ovsdb::{Context, Database, DatabaseSchema, Outcome, transact};
use serde_json::{Value, json};
use uuid::Uuid;

/// The name of the server's own database.
pub const NAME: &str = "_Server";

/// `_Server`'s schema (version 1.2.0, as Open vSwitch 3.1 serves it, checksum included; its
/// one table is root by default, being the only one).
pub fn schema() -> DatabaseSchema {
    let optional = |key: &str| json!({"type": {"key": key, "min": 0, "max": 1}});
    let json = json!({
        "name": NAME,
        "version": "1.2.0",
        "cksum": "3009684573 744",
        "tables": {
            "Database": {
                "columns": {
                    "name": {"type": "string"},
                    "model": {"type": {"key": {"type": "string",
                        "enum": ["set", ["clustered", "relay", "standalone"]]}}},
                    "connected": {"type": "boolean"},
                    "leader": {"type": "boolean"},
                    "schema": optional("string"),
                    "cid": optional("uuid"),
                    "sid": optional("uuid"),
                    "index": optional("integer")
                }
            }
        }
    });
    // The schema above is fixed text; it failing to parse is a bug caught by the tests.
    DatabaseSchema::from_json(&json).unwrap_or_else(|e| panic!("_Server schema: {e}"))
}

/// `_Server` describing `served` (itself included), its rows' UUIDs from `new_uuid`.
pub fn build(served: &[&DatabaseSchema], new_uuid: &mut dyn FnMut() -> Uuid) -> Database {
    let own = Arc::new(schema());
    let mut db = Database::new(own.clone());
    let mut params = vec![json!(NAME)];
    for s in served.iter().copied().chain([own.as_ref()]) {
        params.push(json!({
            "op": "insert",
            "table": "Database",
            "row": {
                "name": s.name,
                "model": "standalone",
                "connected": true,
                "leader": true,
                "schema": s.to_json().to_string(),
            }
        }));
    }
    let locks = BTreeSet::new();
    let mut ctx = Context {
        now_ms: 0,
        received_ms: 0,
        locks: &locks,
        new_uuid,
    };
    if let Ok(Outcome::Done { changes, .. }) = transact(&db, &Value::Array(params), &mut ctx) {
        db.apply(&changes);
    }
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_every_database_and_itself() {
        let user = DatabaseSchema::from_json(&json!({
            "name": "T", "version": "1.0.0",
            "tables": {"A": {"columns": {"n": {"type": "integer"}}}}
        }))
        .expect("schema");
        let mut n = 0u128;
        let db = build(&[&user], &mut || {
            n += 1;
            Uuid::from_u128(n)
        });
        let rows = db.rows("Database").expect("table");
        let names: BTreeSet<String> = rows
            .values()
            .filter_map(|r| r.columns.get("name")?.as_scalar().map(ToString::to_string))
            .collect();
        assert_eq!(
            names,
            BTreeSet::from(["\"T\"".to_owned(), "\"_Server\"".to_owned()])
        );
    }
}
