//! The tenant catalog file: one SQLite connection, opened once and reused.
//!
//! The catalog runs in WAL mode, so applications and the billing ledger read
//! it while tenancy writes. Every catalog statement of this process goes
//! through one connection guarded by a mutex and runs on tokio's blocking
//! pool, so the async engine never waits on SQLite and writes never contend
//! for the file lock inside the process.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Result, SqliteError};
use crate::migrations;

/// How long a statement waits for another process's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many prepared statements the connection keeps for reuse.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// The subject of errors that concern the provider block as a whole.
pub const PROVIDER_SUBJECT: &str = "provider \"sqlite\"";

/// When SQLite flushes catalog writes to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous=NORMAL`: a commit survives a crash of the process; a
    /// power loss can undo the commits since the last WAL checkpoint.
    Normal,
    /// `synchronous=FULL`: every commit is flushed before it returns.
    Full,
}

impl Synchronous {
    /// Parses the provider block's `synchronous` value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "normal" => Some(Self::Normal),
            "full" => Some(Self::Full),
            _ => None,
        }
    }

    fn pragma_value(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

/// An open tenant catalog; cloning shares the connection.
#[derive(Clone)]
pub struct Catalog {
    path: Arc<PathBuf>,
    connection: Arc<Mutex<Connection>>,
}

impl Catalog {
    /// Opens or creates the catalog at `path` and brings its schema up to
    /// date. Blocks: call it from a blocking task.
    pub fn open(path: &Path, synchronous: Synchronous) -> Result<Self> {
        let fail =
            |action: &str, source| SqliteError::catalog(PROVIDER_SUBJECT, action, path, source);

        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut connection = Connection::open_with_flags(path, flags)
            .map_err(|error| fail("open the file", error))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|error| fail("set the busy timeout", error))?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);

        let journal_mode: String = connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|error| fail("switch to WAL mode", error))?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), journal_mode, "the catalog could not switch to WAL mode");
        }
        connection
            .pragma_update(None, "synchronous", synchronous.pragma_value())
            .map_err(|error| fail("set `synchronous`", error))?;
        connection
            .pragma_update(None, "foreign_keys", true)
            .map_err(|error| fail("turn on foreign keys", error))?;

        let version = migrations::migrate(&mut connection)
            .map_err(|error| fail("migrate the schema", error))?;
        if version > migrations::latest_version() {
            return Err(SqliteError::invalid(
                PROVIDER_SUBJECT,
                format!(
                    "the tenant catalog `{}` has schema version {version}, newer than version {} \
                     that this build of tenancy knows; upgrade tenancy to use it",
                    path.display(),
                    migrations::latest_version()
                ),
            ));
        }
        tracing::debug!(path = %path.display(), version, "opened the tenant catalog");

        Ok(Self {
            path: Arc::new(path.to_path_buf()),
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Returns the catalog file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` with the catalog connection on the blocking pool.
    /// `subject` names the resource in the error a panicking task returns.
    pub async fn run<T, F>(&self, subject: &str, work: F) -> Result<T>
    where
        F: FnOnce(&mut Connection, &Path) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let catalog = self.clone();
        let task = tokio::task::spawn_blocking(move || catalog.run_blocking(work));
        task.await.map_err(|error| SqliteError::Worker {
            subject: subject.to_owned(),
            message: error.to_string(),
        })?
    }

    /// Runs `work` with the catalog connection on the calling thread.
    pub fn run_blocking<T>(
        &self,
        work: impl FnOnce(&mut Connection, &Path) -> Result<T>,
    ) -> Result<T> {
        // A panic while the lock was held leaves no transaction open, because
        // rusqlite rolls back a transaction when it is dropped during unwind,
        // so the connection stays usable after poisoning.
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut connection, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sets_wal_and_foreign_keys() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("catalog.db");

        let catalog = Catalog::open(&path, Synchronous::Normal).unwrap();

        let (mode, foreign_keys) = catalog
            .run_blocking(|connection, _| {
                let mode: String = connection
                    .pragma_query_value(None, "journal_mode", |row| row.get(0))
                    .unwrap();
                let keys: i64 = connection
                    .pragma_query_value(None, "foreign_keys", |row| row.get(0))
                    .unwrap();
                Ok((mode, keys))
            })
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(foreign_keys, 1);
    }

    #[test]
    fn reopening_keeps_schema_version() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("catalog.db");

        drop(Catalog::open(&path, Synchronous::Normal).unwrap());
        let catalog = Catalog::open(&path, Synchronous::Full).unwrap();

        let version = catalog
            .run_blocking(|connection, _| Ok(migrations::current_version(connection).unwrap()))
            .unwrap();
        assert_eq!(version, migrations::latest_version());
    }
}
