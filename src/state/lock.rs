//! The state lock of the local backend: a lock file beside the state file.
//!
//! The lock is an OS advisory lock (`flock`) on `state.json.lock`, so it dies
//! with its process: the kernel releases it when the holder exits for any
//! reason, including SIGKILL, and a crashed command never blocks the next
//! one. The file also stores a [`LockInfo`] record (holder, operation, time,
//! ID, pid, version) that a blocked command reports.
//!
//! Two details make this sound:
//!
//! - The holder deletes the lock file on release while it still holds the
//!   `flock`. A process that opened the old file and was waiting for it then
//!   finds that the path names another file, and starts over, so two
//!   processes never both hold "the" lock on two different files.
//! - On a filesystem where `flock` reports that it is not supported, the lock
//!   falls back to creating the file exclusively (`O_EXCL`). Such a lock
//!   does not die with its process, and `tenancy force-unlock` removes it.
//!
//! Force-unlock never removes the lock of a process that still holds its
//! `flock` (or, in the fallback, of a process that still runs on this host),
//! because that process would go on writing while a second command takes a
//! new lock. Stopping the process releases its lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use crate::state::backend::LockGuard;
use crate::state::error::StateError;
use crate::state::model::TENANCY_VERSION;

/// The record a lock holder writes into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Unique ID of this lock, a UUID v4, as given to `tenancy force-unlock`.
    pub id: String,
    /// The command that holds the lock, such as `apply` or `state rm`.
    pub operation: String,
    /// The lock holder, as `user@host`.
    pub holder: String,
    /// When the lock was taken, in RFC 3339.
    pub created: String,
    /// Process ID of the holder on its host.
    pub pid: u32,
    /// Version of tenancy that took the lock.
    pub tenancy_version: String,
}

impl LockInfo {
    /// Creates the record for a lock taken now by this process.
    pub fn new(operation: &str) -> Self {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_owned(),
            holder: format!("{}@{}", user_name(), host_name()),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            pid: std::process::id(),
            tenancy_version: TENANCY_VERSION.to_owned(),
        }
    }

    /// Returns the host part of [`LockInfo::holder`].
    pub fn host(&self) -> &str {
        self.holder.rsplit_once('@').map_or("", |(_, host)| host)
    }
}

/// The mechanism by which the lock file excludes other processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockMode {
    /// An advisory `flock` that the kernel releases when the holder exits.
    Flock,
    /// The file's existence, created with `O_EXCL`; it outlives a crash.
    Exclusive,
}

/// A held lock on a local state file, released on drop.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
    file: Option<File>,
    mode: LockMode,
    info: LockInfo,
}

enum Attempt {
    Acquired(File),
    Held(Option<LockInfo>),
}

/// Takes the lock at `path` for `operation`, waiting up to `timeout` when
/// another process holds it; `location` describes the state in errors.
pub fn acquire(
    path: &Path,
    location: &str,
    operation: &str,
    timeout: Option<Duration>,
) -> Result<FileLock, StateError> {
    let mode = detect_mode(path)?;
    acquire_with_mode(path, location, operation, timeout, mode)
}

fn acquire_with_mode(
    path: &Path,
    location: &str,
    operation: &str,
    timeout: Option<Duration>,
    mode: LockMode,
) -> Result<FileLock, StateError> {
    let started = Instant::now();
    loop {
        match attempt(path, mode)? {
            Attempt::Acquired(file) => {
                return FileLock::record(path.to_owned(), file, mode, operation);
            }
            Attempt::Held(holder) => {
                let waited = started.elapsed();
                let remaining = timeout.and_then(|limit| limit.checked_sub(waited));
                match remaining {
                    Some(remaining) if !remaining.is_zero() => {
                        thread::sleep(remaining.min(Duration::from_millis(200)));
                    }
                    _ => {
                        return Err(StateError::Locked {
                            location: location.to_owned(),
                            holder: holder.map(Box::new),
                            waited,
                        });
                    }
                }
            }
        }
    }
}

fn attempt(path: &Path, mode: LockMode) -> Result<Attempt, StateError> {
    match mode {
        LockMode::Flock => attempt_flock(path),
        LockMode::Exclusive => attempt_exclusive(path),
    }
}

fn attempt_flock(path: &Path) -> Result<Attempt, StateError> {
    // The holder deletes the file on release. A file opened before that may
    // be gone by the time its flock is granted, so start over in that case.
    // Each pass runs only after another holder released the lock.
    const MAX_PASSES: usize = 100;
    for _ in 0..MAX_PASSES {
        let file = open_options(true)
            .open(path)
            .map_err(|error| StateError::io("open lock file", path, error))?;
        let locked = FileExt::try_lock_exclusive(&file)
            .map_err(|error| StateError::io("lock", path, error))?;
        if !locked {
            return Ok(Attempt::Held(read_record_of_holder(path, &file)?));
        }
        if is_same_file(&file, path)? {
            return Ok(Attempt::Acquired(file));
        }
    }
    Ok(Attempt::Held(None))
}

