//! Credentials from google-cloud-auth for the configured source, and the
//! request headers they produce.

use google_cloud_auth::credentials::{self, CacheableResource, Credentials};
use reqwest::header::HeaderMap;

use crate::error::Error;
use crate::settings::CredentialSource;

/// Builds the credentials of a source. Anonymous credentials send no
/// `Authorization` header. A file is a service account key or an authorized
/// user file, as its `type` field states.
pub fn build_credentials(source: &CredentialSource) -> Result<Credentials, Error> {
    match source {
        CredentialSource::Anonymous => Ok(credentials::anonymous::Builder::new().build()),
        CredentialSource::ApplicationDefault => {
            credentials::Builder::default().build().map_err(|error| {
                invalid_credentials("Application Default Credentials", &error.to_string())
            })
        }
        CredentialSource::File(path) => credentials_from_file(path),
    }
}

fn credentials_from_file(path: &std::path::Path) -> Result<Credentials, Error> {
    let described = format!("credentials file `{}`", path.display());
    let text = std::fs::read_to_string(path)
        .map_err(|error| invalid_credentials(&described, &error.to_string()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| invalid_credentials(&described, &error.to_string()))?;
    let kind = json
        .get("type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let built = match kind.as_str() {
        "service_account" => credentials::service_account::Builder::new(json).build(),
        "authorized_user" => credentials::user_account::Builder::new(json).build(),
        other => {
            let reason = format!(
                "its `type` is `{other}`, but only `service_account` and `authorized_user` files are supported"
            );
            return Err(invalid_credentials(&described, &reason));
        }
    };
    built.map_err(|error| invalid_credentials(&described, &error.to_string()))
}

fn invalid_credentials(source: &str, reason: &str) -> Error {
    Error::Invalid(format!("failed to load {source}: {reason}"))
}

/// Returns the headers that authenticate one request; `action` names the
/// request in errors.
pub async fn request_headers(credentials: &Credentials, action: &str) -> Result<HeaderMap, Error> {
    let headers = credentials
        .headers(http::Extensions::new())
        .await
        .map_err(|error| Error::Credentials {
            action: action.to_owned(),
            reason: error.to_string(),
        })?;
    match headers {
        CacheableResource::New { data, .. } => Ok(data),
        // Only a request that passes an entity tag gets this result.
        CacheableResource::NotModified => Ok(HeaderMap::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn anonymous_credentials_send_no_authorization() {
        let credentials = build_credentials(&CredentialSource::Anonymous).unwrap();

        let headers = request_headers(&credentials, "test").await.unwrap();

        assert!(headers.get("authorization").is_none());
    }

    #[test]
    fn file_of_unknown_type_is_rejected() {
        let directory =
            std::env::temp_dir().join(format!("tenancy-gcp-auth-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("key.json");
        std::fs::write(&path, r#"{"type": "gdch_service_account"}"#).unwrap();

        let error = build_credentials(&CredentialSource::File(path)).unwrap_err();

        assert!(
            error.to_string().contains("`gdch_service_account`"),
            "{error}"
        );
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn missing_file_is_named() {
        let path = std::path::PathBuf::from("/nonexistent/tenancy/key.json");

        let error = build_credentials(&CredentialSource::File(path)).unwrap_err();

        assert!(
            error.to_string().contains("/nonexistent/tenancy/key.json"),
            "{error}"
        );
    }
}
