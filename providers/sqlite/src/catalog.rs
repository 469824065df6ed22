//! The tenant catalog file: a writer thread with its own connection, and
//! a pool of read connections, all opened once and reused.
//!
//! The catalog runs in WAL mode, so applications and the billing ledger read
//! it while tenancy writes. All catalog writes of this process go through
//! the writer thread, so they do not contend with each other for the file
//! lock. Async callers await the thread's reply instead of blocking a
//! runtime thread.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::Duration;

use tokio::sync::oneshot;

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

/// The maximum number of operations the writer commits in one transaction.
const MAX_BATCH: usize = 64;

/// An operation's outcome inside the writer's transaction: whether it
/// succeeded, and how to hand its result over once the commit is known.
struct Pending {
    succeeded: bool,
    deliver: Box<dyn FnOnce(Option<SqliteError>) + Send>,
}

/// A write operation queued for the writer thread.
trait Job: Send {
    /// Runs the operation inside the writer's transaction.
    fn run(self: Box<Self>, connection: &Connection, path: &Path) -> Pending;

    /// Fails the caller's request without running it, because no transaction could
    /// be started.
    fn reject(self: Box<Self>, error: SqliteError);
}

struct WriteJob<F, T> {
    work: F,
    sender: oneshot::Sender<Result<T>>,
}

impl<F, T> Job for WriteJob<F, T>
where
    F: FnOnce(&Connection, &Path) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, connection: &Connection, path: &Path) -> Pending {
        let WriteJob { work, sender } = *self;
        let result = work(connection, path);
        Pending {
            succeeded: result.is_ok(),
            deliver: Box::new(move |commit_error| {
                let outcome = match commit_error {
                    Some(error) if result.is_ok() => Err(error),
                    _ => result,
                };
                let _ = sender.send(outcome);
            }),
        }
    }

    fn reject(self: Box<Self>, error: SqliteError) {
        let _ = self.sender.send(Err(error));
    }
}

/// An open tenant catalog; cloning shares its connections.
///
/// Writes go to one writer thread that owns the write connection. It takes
/// every operation queued at the moment (up to 64) into one transaction and
/// runs each inside its own savepoint, so a failed operation rolls back
/// alone. It commits once and only then sends each caller its result. So
/// every operation is committed when its call returns, and concurrent
/// callers share the cost of the commit. Reads use [`READERS`] other
/// connections, so they see committed data without waiting for the writer,
/// and a refresh reads several tables at once.
#[derive(Clone)]
pub struct Catalog {
    path: Arc<PathBuf>,
    // Fields drop in this order. The read connections close before the
    // last sender lets the writer thread close its own, so the writer's
    // is the catalog's last connection: SQLite then checkpoints the WAL
    // into the catalog file and removes the `-wal` and `-shm` files.
    readers: Arc<ReadPool>,
    jobs: mpsc::Sender<Box<dyn Job>>,
}

/// The number of read connections of a catalog.
const READERS: usize = 2;

/// The page cache of each read connection, in the negative KiB form of
/// `PRAGMA cache_size`. Reads fetch rows by key in sorted batches, so a
/// small cache serves them: SQLite's default of 2,000 KiB per connection
/// added about 3 MiB to a no-op plan of 100,000 resources and no speed.
const READER_CACHE_KIB: i64 = -512;

