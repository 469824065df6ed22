//! Errors of state storage, locking and editing.
//!
//! Every message names the file (or, for other backends, the location) and
//! the value involved. The next step for the user is the diagnostic's help
//! text, so the command line prints it under the message as a hint.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::state::lock::LockInfo;

/// A failed state operation.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// An I/O call on a state, backup, journal or lock file failed.
    #[error("failed to {action} `{path}`")]
    Io {
        /// The attempted step, such as "write state file".
        action: &'static str,
        /// The file involved.
        path: String,
        /// The operating system error.
        #[source]
        source: io::Error,
    },

    /// The state file exists but cannot be parsed.
    #[error("state file `{path}` is damaged: {reason}")]
    Damaged {
        /// The state file.
        path: String,
        /// The problem with its content.
        reason: String,
    },

    /// A write was rejected because the existing state file cannot be parsed.
    #[error("will not write state file `{path}` over a damaged file: {reason}")]
    WriteOverDamaged {
        /// The state file.
        path: String,
        /// The problem with its content.
        reason: String,
    },

    /// The state file uses a format version this build does not know.
    #[error(
        "state file `{path}` was written by a newer tenancy: format version {found}, \
         this tenancy reads up to version {supported}"
    )]
    NewerFormat {
        /// The state file.
        path: String,
        /// The format version found in the file.
        found: u64,
        /// The newest format version this build reads.
        supported: u64,
    },

    /// The state being written belongs to another lineage than the stored one.
    #[error(
        "state file `{path}` belongs to lineage {stored}, but the state being written \
         has lineage {written}"
    )]
    LineageMismatch {
        /// The state file.
        path: String,
        /// Lineage of the stored state.
        stored: String,
        /// Lineage of the state being written.
        written: String,
    },

    /// The stored state changed after the state being written was read.
    #[error(
        "state file `{path}` changed since it was read: it has serial {stored}, \
         the state being written was read at serial {read}"
    )]
    StaleSerial {
        /// The state file.
        path: String,
        /// Serial of the stored state.
        stored: u64,
        /// Serial of the state being written.
        read: u64,
    },

    /// The stored serial is at its largest value, so no write can follow.
    #[error("the serial of `{path}` is {serial}, the largest value, so no later write can be numbered")]
    SerialExhausted {
        /// The state's location.
        path: String,
        /// The stored serial.
        serial: u64,
    },

    /// A value to record nests lists and maps deeper than the state file
    /// format allows.
    #[error(
        "attribute `{attribute}` of `{address}` nests lists and maps {depth} levels deep, more than the {max} that state records"
    )]
    TooDeep {
        /// The resource address, or `output.NAME` for an output.
        address: String,
        /// The attribute name.
        attribute: String,
        /// The value's depth.
        depth: usize,
        /// The deepest value state records.
        max: usize,
    },

    /// A value to record is unknown; state records only values known after apply.
    #[error("attribute `{attribute}` of `{address}` is unknown and cannot be recorded in state")]
    UnknownValue {
        /// The resource address, or `output.NAME` for an output.
        address: String,
        /// The attribute name.
        attribute: String,
    },

    /// Another process holds the state lock.
    #[error(
        "{location} is locked{}{}",
        describe_holder(.holder.as_deref()),
        describe_wait(*.waited)
    )]
    Locked {
        /// The state's description, such as "local state file `x`".
        location: String,
        /// The lock record of the holder, when one could be read.
        holder: Option<Box<LockInfo>>,
        /// How long this process waited for the lock.
        waited: Duration,
    },

    /// `force-unlock` was given no lock to remove.
    #[error("{location} is not locked, so there is no lock `{id}` to remove")]
    NotLocked {
        /// The state's description.
        location: String,
        /// The lock ID in the request.
        id: String,
    },

    /// `force-unlock` was given another ID than the current lock's.
    #[error("{location} is locked with ID {}, not `{given}`", .holder.id)]
    LockIdMismatch {
        /// The state's description.
        location: String,
        /// The lock ID in the request.
        given: String,
        /// The current lock record.
        holder: Box<LockInfo>,
    },

    /// `force-unlock` was asked to remove the lock of a process that still runs.
    #[error(
        "lock {} on {location} belongs to a running process{}",
        .holder.id,
        describe_holder(Some(.holder))
    )]
    HolderRunning {
        /// The state's description.
        location: String,
        /// The current lock record.
        holder: Box<LockInfo>,
    },

    /// The journal cannot be parsed before its last line.
    #[error("state journal `{path}` is damaged at line {line}: {reason}")]
    JournalDamaged {
        /// The journal file.
        path: String,
        /// The 1-based line number.
        line: usize,
        /// The problem with the line.
        reason: String,
    },

    /// The journal was started on another state than the stored one.
    #[error(
        "state journal `{path}` was started on lineage {journal_lineage} serial \
         {journal_serial}, but the state has lineage {state_lineage} serial {state_serial}"
    )]
    JournalMismatch {
        /// The journal file.
        path: String,
        /// Lineage in the journal header.
        journal_lineage: String,
        /// Base serial in the journal header.
        journal_serial: u64,
        /// Lineage of the state.
        state_lineage: String,
        /// Serial of the state.
        state_serial: u64,
    },

    /// No resource has the address, nor any address under it.
    #[error("no resource `{address}` in the state")]
    ResourceNotFound {
        /// The address given.
        address: String,
    },

    /// A move would overwrite a resource that exists already.
    #[error("resource `{address}` already exists in the state")]
    AddressExists {
        /// The existing address.
        address: String,
    },

    /// A move was requested that cannot be carried out.
    #[error("cannot move `{from}` to `{to}`: {reason}")]
    InvalidMove {
        /// The source address.
        from: String,
        /// The destination address.
        to: String,
        /// The reason the move is invalid.
        reason: String,
    },

    /// The configuration names a state backend this build does not have.
    #[error("unknown state backend `{kind}`")]
    UnknownBackend {
        /// The backend kind given in `state "KIND"`.
        kind: String,
    },

    /// A `state "local"` setting is invalid.
    #[error("invalid setting `{name}` of the local state backend: {reason}")]
    InvalidSetting {
        /// The attribute name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The configuration names a state backend that this build leaves out.
    #[error("state backend `{kind}` is not part of this build of tenancy")]
    BackendNotBuilt {
        /// The backend kind given in `state "KIND"`.
        kind: String,
        /// The cargo feature that builds the backend in.
        feature: &'static str,
    },

    /// A state backend other than the local file failed; the backend wrote
    /// the message, the stable code and the next step.
    #[error("{message}")]
    Backend {
        /// The stable diagnostic code, such as `tenancy::state::postgres_connect`.
        code: &'static str,
        /// What was attempted on which state, and the cause.
        message: String,
        /// The next step for the user, in full sentences.
        hint: String,
    },
}

