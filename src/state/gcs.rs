//! The GCS backend: state kept as objects in a Cloud Storage bucket, so that
//! a team and its CI share one state with one lock.
//!
//! ```hcl
//! tenancy {
//!   state "gcs" {
//!     bucket      = "acme-tenancy-state"
//!     prefix      = "tenancy"
//!     credentials = "anonymous"              # or a key file, or "application_default"
//!     endpoint    = "http://127.0.0.1:4443"  # a local emulator; Cloud Storage by default
//!   }
//! }
//! ```
//!
//! Objects under `PREFIX/`:
//!
//! - `state.json` is the document of [`crate::state::format`]. A write
//!   uploads it with `ifGenerationMatch` set to the generation it read (0
//!   when there was none), so of two writers that read the same state only
//!   the first one succeeds.
//! - `state.lock` contains the [`LockInfo`] of the lock holder. It is created
//!   with `ifGenerationMatch=0`, which only one creator wins, and deleted on
//!   unlock. Unlike the local backend's `flock`, this lock does not die with
//!   its process: after a crash, `tenancy force-unlock ID` removes it, as
//!   with Terraform's gcs backend.
//! - `journal/LINEAGE-BASE-SEQ.json` contains one appended batch of changes of a
//!   running apply, as a new object each. `read` replays the batches onto
//!   the stored state after a crash, and the next write deletes them.
//!
//! Enable object versioning on the bucket to keep earlier states: the
//! backend keeps no backup object of its own.

mod journal;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tenancy_sdk::{Attrs, Value};

pub use self::journal::GcsJournal;
use self::journal::{BatchName, ChangeRecord, JournalBatch, parse_batch_name};
use self::store::{ObjectStore, StoreConfig, StoreError};
use crate::state::backend::{Journal, LockGuard, StateBackend};
use crate::state::error::StateError;
use crate::state::format::{decode, encode};
use crate::state::journal::{JOURNAL_VERSION, JournalChange, JournalContents, replay};
use crate::state::lock::LockInfo;
use crate::state::model::{State, TENANCY_VERSION};

/// The object name prefix used when `state "gcs"` sets none.
pub const DEFAULT_PREFIX: &str = "tenancy";

/// The Cloud Storage endpoint used when `state "gcs"` sets none.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// How long a blocked [`StateBackend::lock`] waits between attempts.
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// State stored as objects in a Cloud Storage bucket.
#[derive(Debug, Clone)]
pub struct GcsBackend {
    inner: Arc<Inner>,
    lock_timeout: Option<Duration>,
}

struct Inner {
    config: StoreConfig,
    prefix: String,
    location: String,
    store: Mutex<Option<Arc<ObjectStore>>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("GcsBackend")
            .field("location", &self.location)
            .finish()
    }
}

impl GcsBackend {
    /// Creates the backend from the attributes of a `state "gcs"` block:
    /// `bucket` and `credentials` (required), `prefix`, `endpoint` and
    /// `lock_timeout` (seconds). Nothing connects until the first operation.
    pub fn from_settings(attrs: &Attrs) -> Result<Self, StateError> {
        let mut bucket = None;
        let mut prefix = DEFAULT_PREFIX.to_owned();
        let mut endpoint = DEFAULT_ENDPOINT.to_owned();
        let mut credentials = None;
        let mut lock_timeout = None;
        for (name, value) in attrs {
            if value.is_null() {
                continue;
            }
            match name.as_str() {
                "bucket" => bucket = Some(string_setting(name, value)?),
                "prefix" => prefix = string_setting(name, value)?,
                "endpoint" => endpoint = string_setting(name, value)?,
                "credentials" => credentials = Some(string_setting(name, value)?),
                "lock_timeout" => lock_timeout = Some(seconds_setting(name, value)?),
                "encryption_key" => {
                    return Err(invalid_setting(
                        name,
                        "state encryption is not available in the gcs backend yet; remove the setting",
                    ));
                }
                _ => return Err(invalid_setting(name, "the gcs backend has no such setting")),
            }
        }
        let bucket = bucket.ok_or_else(|| invalid_setting("bucket", "the setting is required"))?;
        let credentials = credentials.ok_or_else(|| {
            invalid_setting(
                "credentials",
                "the setting is required: `anonymous` for an emulator, the path of a service account \
                 key file, or `application_default`",
            )
        })?;
        GcsBackend::new(&bucket, &prefix, &endpoint, &credentials, lock_timeout)
    }

