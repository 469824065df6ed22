//! The state journal: the changes of a running apply, appended one line at
//! a time so that each finished resource is durable without rewriting the
//! whole state file.
//!
//! The journal `state.json.journal` is JSON lines. The first line is a
//! header with the lineage and the serial of the state the apply started
//! from. Every further line is one change, either `{"upsert": RESOURCE}`
//! with a resource in the state file's format or `{"remove": "ADDRESS"}`.
//! Appends cost the same however long the journal is, and replaying N
//! changes costs O(N log N).
//!
//! A kill in the middle of an append leaves at most one torn last line,
//! which replay ignores: its append had not returned, so nobody relied on
//! it. A line that does not parse before the last one means damage from
//! elsewhere and is reported.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::backend::{Journal, StateBackend};
use crate::state::error::StateError;
use crate::state::format::{ResourceRecord, describe_json_error};
use crate::state::local::{LocalBackend, write_file_atomically};
use crate::state::model::{ResourceState, State, TENANCY_VERSION};

/// The journal format version this build writes and the newest it reads.
pub const JOURNAL_VERSION: u64 = 1;

/// One change to the recorded resources.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalChange {
    /// The resource was created or updated; the record replaces any earlier one.
    Upsert(ResourceState),
    /// The resource at this address was deleted.
    Remove(String),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalHeader {
    journal_version: u64,
    tenancy_version: String,
    lineage: String,
    base_serial: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum JournalLine {
    Upsert(ResourceRecord),
    Remove(String),
}

/// A journal file as read from disk.
#[derive(Debug)]
pub struct JournalContents {
    /// Lineage of the state the journal was started on.
    pub lineage: String,
    /// Serial of the state the journal was started on.
    pub base_serial: u64,
    /// The complete changes, in append order.
    pub changes: Vec<JournalChange>,
    /// Length in bytes of the header and the complete changes; a torn last
    /// line starts here.
    pub valid_len: u64,
}

impl JournalChange {
    fn to_line(&self) -> Result<JournalLine, StateError> {
        Ok(match self {
            JournalChange::Upsert(resource) => {
                JournalLine::Upsert(ResourceRecord::from_resource(resource)?)
            }
            JournalChange::Remove(address) => JournalLine::Remove(address.clone()),
        })
    }

    /// Applies this change to a state.
    pub fn apply_to(self, state: &mut State) {
        match self {
            JournalChange::Upsert(resource) => {
                state.upsert_resource(resource);
            }
            JournalChange::Remove(address) => {
                state.remove_resource(&address);
            }
        }
    }
}

/// Reads the journal at `path`; `None` means that no journal exists.
pub fn read_journal(path: &Path) -> Result<Option<JournalContents>, StateError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StateError::io("read state journal", path, error)),
    };
    parse_journal(&bytes, path).map(Some)
}

fn parse_journal(bytes: &[u8], path: &Path) -> Result<JournalContents, StateError> {
    let damaged = |line: usize, reason: String| StateError::JournalDamaged {
        path: path.display().to_string(),
        line,
        reason,
    };

    // The header is written whole before the journal appears under its name,
    // so even a crash cannot tear it.
    let header_end = bytes
        .iter()
        .position(|&byte| byte == b'\n')
        .ok_or_else(|| damaged(1, "the header line is missing or incomplete".to_owned()))?;
    let header: JournalHeader = serde_json::from_slice(&bytes[..header_end]).map_err(|error| {
        damaged(
            1,
            format!("invalid header: {}", describe_json_error(&error)),
        )
    })?;
    if header.journal_version != JOURNAL_VERSION {
        return Err(damaged(
            1,
            format!(
                "journal format version {} is not version {JOURNAL_VERSION}, the one this tenancy reads",
                header.journal_version
            ),
        ));
    }

    let mut contents = JournalContents {
        lineage: header.lineage,
        base_serial: header.base_serial,
        changes: Vec::new(),
        valid_len: header_end as u64 + 1,
    };
    let mut offset = header_end + 1;
    let mut line_number = 1;
    while offset < bytes.len() {
        line_number += 1;
        let rest = &bytes[offset..];
        let Some(length) = rest.iter().position(|&byte| byte == b'\n') else {
            tracing::debug!(path = %path.display(), line = line_number, "ignoring the torn last line of the state journal");
            break;
        };
        let is_last = offset + length + 1 == bytes.len();
        match parse_change(&rest[..length]) {
            Ok(change) => contents.changes.push(change),
            Err(_) if is_last => {
                tracing::debug!(path = %path.display(), line = line_number, "ignoring the unreadable last line of the state journal");
                break;
            }
            Err(reason) => return Err(damaged(line_number, reason)),
        }
        offset += length + 1;
        contents.valid_len = offset as u64;
    }
    Ok(contents)
}