impl StateError {
    /// Returns the error with the file name of an I/O failure.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        StateError::Io {
            action,
            path: path.display().to_string(),
            source,
        }
    }

    /// Returns the stable diagnostic code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            StateError::Io { .. } => "tenancy::state::io",
            StateError::Damaged { .. } => "tenancy::state::damaged",
            StateError::WriteOverDamaged { .. } => "tenancy::state::write_over_damaged",
            StateError::NewerFormat { .. } => "tenancy::state::newer_format",
            StateError::LineageMismatch { .. } => "tenancy::state::lineage_mismatch",
            StateError::StaleSerial { .. } => "tenancy::state::stale_serial",
            StateError::UnknownValue { .. } => "tenancy::state::unknown_value",
            StateError::TooDeep { .. } => "tenancy::state::too_deep",
            StateError::SerialExhausted { .. } => "tenancy::state::serial_exhausted",
            StateError::Locked { .. } => "tenancy::state::locked",
            StateError::NotLocked { .. } => "tenancy::state::not_locked",
            StateError::LockIdMismatch { .. } => "tenancy::state::lock_id_mismatch",
            StateError::HolderRunning { .. } => "tenancy::state::holder_running",
            StateError::JournalDamaged { .. } => "tenancy::state::journal_damaged",
            StateError::JournalMismatch { .. } => "tenancy::state::journal_mismatch",
            StateError::ResourceNotFound { .. } => "tenancy::state::resource_not_found",
            StateError::AddressExists { .. } => "tenancy::state::address_exists",
            StateError::InvalidMove { .. } => "tenancy::state::invalid_move",
            StateError::UnknownBackend { .. } => "tenancy::state::unknown_backend",
            StateError::InvalidSetting { .. } => "tenancy::state::invalid_setting",
            StateError::BackendNotBuilt { .. } => "tenancy::state::backend_not_built",
            StateError::Backend { code, .. } => code,
        }
    }

    /// Returns the next step for the user, in full sentences.
    pub fn hint(&self) -> Option<String> {
        Some(self.hint_text())
    }

    fn hint_text(&self) -> String {
        match self {
            StateError::Io { action, path, .. } => io_hint(action, path),
            StateError::Damaged { path, .. } | StateError::WriteOverDamaged { path, .. } => {
                damaged_hint(path)
            }
            StateError::NewerFormat { .. } => "Upgrade tenancy to the version that wrote this \
                state, or restore a state file written by this version."
                .to_owned(),
            StateError::LineageMismatch { .. } => "The stored state comes from another \
                configuration or was replaced. Check which state file belongs to this \
                configuration; tenancy never writes one lineage over another."
                .to_owned(),
            StateError::StaleSerial { .. } => "Another command wrote the state after this one \
                read it. Run the command again so that it starts from the current state."
                .to_owned(),
            StateError::SerialExhausted { .. } => "The serial only grows by one per write, so a \
                value this large comes from an edit of the state. Set `serial` to the serial of \
                the backup or to a small number, then run the command again."
                .to_owned(),
            StateError::TooDeep { .. } => "Flatten the value, for example by storing nested data \
                as a JSON string with `jsonencode()`."
                .to_owned(),
            StateError::UnknownValue { .. } => "State records values after apply, when every \
                value is known. A provider returned an unknown value after apply, which is a \
                bug in that provider or in tenancy."
                .to_owned(),
            StateError::Locked { holder, .. } => locked_hint(holder.as_deref()),
            StateError::NotLocked { .. } => "Nothing needs unlocking.".to_owned(),
            StateError::LockIdMismatch { holder, .. } => format!(
                "Check the lock ID. To remove the current lock, run `tenancy force-unlock {}` \
                 after making sure that its holder no longer runs.",
                holder.id
            ),
            StateError::HolderRunning { holder, .. } => format!(
                "Removing the lock record would not stop that process, and a second command \
                 could then write the state at the same time. Wait for process {} to finish, \
                 or stop it: its lock is released when it exits.",
                holder.pid
            ),
            StateError::JournalDamaged { path, .. } => format!(
                "Move `{path}` aside to read the state without the changes it records, then \
                 run `tenancy plan` to see which objects the state no longer records."
            ),
            StateError::JournalMismatch { path, .. } => format!(
                "The journal belongs to another state, for example because the state file was \
                 restored from a backup. Check its contents, then move `{path}` aside and run \
                 `tenancy plan` to see what the state does not record."
            ),
            StateError::ResourceNotFound { .. } => {
                "Run `tenancy state list` to see the recorded addresses.".to_owned()
            }
            StateError::AddressExists { .. } => "Choose another destination, or remove the \
                existing resource first with `tenancy state rm`."
                .to_owned(),
            StateError::InvalidMove { .. } => {
                "Run `tenancy state list` to see the recorded addresses.".to_owned()
            }
            StateError::UnknownBackend { .. } => "Use `state \"local\"` in the `tenancy` block, \
                or remove the `state` block to keep state in `.tenancy/state.json`."
                .to_owned(),
            StateError::InvalidSetting { .. } => "The local backend accepts `path` (a string, \
                relative to the configuration directory) and `lock_timeout` (seconds, or a \
                duration such as \"30s\" or \"2m\")."
                .to_owned(),
            StateError::BackendNotBuilt { kind, feature } => format!(
                "Build tenancy with `cargo build --features {feature}` to store state in \
                 `{kind}`, or use `state \"local\"`."
            ),
            StateError::Backend { hint, .. } => hint.clone(),
        }
    }
}

