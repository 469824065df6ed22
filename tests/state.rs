//! State storage across modules and processes: the local backend's files,
//! the lock between processes, crash recovery through the journal, and the
//! state file against `schemas/state.schema.json`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use tenancy::state::{
    JournalChange, LocalBackend, OutputState, ResourceState, LARGE_STATE_BYTES, State,
    StateBackend, StateError,
};
use tenancy_sdk::{Attrs, Value};

/// Environment variable that turns a re-run of this test binary into a
/// child process that takes the state lock of the named directory.
const LOCK_CHILD_DIR: &str = "TENANCY_TEST_LOCK_CHILD_DIR";

/// Environment variable that turns a re-run of this test binary into a
/// child process that journals resources until it is killed.
const JOURNAL_CHILD_DIR: &str = "TENANCY_TEST_JOURNAL_CHILD_DIR";

fn resource(address: &str) -> ResourceState {
    let mut attrs = Attrs::new();
    attrs.insert("id".to_owned(), Value::string(address));
    attrs.insert("connections".to_owned(), Value::Number(20.0));
    attrs.insert(
        "password".to_owned(),
        Value::sensitive(Value::string(format!("secret-of-{address}"))),
    );
    let mut resource = ResourceState::new(address, "postgres_role", "postgres.eu", attrs);
    resource.dependencies.push("tenant.acme".into());
    resource
}

fn written_state(backend: &LocalBackend) -> State {
    let mut state = State::new();
    state.upsert_resource(resource("tenant.acme.database.postgres"));
    backend.write(&mut state).unwrap();
    state
}

/// A re-run of this test binary that runs one child test; dropping it kills
/// the process.
struct ChildProcess {
    child: Child,
    output: BufReader<ChildStdout>,
}

impl ChildProcess {
    /// Starts the child test `test_name` with `variable` set to `directory`.
    fn spawn(test_name: &str, variable: &str, directory: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
            .env(variable, directory)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        ChildProcess { child, output }
    }

