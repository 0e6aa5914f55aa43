//! The errors of RFC 7047, as data for a reply.
//!
//! An OVSDB error travels to the client as `{"error": <tag>, "details": <text>}`, sometimes with
//! a `"syntax"` member holding the offending JSON. The tag is what clients act on, so it is a
//! closed enum ([`ErrorKind`]); the details are for people and name the bad value.

use serde_json::{Map, Value};

/// The `error` tag of an OVSDB error object: the names RFC 7047 gives, plus the few
/// Open vSwitch uses beyond it (`unknown column`, `ovsdb error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed request: wrong JSON shape or a value of the wrong type.
    SyntaxError,
    /// A value breaks its type's constraints (range, enum, length, size, index, `maxRows`).
    ConstraintViolation,
    /// A strong reference points at a row that does not exist (or no longer will).
    ReferentialIntegrityViolation,
    /// Arithmetic that has no answer, such as division by zero.
    DomainError,
    /// Arithmetic whose answer does not fit, such as integer overflow.
    RangeError,
    /// A `wait` operation's condition did not become true in time.
    TimedOut,
    /// The request asks for something this server does not do.
    NotSupported,
    /// The transaction contained an `abort` operation.
    Aborted,
    /// An `assert` named a lock this client does not own.
    NotOwner,
    /// Two `insert` operations used the same `uuid-name`.
    DuplicateUuidName,
    /// An `insert` asked for a UUID that a row already has (Open vSwitch extension).
    DuplicateUuid,
    /// A condition names a function that does not exist.
    UnknownFunction,
    /// A column name that the table does not have.
    UnknownColumn,
    /// A database name the server does not serve.
    UnknownDatabase,
    /// Storage failed.
    IoError,
    /// Limits of the server were reached.
    ResourcesExhausted,
    /// Open vSwitch's catch-all tag, used for duplicate set elements and map keys.
    OvsdbError,
}

impl ErrorKind {
    /// The tag's text on the wire.
    pub fn tag(self) -> &'static str {
        match self {
            Self::SyntaxError => "syntax error",
            Self::ConstraintViolation => "constraint violation",
            Self::ReferentialIntegrityViolation => "referential integrity violation",
            Self::DomainError => "domain error",
            Self::RangeError => "range error",
            Self::TimedOut => "timed out",
            Self::NotSupported => "not supported",
            Self::Aborted => "aborted",
            Self::NotOwner => "not owner",
            Self::DuplicateUuidName => "duplicate uuid-name",
            Self::DuplicateUuid => "duplicate uuid",
            Self::UnknownFunction => "unknown function",
            Self::UnknownColumn => "unknown column",
            Self::UnknownDatabase => "unknown database",
            Self::IoError => "I/O error",
            Self::ResourcesExhausted => "resources exhausted",
            Self::OvsdbError => "ovsdb error",
        }
    }
}

/// An OVSDB error: its tag, a human explanation, and optionally the JSON that caused it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {details}", kind.tag())]
pub struct Error {
    /// The RFC 7047 tag.
    pub kind: ErrorKind,
    /// What went wrong, naming the bad value.
    pub details: String,
    /// The offending JSON, serialised, when the error is about a piece of the request.
    pub syntax: Option<String>,
}

impl Error {
    /// An error with a tag and details.
    pub fn new(kind: ErrorKind, details: impl Into<String>) -> Self {
        Self {
            kind,
            details: details.into(),
            syntax: None,
        }
    }

    /// A `syntax error` about `json`.
    pub fn syntax(json: &Value, details: impl Into<String>) -> Self {
        Self::new(ErrorKind::SyntaxError, details).with_syntax(json)
    }

    /// A `constraint violation`.
    pub fn constraint(details: impl Into<String>) -> Self {
        Self::new(ErrorKind::ConstraintViolation, details)
    }

    /// Attaches the offending JSON, unless one is attached already (the innermost is the most
    /// precise).
    #[must_use]
    pub fn with_syntax(mut self, json: &Value) -> Self {
        if self.syntax.is_none() {
            self.syntax = Some(json.to_string());
        }
        self
    }

    /// Prefixes the details, keeping the tag (used to say which operation failed to parse).
    #[must_use]
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.details = format!("{prefix}{}", self.details);
        self
    }

    /// The error object for a reply: `{"error": ..., "details": ..., ["syntax": ...]}`.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("error".into(), Value::String(self.kind.tag().into()));
        obj.insert("details".into(), Value::String(self.details.clone()));
        if let Some(syntax) = &self.syntax {
            obj.insert("syntax".into(), Value::String(syntax.clone()));
        }
        Value::Object(obj)
    }
}

/// Results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