impl miette::Diagnostic for StateError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(StateError::code(self)))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.hint_text()))
    }
}

fn describe_holder(holder: Option<&LockInfo>) -> String {
    match holder {
        Some(info) => format!(
            " by {} for `{}` since {} (lock ID {}, pid {}, tenancy {})",
            info.holder, info.operation, info.created, info.id, info.pid, info.tenancy_version
        ),
        None => " by a process that has not written its lock record yet".to_owned(),
    }
}

fn describe_wait(waited: Duration) -> String {
    if waited.is_zero() {
        String::new()
    } else {
        format!("; waited {:.1}s for it", waited.as_secs_f64())
    }
}

fn io_hint(action: &str, path: &str) -> String {
    if action.starts_with("write") || action.starts_with("replace") {
        format!(
            "Check free space and the permissions of the directory of `{path}`. The previous \
             state file was left as it was."
        )
    } else {
        format!("Check that `{path}` and its directory exist and that you may read them.")
    }
}

fn damaged_hint(path: &str) -> String {
    format!(
        "tenancy never writes over a damaged state file. The previous version is in \
         `{path}.backup`: check its serial and contents, then copy it over `{path}`. If \
         `{path}.journal` exists, keep it until the state reads again. Run `tenancy plan` \
         afterwards to see what the restored state does not record."
    )
}

fn locked_hint(holder: Option<&LockInfo>) -> String {
    let id = holder.map_or("ID", |info| info.id.as_str());
    format!(
        "Wait for that command to finish, or use a lock timeout to wait for it. A lock dies \
         with its process, so a crashed command never blocks the next one. If the lock \
         remains on a filesystem that does not support flock, make sure the holder no longer \
         runs and then run `tenancy force-unlock {id}`."
    )
}