impl Catalog {
    /// Opens or creates the catalog at `path`, brings its schema up to date
    /// and starts the writer thread. Blocks: call it from a blocking task.
    pub fn open(path: &Path, synchronous: Synchronous) -> Result<Self> {
        let fail =
            |action: &str, source| SqliteError::catalog(PROVIDER_SUBJECT, action, path, source);

        let mut writer = open_connection(path)?;
        let journal_mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|error| fail("switch to WAL mode", error))?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), journal_mode, "the catalog could not switch to WAL mode");
        }
        writer
            .pragma_update(None, "synchronous", synchronous.pragma_value())
            .map_err(|error| fail("set `synchronous`", error))?;
        writer
            .pragma_update(None, "foreign_keys", true)
            .map_err(|error| fail("turn on foreign keys", error))?;
        migrate(path, &mut writer)?;
        // A new or upgraded schema is copied from the `-wal` file into the
        // catalog file at once. The writer thread's connection is not
        // always closed before the process exits, and a copy of the
        // catalog file alone must still have its tables. A passive
        // checkpoint does not wait for readers or writers of other
        // processes (SQLite's documentation of `wal_checkpoint`).
        writer
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|error| fail("checkpoint the schema", error))?;

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = open_connection(path)?;
            reader
                .pragma_update(None, "foreign_keys", true)
                .and_then(|()| reader.pragma_update(None, "query_only", true))
                .and_then(|()| reader.pragma_update(None, "cache_size", READER_CACHE_KIB))
                .map_err(|error| fail("open a read-only connection", error))?;
            readers.push(reader);
        }

        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let writer_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("tenancy-catalog-writer".to_owned())
            .spawn(move || run_writer(writer, &writer_path, queue))
            .map_err(|error| {
                SqliteError::io(
                    PROVIDER_SUBJECT,
                    "start the catalog writer thread for",
                    path,
                    error,
                )
            })?;

        Ok(Self {
            path: Arc::new(path.to_path_buf()),
            jobs,
            readers: Arc::new(ReadPool::new(readers)),
        })
    }

    /// Returns the catalog file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the writer thread inside a savepoint of the current
    /// batch transaction; returns its result once the batch has committed.
    /// An error from `work` rolls back only what `work` did.
    pub async fn write<T, F>(&self, subject: &str, work: F) -> Result<T>
    where
        F: FnOnce(&Connection, &Path) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (sender, receiver) = oneshot::channel();
        let job = Box::new(WriteJob { work, sender });
        let stopped = || SqliteError::Worker {
            subject: subject.to_owned(),
            message:
                "the catalog operation did not complete: it panicked or the writer thread stopped"
                    .to_owned(),
        };
        self.jobs.send(job).map_err(|_| stopped())?;
        receiver.await.map_err(|_| stopped())?
    }

    /// Runs `work` with the read connection on tokio's blocking pool.
    pub async fn read<T, F>(&self, subject: &str, work: F) -> Result<T>
    where
        F: FnOnce(&Connection, &Path) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let catalog = self.clone();
        let task = tokio::task::spawn_blocking(move || catalog.read_blocking(work));
        task.await.map_err(|error| SqliteError::Worker {
            subject: subject.to_owned(),
            message: error.to_string(),
        })?
    }

    /// Runs `work` with a free read connection on the calling thread, or
    /// waits for the first one that comes free when all are busy.
    pub fn read_blocking<T>(
        &self,
        work: impl FnOnce(&Connection, &Path) -> Result<T>,
    ) -> Result<T> {
        let lent = self.readers.lend();
        work(lent.connection(), &self.path)
    }
}

/// The read connections, lent to one reader at a time.
struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
}

impl ReadPool {
    fn new(connections: Vec<Connection>) -> Self {
        Self {
            idle: Mutex::new(connections),
            returned: Condvar::new(),
        }
    }

    /// Returns an idle connection, waiting until one is returned when all
    /// are lent.
    fn lend(&self) -> Lent<'_> {
        // The lock guards only the list of idle connections, and no code
        // that may panic runs while it is taken, so the list behind a
        // poisoned lock is still consistent.
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(connection) = idle.pop() {
                return Lent {
                    pool: self,
                    connection: Some(connection),
                };
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A read connection on loan, returned to its pool on drop, also when the
/// work that used it panicked. A connection that only reads has no
/// transaction left open, so it stays usable.
struct Lent<'a> {
    pool: &'a ReadPool,
    connection: Option<Connection>,
}

impl Lent<'_> {
    fn connection(&self) -> &Connection {
        self.connection
            .as_ref()
            .expect("a lent connection is present until it is returned")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(connection);
            self.pool.returned.notify_one();
        }
    }
}

fn open_connection(path: &Path) -> Result<Connection> {
    let fail = |action: &str, source| SqliteError::catalog(PROVIDER_SUBJECT, action, path, source);
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection =
        Connection::open_with_flags(path, flags).map_err(|error| fail("open the file", error))?;
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(|error| fail("set the busy timeout", error))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(connection)
}

