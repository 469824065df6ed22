//! Errors of the AWS provider and their mapping onto the SDK's [`ErrorKind`]
//! classes.
//!
//! EC2 reports failures as error codes such as `InvalidVpcID.NotFound` or
//! `VpcLimitExceeded`. [`classify_code`] sorts them into the classes the
//! engine chooses its hints by. Every message keeps the code, so a user can
//! look it up in the EC2 error reference.

use std::fmt::Debug;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tenancy_sdk::{ErrorKind, ProviderError};

/// A failed operation of the AWS provider.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An EC2 API call failed.
    #[error("failed to {action}: {}", describe(.code.as_deref(), .message))]
    Api {
        /// The attempted action, such as "create VPC 10.1.0.0/16 in us-east-1".
        action: String,
        /// The class of the failure.
        kind: ErrorKind,
        /// The EC2 error code, when the service returned one.
        code: Option<String>,
        /// The service's message, or the client's error chain.
        message: String,
    },
    /// A value is invalid for this provider.
    #[error("{0}")]
    Invalid(String),
    /// An object the resource needs does not exist.
    #[error("{0}")]
    NotFound(String),
}

fn describe(code: Option<&str>, message: &str) -> String {
    match code {
        Some(code) if message.is_empty() => format!("AWS error {code}"),
        Some(code) => format!("AWS error {code}: {message}"),
        None => message.to_owned(),
    }
}

impl Error {
    /// Returns the SDK class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { kind, .. } => *kind,
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::NotFound(_) => ErrorKind::NotFound,
        }
    }

    /// Returns the EC2 error code, when the service returned one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Returns true when EC2 reported that the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// Converts into a provider error whose message names the resource
    /// address, with a next step for the user where one is known.
    pub fn for_resource(&self, address: &str) -> ProviderError {
        let kind = self.kind();
        let error = ProviderError::new(kind, format!("{address}: {self}"));
        match hint(kind, self.code()) {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    }
}

/// Builds an [`Error::Api`] from a failed EC2 call.
pub fn api<E, R>(action: impl Into<String>) -> impl FnOnce(SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug,
{
    let action = action.into();
    move |error| {
        let (kind, code, message) = match &error {
            SdkError::ServiceError(context) => {
                let service = context.err();
                let code = service.code().map(str::to_owned);
                let kind = code.as_deref().map_or(ErrorKind::Other, classify_code);
                let message = service.message().unwrap_or_default().to_owned();
                (kind, code, message)
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
                (ErrorKind::Unavailable, None, DisplayErrorContext(&error).to_string())
            }
            _ => (ErrorKind::Other, None, DisplayErrorContext(&error).to_string()),
        };
        Error::Api {
            action,
            kind,
            code,
            message,
        }
    }
}

/// Returns the class of an EC2 error code.
pub fn classify_code(code: &str) -> ErrorKind {
    match code {
        "AuthFailure" | "UnauthorizedOperation" | "InvalidClientTokenId" | "SignatureDoesNotMatch"
        | "OptInRequired" | "Blocked" | "ExpiredToken" | "RequestExpired" | "PendingVerification" => {
            ErrorKind::Auth
        }
        "DependencyViolation" | "IncorrectState" | "InvalidSubnet.Conflict" | "InvalidGroup.Duplicate"
        | "InvalidGroup.InUse" | "InvalidPermission.Duplicate" | "IdempotentParameterMismatch"
        | "InvalidVpcState" => ErrorKind::Conflict,
        "RequestLimitExceeded" | "Throttling" | "InternalError" | "InternalFailure" | "ServiceUnavailable"
        | "Unavailable" | "InsufficientCapacity" => ErrorKind::Unavailable,
        "InvalidParameterValue" | "InvalidParameter" | "InvalidParameterCombination" | "MissingParameter"
        | "UnknownParameter" | "InvalidVpcRange" | "InvalidSubnet.Range" | "InvalidPermission.Malformed"
        | "InvalidInput" | "ValidationError" | "InvalidRequest" => ErrorKind::Invalid,
        _ if code.ends_with(".NotFound") => ErrorKind::NotFound,
        _ if code.starts_with("Invalid") && code.ends_with(".Malformed") => ErrorKind::Invalid,
        _ if code.ends_with("LimitExceeded") => ErrorKind::Quota,
        _ => ErrorKind::Other,
    }
}

fn hint(kind: ErrorKind, code: Option<&str>) -> Option<&'static str> {
    match (kind, code) {
        (ErrorKind::Conflict, Some("DependencyViolation")) => Some(
            "Something still uses the object, such as subnets, security groups or network \
             interfaces in the VPC; delete those first or let `tenancy destroy` remove the \
             tenant's network as a whole.",
        ),
        (ErrorKind::Conflict, _) => Some(
            "An object with the same name or range exists already; adopt it with `tenancy import` \
             or choose another range.",
        ),
        (ErrorKind::Quota, _) => Some(
            "The account reached an EC2 quota in this region; delete unused objects or request \
             an increase in the Service Quotas console.",
        ),
        (ErrorKind::Auth, _) => Some(
            "Check the provider's `access_key` and `secret_key`, or the credentials in the \
             environment, and that they allow the EC2 VPC actions in this region.",
        ),
        (ErrorKind::Unavailable, None) => Some(
            "Check that the provider's `endpoint` is reachable; for local tests, \
             `scripts/services start moto` starts the emulator on 127.0.0.1:5000.",
        ),
        (ErrorKind::NotFound, _) => Some(
            "The object was deleted outside tenancy; run `tenancy plan` to see the drift, or \
             remove the resource from state with `tenancy state rm`.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let cases = [
            ("InvalidVpcID.NotFound", ErrorKind::NotFound),
            ("InvalidSubnetID.NotFound", ErrorKind::NotFound),
            ("InvalidGroup.NotFound", ErrorKind::NotFound),
            ("VpcLimitExceeded", ErrorKind::Quota),
            ("RulesPerSecurityGroupLimitExceeded", ErrorKind::Quota),
            ("AuthFailure", ErrorKind::Auth),
            ("UnauthorizedOperation", ErrorKind::Auth),
            ("InvalidParameterValue", ErrorKind::Invalid),
            ("InvalidVpcID.Malformed", ErrorKind::Invalid),
            ("DependencyViolation", ErrorKind::Conflict),
            ("InvalidGroup.Duplicate", ErrorKind::Conflict),
            ("InvalidSubnet.Conflict", ErrorKind::Conflict),
            ("RequestLimitExceeded", ErrorKind::Unavailable),
            ("SomethingNew", ErrorKind::Other),
        ];
        for (code, kind) in cases {
            assert_eq!(classify_code(code), kind, "code {code}");
        }
    }

    #[test]
    fn message_names_address_and_code() {
        let error = Error::Api {
            action: "delete VPC vpc-1".into(),
            kind: ErrorKind::Conflict,
            code: Some("DependencyViolation".into()),
            message: "The vpc has dependencies".into(),
        };

        let provider_error = error.for_resource("tenant.acme.network.aws");

        assert_eq!(
            provider_error.message,
            "tenant.acme.network.aws: failed to delete VPC vpc-1: AWS error DependencyViolation: \
             The vpc has dependencies"
        );
        assert_eq!(provider_error.kind, ErrorKind::Conflict);
        assert!(provider_error.hint.is_some());
    }
}
