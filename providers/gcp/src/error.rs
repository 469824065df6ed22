//! Errors of the gcp provider and their classification into
//! [`tenancy_sdk::ErrorKind`].
//!
//! Cloud Storage reports failures as an HTTP status with a JSON body
//! `{"error": {"code", "message", "errors": [{"reason", ...}]}}`. The status
//! decides the kind: 401 and 403 are authentication, 404 is not found, 409
//! and 412 are conflicts, 429 is a quota, other 4xx are invalid requests and
//! 5xx mean the service is unavailable.

use tenancy_sdk::{ErrorKind, ProviderError};

/// A failed call to the Cloud Storage JSON API or to the credential source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server returned an error status.
    #[error("failed to {action}: HTTP {status}{}: {message}", reason_suffix(.reason))]
    Status {
        /// The attempted operation, such as "create bucket `acme`".
        action: String,
        /// The HTTP status code.
        status: u16,
        /// The first `reason` of the error body, such as `conflict`.
        reason: Option<String>,
        /// The server's message.
        message: String,
    },

    /// The request did not complete: connection refused, timeout, TLS.
    #[error("failed to {action}: {source}")]
    Request {
        /// The attempted operation.
        action: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The response body was not the JSON the API documents.
    #[error("failed to {action}: the response is not valid JSON: {reason}")]
    Decode {
        /// The attempted operation.
        action: String,
        /// The parse error.
        reason: String,
    },

    /// The credential source failed to produce request headers.
    #[error("failed to get credentials for {action}: {reason}")]
    Credentials {
        /// The attempted operation.
        action: String,
        /// The credential library's message.
        reason: String,
    },

    /// A value from configuration or state is invalid.
    #[error("{0}")]
    Invalid(String),
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|reason| format!(" ({reason})"))
        .unwrap_or_default()
}

impl Error {
    /// Returns the HTTP status of a [`Error::Status`] error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Returns the class of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Status { status, .. } => kind_of_status(*status),
            Error::Request { .. } => ErrorKind::Unavailable,
            Error::Decode { .. } => ErrorKind::Other,
            Error::Credentials { .. } => ErrorKind::Auth,
            Error::Invalid(_) => ErrorKind::Invalid,
        }
    }

    /// Converts the error into a provider error about the resource at
    /// `address`, with a hint for its kind.
    pub fn for_resource(self, address: &str) -> ProviderError {
        let kind = self.kind();
        let message = format!("{address}: {}", describe_chain(&self));
        let error = ProviderError::new(kind, message);
        match hint(kind, &self) {
            Some(text) => error.with_hint(text),
            None => error,
        }
    }
}

/// Returns the class of an HTTP error status.
pub fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        429 => ErrorKind::Quota,
        400..=499 => ErrorKind::Invalid,
        500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// Formats the error with its sources, which carry the transport detail.
fn describe_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn hint(kind: ErrorKind, error: &Error) -> Option<String> {
    let text = match kind {
        ErrorKind::Auth => "Check the provider's `credentials` setting: the account needs the Storage \
            Admin role (roles/storage.admin) on the project, and `anonymous` works only with an emulator."
            .to_owned(),
        ErrorKind::NotFound => "The bucket does not exist. Run `tenancy plan` to see what the state \
            still records, or check the bucket name."
            .to_owned(),
        ErrorKind::Conflict if error.status() == Some(409) => "Bucket names are global across all of \
            Cloud Storage, so another project may own this name. Set `name` on the block, or \
            `bucket_prefix` on the provider, to choose another."
            .to_owned(),
        ErrorKind::Conflict => "The bucket changed or is not empty. Cloud Storage deletes only empty \
            buckets: delete its objects first, then run the command again."
            .to_owned(),
        ErrorKind::Quota => "The project reached a Cloud Storage rate limit or quota. Wait and run \
            the command again, or lower `-parallelism`."
            .to_owned(),
        ErrorKind::Unavailable => "Check the provider's `endpoint` and that the service accepts connections there.".to_owned(),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Error {
        Error::Status {
            action: "create bucket `acme`".to_owned(),
            status: code,
            reason: Some("reason".to_owned()),
            message: "message".to_owned(),
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (401, ErrorKind::Auth),
            (403, ErrorKind::Auth),
            (404, ErrorKind::NotFound),
            (409, ErrorKind::Conflict),
            (412, ErrorKind::Conflict),
            (429, ErrorKind::Quota),
            (400, ErrorKind::Invalid),
            (503, ErrorKind::Unavailable),
        ];
        for (code, kind) in cases {
            assert_eq!(status(code).kind(), kind, "HTTP {code}");
        }
    }

    #[test]
    fn resource_error_names_address_and_status() {
        let error = status(429).for_resource("tenant.acme.storage.gcs");

        assert_eq!(error.kind, ErrorKind::Quota);
        assert_eq!(
            error.message,
            "tenant.acme.storage.gcs: failed to create bucket `acme`: HTTP 429 (reason): message"
        );
        assert!(error.hint.unwrap().contains("rate limit"));
    }

    #[test]
    fn name_conflict_hint_suggests_another_name() {
        let error = status(409).for_resource("tenant.acme.storage.gcs");

        assert!(error.hint.unwrap().contains("bucket_prefix"));
    }
}
