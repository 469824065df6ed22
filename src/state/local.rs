//! The local backend: the state in a file beside the configuration.
//!
//! The state lives in `.tenancy/state.json` under the configuration
//! directory unless the `state "local"` block sets `path`. Next to it are
//! `state.json.backup` (the previous version), `state.json.lock` (the lock,
//! see [`crate::state::lock`]) and, during an apply, `state.json.journal`
//! (see [`crate::state::journal`]).
//!
//! Every write is atomic: the new document goes to a temporary file in the
//! same directory, which is flushed to disk (fsync) and renamed over the
//! state file, and the directory is flushed too. A crash at any point
//! leaves either the old or the new state file, never a mix. Before the
//! rename, the old file is linked as the backup. A write never replaces a
//! state file that does not parse, so a damaged file stays for recovery.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tenancy_sdk::{Attrs, Value};

use crate::state::backend::{Journal, LockGuard, StateBackend};
use crate::state::error::StateError;
use crate::state::format::{decode, decode_direct_from, encoder, stored_version};
use crate::state::journal::{LocalJournal, read_journal, read_journal_header, replay};
use crate::state::lock::{self, parent_directory};
use crate::state::model::{State, TENANCY_VERSION};

/// The state file path used when the configuration sets none, relative to
/// the configuration directory.
pub const DEFAULT_STATE_PATH: &str = ".tenancy/state.json";

/// The state file size from which a command reads state after lowering,
/// not beside it, and decodes the file as it is read. The generated
/// benchmark state of 25,000 resources takes about 14 MiB.
pub const LARGE_STATE_BYTES: u64 = 16 << 20;

/// State stored in a local file, with its lock, backup and journal beside it.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    path: PathBuf,
    lock_timeout: Option<Duration>,
}

impl LocalBackend {
    /// Creates the backend for the default path under `config_dir`.
    pub fn new(config_dir: impl AsRef<Path>) -> Self {
        LocalBackend::at_path(config_dir.as_ref().join(DEFAULT_STATE_PATH))
    }

    /// Creates the backend for the state file at `path`.
    pub fn at_path(path: impl Into<PathBuf>) -> Self {
        LocalBackend {
            path: path.into(),
            lock_timeout: None,
        }
    }

    /// Creates the backend from the attributes of a `state "local"` block:
    /// `path` (relative to `config_dir`) and `lock_timeout` (seconds, or a
    /// duration string such as `"30s"`, `"2m"` or `"500ms"`).
    pub fn from_settings(config_dir: impl AsRef<Path>, attrs: &Attrs) -> Result<Self, StateError> {
        let mut backend = LocalBackend::new(&config_dir);
        for (name, value) in attrs {
            match name.as_str() {
                "path" => {
                    let path = value
                        .as_str()
                        .filter(|path| !path.is_empty())
                        .ok_or_else(|| {
                            invalid_setting(
                                name,
                                format!("expected a non-empty string, found {value}"),
                            )
                        })?;
                    backend.path = config_dir.as_ref().join(path);
                }
                "lock_timeout" => {
                    let timeout =
                        parse_timeout(value).map_err(|reason| invalid_setting(name, reason))?;
                    backend.lock_timeout = Some(timeout);
                }
                _ => {
                    return Err(invalid_setting(
                        name,
                        "the local backend has no such setting".to_owned(),
                    ));
                }
            }
        }
        Ok(backend)
    }

    /// Sets how long [`StateBackend::lock`] waits for another holder;
    /// `None` or zero fails at once.
    pub fn with_lock_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Returns the path of the state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the path of the backup of the previous state, beside the
    /// state file or beside the file it links to.
    pub fn backup_path(&self) -> PathBuf {
        with_suffix(&self.real_path(), ".backup")
    }

    /// Returns the path of the lock file. When the state file is a symbolic
    /// link, the lock sits beside the file it links to, so every checkout
    /// that links to one shared file takes the same lock.
    pub fn lock_path(&self) -> PathBuf {
        with_suffix(&self.real_path(), ".lock")
    }

    /// Returns the path of the journal of a running or interrupted apply,
    /// beside the state file or beside the file it links to.
    pub fn journal_path(&self) -> PathBuf {
        with_suffix(&self.real_path(), ".journal")
    }