    /// Creates the backend for the objects under `prefix/` in `bucket` at
    /// `endpoint`, with credentials from `credentials` (`anonymous`,
    /// `application_default` or a key file path).
    pub fn new(
        bucket: &str,
        prefix: &str,
        endpoint: &str,
        credentials: &str,
        lock_timeout: Option<Duration>,
    ) -> Result<Self, StateError> {
        check_bucket(bucket)?;
        check_prefix(prefix)?;
        let (endpoint, loopback) = check_endpoint(endpoint)?;
        let credentials = build_credentials(credentials)?;
        let prefix = prefix.trim_matches('/').to_owned();
        let location = format!("GCS state `gs://{bucket}/{prefix}/state.json`");
        let config = StoreConfig {
            endpoint,
            bucket: bucket.to_owned(),
            credentials,
            loopback,
        };
        let inner = Inner {
            config,
            prefix,
            location,
            store: Mutex::new(None),
        };
        Ok(GcsBackend {
            inner: Arc::new(inner),
            lock_timeout,
        })
    }

    /// Returns the name of the state object.
    pub fn state_object(&self) -> String {
        format!("{}/state.json", self.inner.prefix)
    }

    /// Returns the name of the lock object.
    pub fn lock_object(&self) -> String {
        format!("{}/state.lock", self.inner.prefix)
    }

    fn journal_prefix(&self) -> String {
        format!("{}/journal/", self.inner.prefix)
    }

    fn batch_object(&self, batch: &BatchName) -> String {
        format!(
            "{}{}-{:010}-{:010}.json",
            self.journal_prefix(),
            batch.lineage,
            batch.base_serial,
            batch.sequence
        )
    }

    fn gs_url(&self, object: &str) -> String {
        format!("gs://{}/{object}", self.inner.config.bucket)
    }

    /// Returns the running object store, starting it on first use.
    fn store(&self) -> Result<Arc<ObjectStore>, StateError> {
        let mut shared = self
            .inner
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = shared.as_ref() {
            return Ok(Arc::clone(store));
        }
        let store = Arc::new(
            ObjectStore::start(self.inner.config.clone()).map_err(|error| self.error(error))?,
        );
        *shared = Some(Arc::clone(&store));
        Ok(store)
    }

    /// Converts a store failure into a state error about this state.
    fn error(&self, error: StoreError) -> StateError {
        let (code, hint) = match (&error, error.status()) {
            (StoreError::PreconditionFailed { .. }, _) => (
                "tenancy::state::gcs_conflict",
                "Another command changed the state object at the same time. Run the command again so \
                 that it starts from the current state.",
            ),
            (_, Some(401 | 403)) => (
                "tenancy::state::gcs_auth",
                "Check the backend's `credentials`: the account needs read, write and delete access to \
                 objects in the bucket (roles/storage.objectAdmin).",
            ),
            (_, Some(404)) => (
                "tenancy::state::gcs_not_found",
                "Check that the bucket exists. The gcs backend does not create its bucket.",
            ),
            (error, None) if error.is_unreachable() => (
                "tenancy::state::gcs_unavailable",
                "Check the backend's `endpoint` and that Cloud Storage or the emulator accepts \
                 connections there.",
            ),
            _ => (
                "tenancy::state::gcs_request",
                "Check the message above; run the command again if the failure was temporary.",
            ),
        };
        StateError::Backend {
            code,
            message: format!("{}: {error}", self.inner.location),
            hint: hint.to_owned(),
        }
    }

    /// Reads the state object with its generation (0 when it is missing).
    fn read_state_object(&self) -> Result<(Option<State>, i64), StateError> {
        let object = self.state_object();
        let Some(stored) = self
            .store()?
            .read(&object)
            .map_err(|error| self.error(error))?
        else {
            return Ok((None, 0));
        };
        let state = decode(&stored.data, &self.gs_url(&object))?;
        Ok((Some(state), stored.generation))
    }

    /// Returns the journal batches, parsed from the object names.
    fn list_batches(&self) -> Result<Vec<BatchName>, StateError> {
        let prefix = self.journal_prefix();
        let names = self
            .store()?
            .list(&prefix)
            .map_err(|error| self.error(error))?;
        let mut batches = Vec::with_capacity(names.len());
        for name in names {
            match parse_batch_name(&name[prefix.len()..]) {
                Some(batch) => batches.push(batch),
                None => {
                    tracing::warn!(object = %name, "ignoring an object in the journal folder that is not a batch")
                }
            }
        }
        batches.sort_by(|left, right| left.sequence.cmp(&right.sequence));
        Ok(batches)
    }