fn parse_change(line: &[u8]) -> Result<JournalChange, String> {
    let parsed: JournalLine =
        serde_json::from_slice(line).map_err(|error| describe_json_error(&error))?;
    Ok(match parsed {
        JournalLine::Upsert(record) => {
            record.validate()?;
            JournalChange::Upsert(record.into_resource())
        }
        JournalLine::Remove(address) => JournalChange::Remove(address),
    })
}

/// Replays a journal onto the state it was started on.
///
/// `state` is the stored state, `None` when no state file exists. A journal
/// started on an older serial of the same lineage was folded into a later
/// write already and is skipped. A journal started on another lineage or a
/// newer serial is reported as [`StateError::JournalMismatch`].
pub fn replay(
    state: Option<State>,
    journal: JournalContents,
    path: &Path,
) -> Result<State, StateError> {
    let mut state = match state {
        Some(state) => state,
        // The first apply of a configuration journals onto an empty state
        // that was never written.
        None if journal.base_serial == 0 => State::with_lineage(journal.lineage.clone(), 0),
        None => return Err(mismatch(path, &journal, "(no state)", 0)),
    };
    if journal.lineage != state.lineage || journal.base_serial > state.serial {
        return Err(mismatch(path, &journal, &state.lineage, state.serial));
    }
    if journal.base_serial < state.serial {
        tracing::debug!(
            path = %path.display(),
            base_serial = journal.base_serial,
            serial = state.serial,
            "skipping a state journal that a later write already contains"
        );
        return Ok(state);
    }
    for change in journal.changes {
        change.apply_to(&mut state);
    }
    Ok(state)
}

fn mismatch(path: &Path, journal: &JournalContents, lineage: &str, serial: u64) -> StateError {
    StateError::JournalMismatch {
        path: path.display().to_string(),
        journal_lineage: journal.lineage.clone(),
        journal_serial: journal.base_serial,
        state_lineage: lineage.to_owned(),
        state_serial: serial,
    }
}

/// The journal of the local backend, open for appending.
#[derive(Debug)]
pub struct LocalJournal {
    backend: LocalBackend,
    path: PathBuf,
    file: File,
    lineage: String,
    base_serial: u64,
    len: u64,
    broken: bool,
    buffer: Vec<u8>,
}

impl LocalJournal {
    /// Opens the journal at `path` for an apply starting from `base`,
    /// continuing a pending journal of the same base.
    pub(crate) fn open(
        backend: LocalBackend,
        path: PathBuf,
        base: &State,
    ) -> Result<Self, StateError> {
        let pending = read_journal(&path)?;
        let len = match pending {
            Some(contents)
                if contents.lineage == base.lineage && contents.base_serial == base.serial =>
            {
                contents.valid_len
            }
            Some(contents)
                if contents.lineage == base.lineage && contents.base_serial < base.serial =>
            {
                create_journal(&path, base)?
            }
            Some(contents) => return Err(mismatch(&path, &contents, &base.lineage, base.serial)),
            None => create_journal(&path, base)?,
        };

        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|error| StateError::io("open state journal", &path, error))?;
        // Cut off a torn last line so that appends start on a fresh line.
        file.set_len(len)
            .and_then(|()| file.sync_data())
            .map_err(|error| StateError::io("truncate state journal", &path, error))?;
        Ok(LocalJournal {
            backend,
            path,
            file,
            lineage: base.lineage.clone(),
            base_serial: base.serial,
            len,
            broken: false,
            buffer: Vec::new(),
        })
    }

    /// Returns the path of the journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_buffer(&mut self) -> io::Result<()> {
        self.file.write_all(&self.buffer)?;
        self.file.sync_data()
    }
}

