//! The object operations of the GCS backend, run on a dedicated thread.
//!
//! The engine calls [`crate::state::StateBackend`] methods synchronously from
//! tasks of a multi-threaded tokio runtime, where blocking on a runtime of
//! its own would panic. An [`ObjectStore`] therefore owns a thread with a
//! current-thread runtime that builds the clients once and then runs the
//! jobs sent to it, one at a time. The caller blocks on a channel until its
//! job's result comes back.
//!
//! Reads and writes of object data go through google-cloud-storage, whose
//! `read_object` and `write_object` use the JSON API's media download and
//! single-request multipart upload and so work against any endpoint that
//! serves it. Each write passes the data's CRC32C up front. Cloud Storage
//! then rejects a damaged upload, and the crate sends a two-part request
//! (metadata and data) instead of adding a third part with trailing
//! checksums, which fake-gcs-server stores as part of the data.
//! Deleting and listing objects are `StorageControl` calls in that crate,
//! which speaks gRPC only. Those two go through the JSON API with reqwest
//! and headers from google-cloud-auth instead.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::Duration;

use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_gax::retry_policy::RetryPolicyExt;
use google_cloud_storage::client::Storage;
use google_cloud_storage::retry_policy::RetryableErrors;
use tokio::sync::mpsc;

/// How long one JSON API request may take, including the connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times google-cloud-storage tries a request that failed with a
/// transient error.
const ATTEMPT_LIMIT: u32 = 3;

/// The connection settings of an object store for one bucket.
#[derive(Debug, Clone)]
pub(crate) struct StoreConfig {
    /// The endpoint URL without a trailing slash.
    pub endpoint: String,
    /// The bucket name.
    pub bucket: String,
    /// The credentials sent with every request.
    pub credentials: Credentials,
    /// Whether the endpoint is on this machine, where no proxy may be used.
    pub loopback: bool,
}

/// An object's data with the generation it was read at.
#[derive(Debug, Clone)]
pub(crate) struct StoredObject {
    /// The object data.
    pub data: Vec<u8>,
    /// The object generation, for a precondition on the next write.
    pub generation: i64,
}

/// A failed object operation.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// A generation precondition did not hold: another writer changed the
    /// object first.
    #[error("the generation precondition of {action} failed")]
    PreconditionFailed {
        /// The attempted operation.
        action: String,
    },

    /// Any other failure, with the HTTP status when the server sent one.
    #[error("failed to {action}: {reason}")]
    Failed {
        /// The attempted operation.
        action: String,
        /// The HTTP status, if any.
        status: Option<u16>,
        /// Whether the request failed to reach the server or timed out.
        unreachable: bool,
        /// The client library's or the server's message.
        reason: String,
    },
}

impl StoreError {
    fn failed(action: &str, status: Option<u16>, reason: impl Into<String>) -> StoreError {
        StoreError::Failed {
            action: action.to_owned(),
            status,
            unreachable: false,
            reason: reason.into(),
        }
    }

    fn unreachable(action: &str, reason: impl Into<String>) -> StoreError {
        StoreError::Failed {
            action: action.to_owned(),
            status: None,
            unreachable: true,
            reason: reason.into(),
        }
    }

    /// Returns the HTTP status of the failure, if the server sent one.
    pub fn status(&self) -> Option<u16> {
        match self {
            StoreError::PreconditionFailed { .. } => Some(412),
            StoreError::Failed { status, .. } => *status,
        }
    }

    /// Returns true when the request failed to reach the server.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            StoreError::Failed {
                unreachable: true,
                ..
            }
        )
    }
}

/// The clients that jobs use, built on the store's thread.
struct Clients {
    storage: Storage,
    http: reqwest::Client,
    config: StoreConfig,
}

type Job = Box<dyn FnOnce(Rc<Clients>) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A bucket's objects, served by a thread of their own.
#[derive(Debug)]
pub(crate) struct ObjectStore {
    jobs: Option<mpsc::UnboundedSender<Job>>,
    worker: Option<thread::JoinHandle<()>>,
}