    fn read_batch(&self, batch: &BatchName) -> Result<Vec<JournalChange>, StateError> {
        let object = self.batch_object(batch);
        let damaged = |reason: String| StateError::JournalDamaged {
            path: self.gs_url(&object),
            line: 1,
            reason,
        };
        let stored = self
            .store()?
            .read(&object)
            .map_err(|error| self.error(error))?;
        let Some(stored) = stored else {
            return Err(damaged(
                "the batch was listed but no longer exists".to_owned(),
            ));
        };
        let parsed: JournalBatch = serde_json::from_slice(&stored.data)
            .map_err(|error| damaged(format!("invalid batch: {error}")))?;
        if parsed.journal_version != JOURNAL_VERSION {
            return Err(damaged(format!(
                "unknown journal version {}",
                parsed.journal_version
            )));
        }
        if parsed.lineage != batch.lineage || parsed.base_serial != batch.base_serial {
            return Err(damaged(
                "the batch content does not match its object name".to_owned(),
            ));
        }
        Ok(parsed
            .changes
            .into_iter()
            .map(ChangeRecord::into_change)
            .collect())
    }

    /// Deletes the journal batches that a write of `lineage` replacing
    /// `replaced_serial` contains.
    fn remove_folded_batches(&self, lineage: &str, replaced_serial: u64) -> Result<(), StateError> {
        let store = self.store()?;
        for batch in self.list_batches()? {
            if batch.lineage == lineage && batch.base_serial <= replaced_serial {
                store
                    .delete(&self.batch_object(&batch), None)
                    .map_err(|error| self.error(error))?;
            }
        }
        Ok(())
    }

    fn check_replaceable(&self, stored: Option<&State>, state: &State) -> Result<(), StateError> {
        let Some(stored) = stored else {
            return Ok(());
        };
        let path = self.gs_url(&self.state_object());
        if stored.lineage != state.lineage {
            return Err(StateError::LineageMismatch {
                path,
                stored: stored.lineage.clone(),
                written: state.lineage.clone(),
            });
        }
        if stored.serial != state.serial {
            return Err(StateError::StaleSerial {
                path,
                stored: stored.serial,
                read: state.serial,
            });
        }
        Ok(())
    }
}

impl StateBackend for GcsBackend {
    fn describe(&self) -> String {
        self.inner.location.clone()
    }

    fn lock(&self, operation: &str) -> Result<Box<dyn LockGuard>, StateError> {
        let store = self.store()?;
        let object = self.lock_object();
        let info = LockInfo::new(operation);
        let text = serde_json::to_string_pretty(&info).expect("a lock record is valid JSON");
        let started = Instant::now();
        loop {
            match store.write(&object, text.clone(), 0) {
                Ok(generation) => {
                    return Ok(Box::new(GcsLock {
                        backend: self.clone(),
                        info,
                        generation,
                        released: false,
                    }));
                }
                Err(StoreError::PreconditionFailed { .. }) => {}
                Err(error) => return Err(self.error(error)),
            }
            let waited = started.elapsed();
            let remaining = self
                .lock_timeout
                .and_then(|limit| limit.checked_sub(waited));
            match remaining {
                Some(remaining) if !remaining.is_zero() => {
                    std::thread::sleep(remaining.min(LOCK_RETRY_INTERVAL))
                }
                _ => {
                    let holder = self.read_lock_record()?.and_then(|(info, _)| info);
                    return Err(StateError::Locked {
                        location: self.inner.location.clone(),
                        holder: holder.map(Box::new),
                        waited,
                    });
                }
            }
        }
    }

    fn set_lock_timeout(&mut self, timeout: Duration) {
        self.lock_timeout = Some(timeout);
    }