/// Creates a journal holding only the header, replacing any existing one,
/// and returns its length.
fn create_journal(path: &Path, base: &State) -> Result<u64, StateError> {
    let header = JournalHeader {
        journal_version: JOURNAL_VERSION,
        tenancy_version: TENANCY_VERSION.to_owned(),
        lineage: base.lineage.clone(),
        base_serial: base.serial,
    };
    let mut bytes = serde_json::to_vec(&header).expect("a journal header is valid JSON");
    bytes.push(b'\n');
    write_file_atomically(path, &bytes, "write state journal")?;
    Ok(bytes.len() as u64)
}

impl Journal for LocalJournal {
    fn append_many(&mut self, changes: &[JournalChange]) -> Result<(), StateError> {
        if self.broken {
            return Err(StateError::io(
                "append to state journal",
                &self.path,
                io::Error::other(
                    "an earlier append failed and its partial line could not be removed",
                ),
            ));
        }
        self.buffer.clear();
        for change in changes {
            serde_json::to_writer(&mut self.buffer, &change.to_line()?)
                .expect("a journal line is valid JSON");
            self.buffer.push(b'\n');
        }

        if let Err(error) = self.write_buffer() {
            // Remove a partial line, so that later appends do not follow it.
            if self.file.set_len(self.len).is_err() {
                self.broken = true;
            }
            return Err(StateError::io("append to state journal", &self.path, error));
        }
        self.len += self.buffer.len() as u64;
        Ok(())
    }

    fn compact(self: Box<Self>, state: &mut State) -> Result<(), StateError> {
        if state.lineage != self.lineage || state.serial != self.base_serial {
            return Err(StateError::JournalMismatch {
                path: self.path.display().to_string(),
                journal_lineage: self.lineage.clone(),
                journal_serial: self.base_serial,
                state_lineage: state.lineage.clone(),
                state_serial: state.serial,
            });
        }
        // The write replaces the state file, then removes this journal.
        self.backend.write(state)
    }
}

