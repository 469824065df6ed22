//! The contract every state backend implements: locking, reading, writing
//! and journaling the state.
//!
//! The engine works with a `Box<dyn StateBackend>` and never learns where
//! state lives. [`crate::state::LocalBackend`] stores it in files beside the
//! configuration; other backends store the same documents elsewhere.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::config::BackendBlock;
use crate::state::error::StateError;
use crate::state::journal::JournalChange;
use crate::state::local::LocalBackend;
use crate::state::lock::LockInfo;
use crate::state::model::State;

/// A storage location for state, with its lock and journal.
pub trait StateBackend: Send + Sync {
    /// Describes the storage for messages, such as "local state file
    /// `.tenancy/state.json`".
    fn describe(&self) -> String;

    /// Takes the state lock for `operation` (`plan`, `apply`, `state rm`, …),
    /// failing with [`StateError::Locked`] when another process holds it
    /// beyond the lock timeout.
    fn lock(&self, operation: &str) -> Result<Box<dyn LockGuard>, StateError>;

    /// Sets how long [`StateBackend::lock`] waits for another holder to
    /// release the lock, in place of the state block's `lock_timeout`.
    fn set_lock_timeout(&mut self, timeout: Duration);

    /// Reads the stored state with any pending journal replayed onto it;
    /// `None` means that no state was written yet.
    fn read(&self) -> Result<Option<State>, StateError>;

    /// Stores the whole state and increments its serial on success.
    ///
    /// The state must have the stored lineage and serial, which is the case
    /// for a state returned by [`StateBackend::read`] and changed since. A
    /// pending journal of the same lineage is folded into this write and
    /// removed, because the state read already contained its changes.
    fn write(&self, state: &mut State) -> Result<(), StateError>;

    /// Opens the journal of an apply that starts from `base`, the state
    /// returned by [`StateBackend::read`] (or a fresh state when none was
    /// stored). A pending journal of the same base is continued.
    fn journal(&self, base: &State) -> Result<Box<dyn Journal>, StateError>;

    /// Removes the lock record with this ID, when its holder no longer holds
    /// the lock.
    fn force_unlock(&self, id: &str) -> Result<(), StateError>;

    /// Returns the size in bytes of the stored state when the backend can
    /// tell it without reading the state, such as a local file's size.
    fn stored_size(&self) -> Option<u64> {
        None
    }
}

/// A held state lock; dropping it releases the lock as well.
pub trait LockGuard: Send + fmt::Debug {
    /// Returns the record that this lock wrote.
    fn info(&self) -> &LockInfo;

    /// Releases the lock, reporting a failure that dropping would only log.
    fn unlock(self: Box<Self>) -> Result<(), StateError>;
}

/// The append-only record of resource changes made during one apply.
///
/// Each append is durable when it returns, so a crash loses no finished
/// resource: the next read replays the journal onto the stored state.
pub trait Journal: Send + fmt::Debug {
    /// Appends one change and waits until it is on disk.
    fn append(&mut self, change: &JournalChange) -> Result<(), StateError> {
        self.append_many(std::slice::from_ref(change))
    }

    /// Appends several changes with a single wait for the disk (group
    /// commit). On failure the partial write is cut off, so the journal keeps
    /// only the earlier appends.
    fn append_many(&mut self, changes: &[JournalChange]) -> Result<(), StateError>;

    /// Writes `state`, the journal's base with every appended change, as
    /// the new state (serial + 1), then removes the journal.
    fn compact(self: Box<Self>, state: &mut State) -> Result<(), StateError>;
}

/// Opens the backend that a `state "KIND"` block names, or the local backend
/// with its default path when `block` is `None`. Relative paths start from
/// the configuration directory `config_dir`.
pub fn open_backend(config_dir: &Path, block: Option<&BackendBlock>) -> Result<Box<dyn StateBackend>, StateError> {
    let Some(block) = block else {
        return Ok(Box::new(LocalBackend::new(config_dir)));
    };
    match block.kind.as_str() {
        "local" => Ok(Box::new(LocalBackend::from_settings(config_dir, &block.attrs)?)),
        "postgres" => open_postgres(&block.attrs),
        "gcs" => open_gcs(&block.attrs),
        _ => Err(StateError::UnknownBackend {
            kind: block.kind.clone(),
        }),
    }
}

#[cfg(feature = "postgres")]
fn open_postgres(attrs: &tenancy_sdk::Attrs) -> Result<Box<dyn StateBackend>, StateError> {
    Ok(Box::new(crate::state::postgres::PostgresBackend::from_settings(attrs)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_attrs: &tenancy_sdk::Attrs) -> Result<Box<dyn StateBackend>, StateError> {
    Err(StateError::BackendNotBuilt {
        kind: "postgres".to_owned(),
        feature: "postgres",
    })
}

#[cfg(feature = "gcp")]
fn open_gcs(attrs: &tenancy_sdk::Attrs) -> Result<Box<dyn StateBackend>, StateError> {
    Ok(Box::new(crate::state::gcs::GcsBackend::from_settings(attrs)?))
}

#[cfg(not(feature = "gcp"))]
fn open_gcs(_attrs: &tenancy_sdk::Attrs) -> Result<Box<dyn StateBackend>, StateError> {
    Err(StateError::BackendNotBuilt {
        kind: "gcs".to_owned(),
        feature: "gcp",
    })
}