    fn read(&self) -> Result<Option<State>, StateError> {
        let (state, _) = self.read_state_object()?;
        let batches = self.list_batches()?;
        let pending: Vec<BatchName> = batches
            .into_iter()
            .filter(|batch| {
                // A batch of this lineage older than the state was folded in
                // by a write that crashed before deleting it.
                !state.as_ref().is_some_and(|state| {
                    batch.lineage == state.lineage && batch.base_serial < state.serial
                })
            })
            .collect();
        let Some(first) = pending.first() else {
            return Ok(state);
        };
        let journal_path = std::path::PathBuf::from(self.gs_url(&self.journal_prefix()));
        if let Some(other) = pending
            .iter()
            .find(|batch| batch.lineage != first.lineage || batch.base_serial != first.base_serial)
        {
            return Err(StateError::JournalMismatch {
                path: journal_path.display().to_string(),
                journal_lineage: other.lineage.clone(),
                journal_serial: other.base_serial,
                state_lineage: first.lineage.clone(),
                state_serial: first.base_serial,
            });
        }
        let mut changes = Vec::new();
        for batch in &pending {
            changes.extend(self.read_batch(batch)?);
        }
        let contents = JournalContents {
            lineage: first.lineage.clone(),
            base_serial: first.base_serial,
            changes,
            valid_len: 0,
        };
        replay(state, contents, &journal_path).map(Some)
    }

    fn write(&self, state: &mut State) -> Result<(), StateError> {
        let (stored, generation) = match self.read_state_object() {
            Ok(pair) => pair,
            Err(StateError::Damaged { path, reason }) => {
                return Err(StateError::WriteOverDamaged { path, reason });
            }
            Err(error) => return Err(error),
        };
        self.check_replaceable(stored.as_ref(), state)?;

        let replaced_serial = state.serial;
        let previous_version =
            std::mem::replace(&mut state.tenancy_version, TENANCY_VERSION.to_owned());
        let Some(next_serial) = state.next_serial() else {
            state.tenancy_version = previous_version;
            return Err(StateError::SerialExhausted {
                path: self.describe(),
                serial: state.serial,
            });
        };
        state.serial = next_serial;
        let written = encode(state).and_then(|bytes| {
            let text = String::from_utf8(bytes).expect("the state document is UTF-8 JSON");
            let store = self.store()?;
            store
                .write(&self.state_object(), text, generation)
                .map_err(|error| self.error(error))
        });
        if let Err(error) = written {
            state.serial = replaced_serial;
            state.tenancy_version = previous_version;
            return Err(error);
        }
        self.remove_folded_batches(&state.lineage, replaced_serial)
    }

    fn journal(&self, base: &State) -> Result<Box<dyn Journal>, StateError> {
        Ok(Box::new(GcsJournal::open(self.clone(), base)?))
    }

    fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        let Some((holder, generation)) = self.read_lock_record()? else {
            return Err(StateError::NotLocked {
                location: self.inner.location.clone(),
                id: id.to_owned(),
            });
        };
        let Some(holder) = holder else {
            return Err(StateError::Backend {
                code: "tenancy::state::gcs_damaged_lock",
                message: format!(
                    "{}: the lock object has no readable lock record",
                    self.inner.location
                ),
                hint: format!(
                    "Make sure that no command uses this state, then delete `{}` by hand.",
                    self.gs_url(&self.lock_object())
                ),
            });
        };
        if holder.id != id {
            return Err(StateError::LockIdMismatch {
                location: self.inner.location.clone(),
                given: id.to_owned(),
                holder: Box::new(holder),
            });
        }
        self.store()?
            .delete(&self.lock_object(), Some(generation))
            .map_err(|error| self.error(error))
    }
}

impl GcsBackend {
    /// Reads the lock object: `None` when there is no lock, otherwise its
    /// record (`None` when it does not parse) and generation.
    fn read_lock_record(&self) -> Result<Option<(Option<LockInfo>, i64)>, StateError> {
        let stored = self
            .store()?
            .read(&self.lock_object())
            .map_err(|error| self.error(error))?;
        Ok(stored.map(|stored| (serde_json::from_slice(&stored.data).ok(), stored.generation)))
    }
}

/// A held lock: the lock object this process created.
#[derive(Debug)]
pub struct GcsLock {
    backend: GcsBackend,
    info: LockInfo,
    generation: i64,
    released: bool,
}

impl GcsLock {
    fn release(&mut self) -> Result<(), StateError> {
        if std::mem::replace(&mut self.released, true) {
            return Ok(());
        }
        let current = self.backend.read_lock_record()?;
        let ours = matches!(&current, Some((Some(info), _)) if info.id == self.info.id);
        if !ours {
            tracing::debug!(lock_id = %self.info.id, "the state lock was removed by force-unlock; nothing to release");
            return Ok(());
        }
        let store = self.backend.store()?;
        match store.delete(&self.backend.lock_object(), Some(self.generation)) {
            Ok(()) => Ok(()),
            // The lock object was replaced after the check above, so it is
            // no longer ours to delete.
            Err(StoreError::PreconditionFailed { .. }) => Ok(()),
            Err(error) => Err(self.backend.error(error)),
        }
    }
}

