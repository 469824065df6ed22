//! Errors that providers return.

use std::fmt;

/// The class of a provider failure, so the engine can word its hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object does not exist.
    NotFound,
    /// The object exists already or is in a conflicting state.
    Conflict,
    /// The credentials were rejected or lack a permission.
    Auth,
    /// A quota or limit of the target system was reached.
    Quota,
    /// The configuration or a value is invalid for the target system.
    Invalid,
    /// The target system could not be reached.
    Unavailable,
    /// Any other failure.
    Other,
}

/// A failed provider operation, with a message that names the object and an
/// optional next step for the user.
#[derive(Debug, Clone)]
pub struct ProviderError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// What failed, on which object.
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
}

impl ProviderError {
    /// Returns an error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// Returns an invalid-configuration error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// Returns an error of kind [`ErrorKind::Other`].
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    /// Adds a next step for the user.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for ProviderError {}

/// The result type of provider operations.
pub type ProviderResult<T> = Result<T, ProviderError>;