fn migrate(path: &Path, connection: &mut Connection) -> Result<()> {
    let version = migrations::migrate(connection).map_err(|error| {
        SqliteError::catalog(PROVIDER_SUBJECT, "migrate the schema", path, error)
    })?;
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
    Ok(())
}

/// Runs queued jobs in batches until every [`Catalog`] clone is dropped.
fn run_writer(connection: Connection, path: &Path, queue: mpsc::Receiver<Box<dyn Job>>) {
    let mut waiting: VecDeque<Box<dyn Job>> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => return,
            }
        }
        while waiting.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => break,
            }
        }
        run_batch(&connection, path, &mut waiting);
    }
}

/// Runs jobs from the front of `waiting` in one transaction and sends each
/// caller its result. When the transaction cannot begin, every waiting job
/// fails; when it is lost midway, the jobs not yet run stay queued.
fn run_batch(connection: &Connection, path: &Path, waiting: &mut VecDeque<Box<dyn Job>>) {
    let fail =
        |action: &str, error| SqliteError::catalog("the catalog writer", action, path, error);
    if let Err(error) = execute_cached(connection, "BEGIN IMMEDIATE") {
        let message = fail("begin a transaction", error).to_string();
        tracing::warn!(path = %path.display(), %message, "catalog operations rejected");
        for job in waiting.drain(..) {
            job.reject(batch_failure(&message));
        }
        return;
    }

    let mut done: Vec<Pending> = Vec::with_capacity(waiting.len());
    let mut batch_error: Option<String> = None;
    while done.len() < MAX_BATCH {
        let Some(job) = waiting.pop_front() else {
            break;
        };
        match run_in_savepoint(connection, path, job) {
            Ok(pending) => done.push(pending),
            Err(message) => {
                batch_error = Some(message);
                break;
            }
        }
    }

    let commit = match batch_error {
        Some(message) => Err(message),
        None => connection
            .prepare_cached("COMMIT")
            .and_then(|mut statement| statement.execute([]).map(|_| ()))
            .map_err(|error| fail("commit", error).to_string()),
    };
    match commit {
        Ok(()) => done.into_iter().for_each(|pending| (pending.deliver)(None)),
        Err(message) => {
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            tracing::warn!(path = %path.display(), %message, "catalog batch rolled back");
            for pending in done {
                (pending.deliver)(Some(batch_failure(&message)));
            }
        }
    }
}

/// Runs one job inside a savepoint. Returns an error message when the
/// transaction as a whole is lost and the batch must roll back.
fn run_in_savepoint(
    connection: &Connection,
    path: &Path,
    job: Box<dyn Job>,
) -> std::result::Result<Pending, String> {
    let fail = |action: &str, error| {
        SqliteError::catalog("the catalog writer", action, path, error).to_string()
    };
    execute_cached(connection, "SAVEPOINT operation")
        .map_err(|error| fail("open a savepoint", error))?;

    let outcome = panic::catch_unwind(AssertUnwindSafe(|| job.run(connection, path)));
    let succeeded = matches!(&outcome, Ok(pending) if pending.succeeded);
    if connection.is_autocommit() {
        // SQLite rolled back the whole transaction (disk full, I/O error),
        // so this job's work is gone too.
        let message = "SQLite rolled back the catalog transaction after an I/O error".to_owned();
        if let Ok(pending) = outcome {
            (pending.deliver)(Some(batch_failure(&message)));
        }
        return Err(message);
    }
    let rollback = if succeeded {
        Ok(())
    } else {
        execute_cached(connection, "ROLLBACK TO operation")
    };
    rollback
        .and_then(|()| execute_cached(connection, "RELEASE operation"))
        .map_err(|error| fail("close a savepoint", error))?;
    match outcome {
        Ok(pending) => Ok(pending),
        Err(_) => {
            tracing::error!(path = %path.display(), "a catalog operation panicked and was rolled back");
            Ok(Pending {
                succeeded: false,
                deliver: Box::new(|_| {}),
            })
        }
    }
}