/// Reads the holder's record, giving a holder that has just taken the lock
/// a moment to write it.
fn read_record_of_holder(path: &Path, file: &File) -> Result<Option<LockInfo>, StateError> {
    for _ in 0..10 {
        if let Some(info) = read_record_from(path, file)? {
            return Ok(Some(info));
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(None)
}

fn attempt_exclusive(path: &Path) -> Result<Attempt, StateError> {
    match open_options(false).create_new(true).open(path) {
        Ok(file) => Ok(Attempt::Acquired(file)),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            Ok(Attempt::Held(read_record(path)?))
        }
        Err(error) => Err(StateError::io("create lock file", path, error)),
    }
}

impl FileLock {
    fn record(
        path: PathBuf,
        mut file: File,
        mode: LockMode,
        operation: &str,
    ) -> Result<Self, StateError> {
        if mode == LockMode::Flock {
            if let Ok(Some(stale)) = read_record_from(&path, &file) {
                tracing::debug!(
                    lock_id = %stale.id,
                    holder = %stale.holder,
                    "replacing the lock record of a process that no longer holds the lock"
                );
            }
        }
        let info = LockInfo::new(operation);
        let text = serde_json::to_string_pretty(&info).expect("a lock record is valid JSON");
        // Under a flock the record only names the holder. The kernel drops
        // the lock with its process, and the next holder rewrites a record
        // that a crash lost. An exclusive lock file outlives a
        // crash, and `force-unlock` then needs its record, so that one is
        // synced.
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| match mode {
                LockMode::Flock => Ok(()),
                LockMode::Exclusive => file.sync_all(),
            });
        let lock = FileLock {
            path,
            file: Some(file),
            mode,
            info,
        };
        // On failure, dropping `lock` releases the flock and removes the file.
        written.map_err(|error| StateError::io("write lock file", &lock.path, error))?;
        Ok(lock)
    }

    /// Returns the path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn release(&mut self) -> Result<(), StateError> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let ours = match self.mode {
            // Still holding the flock, so no other process can hold one on
            // this file; it is ours unless force-unlock replaced it.
            LockMode::Flock => is_same_file(&file, &self.path)?,
            LockMode::Exclusive => {
                read_record(&self.path)?.is_some_and(|info| info.id == self.info.id)
            }
        };
        if ours {
            remove_if_present(&self.path)?;
        }
        drop(file);
        Ok(())
    }
}

impl LockGuard for FileLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn unlock(mut self: Box<Self>) -> Result<(), StateError> {
        self.release()
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        if let Err(error) = self.release() {
            tracing::warn!(lock_id = %self.info.id, "failed to release the state lock: {error}");
        }
    }
}

/// Removes the lock record at `path` when its ID is `id` and its holder no
/// longer holds the lock; `location` describes the state in errors.
pub fn force_unlock(path: &Path, location: &str, id: &str) -> Result<(), StateError> {
    // Without a record there is nothing to unlock, even if the directory
    // to detect the lock mode in does not exist.
    if read_record(path)?.is_none() {
        return Err(StateError::NotLocked {
            location: location.to_owned(),
            id: id.to_owned(),
        });
    }
    let mode = detect_mode(path)?;
    force_unlock_with_mode(path, location, id, mode)
}

fn force_unlock_with_mode(
    path: &Path,
    location: &str,
    id: &str,
    mode: LockMode,
) -> Result<(), StateError> {
    let Some(holder) = read_record(path)? else {
        return Err(StateError::NotLocked {
            location: location.to_owned(),
            id: id.to_owned(),
        });
    };
    if holder.id != id {
        return Err(StateError::LockIdMismatch {
            location: location.to_owned(),
            given: id.to_owned(),
            holder: Box::new(holder),
        });
    }
    let running = || StateError::HolderRunning {
        location: location.to_owned(),
        holder: Box::new(holder.clone()),
    };
    match mode {
        LockMode::Flock => {
            let file = match open_options(false).open(path) {
                Ok(file) => file,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(error) => return Err(StateError::io("open lock file", path, error)),
            };
            let locked = FileExt::try_lock_exclusive(&file)
                .map_err(|error| StateError::io("lock", path, error))?;
            if !locked {
                return Err(running());
            }
            if is_same_file(&file, path)? {
                remove_if_present(path)?;
            }
            Ok(())
        }
        LockMode::Exclusive => {
            // NOTE: a pid reused by an unrelated process after a reboot also
            // counts as running; deleting the lock file by hand is the way out.
            if holder.host() == host_name() && process_is_running(holder.pid) {
                return Err(running());
            }
            remove_if_present(path)
        }
    }
}