/// Reads the lineage and base serial from the header of the journal at
/// `path`, without reading its changes. Returns `None` when there is no
/// journal or no readable header.
pub(crate) fn read_journal_header(path: &Path) -> Result<Option<(String, u64)>, StateError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StateError::io("read state journal", path, error)),
    };
    let mut line = Vec::new();
    io::BufReader::new(file)
        .read_until(b'\n', &mut line)
        .map_err(|error| StateError::io("read state journal", path, error))?;
    let header: Option<JournalHeader> = serde_json::from_slice(&line).ok();
    Ok(header.map(|header| (header.lineage, header.base_serial)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenancy_sdk::{Attrs, Value};

    fn resource(address: &str) -> ResourceState {
        let mut attrs = Attrs::new();
        attrs.insert("name".to_owned(), Value::string(address));
        attrs.insert("secret".to_owned(), Value::sensitive(Value::string("s")));
        ResourceState::new(address, "catalog_tenant", "sqlite", attrs)
    }

    fn journal_bytes(base: &State, changes: &[JournalChange]) -> Vec<u8> {
        let header = JournalHeader {
            journal_version: JOURNAL_VERSION,
            tenancy_version: TENANCY_VERSION.to_owned(),
            lineage: base.lineage.clone(),
            base_serial: base.serial,
        };
        let mut bytes = serde_json::to_vec(&header).unwrap();
        bytes.push(b'\n');
        for change in changes {
            bytes.extend(serde_json::to_vec(&change.to_line().unwrap()).unwrap());
            bytes.push(b'\n');
        }
        bytes
    }

    #[test]
    fn parse_returns_changes_in_order() {
        let base = State::new();
        let changes = vec![
            JournalChange::Upsert(resource("tenant.a")),
            JournalChange::Remove("tenant.b".to_owned()),
        ];
        let bytes = journal_bytes(&base, &changes);

        let contents = parse_journal(&bytes, Path::new("j")).unwrap();

        assert_eq!(contents.changes, changes);
        assert_eq!(contents.valid_len, bytes.len() as u64);
        assert_eq!(contents.lineage, base.lineage);
    }

    #[test]
    fn torn_last_line_is_ignored() {
        let base = State::new();
        let mut bytes = journal_bytes(&base, &[JournalChange::Upsert(resource("tenant.a"))]);
        let complete = bytes.len() as u64;
        bytes.extend_from_slice(b"{\"upsert\": {\"address\": \"tena");

        let contents = parse_journal(&bytes, Path::new("j")).unwrap();

        assert_eq!(contents.changes.len(), 1);
        assert_eq!(contents.valid_len, complete);
    }

    #[test]
    fn unreadable_last_line_is_ignored() {
        let base = State::new();
        let mut bytes = journal_bytes(&base, &[JournalChange::Upsert(resource("tenant.a"))]);
        bytes.extend_from_slice(b"\0\0\0\0\n");

        let contents = parse_journal(&bytes, Path::new("j")).unwrap();

        assert_eq!(contents.changes.len(), 1);
    }

    #[test]
    fn damaged_middle_line_is_reported() {
        let base = State::new();
        let mut bytes = journal_bytes(&base, &[]);
        bytes.extend_from_slice(b"not json\n");
        bytes.extend(
            journal_bytes(&base, &[JournalChange::Remove("x".to_owned())])
                .split(|&b| b == b'\n')
                .nth(1)
                .unwrap(),
        );
        bytes.push(b'\n');

        let error = parse_journal(&bytes, Path::new("dir/j")).unwrap_err();

        assert!(
            matches!(error, StateError::JournalDamaged { line: 2, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("dir/j"));
    }

    #[test]
    fn missing_header_is_reported() {
        let error = parse_journal(b"{\"journal_version\": 1", Path::new("j")).unwrap_err();

        assert!(
            matches!(error, StateError::JournalDamaged { line: 1, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn replay_applies_upserts_and_removals() {
        let mut base = State::new();
        base.serial = 3;
        base.upsert_resource(resource("tenant.old"));
        let contents = JournalContents {
            lineage: base.lineage.clone(),
            base_serial: 3,
            changes: vec![
                JournalChange::Upsert(resource("tenant.new")),
                JournalChange::Remove("tenant.old".to_owned()),
            ],
            valid_len: 0,
        };

        let state = replay(Some(base), contents, Path::new("j")).unwrap();

        assert_eq!(state.resources.keys().collect::<Vec<_>>(), ["tenant.new"]);
        assert_eq!(state.serial, 3);
    }

    #[test]
    fn replay_rejects_other_lineage() {
        let base = State::new();
        let contents = JournalContents {
            lineage: "another".to_owned(),
            base_serial: 0,
            changes: Vec::new(),
            valid_len: 0,
        };

        let error = replay(Some(base), contents, Path::new("j")).unwrap_err();

        assert!(
            matches!(error, StateError::JournalMismatch { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn replay_rejects_newer_base_serial() {
        let base = State::new();
        let contents = JournalContents {
            lineage: base.lineage.clone(),
            base_serial: 5,
            changes: Vec::new(),
            valid_len: 0,
        };

        let error = replay(Some(base), contents, Path::new("j")).unwrap_err();

        assert!(
            matches!(
                error,
                StateError::JournalMismatch {
                    journal_serial: 5,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn replay_skips_journal_folded_earlier() {
        let mut base = State::new();
        base.serial = 4;
        let contents = JournalContents {
            lineage: base.lineage.clone(),
            base_serial: 3,
            changes: vec![JournalChange::Upsert(resource("tenant.a"))],
            valid_len: 0,
        };

        let state = replay(Some(base), contents, Path::new("j")).unwrap();

        assert!(state.resources.is_empty());
    }

    #[test]
    fn replay_without_state_starts_from_journal_lineage() {
        let contents = JournalContents {
            lineage: "lineage-1".to_owned(),
            base_serial: 0,
            changes: vec![JournalChange::Upsert(resource("tenant.a"))],
            valid_len: 0,
        };

        let state = replay(None, contents, Path::new("j")).unwrap();

        assert_eq!(state.lineage, "lineage-1");
        assert_eq!(state.resources.len(), 1);
    }
}
