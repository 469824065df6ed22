//! Operational errors of the SQLite provider and their mapping onto the
//! provider contract's [`ProviderError`] kinds and hints.

use std::io;
use std::path::PathBuf;

use rusqlite::ErrorCode;
use tenancy_sdk::{ErrorKind, ProviderError};

/// A failed catalog, file or input operation of the SQLite provider.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    /// A statement against the tenant catalog failed.
    #[error("{subject}: failed to {action} in the tenant catalog `{path}`: {source}")]
    Catalog {
        /// The resource address, or the resource type for batched work.
        subject: String,
        /// What was attempted, such as "insert the tenant row".
        action: String,
        /// The catalog file.
        path: PathBuf,
        /// The SQLite failure.
        #[source]
        source: rusqlite::Error,
    },
    /// A statement against a tenant database file failed.
    #[error("{subject}: failed to {action} in the tenant database `{path}`: {source}")]
    TenantDatabase {
        /// The resource address.
        subject: String,
        /// What was attempted.
        action: String,
        /// The tenant database file.
        path: PathBuf,
        /// The SQLite failure.
        #[source]
        source: rusqlite::Error,
    },
    /// A file system operation failed.
    #[error("{subject}: failed to {action} `{path}`: {source}")]
    Io {
        /// The resource address, or `provider "sqlite"` for configuration.
        subject: String,
        /// What was attempted, such as "create the directory".
        action: String,
        /// The file or directory.
        path: PathBuf,
        /// The operating system failure.
        #[source]
        source: io::Error,
    },
    /// An attribute or configuration value is invalid.
    #[error("{subject}: {message}")]
    Invalid {
        /// The resource address or the provider block.
        subject: String,
        /// What is wrong with which value, and the accepted form.
        message: String,
    },
    /// The object already exists, or another object stands in the way.
    #[error("{subject}: {message}")]
    Conflict {
        /// The resource address.
        subject: String,
        /// What conflicts.
        message: String,
        /// What the user can do about it.
        hint: String,
    },
    /// The object to change does not exist.
    #[error("{subject}: {message}")]
    NotFound {
        /// The resource address.
        subject: String,
        /// What is missing, and where it was looked up.
        message: String,
    },
    /// A blocking task of the provider panicked or was cancelled.
    #[error("{subject}: the SQLite worker task failed: {message}")]
    Worker {
        /// The resource address or type.
        subject: String,
        /// The join error.
        message: String,
    },
}

/// The result type of the provider's internal operations.
pub type Result<T> = std::result::Result<T, SqliteError>;

impl SqliteError {
    /// Returns an invalid-value error about `subject`.
    pub fn invalid(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            subject: subject.into(),
            message: message.into(),
        }
    }

    /// Returns a catalog statement error with the action and path it concerns.
    pub fn catalog(
        subject: impl Into<String>,
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        source: rusqlite::Error,
    ) -> Self {
        Self::Catalog {
            subject: subject.into(),
            action: action.into(),
            path: path.into(),
            source,
        }
    }

    /// Returns a tenant database statement error.
    pub fn tenant_database(
        subject: impl Into<String>,
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        source: rusqlite::Error,
    ) -> Self {
        Self::TenantDatabase {
            subject: subject.into(),
            action: action.into(),
            path: path.into(),
            source,
        }
    }

    /// Returns a file system error.
    pub fn io(
        subject: impl Into<String>,
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> Self {
        Self::Io {
            subject: subject.into(),
            action: action.into(),
            path: path.into(),
            source,
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::Catalog { source, .. } | Self::TenantDatabase { source, .. } => {
                sqlite_kind(source)
            }
            Self::Io { source, .. } => io_kind(source),
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Worker { .. } => ErrorKind::Other,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Self::Catalog { source, .. } | Self::TenantDatabase { source, .. } => sqlite_hint(source),
            Self::Io { source, .. } => io_hint(source),
            Self::Conflict { hint, .. } => Some(hint.clone()),
            Self::NotFound { .. } => {
                Some("Run `tenancy plan` again: refresh notices the missing object and plans to create it.".into())
            }
            Self::Invalid { .. } | Self::Worker { .. } => None,
        }
    }
}

impl From<SqliteError> for ProviderError {
    fn from(error: SqliteError) -> Self {
        let mut converted = ProviderError::new(error.kind(), error.to_string());
        converted.hint = error.hint();
        converted
    }
}

/// Returns the SQLite primary result code of an error, if it has one.
pub fn sqlite_code(error: &rusqlite::Error) -> Option<ErrorCode> {
    error.sqlite_error_code()
}

fn sqlite_kind(error: &rusqlite::Error) -> ErrorKind {
    match sqlite_code(error) {
        Some(ErrorCode::DiskFull | ErrorCode::TooBig) => ErrorKind::Quota,
        Some(ErrorCode::CannotOpen | ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            ErrorKind::Unavailable
        }
        Some(ErrorCode::SystemIoFailure) => ErrorKind::Unavailable,
        Some(
            ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied
            | ErrorCode::AuthorizationForStatementDenied,
        ) => ErrorKind::Auth,
        Some(ErrorCode::ConstraintViolation) => ErrorKind::Conflict,
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}

fn sqlite_hint(error: &rusqlite::Error) -> Option<String> {
    let hint = match sqlite_code(error)? {
        ErrorCode::DiskFull => {
            "Free disk space on the file system that holds the file, then apply again."
        }
        ErrorCode::CannotOpen => {
            "Check that the directory exists and that this user may read and write it."
        }
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            "Another process holds a write lock on the file for longer than the busy timeout; \
             wait for it to finish, then retry."
        }
        ErrorCode::ReadOnly | ErrorCode::PermissionDenied => {
            "Check the file's permissions: this user must be able to write the file and its directory."
        }
        ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
            "The file is not a readable SQLite database: restore it from a backup or move it aside."
        }
        _ => return None,
    };
    Some(hint.to_owned())
}

fn io_kind(error: &io::Error) -> ErrorKind {
    match error.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => ErrorKind::Auth,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => ErrorKind::Quota,
        io::ErrorKind::AlreadyExists => ErrorKind::Conflict,
        _ => ErrorKind::Other,
    }
}

fn io_hint(error: &io::Error) -> Option<String> {
    let hint = match error.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            "Check the permissions of the path: this user must be able to write it."
        }
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            "Free disk space on the file system that holds the path, then apply again."
        }
        _ => return None,
    };
    Some(hint.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_maps_to_quota_with_hint() {
        let source = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let error = SqliteError::catalog(
            "tenant.acme",
            "insert the tenant row",
            "/tmp/catalog.db",
            source,
        );

        let converted = ProviderError::from(error);

        assert_eq!(converted.kind, ErrorKind::Quota);
        assert!(
            converted
                .message
                .starts_with("tenant.acme: failed to insert the tenant row")
        );
        assert!(converted.message.contains("`/tmp/catalog.db`"));
        assert!(converted.hint.is_some());
    }

    #[test]
    fn invalid_error_keeps_subject_and_message() {
        let error = SqliteError::invalid("tenant.a b", "tenant_id `a b` is invalid");

        let converted = ProviderError::from(error);

        assert_eq!(converted.kind, ErrorKind::Invalid);
        assert_eq!(converted.message, "tenant.a b: tenant_id `a b` is invalid");
    }
}