    /// Returns the file that a link at the state path points to, or the
    /// state path itself when it is no link or cannot be resolved.
    fn real_path(&self) -> PathBuf {
        self.write_target().unwrap_or_else(|_| self.path.clone())
    }

    /// Reads the state file alone, without replaying a journal.
    ///
    /// A file of [`LARGE_STATE_BYTES`] or more is decoded as it is read,
    /// so its text is never held whole beside the decoded state. A file that
    /// does not decode that way is read again whole, to be upgraded or to
    /// have its error explained.
    pub fn read_state_file(&self) -> Result<Option<State>, StateError> {
        if self.stored_size().is_some_and(|size| size >= LARGE_STATE_BYTES)
            && let Ok(file) = fs::File::open(&self.path)
            && let Some(state) = decode_direct_from(io::BufReader::with_capacity(1 << 20, file))
        {
            return Ok(Some(state));
        }
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(StateError::io("read state file", &self.path, error)),
        };
        decode(&bytes, &self.path.display().to_string()).map(Some)
    }

    /// Reads the stored state for a write and checks that `state` may
    /// replace it; returns whether a state file exists.
    ///
    /// A well-formed file of the current format has its lineage and serial
    /// read alone, which spares decoding every resource of a large state at
    /// each write. Any other file is decoded whole, so that a damaged file
    /// is reported and kept as before.
    fn check_replaceable(&self, state: &State) -> Result<bool, StateError> {
        let stored = match fs::read(&self.path) {
            Ok(bytes) => stored_version(&bytes),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(_) => None,
        };
        let (lineage, serial) = match stored {
            Some(version) => version,
            None => match self.stored_state()? {
                Some(stored) => (stored.lineage, stored.serial),
                None => return Ok(false),
            },
        };
        if lineage != state.lineage {
            return Err(StateError::LineageMismatch {
                path: self.path.display().to_string(),
                stored: lineage,
                written: state.lineage.clone(),
            });
        }
        if serial != state.serial {
            return Err(StateError::StaleSerial {
                path: self.path.display().to_string(),
                stored: serial,
                read: state.serial,
            });
        }
        Ok(true)
    }

    /// Decodes the stored state for a write, reporting a damaged file as one
    /// that a write must not replace.
    fn stored_state(&self) -> Result<Option<State>, StateError> {
        match self.read_state_file() {
            Err(StateError::Damaged { path, reason }) => Err(StateError::WriteOverDamaged { path, reason }),
            other => other,
        }
    }

    /// Returns the file that a write replaces: the state file, or the file
    /// it links to when it is a symbolic link, so the link survives writes.
    fn write_target(&self) -> Result<PathBuf, StateError> {
        let is_link = fs::symlink_metadata(&self.path)
            .is_ok_and(|metadata| metadata.file_type().is_symlink());
        if !is_link {
            return Ok(self.path.clone());
        }
        match fs::canonicalize(&self.path) {
            Ok(target) => Ok(target),
            // A link to a file not written yet: the write creates that file.
            Err(error) if error.kind() == io::ErrorKind::NotFound => fs::read_link(&self.path)
                .map(|target| parent_directory(&self.path).join(target))
                .map_err(|error| StateError::io("read state file link", &self.path, error)),
            Err(error) => Err(StateError::io("resolve state file link", &self.path, error)),
        }
    }

    /// Links the current state file (`target`, with any symbolic link
    /// resolved) as the backup, replacing the old backup in one rename.
    fn keep_backup(&self, target: &Path) -> Result<(), StateError> {
        let backup = self.backup_path();
        let staging = temporary_sibling(&backup);
        let linked = fs::hard_link(target, &staging).or_else(|_| {
            // Some filesystems have no hard links; a copy does the same job.
            fs::copy(target, &staging).and_then(|_| fs::File::open(&staging)?.sync_all())
        });
        let result = linked.and_then(|()| fs::rename(&staging, &backup));
        if let Err(error) = result {
            let _ = fs::remove_file(&staging);
            return Err(StateError::io("write state backup", &backup, error));
        }
        Ok(())
    }

    /// Removes the journal once a write contains its changes: a journal of
    /// this lineage started at or before the serial the write replaced.
    fn remove_folded_journal(&self, lineage: &str, replaced_serial: u64) -> Result<(), StateError> {
        let path = self.journal_path();
        let Some((journal_lineage, base_serial)) = read_journal_header(&path)? else {
            return Ok(());
        };
        if journal_lineage != lineage || base_serial > replaced_serial {
            return Ok(());
        }
        fs::remove_file(&path)
            .map_err(|error| StateError::io("remove state journal", &path, error))?;
        sync_directory(&path)
    }
}

