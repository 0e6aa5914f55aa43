//! RFC 7047 §5.1 value forms, read and written.

use fvs_ovsdb::atom::{Atom, AtomicType, BaseType, Constraint, RefType, Symbols};
use fvs_ovsdb::datum::{ColumnType, Datum, MaxSize};
use fvs_ovsdb::error::ErrorKind;
use serde_json::{Value, json};
use uuid::Uuid;

fn ty(j: Value) -> ColumnType {
    ColumnType::from_json(&j).expect("type parses")
}

fn parse(t: &ColumnType, j: Value) -> Result<Datum, fvs_ovsdb::error::Error> {
    Datum::from_json(t, &j, None)
}

#[test]
fn sets_are_sorted_and_single_elements_are_bare_atoms() {
    let t = ty(json!({"key": "string", "min": 0, "max": "unlimited"}));
    let d = parse(&t, json!(["set", ["b", "a", "c"]])).unwrap();
    assert_eq!(d.to_json(), json!(["set", ["a", "b", "c"]]));
    let one = parse(&t, json!(["set", ["x"]])).unwrap();
    assert_eq!(one.to_json(), json!("x"));
    assert_eq!(parse(&t, json!("x")).unwrap(), one);
    assert_eq!(
        parse(&t, json!(["set", []])).unwrap().to_json(),
        json!(["set", []])
    );
}

#[test]
fn maps_are_always_tagged_and_sorted_by_key() {
    let t = ty(json!({"key": "string", "value": "integer", "min": 0, "max": "unlimited"}));
    let d = parse(&t, json!(["map", [["z", 1], ["a", 2]]])).unwrap();
    assert_eq!(d.to_json(), json!(["map", [["a", 2], ["z", 1]]]));
    let one = parse(&t, json!(["map", [["k", 7]]])).unwrap();
    assert_eq!(one.to_json(), json!(["map", [["k", 7]]]));
    let e = parse(&t, json!(["map", [["k", 1], ["k", 2]]])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::OvsdbError);
}

#[test]
fn uuids_and_named_uuids() {
    let t = ty(
        json!({"key": {"type": "uuid", "refTable": "B", "refType": "weak"}, "min": 0, "max": 1}),
    );
    assert_eq!(t.key.reference(), Some(("B", RefType::Weak)));
    let u = "3cb2834c-badf-4336-9d68-49c720ee2d67";
    let d = parse(&t, json!(["uuid", u])).unwrap();
    assert_eq!(d.to_json(), json!(["uuid", u]));
    // Outside a transaction a named-uuid means nothing.
    assert_eq!(
        parse(&t, json!(["named-uuid", "x"])).unwrap_err().kind,
        ErrorKind::SyntaxError
    );
    struct Fixed;
    impl Symbols for Fixed {
        fn resolve(&mut self, _name: &str) -> Uuid {
            Uuid::from_u128(5)
        }
    }
    let d = Datum::from_json(&t, &json!(["named-uuid", "x"]), Some(&mut Fixed)).unwrap();
    assert_eq!(d.as_scalar(), Some(&Atom::Uuid(Uuid::from_u128(5))));
    assert_eq!(
        parse(&t, json!(["uuid", "not-a-uuid"])).unwrap_err().kind,
        ErrorKind::SyntaxError
    );
}

#[test]
fn wrong_types_are_syntax_errors_naming_the_value() {
    let t = ty(json!("integer"));
    let e = parse(&t, json!("x")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::SyntaxError);
    assert_eq!(e.details, "expected integer");
    assert_eq!(e.syntax.as_deref(), Some("\"x\""));
    assert_eq!(
        parse(&t, json!(1.5)).unwrap_err().kind,
        ErrorKind::SyntaxError
    );
    // A real column takes integers.
    assert_eq!(
        parse(&ty(json!("real")), json!(3)).unwrap().to_json(),
        json!(3)
    );
    assert_eq!(
        parse(&ty(json!("real")), json!(2.5)).unwrap().to_json(),
        json!(2.5)
    );
}

