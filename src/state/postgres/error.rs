//! Errors of the PostgreSQL state backend, turned into [`StateError`] with a
//! stable code and a hint.
//!
//! Messages name the state by [`super::PostgresBackend`]'s description
//! (state name, table, host, port and database) and never repeat the
//! connection URL, which may contain a password.

use tokio_postgres::error::SqlState;

use crate::state::error::StateError;
use crate::state::lock::LockInfo;

/// A failed operation of the PostgreSQL state backend.
#[derive(Debug, thiserror::Error)]
pub enum PostgresStateError {
    /// A `state "postgres"` setting is missing or invalid.
    #[error("invalid setting `{name}` of the postgres state backend: {reason}")]
    InvalidSetting {
        /// The attribute name.
        name: String,
        /// The problem with the value, never the value of `url` itself.
        reason: String,
    },

    /// Opening a connection to the server failed.
    #[error("failed to connect to {location}: {}", describe_driver_error(.source))]
    Connect {
        /// The state's description.
        location: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A statement failed on the server.
    #[error("failed to {action} in {location}: {}", describe_driver_error(.source))]
    Query {
        /// The attempted step, such as "write the state".
        action: &'static str,
        /// The state's description.
        location: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// The connection's worker thread stopped before it returned a result,
    /// because the connection closed or the thread could not start.
    #[error("the connection to {location} ended before it could {action}")]
    SessionEnded {
        /// The attempted step.
        action: &'static str,
        /// The state's description.
        location: String,
    },

    /// The stored row belongs to another lineage than the state being written.
    #[error(
        "{location} belongs to lineage {stored}, but the state being written has lineage {written}"
    )]
    LineageMismatch {
        /// The state's description.
        location: String,
        /// Lineage of the stored state.
        stored: String,
        /// Lineage of the state being written.
        written: String,
    },

    /// Another writer stored a new serial after the state being written was read.
    #[error(
        "{location} changed since it was read: another writer stored serial {stored}, \
         and the state being written was read at serial {read}"
    )]
    ConcurrentWrite {
        /// The state's description.
        location: String,
        /// Serial of the stored state.
        stored: u64,
        /// Serial of the state being written.
        read: u64,
    },

    /// A column of a stored row cannot be read.
    #[error("{location} is damaged: {reason}")]
    Damaged {
        /// The state's description.
        location: String,
        /// The problem with the row.
        reason: String,
    },

    /// The journal rows were started on another state than the stored one.
    #[error(
        "the journal of {location} was started on lineage {journal_lineage} serial \
         {journal_serial}, but the state has lineage {state_lineage} serial {state_serial}"
    )]
    JournalMismatch {
        /// The state's description.
        location: String,
        /// Lineage recorded in the journal rows.
        journal_lineage: String,
        /// Base serial recorded in the journal rows.
        journal_serial: u64,
        /// Lineage of the state.
        state_lineage: String,
        /// Serial of the state.
        state_serial: u64,
    },

    /// `force-unlock` found the advisory lock held by a live session.
    #[error(
        "lock {} on {location} is held by a live PostgreSQL session{}, so its record \
         cannot be removed",
        .holder.id,
        describe_session(*.session_pid)
    )]
    AdvisoryLockHeld {
        /// The state's description.
        location: String,
        /// The lock record.
        holder: Box<LockInfo>,
        /// The server process ID of the session that holds the advisory lock.
        session_pid: Option<i32>,
    },
}

