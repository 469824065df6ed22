//! State: what every resource looked like after its last apply, and where
//! that record is stored.
//!
//! The modules keep the model apart from its storage. [`model`] is the
//! in-memory state and [`format`] the versioned JSON file format.
//! [`backend`] is the contract of a storage backend, and [`local`] the
//! backend that keeps state in a file beside the configuration, with its
//! lock file in [`lock`]. [`journal`] is the append-only record of a running
//! apply, and [`commands`] has the functions behind
//! `tenancy state list|show|rm|mv`. [`strings`] stores each distinct string
//! of a state once.

pub mod backend;
pub mod commands;
pub mod error;
pub mod format;
#[cfg(feature = "gcp")]
pub mod gcs;
pub mod journal;
pub mod local;
pub mod lock;
pub mod model;
pub mod strings;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use backend::{Journal, LockGuard, StateBackend, open_backend};
pub use commands::{
    address_is_within, list_addresses, move_resources, remove_resources, render_resource, show_resource,
    state_mv, state_rm,
};
pub use error::StateError;
pub use format::FORMAT_VERSION;
pub use journal::JournalChange;
pub use local::{DEFAULT_STATE_PATH, LocalBackend, LARGE_STATE_BYTES};
pub use lock::LockInfo;
pub use model::{OutputState, ResourceState, State, TENANCY_VERSION};