/// Reads the lock record at `path`; a missing or empty file means no lock.
pub fn read_record(path: &Path) -> Result<Option<LockInfo>, StateError> {
    match File::open(path) {
        Ok(file) => read_record_from(path, &file),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StateError::io("read lock file", path, error)),
    }
}

fn read_record_from(path: &Path, mut file: &File) -> Result<Option<LockInfo>, StateError> {
    let mut text = String::new();
    file.seek(io::SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text))
        .map_err(|error| StateError::io("read lock file", path, error))?;
    // A record that does not parse is one being written, or one damaged by a
    // crash; either way it names no holder.
    Ok(serde_json::from_str(&text).ok())
}

/// Chooses the lock mode for the filesystem of the lock file's directory.
fn detect_mode(path: &Path) -> Result<LockMode, StateError> {
    let directory = parent_directory(path);
    let handle = File::open(directory)
        .map_err(|error| StateError::io("open directory", directory, error))?;
    match FileExt::try_lock_shared(&handle) {
        Ok(_) => {
            let _ = FileExt::unlock(&handle);
            Ok(LockMode::Flock)
        }
        Err(error) if flock_is_unsupported(&error) => {
            tracing::debug!(directory = %directory.display(), "flock is not supported; using exclusive lock files");
            Ok(LockMode::Exclusive)
        }
        Err(error) => Err(StateError::io("lock", directory, error)),
    }
}

pub(crate) fn parent_directory(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn flock_is_unsupported(error: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            error.raw_os_error(),
            Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS)
        )
    }
    #[cfg(not(unix))]
    {
        error.kind() == io::ErrorKind::Unsupported
    }
}

fn open_options(create: bool) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(create);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn is_same_file(file: &File, path: &Path) -> Result<bool, StateError> {
    let opened = file
        .metadata()
        .map_err(|error| StateError::io("inspect lock file", path, error))?;
    let current = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(StateError::io("inspect lock file", path, error)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(opened.dev() == current.dev() && opened.ino() == current.ino())
    }
    #[cfg(not(unix))]
    {
        Ok(opened.len() == current.len() && opened.modified().ok() == current.modified().ok())
    }
}

fn remove_if_present(path: &Path) -> Result<(), StateError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StateError::io("remove lock file", path, error)),
    }
}

fn user_name() -> String {
    for variable in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(name) = std::env::var(variable) {
            if !name.is_empty() {
                return name;
            }
        }
    }
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        format!("uid-{}", unsafe { libc::getuid() })
    }
    #[cfg(not(unix))]
    {
        "unknown-user".to_owned()
    }
}

/// Returns this machine's host name.
pub fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buffer = [0u8; 256];
        // SAFETY: the pointer and length describe a writable buffer that
        // outlives the call.
        let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
        if result == 0 {
            let end = buffer
                .iter()
                .position(|&byte| byte == 0)
                .unwrap_or(buffer.len());
            return String::from_utf8_lossy(&buffer[..end]).into_owned();
        }
    }
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .unwrap_or_else(|_| "unknown-host".to_owned())
}

