//! Errors of the Redis provider and their mapping onto the SDK's
//! [`ErrorKind`] classes. Messages name the server as `host:port`, never the
//! URL, which may carry the admin password.

use tenancy_sdk::{ErrorKind, ProviderError};

/// A failed operation against a Redis server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening a connection failed.
    #[error("failed to connect to Redis at {target}")]
    Connect {
        /// `host:port`, without credentials.
        target: String,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// A command failed.
    #[error("failed to {action}")]
    Command {
        /// What was attempted, such as "create ACL user `tenant_acme`".
        action: String,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// A value is invalid for this provider.
    #[error("{0}")]
    Invalid(String),
    /// The user exists already.
    #[error("{0}")]
    Conflict(String),
}

impl Error {
    /// Returns the SDK class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connect { source, .. } | Error::Command { source, .. } => classify(source),
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::Conflict(_) => ErrorKind::Conflict,
        }
    }

    /// Converts into a provider error whose message names the resource
    /// address and carries the cause.
    pub fn for_resource(&self, address: &str) -> ProviderError {
        let kind = self.kind();
        let mut message = format!("{address}: {self}");
        if let Error::Connect { source, .. } | Error::Command { source, .. } = self {
            message.push_str(&format!(": {source}"));
        }
        let error = ProviderError::new(kind, message);
        match hint(kind) {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    }
}

/// Builds a command error from a client error.
pub fn command(action: impl Into<String>) -> impl FnOnce(redis::RedisError) -> Error {
    let action = action.into();
    move |source| Error::Command { action, source }
}

fn classify(error: &redis::RedisError) -> ErrorKind {
    if error.is_io_error() || error.is_connection_refusal() || error.is_timeout() {
        return ErrorKind::Unavailable;
    }
    match error.kind() {
        redis::ErrorKind::AuthenticationFailed => ErrorKind::Auth,
        redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm) => ErrorKind::Auth,
        redis::ErrorKind::InvalidClientConfig => ErrorKind::Invalid,
        _ => match error.code() {
            Some("NOAUTH" | "WRONGPASS" | "NOPERM") => ErrorKind::Auth,
            Some("LOADING" | "MASTERDOWN") => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        },
    }
}

fn hint(kind: ErrorKind) -> Option<&'static str> {
    match kind {
        ErrorKind::Unavailable => Some(
            "Check that Redis is running and that the provider `url` points at it; \
             on a development machine, `scripts/services start` starts a local server.",
        ),
        ErrorKind::Auth => Some(
            "Check the user and password in the provider `url`; the user needs the \
             ACL commands (the `@admin` category).",
        ),
        ErrorKind::Conflict => Some(
            "Adopt the existing user with `tenancy import`, or delete it with `ACL DELUSER` \
             if nothing uses it.",
        ),
        _ => None,
    }
}