    /// Reads the child's output up to the next `marker` and returns the rest
    /// of that line. The test harness may print text before the marker.
    fn wait_for(&mut self, marker: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let read = self.output.read_line(&mut line).unwrap();
            assert!(read > 0, "the child exited before printing `{marker}`");
            if let Some((_, rest)) = line.split_once(marker) {
                return rest.trim().to_owned();
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child with SIGKILL (what `Child::kill` sends on Unix), so
    /// it runs no cleanup, and waits for it to exit.
    fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

#[test]
fn lock_holder_child() {
    let Some(directory) = std::env::var_os(LOCK_CHILD_DIR) else {
        return;
    };
    let backend = LocalBackend::new(directory);
    let lock = backend.lock("apply").unwrap();
    println!("LOCKED {}", lock.info().id);
    std::io::stdout().flush().unwrap();
    // Hold the lock until the parent closes stdin, by exiting or dying.
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
}

#[test]
fn journal_writer_child() {
    let Some(directory) = std::env::var_os(JOURNAL_CHILD_DIR) else {
        return;
    };
    let backend = LocalBackend::new(directory);
    let _lock = backend.lock("apply").unwrap();
    let state = backend.read().unwrap().unwrap();
    let mut journal = backend.journal(&state).unwrap();
    for index in 0.. {
        let address = format!("tenant.t{index:06}");
        journal
            .append(&JournalChange::Upsert(resource(&address)))
            .unwrap();
        // Printing fails once the parent is gone, which ends this loop.
        println!("APPENDED {address}");
    }
}

#[test]
fn lock_of_live_process_blocks_with_holder() {
    let directory = tempfile::tempdir().unwrap();
    let mut child = ChildProcess::spawn("lock_holder_child", LOCK_CHILD_DIR, directory.path());
    let child_lock_id = child.wait_for("LOCKED ");
    let backend = LocalBackend::new(directory.path());

    let error = backend.lock("plan").unwrap_err();

    child.kill_hard();
    let StateError::Locked {
        holder: Some(holder),
        ..
    } = &error
    else {
        panic!("expected a lock error naming the holder, got {error:?}");
    };
    assert_eq!(holder.id, child_lock_id);
    assert_eq!(holder.pid, child.pid());
    assert_eq!(holder.operation, "apply");
    let message = error.to_string();
    assert!(message.contains(&child_lock_id), "{message}");
    assert!(message.contains(&holder.holder), "{message}");
    assert!(message.contains(&holder.created), "{message}");
    assert!(message.contains("state.json"), "{message}");
}

#[test]
fn lock_of_killed_process_does_not_block() {
    let directory = tempfile::tempdir().unwrap();
    let mut child = ChildProcess::spawn("lock_holder_child", LOCK_CHILD_DIR, directory.path());
    let child_lock_id = child.wait_for("LOCKED ");
    let backend = LocalBackend::new(directory.path());

    child.kill_hard();
    assert!(
        backend.lock_path().exists(),
        "a killed holder leaves its lock file"
    );
    let lock = backend.lock("apply").unwrap();

    assert_ne!(lock.info().id, child_lock_id);
    assert_eq!(lock.info().pid, std::process::id());
}

#[test]
fn force_unlock_rejects_live_holder() {
    let directory = tempfile::tempdir().unwrap();
    let mut child = ChildProcess::spawn("lock_holder_child", LOCK_CHILD_DIR, directory.path());
    let child_lock_id = child.wait_for("LOCKED ");
    let backend = LocalBackend::new(directory.path());

    let error = backend.force_unlock(&child_lock_id).unwrap_err();

    child.kill_hard();
    assert!(
        matches!(error, StateError::HolderRunning { .. }),
        "{error:?}"
    );
    backend.force_unlock(&child_lock_id).unwrap();
    assert!(!backend.lock_path().exists());
}

#[test]
fn lock_in_same_process_blocks_second_handle() {
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    let first = backend.lock("apply").unwrap();

    let error = backend.lock("destroy").unwrap_err();

    assert!(matches!(error, StateError::Locked { .. }), "{error:?}");
    first.unlock().unwrap();
    backend.lock("destroy").unwrap();
}

#[test]
fn damaged_state_files_are_rejected_and_kept() {
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("empty", Vec::new(), "is empty"),
        ("truncated", Vec::new(), "truncated"),
        (
            "garbage",
            b"\x7fELF\x02\x01\x01 not a state file".to_vec(),
            "invalid JSON",
        ),
        (
            "future",
            br#"{"format_version": 9, "lineage": "x", "serial": 3}"#.to_vec(),
            "written by a newer tenancy",
        ),
    ];
    for (name, mut bytes, expected) in cases {
        let directory = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(directory.path());
        let mut state = written_state(&backend);
        if name == "truncated" {
            let whole = fs::read(backend.path()).unwrap();
            bytes = whole[..whole.len() / 2].to_vec();
        }
        fs::write(backend.path(), &bytes).unwrap();

        let read_error = backend.read().unwrap_err();
        let write_error = backend.write(&mut state).unwrap_err();

        let path = backend.path().display().to_string();
        let read_message = read_error.to_string();
        assert!(read_message.contains(&path), "{name}: {read_message}");
        assert!(read_message.contains(expected), "{name}: {read_message}");
        assert!(
            write_error.to_string().contains(&path),
            "{name}: {write_error}"
        );
        assert_eq!(
            fs::read(backend.path()).unwrap(),
            bytes,
            "{name}: the file was overwritten"
        );
        assert_eq!(state.serial, 1, "{name}: the serial changed");
    }
}

/// Returns a state whose file takes more than [`LARGE_STATE_BYTES`].
fn large_state() -> State {
    let mut state = State::new();
    let filler = "x".repeat(1 << 20);
    let count = LARGE_STATE_BYTES as usize / filler.len() + 2;
    for index in 0..count {
        let mut resource = resource(&format!("tenant.t{index:03}.database.postgres"));
        resource
            .attrs
            .insert("notes".to_owned(), Value::string(&filler));
        state.upsert_resource(resource);
    }
    state
}

#[test]
fn large_state_file_reads_back_whole() {
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    let mut state = large_state();
    backend.write(&mut state).unwrap();
    assert!(fs::metadata(backend.path()).unwrap().len() >= LARGE_STATE_BYTES);

    let read = backend.read().unwrap().unwrap();

    assert_eq!(read.lineage, state.lineage);
    assert_eq!(read.serial, state.serial);
    assert_eq!(read.resources, state.resources);
}

#[test]
fn large_damaged_state_files_are_explained() {
    let cases = ["truncated", "future", "unsorted"];
    for name in cases {
        let directory = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(directory.path());
        let mut state = large_state();
        backend.write(&mut state).unwrap();
        let whole = fs::read(backend.path()).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&whole).unwrap();
        let bytes = match name {
            "truncated" => whole[..whole.len() - 100].to_vec(),
            "future" => {
                json["format_version"] = 9.into();
                serde_json::to_vec(&json).unwrap()
            }
            _ => {
                json["resources"].as_array_mut().unwrap().reverse();
                serde_json::to_vec(&json).unwrap()
            }
        };
        fs::write(backend.path(), &bytes).unwrap();

        let read = backend.read();

        if name == "unsorted" {
            let read = read.unwrap().unwrap();
            assert_eq!(read.resources, state.resources, "{name}");
            continue;
        }
        let message = read.unwrap_err().to_string();
        let expected = if name == "future" {
            "written by a newer tenancy"
        } else {
            "truncated"
        };
        assert!(message.contains(expected), "{name}: {message}");
        assert!(
            message.contains(&backend.path().display().to_string()),
            "{name}: {message}"
        );
        assert_eq!(fs::read(backend.path()).unwrap(), bytes, "{name}");
    }
}

#[test]
fn damaged_state_hint_names_backup() {
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    fs::create_dir_all(backend.path().parent().unwrap()).unwrap();
    fs::write(backend.path(), b"").unwrap();

    let hint = backend.read().unwrap_err().hint().unwrap();

    assert!(
        hint.contains(&backend.backup_path().display().to_string()),
        "{hint}"
    );
}

#[test]
fn serial_increments_and_lineage_stays() {
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    let mut state = State::new();
    let lineage = state.lineage.clone();

    for expected in 1..=5 {
        backend.write(&mut state).unwrap();
        let stored = backend.read().unwrap().unwrap();

        assert_eq!(stored.serial, expected);
        assert_eq!(stored.lineage, lineage);
    }
    let backup = fs::read(backend.backup_path()).unwrap();
    let backup: serde_json::Value = serde_json::from_slice(&backup).unwrap();
    assert_eq!(backup["serial"], 4);
}

#[test]
fn killed_apply_loses_no_appended_resource() {
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    written_state(&backend);
    let mut child =
        ChildProcess::spawn("journal_writer_child", JOURNAL_CHILD_DIR, directory.path());
    let mut last = String::new();
    for _ in 0..200 {
        last = child.wait_for("APPENDED ");
    }

    child.kill_hard();
    let state = backend.read().unwrap().unwrap();

    let journaled = state
        .resources
        .keys()
        .filter(|address| address.starts_with("tenant.t"));
    assert!(journaled.count() >= 200);
    assert!(
        state.resource(&last).is_some(),
        "{last} was confirmed but is missing"
    );
    assert_eq!(state.serial, 1);
}

#[test]
fn torn_journal_line_is_ignored_and_cut() {
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    let base = written_state(&backend);
    let mut journal = backend.journal(&base).unwrap();
    journal
        .append(&JournalChange::Upsert(resource("tenant.a")))
        .unwrap();
    drop(journal);
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(backend.journal_path())
        .unwrap();
    file.write_all(br#"{"upsert":{"address":"tenant.b","ty"#)
        .unwrap();
    drop(file);

    let recovered = backend.read().unwrap().unwrap();
    assert!(recovered.resource("tenant.a").is_some());
    assert!(recovered.resource("tenant.b").is_none());

    let mut journal = backend.journal(&recovered).unwrap();
    journal
        .append(&JournalChange::Upsert(resource("tenant.c")))
        .unwrap();
    drop(journal);
    let state = backend.read().unwrap().unwrap();
    let addresses: Vec<_> = state.resources.keys().map(|address| address.as_str()).collect();
    assert_eq!(
        addresses,
        ["tenant.a", "tenant.acme.database.postgres", "tenant.c"]
    );
}

#[test]
fn journal_on_restored_backup_is_reported() {
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    let mut state = written_state(&backend);
    backend.write(&mut state).unwrap();
    let mut journal = backend.journal(&state).unwrap();
    journal
        .append(&JournalChange::Remove(
            "tenant.acme.database.postgres".to_owned(),
        ))
        .unwrap();
    drop(journal);
    fs::copy(backend.backup_path(), backend.path()).unwrap();

    let error = backend.read().unwrap_err();

    assert!(
        matches!(
            error,
            StateError::JournalMismatch {
                journal_serial: 2,
                state_serial: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("state.json.journal"), "{error}");
    assert!(backend.journal_path().exists());
}

#[test]
fn journal_of_other_lineage_is_reported() {
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    let stranger = State::new();
    let mut journal = backend.journal(&stranger).unwrap();
    journal
        .append(&JournalChange::Upsert(resource("tenant.a")))
        .unwrap();
    drop(journal);
    let mut state = State::new();
    backend.write(&mut state).unwrap();

    let read_error = backend.read().unwrap_err();
    let journal_error = backend.journal(&state).unwrap_err();

    assert!(
        matches!(read_error, StateError::JournalMismatch { .. }),
        "{read_error:?}"
    );
    assert!(
        matches!(journal_error, StateError::JournalMismatch { .. }),
        "{journal_error:?}"
    );
}

#[test]
fn first_apply_journal_replays_without_state_file() {
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    let fresh = State::new();
    let mut journal = backend.journal(&fresh).unwrap();
    journal
        .append(&JournalChange::Upsert(resource("tenant.a")))
        .unwrap();
    drop(journal);

    let mut recovered = backend.read().unwrap().unwrap();
    assert_eq!(recovered.lineage, fresh.lineage);
    assert_eq!(recovered.serial, 0);

    backend.write(&mut recovered).unwrap();
    assert_eq!(recovered.serial, 1);
    assert!(!backend.journal_path().exists());
}

#[test]
fn hundred_thousand_journal_entries_compact() {
    const COUNT: usize = 100_000;
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    let mut state = written_state(&backend);
    let mut journal = backend.journal(&state).unwrap();

    // Every append writes at the end of the file, so its cost does not grow
    // with the journal. The changes go in groups of 100 to keep the number
    // of fsyncs (one per group) low on a busy disk; the bytes written are
    // the same as for single appends.
    let addresses: Vec<String> = (0..COUNT)
        .map(|index| format!("tenant.t{index:06}"))
        .collect();
    for group in addresses.chunks(100) {
        let changes: Vec<JournalChange> = group
            .iter()
            .map(|address| JournalChange::Upsert(resource(address)))
            .collect();
        journal.append_many(&changes).unwrap();
        for change in changes {
            change.apply_to(&mut state);
        }
    }
    let replayed = backend.read().unwrap().unwrap();
    assert_eq!(replayed, state);

    journal.compact(&mut state).unwrap();

    assert_eq!(state.serial, 2);
    assert!(!backend.journal_path().exists());
    let stored = backend.read().unwrap().unwrap();
    assert_eq!(stored.resources.len(), COUNT + 1);
    assert_eq!(stored, state);
}

#[test]
fn written_state_matches_schema() {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/state.schema.json");
    let schema: serde_json::Value =
        serde_json::from_slice(&fs::read(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let directory = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(directory.path());
    let mut state = State::new();
    state.upsert_resource(resource("tenant.acme.database.postgres"));
    let mut attrs = Attrs::new();
    let mut limits = BTreeMap::new();
    limits.insert("storage_gb".to_owned(), Value::Number(50.0));
    limits.insert("api_key".to_owned(), Value::sensitive(Value::string("k")));
    attrs.insert("limits".to_owned(), Value::map(limits));
    attrs.insert(
        "networks".to_owned(),
        Value::list(vec![
            Value::string("10.0.0.0/8"),
            Value::sensitive(Value::string("x")),
        ]),
    );
    attrs.insert("note".to_owned(), Value::Null);
    state.upsert_resource(ResourceState::new(
        "tenant.acme",
        "catalog_tenant",
        "sqlite",
        attrs,
    ));
    state.outputs.insert(
        "url".to_owned(),
        OutputState {
            value: Value::string("postgres://db/acme"),
            sensitive: false,
        },
    );
    state.outputs.insert(
        "password".to_owned(),
        OutputState {
            value: Value::sensitive(Value::string("p")),
            sensitive: true,
        },
    );
    backend.write(&mut state).unwrap();

    let written: serde_json::Value =
        serde_json::from_slice(&fs::read(backend.path()).unwrap()).unwrap();

    let errors: Vec<String> = validator
        .iter_errors(&written)
        .map(|error| error.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = written.clone();
    broken["resources"][0]["sensitive_attributes"]["limits"] = serde_json::json!("yes");
    assert!(!validator.is_valid(&broken));
    let mut unversioned = written;
    unversioned
        .as_object_mut()
        .unwrap()
        .remove("format_version");
    assert!(!validator.is_valid(&unversioned));
}
