//! The database file: OVSDB's standalone format (see [`fvs_ovsdb::log`]). Writing a record
//! and making it durable are separate steps: [`Storage::write_commit`] appends (no sync) and
//! says up to which [`LogOffset`] the file now reaches; a [`SyncHandle::sync`] makes every
//! byte written before it durable. The server acknowledges nothing before the sync that
//! covers it (see the crate doc), so one sync can cover many records.
//!
//! # Compaction
//!
//! The file only grows, so from time to time it is replaced by a compacted one: the schema
//! record and one snapshot record holding the whole database
//! ([`fvs_ovsdb::log::snapshot_record`]), exactly what Open vSwitch's server writes. When is
//! a [`CompactionPolicy`] (Open vSwitch's rule by default). Replacing is atomic and never
//! loses a commit, in three steps so that the server's lock is held only briefly:
//!
//! 1. [`Storage::begin_compaction`] (under the lock): the snapshot record is built from the
//!    database as it is, and from then on every record written to the file is also kept
//!    aside in memory.
//! 2. [`Snapshot::write`] (without the lock, commits go on): a temporary file beside the
//!    database gets the schema and the snapshot, and is synced.
//! 3. [`Storage::finish_compaction`] (under the lock): the records kept aside are appended to
//!    the temporary file, which is synced and renamed over the database, and the directory is
//!    synced; from then on records go to the new file. Everything written so far is now
//!    durable in the new file, so the caller may treat the log as synced.
//!
//! A crash at any point leaves either the old file (complete: commits kept being appended to
//! it until the rename) or the new one (complete: synced before the rename), never a mix.
//! If a step fails, [`Storage::abort_compaction`] drops the temporary file and the old file
//! carries on as if nothing happened.
//!
//! Offsets ([`LogOffset`]) count every byte ever written since opening, not positions in
//! the current file, so they keep increasing across a compaction and the server's "durable
//! up to" bookkeeping never runs backwards.
//!
//! # Opening
//!
//! Opening replays the file. A crash can leave the last records cut short (or, with a disk
//! that reorders writes, damaged); they were never acknowledged, since replies wait for the
//! sync, so the file is truncated to its last good record and the server carries on.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    /// A compacted file replaced the database file, but the directory could not be synced:
    /// whether the replacement survives a crash is unknown, so nothing written from now on
    /// can be promised durable (the server treats this as a failed sync).
    #[error("{path}: cannot sync the directory after compaction: {source}")]
    DirSync {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// How far the log is written: the file's length at opening plus every byte written since
/// (across compactions, which do not reset it). A sync that starts after a record's write
/// makes every byte up to its offset durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LogOffset(pub u64);

/// When the file is compacted on its own (an explicit compaction ignores all this).
///
/// The default is Open vSwitch's rule for standalone databases: no sooner than ten minutes
/// after opening or the last compaction, only with at least 100 records in the file, and
/// then once the file is over 10 MiB *and* over four times the size of its snapshot (the
/// compacted file; at opening, the schema and first transaction) — or, however small, once
/// a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// The least time between two compactions.
    pub min_interval: Duration,
    /// The fewest records (the schema included) a file must hold to be compacted.
    pub min_records: u64,
    /// The file must be longer than this many bytes...
    pub min_size: u64,
    /// ... and longer than this many times its size after the last compaction.
    pub growth_factor: u64,
    /// After this long, compact even a file that did not grow much.
    pub max_interval: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(10 * 60),
            min_records: 100,
            min_size: 10 << 20,
            growth_factor: 4,
            max_interval: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl CompactionPolicy {
    /// Never compact on its own.
    pub const NEVER: Self = Self {
        min_interval: Duration::MAX,
        min_records: u64::MAX,
        min_size: u64::MAX,
        growth_factor: u64::MAX,
        max_interval: Duration::MAX,
    };
}

/// The file records are appended to, shared with [`SyncHandle`]s so that they follow it
/// when a compaction replaces it.
type CurrentFile = Arc<Mutex<Arc<File>>>;

/// An open database file, positioned at its end.
#[derive(Debug)]
pub struct Storage {
    path: PathBuf,
    file: Arc<File>,
    current: CurrentFile,
    /// The current file's length: where the next record goes.
    len: u64,
    /// How far the log is written (see [`LogOffset`]).
    end: LogOffset,
    /// Records in the current file, the schema included.
    records: u64,
    /// The length of the file's snapshot: its first two records at opening, the whole
    /// compacted file after a compaction.
    base_len: u64,
    /// When the file was opened or last compacted.
    compacted_at: Instant,
    policy: CompactionPolicy,
    /// While a compaction runs: the records written since its snapshot, and how many.
    aside: Option<(Vec<u8>, u64)>,
}

/// A second handle on the database file, for syncing it without holding the [`Storage`]
/// (and so without holding the lock the storage lives under). After a compaction it syncs
/// the new file.
#[derive(Debug)]
pub struct SyncHandle {
    path: PathBuf,
    current: CurrentFile,
}

impl SyncHandle {
    /// Makes every byte written to the file before this call durable.
    pub fn sync(&self) -> Result<(), StorageError> {
        let file = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        file.sync_data().map_err(|source| StorageError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// A compaction's snapshot, built under the lock, to be written without it.
#[derive(Debug)]
pub struct Snapshot {
    tmp: PathBuf,
    schema: Value,
    record: Value,
}

/// A snapshot written and synced to its temporary file, ready to replace the database file.
#[derive(Debug)]
pub struct WrittenSnapshot {
    tmp: PathBuf,
    file: File,
    len: u64,
}

impl Snapshot {
    /// Writes the temporary file (schema and snapshot records) and syncs it. Needs no lock:
    /// the database file is not touched.
    pub fn write(self) -> Result<WrittenSnapshot, StorageError> {
        let io_err = |source| StorageError::Io {
            path: self.tmp.clone(),
            source,
        };
        let mut bytes = log::encode_record(&self.schema);
        bytes.extend(log::encode_record(&self.record));
        // A leftover of an earlier attempt that failed is not ours to extend.
        let _ = std::fs::remove_file(&self.tmp);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&self.tmp)
            .map_err(io_err)?;
        file.write_all(&bytes).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        Ok(WrittenSnapshot {
            len: bytes.len() as u64,
            tmp: self.tmp,
            file,
        })
    }

    /// Where the temporary file goes.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }
}

impl WrittenSnapshot {
    /// Where the temporary file is.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
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
        // A compaction cut short by a crash leaves its temporary file: the database file is
        // the old one, whole, and the leftover means nothing.
        let _ = std::fs::remove_file(tmp_path(path));
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
        let file = Arc::new(file);
        // The file's "snapshot" is its schema and first transaction (after a compaction,
        // the whole database): growth is measured against that, so a long log never
        // compacted before is compacted in its turn.
        let base_len = contents
            .ends
            .get(1)
            .or(contents.ends.first())
            .map_or(end.0, |&e| e as u64);
        Ok(Opened {
            storage: Self {
                path: path.to_owned(),
                current: Arc::new(Mutex::new(file.clone())),
                file,
                len: end.0,
                end,
                records: contents.records.len() as u64,
                base_len,
                compacted_at: Instant::now(),
                policy: CompactionPolicy::default(),
                aside: None,
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
        if let Err(source) = (&*self.file).write_all(&bytes) {
            // A record cut short in the middle of the file would hide every later one from
            // replay: cut it off, so that the next record follows the last good one. If even
            // that fails the next write fails too, and so on, which is safe.
            let _ = self.file.set_len(self.len);
            return Err(StorageError::Io {
                path: self.path.clone(),
                source,
            });
        }
        self.len += bytes.len() as u64;
        self.end.0 += bytes.len() as u64;
        self.records += 1;
        if let Some((aside, n)) = &mut self.aside {
            aside.extend_from_slice(&bytes);
            *n += 1;
        }
        Ok(())
    }

    /// How far the log is written: every record written so far ends at or before this.
    pub fn end(&self) -> LogOffset {
        self.end
    }

    /// A handle that syncs this file (and, after a compaction, its successor) from another
    /// thread.
    pub fn sync_handle(&self) -> Result<SyncHandle, StorageError> {
        Ok(SyncHandle {
            path: self.path.clone(),
            current: self.current.clone(),
        })
    }

    /// Replaces the rule for compacting on its own.
    pub fn set_policy(&mut self, policy: CompactionPolicy) {
        self.policy = policy;
    }

    /// The rule for compacting on its own.
    pub fn policy(&self) -> CompactionPolicy {
        self.policy
    }

    /// The current file's length in bytes.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Whether the file should be compacted now, by the [`CompactionPolicy`] (never while a
    /// compaction is under way).
    pub fn compaction_due(&self, now: Instant) -> bool {
        let p = &self.policy;
        let age = now.saturating_duration_since(self.compacted_at);
        if self.aside.is_some() || age < p.min_interval || self.records < p.min_records {
            return false;
        }
        let grew_lots = self.len > p.min_size && self.len / p.growth_factor.max(1) > self.base_len;
        grew_lots || age >= p.max_interval
    }

    /// Whether a compaction is under way (begun, not yet finished or aborted).
    pub fn compacting(&self) -> bool {
        self.aside.is_some()
    }

    /// Step 1 of a compaction (see the module doc): the snapshot of `db`, which must be the
    /// database this file holds, as it is now. From here on, written records are also kept
    /// aside until [`Storage::finish_compaction`] or [`Storage::abort_compaction`].
    pub fn begin_compaction(&mut self, db: &Database, date_ms: u64) -> Snapshot {
        self.aside = Some((Vec::new(), 0));
        Snapshot {
            tmp: tmp_path(&self.path),
            schema: db.schema().to_json(),
            record: log::snapshot_record(db, date_ms, log::ONLINE_COMPACTION_COMMENT),
        }
    }

    /// Step 3 of a compaction: appends what was written since the snapshot to the new file,
    /// syncs it, renames it over the database file, syncs the directory, and carries on with
    /// the new file. On success every record written so far is durable. On failure the old
    /// file is still the database (the compaction is aborted and the temporary file
    /// removed).
    pub fn finish_compaction(
        &mut self,
        written: WrittenSnapshot,
        now: Instant,
    ) -> Result<(), StorageError> {
        let Some((aside, n)) = self.aside.take() else {
            let _ = std::fs::remove_file(&written.tmp);
            return Err(StorageError::Io {
                path: written.tmp,
                source: io::Error::other("no compaction under way"),
            });
        };
        let tmp = written.tmp.clone();
        let result = (|| {
            let mut file = written.file;
            file.write_all(&aside)?;
            file.sync_data()?;
            std::fs::rename(&tmp, &self.path)?;
            Ok::<_, io::Error>(file)
        })();
        let file = match result {
            Ok(file) => file,
            Err(source) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(StorageError::Io { path: tmp, source });
            }
        };
        // Renamed: the new file *is* the database now, whatever happens next, so records
        // must go to it (the old one is unlinked).
        let file = Arc::new(file);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = file.clone();
        self.file = file;
        self.len = written.len + aside.len() as u64;
        self.base_len = self.len;
        self.records = 2 + n;
        self.compacted_at = now;
        sync_parent(&self.path).map_err(|source| StorageError::DirSync {
            path: self.path.clone(),
            source,
        })
    }

    /// Gives up a compaction begun with [`Storage::begin_compaction`]: the old file stays.
    pub fn abort_compaction(&mut self) {
        self.aside = None;
        let _ = std::fs::remove_file(tmp_path(&self.path));
    }

    /// A whole compaction in one call, for callers that may hold their lock throughout.
    pub fn compact(&mut self, db: &Database, date_ms: u64) -> Result<(), StorageError> {
        let snapshot = self.begin_compaction(db, date_ms);
        match snapshot.write() {
            Ok(written) => self.finish_compaction(written, Instant::now()),
            Err(e) => {
                self.abort_compaction();
                Err(e)
            }
        }
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

/// The temporary file a compaction writes: `DIR/.NAME.tmp`, beside the database so that the
/// rename stays within one file system.
fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "db".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp"))
}

/// Makes a new file's directory entry durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use fvs_ovsdb::{Datum, Row, RowChange};

    /// A fresh database file of one table, and a change set inserting one row into it.
    fn open(dir: &fvs_test_support::TempDir) -> (Storage, Database, impl FnMut() -> ChangeSet) {
        let schema = dir.path().join("s.ovsschema");
        let text = serde_json::json!({"name": "S", "version": "1.0.0", "tables": {
            "T": {"isRoot": true, "columns": {"n": {"type": "integer"}}}}});
        std::fs::write(&schema, text.to_string()).expect("schema");
        let mut n = 0u128;
        let opened = Storage::open(&dir.path().join("db"), Some(&schema), &mut || {
            n += 1;
            Uuid::from_u128(n)
        })
        .expect("open");
        let mut next = 1000u128;
        let insert = move || {
            next += 1;
            let row = Row {
                version: Uuid::from_u128(next),
                columns: BTreeMap::from([(
                    "n".to_owned(),
                    Datum::scalar(fvs_ovsdb::Atom::Integer(7)),
                )]),
            };
            let mut changes = ChangeSet::default();
            changes.tables.insert(
                "T".to_owned(),
                BTreeMap::from([(
                    Uuid::from_u128(next),
                    RowChange {
                        old: None,
                        new: Some(row),
                    },
                )]),
            );
            changes
        };
        (opened.storage, opened.db, insert)
    }

    #[test]
    fn the_default_policy_is_open_vswitchs() {
        let dir = fvs_test_support::TempDir::new("policy");
        let (mut storage, db, mut insert) = open(&dir);
        let now = Instant::now();
        let minutes = |m: u64| now + Duration::from_secs(60 * m);
        assert!(!storage.compaction_due(minutes(11)), "one record only");
        for _ in 0..120 {
            storage
                .write_commit(db.schema(), &insert(), 0)
                .expect("write");
        }
        assert!(!storage.compaction_due(now), "too soon");
        assert!(
            !storage.compaction_due(minutes(11)),
            "small, and not a day old"
        );
        assert!(storage.compaction_due(minutes(24 * 60 + 1)), "a day old");
        // Past 10 MiB and four times the size after opening: due after ten minutes.
        storage.set_policy(CompactionPolicy {
            min_size: 1,
            ..CompactionPolicy::default()
        });
        assert!(storage.compaction_due(minutes(11)));
        assert!(!storage.compaction_due(minutes(9)), "too soon");
        storage.set_policy(CompactionPolicy::NEVER);
        assert!(!storage.compaction_due(minutes(100_000)));
    }

    #[test]
    fn a_long_log_reopened_counts_its_growth_from_its_first_transaction() {
        let dir = fvs_test_support::TempDir::new("reopen");
        let (mut storage, db, mut insert) = open(&dir);
        for _ in 0..120 {
            storage
                .write_commit(db.schema(), &insert(), 0)
                .expect("write");
        }
        drop(storage);
        // A compaction that a crash cut short leaves its temporary file: opening drops it.
        let tmp = dir.path().join(".db.tmp");
        std::fs::write(&tmp, b"half a snapshot").expect("leftover");
        let mut n = 0u128;
        let mut reopened = Storage::open(&dir.path().join("db"), None, &mut || {
            n += 1;
            Uuid::from_u128(n)
        })
        .expect("reopen")
        .storage;
        assert!(!tmp.exists(), "the leftover is removed");
        reopened.set_policy(CompactionPolicy {
            min_size: 1,
            ..CompactionPolicy::default()
        });
        let later = Instant::now() + Duration::from_secs(11 * 60);
        assert!(
            reopened.compaction_due(later),
            "121 records, 4x the first two"
        );
    }

    #[test]
    fn commits_during_a_compaction_reach_the_new_file() {
        let dir = fvs_test_support::TempDir::new("racing");
        let (mut storage, mut db, mut insert) = open(&dir);
        let first = insert();
        storage.write_commit(db.schema(), &first, 0).expect("write");
        db.apply(&first);
        let snapshot = storage.begin_compaction(&db, 0);
        // Committed after the snapshot was taken, before it is in place.
        let racing = insert();
        storage
            .write_commit(db.schema(), &racing, 0)
            .expect("write");
        db.apply(&racing);
        let written = snapshot.write().expect("write snapshot");
        storage
            .finish_compaction(written, Instant::now())
            .expect("finish");
        let after = insert();
        storage.write_commit(db.schema(), &after, 0).expect("write");
        db.apply(&after);
        let bytes = std::fs::read(dir.path().join("db")).expect("read");
        let contents = log::read_records(&bytes);
        assert_eq!(contents.tail_error, None);
        assert_eq!(contents.records.len(), 4, "schema, snapshot, racing, after");
        let mut n = 0u128;
        let back = log::replay(&contents.records, &mut || {
            n += 1;
            Uuid::from_u128(n)
        })
        .expect("replay");
        assert_eq!(back.n_rows(), 3);
        assert_eq!(storage.file_len(), bytes.len() as u64);
    }
}