/// Returns true when a process with this ID runs on this host.
fn process_is_running(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // kill(0) and kill(-1) address process groups, never one process.
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists and may be
        // signalled; it sends nothing.
        let result = unsafe { libc::kill(pid, 0) };
        result == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        // Without a way to check, assume the holder runs and keep its lock.
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_path(directory: &tempfile::TempDir) -> PathBuf {
        directory.path().join("state.json.lock")
    }

    #[test]
    fn second_lock_reports_holder() {
        let directory = tempfile::tempdir().unwrap();
        let path = lock_path(&directory);
        let first = acquire(&path, "test", "apply", None).unwrap();

        let error = acquire(&path, "test", "plan", None).unwrap_err();

        let StateError::Locked {
            holder: Some(holder),
            ..
        } = &error
        else {
            panic!("expected a lock error naming the holder, got {error:?}");
        };
        assert_eq!(holder.id, first.info.id);
        assert_eq!(holder.operation, "apply");
        assert_eq!(holder.pid, std::process::id());
        let message = error.to_string();
        assert!(message.contains(&first.info.id), "{message}");
        assert!(message.contains("`apply`"), "{message}");
        assert!(message.contains(&first.info.created), "{message}");
        let hint = error.hint().unwrap();
        assert!(hint.contains("tenancy force-unlock"), "{hint}");
    }

    #[test]
    fn release_removes_lock_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = lock_path(&directory);
        let lock = acquire(&path, "test", "apply", None).unwrap();
        assert!(path.exists());

        Box::new(lock).unlock().unwrap();

        assert!(!path.exists());
        acquire(&path, "test", "apply", None).unwrap();
    }

    #[test]
    fn stale_record_does_not_block() {
        let directory = tempfile::tempdir().unwrap();
        let path = lock_path(&directory);
        let stale = LockInfo::new("apply");
        fs::write(&path, serde_json::to_string(&stale).unwrap()).unwrap();

        let lock = acquire(&path, "test", "plan", None).unwrap();

        assert_ne!(lock.info.id, stale.id);
        assert_eq!(read_record(&path).unwrap().unwrap().id, lock.info.id);
    }

    #[test]
    fn timeout_waits_then_reports_wait() {
        let directory = tempfile::tempdir().unwrap();
        let path = lock_path(&directory);
        let _holder_lock = acquire(&path, "test", "apply", None).unwrap();

        let error = acquire(&path, "test", "plan", Some(Duration::from_millis(300))).unwrap_err();

        let StateError::Locked { waited, .. } = error else {
            panic!("expected a lock error, got {error:?}");
        };
        assert!(waited >= Duration::from_millis(300));
    }

    #[test]
    fn timeout_acquires_after_release() {
        let directory = tempfile::tempdir().unwrap();
        let path = lock_path(&directory);
        let holder_lock = acquire(&path, "test", "apply", None).unwrap();
        let releaser = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            drop(holder_lock);
        });

        let lock = acquire(&path, "test", "plan", Some(Duration::from_secs(10)));

        releaser.join().unwrap();
        assert!(lock.is_ok(), "{lock:?}");
    }

    #[test]
    fn force_unlock_rejects_running_holder() {
        let directory = tempfile::tempdir().unwrap();
        let path = lock_path(&directory);
        let holder_lock = acquire(&path, "test", "apply", None).unwrap();

        let error = force_unlock(&path, "test", &holder_lock.info.id).unwrap_err();

        assert!(
            matches!(error, StateError::HolderRunning { .. }),
            "{error:?}"
        );
        assert!(path.exists());
    }

    #[test]
    fn force_unlock_checks_id() {
        let directory = tempfile::tempdir().unwrap();
        let path = lock_path(&directory);
        let stale = LockInfo::new("apply");
        fs::write(&path, serde_json::to_string(&stale).unwrap()).unwrap();

        let error = force_unlock(&path, "test", "not-the-id").unwrap_err();

        assert!(
            matches!(error, StateError::LockIdMismatch { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(&stale.id));
    }

    #[test]
    fn force_unlock_removes_stale_record() {
        let directory = tempfile::tempdir().unwrap();
        let path = lock_path(&directory);
        let stale = LockInfo::new("apply");
        fs::write(&path, serde_json::to_string(&stale).unwrap()).unwrap();

        force_unlock(&path, "test", &stale.id).unwrap();

        assert!(!path.exists());
    }

    #[test]
    fn force_unlock_without_lock_reports_it() {
        let directory = tempfile::tempdir().unwrap();

        let error = force_unlock(&lock_path(&directory), "test", "abc").unwrap_err();

        assert!(matches!(error, StateError::NotLocked { .. }), "{error:?}");
    }

    #[test]
    fn exclusive_mode_blocks_until_force_unlock() {
        let directory = tempfile::tempdir().unwrap();
        let path = lock_path(&directory);
        let mut foreign = LockInfo::new("apply");
        foreign.holder = "ops@elsewhere.example".to_owned();
        fs::write(&path, serde_json::to_string(&foreign).unwrap()).unwrap();

        let error =
            acquire_with_mode(&path, "test", "plan", None, LockMode::Exclusive).unwrap_err();
        assert!(
            matches!(
                error,
                StateError::Locked {
                    holder: Some(_),
                    ..
                }
            ),
            "{error:?}"
        );

        force_unlock_with_mode(&path, "test", &foreign.id, LockMode::Exclusive).unwrap();
        let lock = acquire_with_mode(&path, "test", "plan", None, LockMode::Exclusive).unwrap();
        drop(lock);
        assert!(!path.exists());
    }

    #[test]
    fn exclusive_mode_keeps_lock_of_running_process() {
        let directory = tempfile::tempdir().unwrap();
        let path = lock_path(&directory);
        let holder_lock =
            acquire_with_mode(&path, "test", "apply", None, LockMode::Exclusive).unwrap();

        let error =
            force_unlock_with_mode(&path, "test", &holder_lock.info.id, LockMode::Exclusive)
                .unwrap_err();

        assert!(
            matches!(error, StateError::HolderRunning { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn pid_zero_is_never_running() {
        assert!(!process_is_running(0));
        assert!(!process_is_running(u32::MAX));
        assert!(process_is_running(std::process::id()));
    }
}