impl StateBackend for LocalBackend {
    fn describe(&self) -> String {
        format!("local state file `{}`", self.path.display())
    }

    fn lock(&self, operation: &str) -> Result<Box<dyn LockGuard>, StateError> {
        let lock_path = self.lock_path();
        let directory = parent_directory(&lock_path);
        fs::create_dir_all(directory)
            .map_err(|error| StateError::io("create state directory", directory, error))?;
        let guard = lock::acquire(
            &lock_path,
            &self.describe(),
            operation,
            self.lock_timeout,
        )?;
        Ok(Box::new(guard))
    }

    fn set_lock_timeout(&mut self, timeout: Duration) {
        self.lock_timeout = Some(timeout);
    }

    fn read(&self) -> Result<Option<State>, StateError> {
        let state = self.read_state_file()?;
        let journal_path = self.journal_path();
        match read_journal(&journal_path)? {
            Some(journal) => replay(state, journal, &journal_path).map(Some),
            None => Ok(state),
        }
    }

    fn write(&self, state: &mut State) -> Result<(), StateError> {
        let exists = self.check_replaceable(state)?;

        let replaced_serial = state.serial;
        let previous_version =
            std::mem::replace(&mut state.tenancy_version, TENANCY_VERSION.to_owned());
        let Some(next_serial) = state.next_serial() else {
            state.tenancy_version = previous_version;
            return Err(StateError::SerialExhausted {
                path: self.path.display().to_string(),
                serial: state.serial,
            });
        };
        state.serial = next_serial;
        // The document is written to the file as it is encoded, so the
        // bytes of a large state never take memory all at once.
        let written = encoder(state).and_then(|encoded| {
            let target = self.write_target()?;
            if exists {
                self.keep_backup(&target)?;
            }
            write_file_atomically_with(&target, "write state file", |file| encoded.write_to(file))
        });
        if let Err(error) = written {
            state.serial = replaced_serial;
            state.tenancy_version = previous_version;
            return Err(error);
        }

        self.remove_folded_journal(&state.lineage, replaced_serial)
    }

    fn journal(&self, base: &State) -> Result<Box<dyn Journal>, StateError> {
        let journal = LocalJournal::open(self.clone(), self.journal_path(), base)?;
        Ok(Box::new(journal))
    }

    fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        lock::force_unlock(&self.lock_path(), &self.describe(), id)
    }

    fn stored_size(&self) -> Option<u64> {
        fs::metadata(&self.path).ok().map(|metadata| metadata.len())
    }
}

/// Replaces the file at `path` with `bytes` atomically: a temporary file in
/// the same directory is written and flushed, renamed over `path`, and the
/// directory is flushed. `action` names the step in errors.
pub(crate) fn write_file_atomically(
    path: &Path,
    bytes: &[u8],
    action: &'static str,
) -> Result<(), StateError> {
    write_file_atomically_with(path, action, |file| file.write_all(bytes))
}

/// Replaces the file at `path` atomically, as [`write_file_atomically`]
/// does, with the bytes that `write` writes to the new file.
pub(crate) fn write_file_atomically_with(
    path: &Path,
    action: &'static str,
    write: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> Result<(), StateError> {
    let directory = parent_directory(path);
    fs::create_dir_all(directory)
        .map_err(|error| StateError::io("create state directory", directory, error))?;

    let staging = temporary_sibling(path);
    let result = write_new_file(&staging, write).and_then(|()| fs::rename(&staging, path));
    if let Err(error) = result {
        let _ = fs::remove_file(&staging);
        return Err(StateError::io(action, path, error));
    }
    sync_directory(path)
}

fn write_new_file(path: &Path, write: impl FnOnce(&mut fs::File) -> io::Result<()>) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        // State contains sensitive values in plain JSON, so only the owner
        // may read it.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    write(&mut file)?;
    file.sync_all()
}

