//! Errors of the PostgreSQL provider and their mapping onto the SDK's
//! [`ErrorKind`] classes.
//!
//! Messages name the server target (`host:port/database`) and the object,
//! never a password: connection URLs are not formatted into any message, and
//! SQL text, which may carry a password verifier, is never included.

use std::io;

use tenancy_sdk::{ErrorKind, ProviderError};
use tokio_postgres::error::SqlState;

/// A failed operation against a PostgreSQL server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening a connection failed.
    #[error("failed to connect to PostgreSQL at {target}")]
    Connect {
        /// `host:port/database`, without credentials.
        target: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A statement failed.
    #[error("failed to {action}")]
    Query {
        /// What was attempted, such as "create role `tenant_acme`".
        action: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A value is invalid for this provider.
    #[error("{0}")]
    Invalid(String),
    /// The object exists already.
    #[error("{0}")]
    Conflict(String),
    /// The object does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// The result type inside this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Returns the SDK class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connect { source, .. } | Error::Query { source, .. } => classify(source),
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::NotFound(_) => ErrorKind::NotFound,
        }
    }

    /// Converts into a provider error whose message names the resource
    /// address and carries the cause chain.
    pub fn for_resource(&self, address: &str) -> ProviderError {
        let kind = self.kind();
        let message = format!("{address}: {}", chain(self));
        let error = ProviderError::new(kind, message);
        match hint(kind) {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    }

    /// Converts into a provider error for the provider block itself.
    pub fn for_provider(&self, instance: &str) -> ProviderError {
        self.for_resource(&format!("provider `{instance}`"))
    }
}

/// Builds a query error from a driver error.
pub fn query(action: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
    let action = action.into();
    move |source| Error::Query { action, source }
}

fn classify(error: &tokio_postgres::Error) -> ErrorKind {
    if let Some(db_error) = error.as_db_error() {
        return classify_state(db_error.code());
    }
    if io_source(error).is_some() || error.is_closed() {
        return ErrorKind::Unavailable;
    }
    ErrorKind::Other
}

fn classify_state(code: &SqlState) -> ErrorKind {
    let class = &code.code()[..2];
    if *code == SqlState::INVALID_PASSWORD
        || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        || *code == SqlState::INSUFFICIENT_PRIVILEGE
    {
        ErrorKind::Auth
    } else if *code == SqlState::DUPLICATE_OBJECT
        || *code == SqlState::DUPLICATE_DATABASE
        || *code == SqlState::DUPLICATE_SCHEMA
        || *code == SqlState::OBJECT_IN_USE
        || *code == SqlState::DEPENDENT_OBJECTS_STILL_EXIST
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
    {
        ErrorKind::Conflict
    } else if *code == SqlState::UNDEFINED_OBJECT
        || *code == SqlState::UNDEFINED_TABLE
        || *code == SqlState::UNDEFINED_DATABASE
        || *code == SqlState::INVALID_CATALOG_NAME
        || *code == SqlState::UNDEFINED_COLUMN
        || *code == SqlState::INVALID_SCHEMA_NAME
    {
        ErrorKind::NotFound
    } else if *code == SqlState::TOO_MANY_CONNECTIONS || class == "53" {
        ErrorKind::Quota
    } else if class == "22" || class == "42" {
        ErrorKind::Invalid
    } else if class == "08" || class == "57" {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Other
    }
}

fn io_source(error: &tokio_postgres::Error) -> Option<&io::Error> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io_error) = cause.downcast_ref::<io::Error>() {
            return Some(io_error);
        }
        source = cause.source();
    }
    None
}

fn hint(kind: ErrorKind) -> Option<&'static str> {
    match kind {
        ErrorKind::Unavailable => Some(
            "Check that PostgreSQL is running and that the provider `url` points at it; \
             on a development machine, `scripts/services start` starts a local server.",
        ),
        ErrorKind::Auth => Some(
            "Check the user and password in the provider `url`; the user needs the \
             CREATEROLE and CREATEDB attributes, or superuser to set `log_statement`.",
        ),
        ErrorKind::Conflict => Some(
            "The object exists already or is in use: adopt it with `tenancy import`, \
             or remove it by hand if nothing needs it.",
        ),
        _ => None,
    }
}

/// Formats an error with its causes, `outer: inner: innermost`. Database
/// errors contribute their message and detail, not the statement text.
pub fn chain(error: &Error) -> String {
    let mut text = error.to_string();
    let source = match error {
        Error::Connect { source, .. } | Error::Query { source, .. } => source,
        _ => return text,
    };
    if let Some(db_error) = source.as_db_error() {
        text.push_str(": ");
        text.push_str(db_error.message());
        if let Some(detail) = db_error.detail() {
            text.push_str(&format!(" ({detail})"));
        }
    } else if let Some(io_error) = io_source(source) {
        text.push_str(&format!(": {io_error}"));
    } else {
        text.push_str(&format!(": {source}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_kinds() {
        assert_eq!(classify_state(&SqlState::DUPLICATE_OBJECT), ErrorKind::Conflict);
        assert_eq!(classify_state(&SqlState::INSUFFICIENT_PRIVILEGE), ErrorKind::Auth);
        assert_eq!(classify_state(&SqlState::TOO_MANY_CONNECTIONS), ErrorKind::Quota);
        assert_eq!(classify_state(&SqlState::UNDEFINED_TABLE), ErrorKind::NotFound);
        assert_eq!(classify_state(&SqlState::SYNTAX_ERROR), ErrorKind::Invalid);
        assert_eq!(classify_state(&SqlState::ADMIN_SHUTDOWN), ErrorKind::Unavailable);
    }

    #[test]
    fn invalid_error_names_address() {
        let error = Error::Invalid("bad tenant id".into()).for_resource("tenant.acme.database.postgres");

        assert_eq!(error.kind, ErrorKind::Invalid);
        assert_eq!(error.message, "tenant.acme.database.postgres: bad tenant id");
    }
}