/// Runs a statement without parameters through the statement cache, so the
/// writer does not parse its transaction control statements again for
/// every operation.
fn execute_cached(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn batch_failure(message: &str) -> SqliteError {
    SqliteError::Worker {
        subject: "the catalog writer".to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_waits_for_any_returned_connection() {
        let pool = ReadPool::new(vec![
            Connection::open_in_memory().unwrap(),
            Connection::open_in_memory().unwrap(),
        ]);
        let first = pool.lend();
        let second = pool.lend();

        std::thread::scope(|scope| {
            let third = scope.spawn(|| pool.lend().connection().is_autocommit());
            // Returning the connection lent second, not the first one,
            // wakes the waiting reader.
            std::thread::sleep(Duration::from_millis(50));
            drop(second);

            assert!(third.join().unwrap());
        });
        drop(first);
        assert_eq!(pool.idle.lock().unwrap().len(), 2);
    }

    #[test]
    fn open_sets_wal_and_foreign_keys() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("catalog.db");

        let catalog = Catalog::open(&path, Synchronous::Normal).unwrap();

        let (mode, foreign_keys) = catalog
            .read_blocking(|connection, _| {
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
            .read_blocking(|connection, _| Ok(migrations::current_version(connection).unwrap()))
            .unwrap();
        assert_eq!(version, migrations::latest_version());
    }

    fn insert_tier(connection: &Connection, name: &str) -> Result<()> {
        connection
            .execute(
                "INSERT INTO tiers (name, created_at, updated_at) VALUES (?1, 'now', 'now')",
                [name],
            )
            .map(|_| ())
            .map_err(|error| SqliteError::catalog("test", "insert", "catalog.db", error))
    }

    fn tier_names(catalog: &Catalog) -> Vec<String> {
        catalog
            .read_blocking(|connection, _| {
                let mut statement = connection
                    .prepare("SELECT name FROM tiers ORDER BY name")
                    .unwrap();
                let names = statement.query_map([], |row| row.get(0)).unwrap();
                Ok(names.map(|name| name.unwrap()).collect())
            })
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_write_rolls_back_alone() {
        let directory = tempfile::tempdir().unwrap();
        let catalog =
            Catalog::open(&directory.path().join("catalog.db"), Synchronous::Normal).unwrap();

        let mut tasks = Vec::new();
        for index in 0..40 {
            let catalog = catalog.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("tier-{index:02}");
                catalog
                    .write("test", move |connection, _| {
                        insert_tier(connection, &name)?;
                        if index % 2 == 1 {
                            return Err(SqliteError::invalid(
                                "test",
                                "odd tiers fail after writing",
                            ));
                        }
                        Ok(())
                    })
                    .await
            }));
        }
        let mut failures = 0;
        for task in tasks {
            failures += usize::from(task.await.unwrap().is_err());
        }

        assert_eq!(failures, 20);
        let expected: Vec<String> = (0..40)
            .step_by(2)
            .map(|index| format!("tier-{index:02}"))
            .collect();
        assert_eq!(tier_names(&catalog), expected);
    }

    #[tokio::test]
    async fn panicking_write_is_rolled_back_and_writer_continues() {
        let directory = tempfile::tempdir().unwrap();
        let catalog =
            Catalog::open(&directory.path().join("catalog.db"), Synchronous::Normal).unwrap();

        let panicked = catalog
            .write("test", |connection, _| -> Result<()> {
                insert_tier(connection, "lost")?;
                panic!("simulated bug in an operation");
            })
            .await;
        let written = catalog
            .write("test", |connection, _| insert_tier(connection, "kept"))
            .await;

        assert!(matches!(panicked, Err(SqliteError::Worker { .. })));
        assert!(written.is_ok());
        assert_eq!(tier_names(&catalog), vec!["kept".to_owned()]);
    }

    #[tokio::test]
    async fn write_is_visible_to_reader_after_return() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("catalog.db");
        let catalog = Catalog::open(&path, Synchronous::Normal).unwrap();

        catalog
            .write("test", |connection, _| insert_tier(connection, "pro"))
            .await
            .unwrap();

        let other_process_view = Connection::open(&path).unwrap();
        let count: i64 = other_process_view
            .query_row("SELECT count(*) FROM tiers", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }
}