impl ObjectStore {
    /// Starts the thread and waits until its clients are built.
    pub fn start(config: StoreConfig) -> Result<ObjectStore, StoreError> {
        let (ready_sender, ready) = std_mpsc::sync_channel(1);
        let (jobs, receiver) = mpsc::unbounded_channel();
        let worker = thread::Builder::new()
            .name("tenancy-gcs-state".to_owned())
            .spawn(move || serve(config, ready_sender, receiver))
            .map_err(|error| {
                StoreError::failed("start the GCS state thread", None, error.to_string())
            })?;
        let store = ObjectStore {
            jobs: Some(jobs),
            worker: Some(worker),
        };
        match ready.recv() {
            Ok(Ok(())) => Ok(store),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(StoreError::failed(
                "start the GCS state thread",
                None,
                "the thread ended",
            )),
        }
    }

    /// Reads an object; `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<StoredObject>, StoreError> {
        let name = name.to_owned();
        self.run(move |clients| async move { clients.read(&name).await })
    }

    /// Writes an object of JSON text when its generation is `if_generation_match` (0:
    /// only when it does not exist) and returns the new generation.
    pub fn write(
        &self,
        name: &str,
        data: String,
        if_generation_match: i64,
    ) -> Result<i64, StoreError> {
        let name = name.to_owned();
        self.run(
            move |clients| async move { clients.write(&name, data, if_generation_match).await },
        )
    }

    /// Deletes an object, only at `generation` when one is given; a missing
    /// object counts as deleted.
    pub fn delete(&self, name: &str, generation: Option<i64>) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.run(move |clients| async move { clients.delete(&name, generation).await })
    }

    /// Returns the names of the objects that start with `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let prefix = prefix.to_owned();
        self.run(move |clients| async move { clients.list(&prefix).await })
    }

    fn run<T, F, Fut>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Rc<Clients>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + 'static,
    {
        let ended = || StoreError::failed("reach the GCS state thread", None, "the thread ended");
        let (reply, result) = std_mpsc::sync_channel(1);
        let boxed: Job = Box::new(move |clients| {
            Box::pin(async move {
                // The caller may have stopped waiting; nothing else needs the result.
                let _ = reply.send(job(clients).await);
            })
        });
        let jobs = self.jobs.as_ref().ok_or_else(ended)?;
        jobs.send(boxed).map_err(|_| ended())?;
        result.recv().map_err(|_| ended())?
    }
}

impl Drop for ObjectStore {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop.
        drop(self.jobs.take());
        if let Some(worker) = self.worker.take() {
            if worker.join().is_err() {
                tracing::warn!("the GCS state thread panicked");
            }
        }
    }
}

fn serve(
    config: StoreConfig,
    ready: std_mpsc::SyncSender<Result<(), StoreError>>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(StoreError::failed(
                "start the GCS state runtime",
                None,
                error.to_string(),
            )));
            return;
        }
    };
    runtime.block_on(async move {
        let clients = match Clients::build(config).await {
            Ok(clients) => Rc::new(clients),
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        while let Some(job) = jobs.recv().await {
            job(Rc::clone(&clients)).await;
        }
    });
}

impl Clients {
    async fn build(config: StoreConfig) -> Result<Clients, StoreError> {
        let action = "create the Cloud Storage client";
        let storage = Storage::builder()
            .with_endpoint(config.endpoint.clone())
            .with_credentials(config.credentials.clone())
            .with_retry_policy(RetryableErrors.with_attempt_limit(ATTEMPT_LIMIT))
            .build()
            .await
            .map_err(|error| StoreError::failed(action, None, error.to_string()))?;
        let mut builder = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
        if config.loopback {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|error| StoreError::failed(action, None, error.to_string()))?;
        Ok(Clients {
            storage,
            http,
            config,
        })
    }

    fn bucket_path(&self) -> String {
        format!("projects/_/buckets/{}", self.config.bucket)
    }