/// Flushes the directory that contains `path`, so that a rename or removal
/// in it survives a power loss.
pub(crate) fn sync_directory(path: &Path) -> Result<(), StateError> {
    let directory = parent_directory(path);
    #[cfg(unix)]
    {
        fs::File::open(directory)
            .and_then(|handle| handle.sync_all())
            .map_err(|error| StateError::io("flush directory", directory, error))?;
    }
    #[cfg(not(unix))]
    {
        let _ = directory;
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "state".into(), |name| name.to_string_lossy());
    let unique = uuid::Uuid::new_v4().simple();
    parent_directory(path).join(format!(".{name}.{unique}.tmp"))
}

fn invalid_setting(name: &str, reason: String) -> StateError {
    StateError::InvalidSetting {
        name: name.to_owned(),
        reason,
    }
}

/// Parses a `lock_timeout` setting: a number of seconds of 0 or more, or a
/// whole number with the unit `ms`, `s` (the default), `m` or `h`.
pub(crate) fn parse_timeout(value: &Value) -> Result<Duration, String> {
    if let Some(seconds) = value.as_f64() {
        if seconds >= 0.0 {
            return Duration::try_from_secs_f64(seconds)
                .map_err(|_| format!("{value} seconds is too long a wait; use at most a few hours"));
        }
        return Err(format!(
            "expected a number of seconds of 0 or more, found {value}"
        ));
    }
    let Some(text) = value.as_str() else {
        return Err(format!(
            "expected a duration such as \"30s\", found {value}"
        ));
    };
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("expected a duration such as \"30s\", found {value}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(amount)),
        "s" | "" => Ok(Duration::from_secs(amount)),
        "m" => Ok(Duration::from_secs(amount.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(amount.saturating_mul(3600))),
        _ if unit.starts_with('.') => Err(format!(
            "expected a whole number before the unit, such as \"1500ms\", found {value}"
        )),
        _ => Err(format!(
            "unknown unit `{unit}` in {value}; use ms, s, m or h"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::journal::JournalChange;
    use crate::state::model::ResourceState;

    fn backend(directory: &tempfile::TempDir) -> LocalBackend {
        LocalBackend::new(directory.path())
    }

    fn resource(address: &str) -> ResourceState {
        let mut attrs = Attrs::new();
        attrs.insert("id".to_owned(), Value::string(address));
        ResourceState::new(address, "catalog_tenant", "sqlite", attrs)
    }

    #[test]
    fn missing_file_means_no_state() {
        let directory = tempfile::tempdir().unwrap();

        assert!(backend(&directory).read().unwrap().is_none());
    }

    #[test]
    fn write_then_read_round_trips() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let mut state = State::new();
        state.upsert_resource(resource("tenant.acme"));

        backend.write(&mut state).unwrap();

        assert_eq!(state.serial, 1);
        assert_eq!(backend.read().unwrap().unwrap(), state);
        assert!(backend.path().ends_with(".tenancy/state.json"));
    }

    #[test]
    fn write_keeps_previous_version_as_backup() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let mut state = State::new();
        backend.write(&mut state).unwrap();
        assert!(!backend.backup_path().exists());
        let first = fs::read(backend.path()).unwrap();

        state.upsert_resource(resource("tenant.acme"));
        backend.write(&mut state).unwrap();

        assert_eq!(fs::read(backend.backup_path()).unwrap(), first);
        let backup = decode(&first, "backup").unwrap();
        assert_eq!(backup.serial, 1);
        assert_eq!(state.serial, 2);
    }

    #[test]
    fn write_keeps_symlinked_state_file() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let shared = directory.path().join("shared");
        fs::create_dir_all(&shared).unwrap();
        fs::create_dir_all(backend.path().parent().unwrap()).unwrap();
        let target = shared.join("state.json");
        std::os::unix::fs::symlink(&target, backend.path()).unwrap();
        let mut state = State::new();

        backend.write(&mut state).unwrap();
        let first = fs::read(&target).unwrap();
        state.upsert_resource(resource("tenant.acme"));
        backend.write(&mut state).unwrap();

        let link = fs::symlink_metadata(backend.path()).unwrap();
        assert!(link.file_type().is_symlink());
        assert_eq!(backend.read().unwrap().unwrap(), state);
        assert_eq!(decode(&fs::read(&target).unwrap(), "target").unwrap(), state);
        assert_eq!(fs::read(backend.backup_path()).unwrap(), first);
        assert_eq!(backend.backup_path(), shared.join("state.json.backup"));
        assert!(!fs::symlink_metadata(backend.backup_path()).unwrap().file_type().is_symlink());
    }

    #[test]
    fn write_rejects_exhausted_serial() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let mut state = State::new();
        backend.write(&mut state).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&fs::read(backend.path()).unwrap()).unwrap();
        json["serial"] = serde_json::json!(u64::MAX);
        fs::write(backend.path(), json.to_string()).unwrap();
        let stored = fs::read(backend.path()).unwrap();
        let mut state = backend.read().unwrap().unwrap();

        let error = backend.write(&mut state).unwrap_err();

        assert!(matches!(error, StateError::SerialExhausted { serial: u64::MAX, .. }), "{error}");
        assert_eq!(state.serial, u64::MAX);
        assert_eq!(fs::read(backend.path()).unwrap(), stored);
    }

    #[test]
    fn linked_checkouts_share_one_lock() {
        let shared = tempfile::tempdir().unwrap();
        let target = shared.path().join("state.json");
        let checkouts: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let backends: Vec<LocalBackend> = checkouts
            .iter()
            .map(|checkout| {
                let backend = backend(checkout);
                fs::create_dir_all(backend.path().parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(&target, backend.path()).unwrap();
                backend
            })
            .collect();

        let _first_lock = backends[0].lock("apply").unwrap();
        let second = backends[1].lock("apply");

        assert!(matches!(second, Err(StateError::Locked { .. })), "{second:?}");
        assert_eq!(backends[1].lock_path(), shared.path().join("state.json.lock"));
        assert_eq!(backends[1].journal_path(), shared.path().join("state.json.journal"));
    }

    #[test]
    fn write_leaves_no_temporary_files() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let mut state = State::new();
        backend.write(&mut state).unwrap();
        backend.write(&mut state).unwrap();

        let mut names: Vec<_> = fs::read_dir(parent_directory(backend.path()))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();

        assert_eq!(names, ["state.json", "state.json.backup"]);
    }

    #[cfg(unix)]
    #[test]
    fn state_file_is_private_to_owner() {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        backend.write(&mut State::new()).unwrap();

        let mode = fs::metadata(backend.path()).unwrap().permissions().mode();

        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn write_rejects_other_lineage() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        backend.write(&mut State::new()).unwrap();

        let error = backend.write(&mut State::new()).unwrap_err();

        assert!(
            matches!(error, StateError::LineageMismatch { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn write_rejects_stale_serial() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let mut state = State::new();
        backend.write(&mut state).unwrap();
        let mut stale = state.clone();
        backend.write(&mut state).unwrap();

        let error = backend.write(&mut stale).unwrap_err();

        assert!(
            matches!(
                error,
                StateError::StaleSerial {
                    stored: 2,
                    read: 1,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(stale.serial, 1);
    }

    #[test]
    fn failed_encode_keeps_serial() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let mut state = State::new();
        let mut attrs = Attrs::new();
        attrs.insert("id".to_owned(), Value::Unknown);
        state.upsert_resource(ResourceState::new("tenant.acme", "t", "sqlite", attrs));

        let error = backend.write(&mut state).unwrap_err();

        assert!(
            matches!(error, StateError::UnknownValue { .. }),
            "{error:?}"
        );
        assert_eq!(state.serial, 0);
        assert!(!backend.path().exists());
    }

    #[test]
    fn journal_survives_crash_and_replays() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let mut state = State::new();
        backend.write(&mut state).unwrap();

        let mut journal = backend.journal(&state).unwrap();
        journal
            .append(&JournalChange::Upsert(resource("tenant.a")))
            .unwrap();
        journal
            .append_many(&[
                JournalChange::Upsert(resource("tenant.b")),
                JournalChange::Remove("tenant.a".to_owned()),
            ])
            .unwrap();
        drop(journal);

        let recovered = backend.read().unwrap().unwrap();
        assert_eq!(recovered.resources.keys().collect::<Vec<_>>(), ["tenant.b"]);
        assert_eq!(recovered.serial, 1);
    }

    #[test]
    fn compact_writes_once_and_removes_journal() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let mut state = State::new();
        let mut journal = backend.journal(&state).unwrap();
        let change = JournalChange::Upsert(resource("tenant.a"));
        journal.append(&change).unwrap();
        change.apply_to(&mut state);

        journal.compact(&mut state).unwrap();

        assert_eq!(state.serial, 1);
        assert!(!backend.journal_path().exists());
        assert_eq!(backend.read().unwrap().unwrap(), state);
    }

    #[test]
    fn journal_continues_pending_journal() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let mut state = State::new();
        backend.write(&mut state).unwrap();
        let mut first = backend.journal(&state).unwrap();
        first
            .append(&JournalChange::Upsert(resource("tenant.a")))
            .unwrap();
        drop(first);
        let recovered = backend.read().unwrap().unwrap();

        let mut second = backend.journal(&recovered).unwrap();
        second
            .append(&JournalChange::Upsert(resource("tenant.b")))
            .unwrap();
        drop(second);

        let state = backend.read().unwrap().unwrap();
        assert_eq!(
            state.resources.keys().collect::<Vec<_>>(),
            ["tenant.a", "tenant.b"]
        );
    }

    #[test]
    fn write_folds_pending_journal() {
        let directory = tempfile::tempdir().unwrap();
        let backend = backend(&directory);
        let mut state = State::new();
        backend.write(&mut state).unwrap();
        let mut journal = backend.journal(&state).unwrap();
        journal
            .append(&JournalChange::Upsert(resource("tenant.a")))
            .unwrap();
        drop(journal);

        let mut recovered = backend.read().unwrap().unwrap();
        backend.write(&mut recovered).unwrap();

        assert!(!backend.journal_path().exists());
        assert_eq!(backend.read().unwrap().unwrap().resources.len(), 1);
    }

    #[test]
    fn settings_set_path_and_timeout() {
        let mut attrs = Attrs::new();
        attrs.insert("path".to_owned(), Value::string("state/prod.json"));
        attrs.insert("lock_timeout".to_owned(), Value::string("2m"));

        let backend = LocalBackend::from_settings("/config", &attrs).unwrap();

        assert_eq!(backend.path(), Path::new("/config/state/prod.json"));
        assert_eq!(backend.lock_timeout, Some(Duration::from_secs(120)));
        assert_eq!(
            backend.lock_path(),
            Path::new("/config/state/prod.json.lock")
        );
    }

    #[test]
    fn timeout_accepts_numbers_and_units() {
        let cases = [
            (Value::Number(1.5), Duration::from_millis(1500)),
            (Value::string("500ms"), Duration::from_millis(500)),
            (Value::string("30s"), Duration::from_secs(30)),
            (Value::string("1h"), Duration::from_secs(3600)),
            (Value::string("0"), Duration::ZERO),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_timeout(&value), Ok(expected), "{value}");
        }
    }

    #[test]
    fn timeout_rejects_out_of_range_numbers() {
        for seconds in [f64::NAN, -0.5] {
            let error = parse_timeout(&Value::Number(seconds)).unwrap_err();

            assert!(error.contains("0 or more"), "{seconds}: {error}");
        }
        for seconds in [1e300, f64::INFINITY] {
            let error = parse_timeout(&Value::Number(seconds)).unwrap_err();

            assert!(error.contains("too long"), "{seconds}: {error}");
        }
    }

    #[test]
    fn timeout_rejects_fractions_before_units() {
        let error = parse_timeout(&Value::string("1.5s")).unwrap_err();

        assert!(error.contains("whole number"), "{error}");
        assert!(error.contains("1.5s"), "{error}");
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let cases = [
            ("path", Value::Number(3.0)),
            ("lock_timeout", Value::string("soon")),
            ("lock_timeout", Value::string("5d")),
            ("lock_timeout", Value::Number(-1.0)),
            ("bucket", Value::string("x")),
        ];
        for (name, value) in cases {
            let mut attrs = Attrs::new();
            attrs.insert(name.to_owned(), value.clone());

            let error = LocalBackend::from_settings(".", &attrs).unwrap_err();

            assert!(
                matches!(error, StateError::InvalidSetting { .. }),
                "{name} = {value}"
            );
            assert!(error.to_string().contains(name), "{error}");
        }
    }
}