#[test]
fn constraints_are_constraint_violations() {
    let t = ty(json!({"key": {"type": "integer", "minInteger": 1, "maxInteger": 4094}}));
    assert!(parse(&t, json!(4094)).is_ok());
    assert_eq!(
        parse(&t, json!(0)).unwrap_err().kind,
        ErrorKind::ConstraintViolation
    );
    let t = ty(
        json!({"key": {"type": "string", "enum": ["set", ["standalone", "secure"]]}, "min": 0, "max": 1}),
    );
    assert!(parse(&t, json!("secure")).is_ok());
    assert_eq!(
        parse(&t, json!("open")).unwrap_err().kind,
        ErrorKind::ConstraintViolation
    );
    let t = ty(json!({"key": {"type": "string", "minLength": 2, "maxLength": 3}}));
    assert!(parse(&t, json!("ab")).is_ok());
    assert_eq!(
        parse(&t, json!("a")).unwrap_err().kind,
        ErrorKind::ConstraintViolation
    );
    assert_eq!(
        parse(&t, json!("abcd")).unwrap_err().kind,
        ErrorKind::ConstraintViolation
    );
    let t = ty(json!({"key": {"type": "real", "minReal": 0.5}}));
    assert_eq!(
        parse(&t, json!(0.25)).unwrap_err().kind,
        ErrorKind::ConstraintViolation
    );
}

#[test]
fn sizes_outside_min_max_are_syntax_errors() {
    let t = ty(json!({"key": "integer", "min": 1, "max": 2}));
    assert_eq!(
        parse(&t, json!(["set", []])).unwrap_err().kind,
        ErrorKind::SyntaxError
    );
    assert_eq!(
        parse(&t, json!(["set", [1, 2, 3]])).unwrap_err().kind,
        ErrorKind::SyntaxError
    );
    assert_eq!(
        parse(&t, json!(["set", [1, 1]])).unwrap_err().kind,
        ErrorKind::OvsdbError
    );
}

#[test]
fn column_types_read_and_write_back() {
    for j in [
        json!("integer"),
        json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}),
        json!({"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 4096}),
        json!({"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}),
        json!({"key": {"type": "string", "enum": ["set", ["a", "b"]]}}),
        json!({"key": {"type": "integer", "enum": 5}}),
    ] {
        let t = ty(j.clone());
        let back = t.to_json();
        assert_eq!(ColumnType::from_json(&back).unwrap(), t, "{j}");
    }
    let t = ty(json!({"key": "integer", "min": 0, "max": 3}));
    assert_eq!(t.max, MaxSize::Limited(3));
    assert!(ColumnType::from_json(&json!({"key": "integer", "min": 2})).is_err());
    assert!(ColumnType::from_json(&json!({"key": "integer", "max": 0})).is_err());
    assert!(ColumnType::from_json(&json!("float")).is_err());
    assert!(BaseType::from_json(&json!({"type": "integer", "refTable": "X"})).is_err());
    let b = BaseType::from_json(&json!({"type": "integer", "maxInteger": 9})).unwrap();
    assert_eq!(
        b.constraint,
        Constraint::Integer {
            min: i64::MIN,
            max: 9
        }
    );
    assert_eq!(b.atomic, AtomicType::Integer);
}

#[test]
fn defaults_follow_min() {
    assert_eq!(ty(json!("integer")).default_datum().to_json(), json!(0));
    assert_eq!(ty(json!("string")).default_datum().to_json(), json!(""));
    assert_eq!(ty(json!("boolean")).default_datum().to_json(), json!(false));
    assert_eq!(
        ty(json!({"key": "string", "min": 0}))
            .default_datum()
            .to_json(),
        json!(["set", []])
    );
    assert_eq!(
        ty(json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}))
            .default_datum()
            .to_json(),
        json!(["map", []])
    );
}

#[test]
fn diffs_apply_back() {
    let t = ty(json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}));
    let old = parse(&t, json!(["map", [["a", "1"], ["b", "2"], ["c", "3"]]])).unwrap();
    let new = parse(&t, json!(["map", [["a", "1"], ["b", "9"], ["d", "4"]]])).unwrap();
    let d = old.diff(&new);
    // Open vSwitch writes removed keys with their old value, changed and added ones with the new.
    assert_eq!(
        d.to_json(),
        json!(["map", [["b", "9"], ["c", "3"], ["d", "4"]]])
    );
    assert_eq!(old.apply_diff(&d), new);
    let s = ty(json!({"key": "string", "min": 0, "max": "unlimited"}));
    let old = parse(&s, json!(["set", ["a", "b"]])).unwrap();
    let new = parse(&s, json!(["set", ["a", "c"]])).unwrap();
    assert_eq!(old.diff(&new).to_json(), json!(["set", ["b", "c"]]));
    assert_eq!(old.apply_diff(&old.diff(&new)), new);
}
