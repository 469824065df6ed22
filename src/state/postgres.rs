//! The PostgreSQL backend: state kept in a table of a PostgreSQL database,
//! so that a team and its CI share one state with one lock.
//!
//! ```hcl
//! tenancy {
//!   state "postgres" {
//!     url    = var.state_url        # sensitive
//!     schema = "public"
//!     table  = "tenancy_state"
//!     name   = "production"
//!   }
//! }
//! ```
//!
//! Three tables live in `schema`, created on first use:
//!
//! - `TABLE` has one row per state `name`: the document of
//!   [`crate::state::format`], its lineage and serial, and the time of the
//!   last write. A write replaces the row in one transaction that first
//!   checks the stored lineage and serial under `SELECT … FOR UPDATE`, so it
//!   is never half-written, and a writer that read an older serial fails.
//! - `TABLE_locks` has the [`LockInfo`] of the current lock holder per name.
//!   The lock itself is a session-level advisory lock
//!   (`pg_try_advisory_lock`) on a key derived from schema, table and name,
//!   held by a connection that the [`LockGuard`] owns. The server ends the
//!   session, and with it the lock, when the holding process dies.
//! - `TABLE_journal` has the changes of a running apply, one row each, in
//!   the JSON shape of the local journal's lines. `read` replays them onto
//!   the stored state after a crash, and the next write removes them in the
//!   same transaction.

mod error;
mod lock;
mod session;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tenancy_sdk::{Attrs, Value};
use tokio_postgres::Config;
use tokio_postgres::config::Host;

pub use self::error::PostgresStateError;
pub use self::lock::PostgresLock;
use self::session::Session;
pub use self::store::PostgresJournal;
use crate::state::backend::{Journal, LockGuard, StateBackend};
use crate::state::error::StateError;
use crate::state::format::encode;
use crate::state::local::parse_timeout;
use crate::state::model::{State, TENANCY_VERSION};

/// The schema used when `state "postgres"` sets none.
pub const DEFAULT_SCHEMA: &str = "public";

/// The state table used when `state "postgres"` sets none.
pub const DEFAULT_TABLE: &str = "tenancy_state";

/// The state name used when `state "postgres"` sets none.
pub const DEFAULT_NAME: &str = "default";

/// How long opening a connection may take when the URL sets no
/// `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The maximum length of a state name, in bytes.
const MAX_NAME_LEN: usize = 200;

/// The suffix of the longest derived table name, `TABLE_journal`, which
/// must fit PostgreSQL's 63-byte identifiers.
const JOURNAL_SUFFIX: &str = "_journal";

/// State stored in a PostgreSQL table, locked with an advisory lock.
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    inner: Arc<Inner>,
    lock_timeout: Option<Duration>,
}

/// The settings and the shared connection of one backend. Jobs on the
/// connection's thread keep it alive through an `Arc`.
struct Inner {
    config: Config,
    name: String,
    location: String,
    sql: Statements,
    lock_key: i64,
    setup_key: i64,
    tables_ready: AtomicBool,
    shared: Mutex<Option<Arc<Session>>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may contain a password, so only the description is shown.
        formatter
            .debug_struct("PostgresBackend")
            .field("location", &self.location)
            .finish()
    }
}

/// The SQL text of every statement, with the quoted table names filled in.
struct Statements {
    schema: String,
    states: String,
    locks: String,
    journal: String,
}

impl PostgresBackend {
    /// Creates the backend from the attributes of a `state "postgres"`
    /// block: `url` (required), `schema`, `table`, `name` and
    /// `lock_timeout` (seconds, or a duration such as `"2m"`).
    pub fn from_settings(attrs: &Attrs) -> Result<Self, StateError> {
        let mut url = None;
        let mut lock_timeout = None;
        let mut schema = DEFAULT_SCHEMA.to_owned();
        let mut table = DEFAULT_TABLE.to_owned();
        let mut name = DEFAULT_NAME.to_owned();
        for (setting, value) in attrs {
            match setting.as_str() {
                "url" => url = Some(string_setting(setting, value)?),
                "schema" => schema = string_setting(setting, value)?,
                "table" => table = string_setting(setting, value)?,
                "name" => name = string_setting(setting, value)?,
                "lock_timeout" => {
                    let timeout = parse_timeout(value).map_err(|reason| invalid_setting(setting, &reason))?;
                    lock_timeout = Some(timeout);
                }
                "encryption_key" if value.is_null() => {}
                "encryption_key" => {
                    return Err(invalid_setting(
                        setting,
                        "state encryption is not available in the postgres backend yet; remove the setting",
                    ));
                }
                _ => {
                    return Err(invalid_setting(
                        setting,
                        "the postgres backend has no such setting",
                    ));
                }
            }
        }
        let url = url.ok_or_else(|| invalid_setting("url", "the setting is required"))?;
        let mut backend = PostgresBackend::new(&url, &schema, &table, &name)?;
        backend.lock_timeout = lock_timeout;
        Ok(backend)
    }

