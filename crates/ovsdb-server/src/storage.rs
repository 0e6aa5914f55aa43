//! The database file: OVSDB's standalone format (see [`fvs_ovsdb::log`]). Writing a record
//! and making it durable are separate steps: [`Storage::write_commit`] appends (no sync) and
//! says up to which [`LogOffset`] the file now reaches; a [`SyncHandle::sync`] makes every
//! byte written before it durable. The server acknowledges nothing before the sync that
//! covers it (see the crate doc), so one sync can cover many records.
//!
//! Opening replays the file. A crash can leave the last records cut short (or, with a disk
//! that reorders writes, damaged); they were never acknowledged, since replies wait for the
//! sync, so the file is truncated to its last good record and the server carries on.

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

/// How far into the database file: the byte length the file had once a record was written.
/// A sync that starts after a record's write makes every byte up to its offset durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LogOffset(pub u64);

/// An open database file, positioned at its end.
#[derive(Debug)]
pub struct Storage {
    path: PathBuf,
    file: File,
    /// Where the next record goes (the file is opened for appending, so this is its length).
    end: LogOffset,
}

/// A second handle on the database file, for syncing it without holding the [`Storage`]
/// (and so without holding the lock the storage lives under).
#[derive(Debug)]
pub struct SyncHandle {
    path: PathBuf,
    file: File,
}

impl SyncHandle {
    /// Makes every byte written to the file before this call durable.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.file.sync_data().map_err(|source| StorageError::Io {
            path: self.path.clone(),
            source,
        })
    }
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
        let mut end = LogOffset(bytes.len() as u64);
        if contents.tail_error.is_some() {
            file.set_len(contents.valid_len as u64).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            end = LogOffset(contents.valid_len as u64);
        }
        // Records a killed predecessor wrote but never synced are in the file as far as
        // reads go: make them durable before anything is shown that depends on them.
        file.sync_data().map_err(io_err)?;
        let db =
            log::replay(&contents.records, new_uuid).map_err(|source| StorageError::BadLog {
                path: path.to_owned(),
                source,
            })?;
        Ok(Opened {
            storage: Self {
                path: path.to_owned(),
                file,
                end,
            },
            db,
            truncated: contents.tail_error,
        })
    }

    /// Appends a committed transaction's record, without syncing it, and returns how far
    /// the file now reaches (unchanged when the changes leave nothing to write: only
    /// ephemeral columns changed).
    pub fn write_commit(
        &mut self,
        schema: &DatabaseSchema,
        changes: &ChangeSet,
        date_ms: u64,
    ) -> Result<LogOffset, StorageError> {
        let Some(record) = log::change_record(schema, changes, date_ms) else {
            return Ok(self.end);
        };
        self.append(&record)?;
        Ok(self.end)
    }

    fn append(&mut self, record: &Value) -> Result<(), StorageError> {
        // One write of the whole record: a crash cuts it at most once, at the tail.
        let bytes = log::encode_record(record);
        if let Err(source) = self.file.write_all(&bytes) {
            // A record cut short in the middle of the file would hide every later one from
            // replay: cut it off, so that the next record follows the last good one. If even
            // that fails the next write fails too, and so on, which is safe.
            let _ = self.file.set_len(self.end.0);
            return Err(StorageError::Io {
                path: self.path.clone(),
                source,
            });
        }
        self.end.0 += bytes.len() as u64;
        Ok(())
    }

    /// How far the file reaches: every record written so far ends at or before this.
    pub fn end(&self) -> LogOffset {
        self.end
    }

    /// A handle that syncs this file from another thread.
    pub fn sync_handle(&self) -> Result<SyncHandle, StorageError> {
        let file = self.file.try_clone().map_err(|source| StorageError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(SyncHandle {
            path: self.path.clone(),
            file,
        })
    }

    /// Makes every record written so far durable.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.file.sync_data().map_err(|source| StorageError::Io {
            path: self.path.clone(),
            source,
        })
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