    fn object_url(&self, name: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.config.endpoint,
            self.config.bucket,
            encode_path_segment(name)
        )
    }

    async fn read(&self, name: &str) -> Result<Option<StoredObject>, StoreError> {
        let action = format!("read object `{name}`");
        let response = self
            .storage
            .read_object(self.bucket_path(), name)
            .send()
            .await;
        let mut response = match response {
            Ok(response) => response,
            Err(error) if error.http_status_code() == Some(404) => return Ok(None),
            Err(error) => return Err(storage_error(&action, &error)),
        };
        let generation = response.object().generation;
        let mut data = Vec::new();
        while let Some(chunk) = response.next().await {
            let chunk = chunk.map_err(|error| storage_error(&action, &error))?;
            data.extend_from_slice(&chunk);
        }
        Ok(Some(StoredObject { data, generation }))
    }

    async fn write(
        &self,
        name: &str,
        data: String,
        if_generation_match: i64,
    ) -> Result<i64, StoreError> {
        let action = format!("write object `{name}`");
        let checksum = crc32c::crc32c(data.as_bytes());
        let written = self
            .storage
            .write_object(self.bucket_path(), name, data)
            .with_known_crc32c(checksum)
            .set_if_generation_match(if_generation_match)
            .set_content_type("application/json")
            .send_unbuffered()
            .await;
        match written {
            Ok(object) => Ok(object.generation),
            Err(error) if error.http_status_code() == Some(412) => {
                Err(StoreError::PreconditionFailed { action })
            }
            Err(error) => Err(storage_error(&action, &error)),
        }
    }

    async fn delete(&self, name: &str, generation: Option<i64>) -> Result<(), StoreError> {
        let action = format!("delete object `{name}`");
        let mut request = self.http.delete(self.object_url(name));
        if let Some(generation) = generation {
            request = request.query(&[("ifGenerationMatch", generation)]);
        }
        let response = self.send(request, &action).await?;
        match response.status().as_u16() {
            404 => Ok(()),
            412 => Err(StoreError::PreconditionFailed { action }),
            _ => check_status(response, &action).await.map(drop),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let action = format!("list objects with prefix `{prefix}`");
        let url = format!(
            "{}/storage/v1/b/{}/o",
            self.config.endpoint, self.config.bucket
        );
        let mut names = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut query = vec![("prefix", prefix.to_owned())];
            if let Some(token) = page_token.take() {
                query.push(("pageToken", token));
            }
            let response = self
                .send(self.http.get(&url).query(&query), &action)
                .await?;
            let page: serde_json::Value = check_status(response, &action)
                .await?
                .json()
                .await
                .map_err(|error| StoreError::failed(&action, None, error.to_string()))?;
            let items = page.get("items").and_then(serde_json::Value::as_array);
            for item in items.into_iter().flatten() {
                if let Some(name) = item.get("name").and_then(serde_json::Value::as_str) {
                    // Filtered here as well, in case a server ignores `prefix`.
                    if name.starts_with(prefix) {
                        names.push(name.to_owned());
                    }
                }
            }
            page_token = page
                .get("nextPageToken")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            if page_token.is_none() {
                names.sort();
                return Ok(names);
            }
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        action: &str,
    ) -> Result<reqwest::Response, StoreError> {
        let headers = match self
            .config
            .credentials
            .headers(http::Extensions::new())
            .await
        {
            Ok(CacheableResource::New { data, .. }) => data,
            Ok(CacheableResource::NotModified) => http::HeaderMap::new(),
            Err(error) => {
                return Err(StoreError::failed(
                    action,
                    None,
                    format!("no credentials: {error}"),
                ));
            }
        };
        request
            .headers(headers)
            .send()
            .await
            .map_err(|error| StoreError::unreachable(action, describe_chain(&error)))
    }
}

async fn check_status(
    response: reqwest::Response,
    action: &str,
) -> Result<reqwest::Response, StoreError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|json| {
            json.pointer("/error/message")
                .and_then(|message| message.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.trim().chars().take(300).collect());
    Err(StoreError::failed(
        action,
        Some(status.as_u16()),
        format!("HTTP {}: {message}", status.as_u16()),
    ))
}

fn storage_error(action: &str, error: &google_cloud_storage::Error) -> StoreError {
    if error.is_connect() || error.is_transport() || error.is_timeout() || error.is_io() {
        return StoreError::unreachable(action, describe_chain(error));
    }
    StoreError::failed(action, error.http_status_code(), describe_chain(error))
}

/// Formats an error with its sources, which carry the transport detail.
fn describe_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
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

/// Percent-encodes an object name for one URL path segment: every byte
/// other than an unreserved character (RFC 3986) is encoded, `/` included.
pub(crate) fn encode_path_segment(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