    /// Creates the backend for the state `name` in `schema.table` of the
    /// database that `url` (a URL or key-value connection string) names.
    /// Nothing connects until the first operation.
    pub fn new(url: &str, schema: &str, table: &str, name: &str) -> Result<Self, StateError> {
        let config = parse_url(url)?;
        check_identifier("schema", schema, 63)?;
        check_identifier("table", table, 63 - JOURNAL_SUFFIX.len())?;
        check_name(name)?;

        let location = format!(
            "PostgreSQL state `{name}` in table `{schema}.{table}` on {}",
            describe_server(&config)
        );
        let inner = Inner {
            config,
            name: name.to_owned(),
            location,
            sql: Statements::new(schema, table),
            lock_key: derive_key(&["lock", schema, table, name]),
            setup_key: derive_key(&["setup", schema, table]),
            tables_ready: AtomicBool::new(false),
            shared: Mutex::new(None),
        };
        Ok(PostgresBackend {
            inner: Arc::new(inner),
            lock_timeout: None,
        })
    }

    /// Returns the state name, the key of this state's row.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Returns the key of the session-level advisory lock that guards this
    /// state.
    pub fn lock_key(&self) -> i64 {
        self.inner.lock_key
    }
}

impl StateBackend for PostgresBackend {
    fn describe(&self) -> String {
        self.inner.location.clone()
    }

    fn lock(&self, operation: &str) -> Result<Box<dyn LockGuard>, StateError> {
        Ok(Box::new(PostgresLock::acquire(&self.inner, operation, self.lock_timeout)?))
    }

    fn set_lock_timeout(&mut self, timeout: Duration) {
        self.lock_timeout = Some(timeout);
    }

    fn read(&self) -> Result<Option<State>, StateError> {
        let inner = Arc::clone(&self.inner);
        let session = self.inner.session()?;
        let (document, journal) = session.run("read the state", move |client| async move {
            inner.read_rows(&client).await
        })?;

        let stored = match document {
            Some(document) => Some(self.inner.decode(&document)?),
            None => None,
        };
        Ok(self.inner.replay(stored, journal)?)
    }

    fn write(&self, state: &mut State) -> Result<(), StateError> {
        let replaced_serial = state.serial;
        let previous_version =
            std::mem::replace(&mut state.tenancy_version, TENANCY_VERSION.to_owned());
        let Some(next_serial) = state.next_serial() else {
            state.tenancy_version = previous_version;
            return Err(StateError::SerialExhausted {
                path: self.describe(),
                serial: state.serial,
            });
        };
        state.serial = next_serial;
        let written = encode(state).and_then(|document| {
            let document = String::from_utf8(document).expect("the state document is UTF-8 JSON");
            self.inner
                .store(&state.lineage, replaced_serial, state.serial, document)
        });
        if written.is_err() {
            state.serial = replaced_serial;
            state.tenancy_version = previous_version;
        }
        written
    }

    fn journal(&self, base: &State) -> Result<Box<dyn Journal>, StateError> {
        Ok(Box::new(PostgresJournal::open(&self.inner, base)?))
    }

    fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        lock::force_unlock(&self.inner, id)
    }
}

impl Inner {
    fn query_error(
        &self,
        action: &'static str,
        source: tokio_postgres::Error,
    ) -> PostgresStateError {
        PostgresStateError::Query {
            action,
            location: self.location.clone(),
            source,
        }
    }

    fn damaged(&self, reason: String) -> PostgresStateError {
        PostgresStateError::Damaged {
            location: self.location.clone(),
            reason,
        }
    }

