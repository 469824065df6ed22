//! Errors of the Azure provider and their mapping onto the SDK's
//! [`ErrorKind`] classes.
//!
//! Blob service failures are classified by HTTP status and by the
//! `x-ms-error-code` the service returns, such as `ContainerAlreadyExists`.
//! Messages never contain the account key.

use azure_core::error::ErrorKind as AzureErrorKind;
use azure_core::http::StatusCode;
use tenancy_sdk::{ErrorKind, ProviderError};

/// A failed operation of the Azure provider.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting or attribute is invalid.
    #[error("{0}")]
    Invalid(String),
    /// An object the operation needs does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A request to the Blob service failed.
    #[error("failed to {action}: {}", describe(source))]
    Request {
        /// The attempted operation, such as "create container `acme`".
        action: String,
        /// The client's error.
        #[source]
        source: azure_core::Error,
    },
}

impl Error {
    /// Returns the SDK class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Request { source, .. } => classify(source),
        }
    }

    /// Returns the service's error code, such as `ContainerAlreadyExists`.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Request { source, .. } => error_code(source),
            _ => None,
        }
    }

    /// Converts into a provider error whose message starts with `subject`:
    /// a resource address or `provider `azure``.
    pub fn for_subject(&self, subject: &str) -> ProviderError {
        let kind = self.kind();
        let error = ProviderError::new(kind, format!("{subject}: {self}"));
        match hint(kind, self.error_code()) {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    }
}

/// Builds a request error from a client error.
pub fn request(action: impl Into<String>) -> impl FnOnce(azure_core::Error) -> Error {
    let action = action.into();
    move |source| Error::Request { action, source }
}

/// Returns the HTTP status of a client error, when the service responded.
pub fn status(error: &azure_core::Error) -> Option<StatusCode> {
    match error.kind() {
        AzureErrorKind::HttpResponse { status, .. } => Some(*status),
        _ => None,
    }
}

fn error_code(error: &azure_core::Error) -> Option<&str> {
    match error.kind() {
        AzureErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

fn classify(error: &azure_core::Error) -> ErrorKind {
    match error.kind() {
        AzureErrorKind::HttpResponse { status, error_code, .. } => {
            classify_response(u16::from(*status), error_code.as_deref())
        }
        AzureErrorKind::Io | AzureErrorKind::Connection => ErrorKind::Unavailable,
        AzureErrorKind::Credential => ErrorKind::Auth,
        _ => ErrorKind::Other,
    }
}

fn classify_response(status: u16, code: Option<&str>) -> ErrorKind {
    match (status, code) {
        (401 | 403, _) => ErrorKind::Auth,
        (404, _) => ErrorKind::NotFound,
        (409 | 412, _) => ErrorKind::Conflict,
        (429, _) | (503, Some("ServerBusy")) => ErrorKind::Quota,
        (400, _) => ErrorKind::Invalid,
        (500..=599, _) => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// Formats a client error as `HTTP 409 ContainerAlreadyExists: message`, with
/// the first line of the service's message, or as the client's own message
/// when the service did not respond.
fn describe(error: &azure_core::Error) -> String {
    let AzureErrorKind::HttpResponse {
        status,
        error_code,
        raw_response,
    } = error.kind()
    else {
        return error.to_string();
    };
    let mut text = format!("HTTP {}", u16::from(*status));
    if let Some(code) = error_code {
        text.push_str(&format!(" {code}"));
    }
    let message = raw_response
        .as_ref()
        .and_then(|response| std::str::from_utf8(response.body()).ok())
        .and_then(xml_message);
    if let Some(message) = message {
        text.push_str(&format!(": {message}"));
    }
    text
}

/// Returns the first line of the `<Message>` element of a Blob service
/// error body.
fn xml_message(body: &str) -> Option<String> {
    let start = body.find("<Message>")? + "<Message>".len();
    let end = start + body[start..].find("</Message>")?;
    let first_line = body[start..end].lines().next()?.trim();
    (!first_line.is_empty()).then(|| first_line.to_owned())
}

fn hint(kind: ErrorKind, code: Option<&str>) -> Option<&'static str> {
    match (kind, code) {
        (_, Some("ContainerAlreadyExists")) => Some(
            "Adopt the existing container with `tenancy import ADDRESS NAME`, or set `name` to a container \
             name that is free in the account.",
        ),
        (_, Some("ContainerBeingDeleted")) => Some(
            "The service is still deleting a container of that name, which can take 30 seconds or more; \
             run apply again after that.",
        ),
        (ErrorKind::Auth, _) => Some(
            "Check `account_name` and `account_key` in the `provider \"azure\"` block: the key must be one \
             of the account's access keys, base64-encoded as the portal shows it.",
        ),
        (ErrorKind::Unavailable, _) => Some(
            "Check that the provider `endpoint` is the account's Blob service URL and that it answers; \
             for local tests, `scripts/services start azurite` starts the emulator.",
        ),
        (ErrorKind::Quota, _) => {
            Some("The account throttled the request; wait a minute and run the command again.")
        }
        (ErrorKind::NotFound, _) => Some(
            "The container was removed outside tenancy; run `tenancy plan` to see the drift and apply \
             to create it again.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (409, Some("ContainerAlreadyExists"), ErrorKind::Conflict),
            (409, Some("ContainerBeingDeleted"), ErrorKind::Conflict),
            (403, Some("AuthenticationFailed"), ErrorKind::Auth),
            (404, Some("ContainerNotFound"), ErrorKind::NotFound),
            (400, Some("InvalidResourceName"), ErrorKind::Invalid),
            (503, Some("ServerBusy"), ErrorKind::Quota),
            (503, None, ErrorKind::Unavailable),
            (418, None, ErrorKind::Other),
        ];
        for (status, code, expected) in cases {
            assert_eq!(classify_response(status, code), expected, "HTTP {status} {code:?}");
        }
    }

    #[test]
    fn message_is_first_line_of_xml_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>ContainerAlreadyExists</Code>\
                    <Message>The specified container already exists.\nRequestId:1\nTime:now</Message></Error>";

        assert_eq!(xml_message(body).as_deref(), Some("The specified container already exists."));
        assert_eq!(xml_message("<Error />"), None);
    }

    #[test]
    fn conflict_hint_names_import() {
        let hint = hint(ErrorKind::Conflict, Some("ContainerAlreadyExists")).unwrap();

        assert!(hint.contains("tenancy import"));
    }
}
