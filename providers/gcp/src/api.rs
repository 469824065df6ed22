//! A client of the Cloud Storage JSON API for buckets: insert, get, patch,
//! delete and list under `/storage/v1/b`.
//!
//! google-cloud-storage manages buckets over gRPC only, which no local
//! emulator serves, so bucket calls go through the documented JSON API with
//! reqwest and headers from google-cloud-auth. Bodies are
//! `serde_json::Value` trees: the provider reads only the fields it manages
//! and must see which of them a response leaves out.

use std::time::Duration;

use google_cloud_auth::credentials::Credentials;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value as Json;

use crate::auth::request_headers;
use crate::error::Error;
use crate::settings::Settings;

/// How long one request may take, including the connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The maximum page size of a bucket list request.
const LIST_PAGE_SIZE: &str = "1000";

/// A Cloud Storage JSON API client bound to one project and endpoint.
#[derive(Debug, Clone)]
pub struct JsonApi {
    http: reqwest::Client,
    credentials: Credentials,
    /// `ENDPOINT/storage/v1`, without a trailing slash.
    base: String,
    project: String,
}

impl JsonApi {
    /// Creates a client for the settings' endpoint and project.
    pub fn new(settings: &Settings, credentials: Credentials) -> Result<JsonApi, Error> {
        let mut builder = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
        if settings.endpoint_is_loopback() {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|source| Error::Request {
            action: "create the HTTP client".to_owned(),
            source,
        })?;
        let endpoint = settings.endpoint.as_str().trim_end_matches('/');
        Ok(JsonApi {
            http,
            credentials,
            base: format!("{endpoint}/storage/v1"),
            project: settings.project.clone(),
        })
    }

    /// Creates a bucket from a bucket resource body and returns the stored
    /// resource.
    pub async fn insert_bucket(&self, body: &Json) -> Result<Json, Error> {
        let name = body.get("name").and_then(Json::as_str).unwrap_or_default();
        let action = format!("create bucket `{name}` in project `{}`", self.project);
        let request = self
            .request(Method::POST, "/b", &action)
            .await?
            .query(&[("project", self.project.as_str())])
            .json(body);
        self.send_json(request, &action).await
    }

    /// Returns the bucket resource, or `None` when the bucket does not exist.
    pub async fn get_bucket(&self, name: &str) -> Result<Option<Json>, Error> {
        let action = format!("read bucket `{name}`");
        let request = self
            .request(Method::GET, &bucket_path(name), &action)
            .await?;
        match self.send_json(request, &action).await {
            Ok(bucket) => Ok(Some(bucket)),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Changes the fields present in `body` and returns the stored resource;
    /// a `null` field removes the setting.
    pub async fn patch_bucket(&self, name: &str, body: &Json) -> Result<Json, Error> {
        let action = format!("update bucket `{name}`");
        let request = self
            .request(Method::PATCH, &bucket_path(name), &action)
            .await?
            .json(body);
        self.send_json(request, &action).await
    }

    /// Deletes an empty bucket; a bucket that is already gone counts as
    /// deleted.
    pub async fn delete_bucket(&self, name: &str) -> Result<(), Error> {
        let action = format!("delete bucket `{name}`");
        let request = self
            .request(Method::DELETE, &bucket_path(name), &action)
            .await?;
        let response = send(request, &action).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        check_status(response, &action).await.map(drop)
    }

    /// Lists the project's buckets whose names start with `prefix`, every
    /// page.
    pub async fn list_buckets(&self, prefix: &str) -> Result<Vec<Json>, Error> {
        let action = format!(
            "list buckets of project `{}` with prefix `{prefix}`",
            self.project
        );
        let mut buckets = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut query = vec![
                ("project", self.project.as_str()),
                ("prefix", prefix),
                ("maxResults", LIST_PAGE_SIZE),
            ];
            if let Some(token) = &page_token {
                query.push(("pageToken", token.as_str()));
            }
            let request = self
                .request(Method::GET, "/b", &action)
                .await?
                .query(&query);
            let page = self.send_json(request, &action).await?;
            if let Some(items) = page.get("items").and_then(Json::as_array) {
                buckets.extend(items.iter().cloned());
            }
            page_token = page
                .get("nextPageToken")
                .and_then(Json::as_str)
                .map(str::to_owned);
            if page_token.is_none() {
                return Ok(buckets);
            }
        }
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        action: &str,
    ) -> Result<RequestBuilder, Error> {
        let headers = request_headers(&self.credentials, action).await?;
        Ok(self
            .http
            .request(method, format!("{}{path}", self.base))
            .headers(headers))
    }

    async fn send_json(&self, request: RequestBuilder, action: &str) -> Result<Json, Error> {
        let response = send(request, action).await?;
        let response = check_status(response, action).await?;
        let bytes = response.bytes().await.map_err(|source| Error::Request {
            action: action.to_owned(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|error| Error::Decode {
            action: action.to_owned(),
            reason: error.to_string(),
        })
    }
}

/// Returns the path of a bucket. Callers pass checked bucket names, whose
/// characters (`a-z`, `0-9`, `-`, `_`, `.`) need no percent-encoding.
fn bucket_path(name: &str) -> String {
    format!("/b/{name}")
}

async fn send(request: RequestBuilder, action: &str) -> Result<Response, Error> {
    tracing::trace!(%action, "sending a Cloud Storage JSON API request");
    request.send().await.map_err(|source| Error::Request {
        action: action.to_owned(),
        source,
    })
}

/// Returns the response when its status is a success, or the error that
/// its body describes.
pub async fn check_status(response: Response, action: &str) -> Result<Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let (reason, message) = parse_error_body(&body, status);
    Err(Error::Status {
        action: action.to_owned(),
        status: status.as_u16(),
        reason,
        message,
    })
}

/// Reads `error.errors[0].reason` and `error.message` from an error body,
/// falling back to the status text when the body is not the documented JSON.
fn parse_error_body(body: &str, status: StatusCode) -> (Option<String>, String) {
    let json: Option<Json> = serde_json::from_str(body).ok();
    let error = json.as_ref().and_then(|json| json.get("error"));
    let message = error
        .and_then(|error| error.get("message"))
        .and_then(Json::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let text = body.trim();
            if text.is_empty() || text.len() > 300 {
                status.canonical_reason().unwrap_or("no message").to_owned()
            } else {
                text.to_owned()
            }
        });
    let reason = error
        .and_then(|error| error.get("errors"))
        .and_then(|errors| errors.get(0))
        .and_then(|first| first.get("reason"))
        .and_then(Json::as_str)
        .map(str::to_owned);
    (reason, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_gives_reason_and_message() {
        let body =
            r#"{"error":{"code":409,"message":"name taken","errors":[{"reason":"conflict"}]}}"#;

        let (reason, message) = parse_error_body(body, StatusCode::CONFLICT);

        assert_eq!(reason.as_deref(), Some("conflict"));
        assert_eq!(message, "name taken");
    }

    #[test]
    fn plain_error_body_is_kept() {
        let (reason, message) = parse_error_body("quota exceeded\n", StatusCode::TOO_MANY_REQUESTS);

        assert_eq!(reason, None);
        assert_eq!(message, "quota exceeded");
    }

    #[test]
    fn empty_error_body_uses_status_text() {
        let (_, message) = parse_error_body("", StatusCode::FORBIDDEN);

        assert_eq!(message, "Forbidden");
    }
}