    fn journal_mismatch(
        &self,
        journal_lineage: &str,
        journal_serial: u64,
        state_lineage: &str,
        state_serial: u64,
    ) -> PostgresStateError {
        PostgresStateError::JournalMismatch {
            location: self.location.clone(),
            journal_lineage: journal_lineage.to_owned(),
            journal_serial,
            state_lineage: state_lineage.to_owned(),
            state_serial,
        }
    }
}

impl Statements {
    fn new(schema: &str, table: &str) -> Self {
        let schema = quote_identifier(schema);
        Statements {
            states: format!("{schema}.{}", quote_identifier(table)),
            locks: format!("{schema}.{}", quote_identifier(&format!("{table}_locks"))),
            journal: format!(
                "{schema}.{}",
                quote_identifier(&format!("{table}{JOURNAL_SUFFIX}"))
            ),
            schema,
        }
    }

    fn create_tables(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {states} (
                 name text PRIMARY KEY,
                 lineage text NOT NULL,
                 serial bigint NOT NULL,
                 document text NOT NULL,
                 updated_at timestamptz NOT NULL DEFAULT now()
             );
             CREATE TABLE IF NOT EXISTS {locks} (
                 name text PRIMARY KEY,
                 id text NOT NULL,
                 info text NOT NULL,
                 session_pid integer NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now()
             );
             CREATE TABLE IF NOT EXISTS {journal} (
                 name text NOT NULL,
                 seq bigserial NOT NULL,
                 lineage text NOT NULL,
                 base_serial bigint NOT NULL,
                 change text NOT NULL,
                 PRIMARY KEY (name, seq)
             );",
            states = self.states,
            locks = self.locks,
            journal = self.journal,
        )
    }
}

/// Parses the connection string without ever repeating it, because it may
/// contain a password.
fn parse_url(url: &str) -> Result<Config, StateError> {
    let mut config: Config = url.parse().map_err(|error: tokio_postgres::Error| {
        invalid_setting(
            "url",
            &format!("not a valid PostgreSQL connection string ({error})"),
        )
    })?;
    if config.get_hosts().is_empty() {
        return Err(invalid_setting(
            "url",
            "the connection string names no host; write it as postgres://USER@HOST:PORT/DATABASE",
        ));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("tenancy state");
    Ok(config)
}

/// Returns `host:port/database` of the first host, without credentials.
fn describe_server(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) if host.contains(':') => format!("[{host}]"),
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    // libpq connects to the database named after the user when none is given.
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{database}")
}

fn string_setting(name: &str, value: &Value) -> Result<String, StateError> {
    match value.as_str() {
        Some(text) if !text.is_empty() => Ok(text.to_owned()),
        // A sensitive value prints as a placeholder, so the URL never shows.
        _ => Err(invalid_setting(
            name,
            &format!("expected a non-empty string, found {value}"),
        )),
    }
}

fn check_identifier(setting: &str, text: &str, max_len: usize) -> Result<(), StateError> {
    let mut chars = text.chars();
    let valid_start = chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_');
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_start || !valid_rest {
        return Err(invalid_setting(
            setting,
            &format!(
                "`{text}` is not an identifier: use letters, digits and underscores, starting with a letter or underscore"
            ),
        ));
    }
    if text.len() > max_len {
        return Err(invalid_setting(
            setting,
            &format!(
                "`{text}` is longer than {max_len} bytes, the most that fits PostgreSQL's identifiers"
            ),
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), StateError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(invalid_setting(
            "name",
            &format!(
                "expected 1 to {MAX_NAME_LEN} bytes without control characters, found {name:?}"
            ),
        ));
    }
    Ok(())
}

fn invalid_setting(name: &str, reason: &str) -> StateError {
    PostgresStateError::InvalidSetting {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
    .into()
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Derives a 64-bit advisory lock key from `parts`, so that each state has
/// its own lock and unrelated applications rarely pick the same key.
fn derive_key(parts: &[&str]) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(b"tenancy-state");
    for part in parts {
        hasher.update([0]);
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Converts a serial to a `bigint` column value. Serials grow by one per
/// write, so they never reach `i64::MAX`.
fn to_column(serial: u64) -> i64 {
    i64::try_from(serial).unwrap_or(i64::MAX)
}

fn from_column(serial: i64, location: &str) -> Result<u64, PostgresStateError> {
    u64::try_from(serial).map_err(|_| PostgresStateError::Damaged {
        location: location.to_owned(),
        reason: format!("the serial {serial} is negative"),
    })
}