impl LockGuard for GcsLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn unlock(mut self: Box<Self>) -> Result<(), StateError> {
        self.release()
    }
}

impl Drop for GcsLock {
    fn drop(&mut self) {
        if let Err(error) = self.release() {
            tracing::warn!(lock_id = %self.info.id, "failed to release the state lock: {error}");
        }
    }
}

fn build_credentials(
    source: &str,
) -> Result<google_cloud_auth::credentials::Credentials, StateError> {
    use google_cloud_auth::credentials;

    let failed = |reason: String| invalid_setting("credentials", &reason);
    match source {
        "anonymous" => Ok(credentials::anonymous::Builder::new().build()),
        "application_default" => credentials::Builder::default().build().map_err(|error| {
            failed(format!(
                "Application Default Credentials are not available: {error}"
            ))
        }),
        path => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| failed(format!("failed to read key file `{path}`: {error}")))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|error| failed(format!("key file `{path}` is not JSON: {error}")))?;
            let built = match json.get("type").and_then(serde_json::Value::as_str) {
                Some("service_account") => credentials::service_account::Builder::new(json).build(),
                Some("authorized_user") => credentials::user_account::Builder::new(json).build(),
                other => {
                    return Err(failed(format!(
                        "key file `{path}` has type {other:?}; only `service_account` and `authorized_user` \
                         files are supported"
                    )));
                }
            };
            built.map_err(|error| failed(format!("key file `{path}` was rejected: {error}")))
        }
    }
}

fn check_bucket(bucket: &str) -> Result<(), StateError> {
    let valid = (3..=222).contains(&bucket.len())
        && bucket.chars().all(|character| {
            character.is_ascii_lowercase()
                || character.is_ascii_digit()
                || "-_.".contains(character)
        })
        && bucket.starts_with(|character: char| character.is_ascii_alphanumeric())
        && bucket.ends_with(|character: char| character.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(invalid_setting(
            "bucket",
            &format!(
                "`{bucket}` is not a bucket name: use 3 to 63 lower-case letters, digits, `-`, `_` and `.`"
            ),
        ))
    }
}

fn check_prefix(prefix: &str) -> Result<(), StateError> {
    let trimmed = prefix.trim_matches('/');
    let valid = !trimmed.is_empty()
        && trimmed.len() <= 512
        && !trimmed
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        && !trimmed.chars().any(char::is_control);
    if valid {
        Ok(())
    } else {
        Err(invalid_setting(
            "prefix",
            &format!(
                "`{prefix}` is not an object name prefix: use path segments such as `tenancy/production`"
            ),
        ))
    }
}

/// Checks the endpoint and returns it without a trailing slash, with
/// whether it is on this machine.
fn check_endpoint(endpoint: &str) -> Result<(String, bool), StateError> {
    let url = url::Url::parse(endpoint).map_err(|error| {
        invalid_setting("endpoint", &format!("`{endpoint}` is not a URL: {error}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid_setting(
            "endpoint",
            &format!(
                "`{endpoint}` must be an http or https URL with a host, such as `http://127.0.0.1:4443`"
            ),
        ));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        Some(url::Host::Domain(domain)) => domain == "localhost",
        None => false,
    };
    Ok((endpoint.trim_end_matches('/').to_owned(), loopback))
}

fn string_setting(name: &str, value: &Value) -> Result<String, StateError> {
    match value.as_str() {
        Some(text) if !text.is_empty() => Ok(text.to_owned()),
        _ => Err(invalid_setting(
            name,
            &format!("expected a non-empty string, found {value}"),
        )),
    }
}

fn seconds_setting(name: &str, value: &Value) -> Result<Duration, StateError> {
    value
        .as_f64()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| {
            invalid_setting(
                name,
                &format!("expected a number of seconds, found {value}"),
            )
        })
}

fn invalid_setting(name: &str, reason: &str) -> StateError {
    StateError::Backend {
        code: "tenancy::state::gcs_invalid_setting",
        message: format!("invalid setting `{name}` of the gcs state backend: {reason}"),
        hint: "The gcs backend accepts `bucket` and `credentials` (required), `prefix`, `endpoint` and \
               `lock_timeout` (seconds)."
            .to_owned(),
    }
}