impl PostgresStateError {
    /// Returns the stable diagnostic code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            PostgresStateError::InvalidSetting { .. } => "tenancy::state::invalid_setting",
            PostgresStateError::Connect { .. } => "tenancy::state::postgres_connect",
            PostgresStateError::Query { .. } => "tenancy::state::postgres_query",
            PostgresStateError::SessionEnded { .. } => "tenancy::state::postgres_connect",
            PostgresStateError::LineageMismatch { .. } => "tenancy::state::lineage_mismatch",
            PostgresStateError::ConcurrentWrite { .. } => "tenancy::state::stale_serial",
            PostgresStateError::Damaged { .. } => "tenancy::state::damaged",
            PostgresStateError::JournalMismatch { .. } => "tenancy::state::journal_mismatch",
            PostgresStateError::AdvisoryLockHeld { .. } => "tenancy::state::holder_running",
        }
    }

    /// Returns the next step for the user, in full sentences.
    pub fn hint(&self) -> String {
        match self {
            PostgresStateError::InvalidSetting { .. } => "The postgres backend accepts `url` \
                (required, such as \"postgres://USER@HOST:5432/DATABASE\"), `schema` and \
                `table` (identifiers of letters, digits and underscores) and `name` (the \
                state's row, so that several configurations can share one table)."
                .to_owned(),
            PostgresStateError::Connect { .. } | PostgresStateError::SessionEnded { .. } => {
                "Check that the server runs and accepts connections, and that the `url` of \
                 `state \"postgres\"` names the right host, port, user and database."
                    .to_owned()
            }
            PostgresStateError::Query { source, .. } => query_hint(source),
            PostgresStateError::LineageMismatch { .. } => "The stored state comes from another \
                configuration. Give each configuration its own `name` in `state \"postgres\"`; \
                tenancy never writes one lineage over another."
                .to_owned(),
            PostgresStateError::ConcurrentWrite { .. } => "Another command wrote the state after \
                this one read it. Run the command again so that it starts from the current state."
                .to_owned(),
            PostgresStateError::Damaged { .. } => "tenancy never writes over a damaged state. \
                Restore the row from a database backup, then run `tenancy plan` to see what the \
                restored state does not record."
                .to_owned(),
            PostgresStateError::JournalMismatch { .. } => "The journal rows belong to another \
                state, for example because the state row was restored from a backup. Check them, \
                delete them, then run `tenancy plan` to see what the state does not record."
                .to_owned(),
            PostgresStateError::AdvisoryLockHeld { session_pid, .. } => advisory_hint(*session_pid),
        }
    }
}

impl From<PostgresStateError> for StateError {
    fn from(error: PostgresStateError) -> Self {
        StateError::Backend {
            code: error.code(),
            hint: error.hint(),
            message: error.to_string(),
        }
    }
}

/// Describes a driver error with the server's message when there is one,
/// because the driver's own text for a server error is only "db error".
fn describe_driver_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ),
        None => {
            let mut text = error.to_string();
            let mut cause = std::error::Error::source(error);
            while let Some(inner) = cause {
                text.push_str(": ");
                text.push_str(&inner.to_string());
                cause = inner.source();
            }
            text
        }
    }
}

fn describe_session(pid: Option<i32>) -> String {
    match pid {
        Some(pid) => format!(" (server process {pid})"),
        None => String::new(),
    }
}

fn query_hint(error: &tokio_postgres::Error) -> String {
    match error.code() {
        Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => "The user of the state URL \
            needs CREATE on the database for the first run, which creates the schema and \
            tables, and afterwards SELECT, INSERT, UPDATE and DELETE on the state tables."
            .to_owned(),
        Some(code) if *code == SqlState::READ_ONLY_SQL_TRANSACTION => "The server is a read-only \
            standby. Point the state URL at the primary server."
            .to_owned(),
        _ => {
            "Check the server log for the failed statement, then run the command again.".to_owned()
        }
    }
}

fn advisory_hint(pid: Option<i32>) -> String {
    let end = match pid {
        Some(pid) => format!(
            " If that session belongs to a command that hangs, end it with \
             `SELECT pg_terminate_backend({pid})` and the lock goes with it."
        ),
        None => String::new(),
    };
    format!(
        "The state lock is a session-level advisory lock, which only its own session can \
         release, so force-unlock cannot take it over and removes only the records of locks \
         whose session has ended. Wait for the holder to finish.{end}"
    )
}
