//! The database file: OVSDB's standalone format (see [`fvs_ovsdb::log`]), appended to and
//! synced before a transaction is acknowledged.
//!
//! Opening replays the file. A crash can leave the last record cut short (or, with a disk
//! that reorders writes, damaged); that record was never acknowledged, since the reply waits
//! for the sync, so the file is truncated to its last good record and the server carries on.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use fvs_ovsdb::log::{self, LogError};
use fvs_ovsdb::{ChangeSet, Database, DatabaseSchema};
use serde_json::Value;
use uuid::Uuid;

/// Why the database file could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file does not exist and no schema was given to create it.
    #[error("{0}: database does not exist (give a schema to create it)")]
    Missing(PathBuf),
    /// The schema file is not a valid schema.
    #[error("{path}: {reason}")]
    BadSchema {
        /// The schema file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file's records do not make a database.
    #[error("{path}: {source}")]
    BadLog {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: LogError,
    },
}

/// An open database file, positioned at its end.
#[derive(Debug)]
pub struct Storage {
    path: PathBuf,
    file: File,
}

/// What opening found.
#[derive(Debug)]
pub struct Opened {
    /// The file, ready for appends.
    pub storage: Storage,
    /// The database as the file describes it.
    pub db: Database,
    /// The damaged tail that was cut off, if any.
    pub truncated: Option<LogError>,
}

impl Storage {
    /// Opens `path`, creating it from `schema` (a schema file) when it does not exist.
    pub fn open(
        path: &Path,
        schema: Option<&Path>,
        new_uuid: &mut dyn FnMut() -> Uuid,
    ) -> Result<Opened, StorageError> {
        let io_err = |source| StorageError::Io {
            path: path.to_owned(),
            source,
        };
        if !path.exists() {
            let schema_path = schema.ok_or_else(|| StorageError::Missing(path.to_owned()))?;
            let schema = read_schema(schema_path)?;
            let mut file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(path)
                .map_err(io_err)?;
            log::write_record(&mut file, &schema.to_json()).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            sync_parent(path).map_err(io_err)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_err)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err)?;
        let contents = log::read_records(&bytes);
        if contents.tail_error.is_some() {
            file.set_len(contents.valid_len as u64).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
        }
        let db =
            log::replay(&contents.records, new_uuid).map_err(|source| StorageError::BadLog {
                path: path.to_owned(),
                source,
            })?;
        Ok(Opened {
            storage: Self {
                path: path.to_owned(),
                file,
            },
            db,
            truncated: contents.tail_error,
        })
    }

    /// Appends a committed transaction and waits until it is on disk. `None` means the
    /// changes leave nothing to write (only ephemeral columns changed).
    pub fn commit(
        &mut self,
        schema: &DatabaseSchema,
        changes: &ChangeSet,
        date_ms: u64,
    ) -> Result<(), StorageError> {
        let Some(record) = log::change_record(schema, changes, date_ms) else {
            return Ok(());
        };
        self.append(&record)
    }

    fn append(&mut self, record: &Value) -> Result<(), StorageError> {
        let io_err = |source| StorageError::Io {
            path: self.path.clone(),
            source,
        };
        // One write of the whole record: a crash cuts it at most once, at the tail.
        let bytes = log::encode_record(record);
        self.file.write_all(&bytes).map_err(io_err)?;
        self.file.sync_data().map_err(io_err)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads and checks a schema file.
pub fn read_schema(path: &Path) -> Result<DatabaseSchema, StorageError> {
    let bad = |reason: String| StorageError::BadSchema {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|source| StorageError::Io {
        path: path.to_owned(),
        source,
    })?;
    let json: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    DatabaseSchema::from_json(&json).map_err(|e| bad(e.to_string()))
}

/// Makes a new file's directory entry durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}
