//! Tests of the PostgreSQL state backend against a real server.
//!
//! They connect to `TENANCY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, started by
//! `scripts/services start`) as a user that may create schemas. Each test
//! uses its own schema with a random name and drops it at the end, also
//! when the test fails, so the tests run in parallel.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::lock::split_key;
use super::*;
use crate::state::journal::JournalChange;
use crate::state::lock::LockInfo;
use crate::state::model::ResourceState;

/// The environment variable with the state that [`hold_lock_until_killed`]
/// locks, as `SCHEMA/NAME`.
const HOLD_LOCK_VARIABLE: &str = "TENANCY_TEST_HOLD_POSTGRES_LOCK";

fn server_url() -> String {
    std::env::var("TENANCY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A schema of its own for one test, dropped with everything in it when
/// the fixture is dropped.
struct Fixture {
    schema: String,
    name: String,
}

impl Fixture {
    fn new() -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        Fixture {
            schema: format!("tenancy_test_{}", &unique[..16]),
            name: format!("test-{}", &unique[16..]),
        }
    }

    fn backend(&self) -> PostgresBackend {
        PostgresBackend::new(&server_url(), &self.schema, "states", &self.name).unwrap()
    }

    fn backend_named(&self, name: &str) -> PostgresBackend {
        PostgresBackend::new(&server_url(), &self.schema, "states", name).unwrap()
    }

    fn count(&self, table: &str) -> i64 {
        query_count(&format!(
            "SELECT count(*) FROM \"{}\".\"{table}\"",
            self.schema
        ))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        execute(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.schema
        ));
    }
}

fn admin_session() -> Session {
    Session::connect(&parse_url(&server_url()).unwrap(), "test server")
        .expect("the test server answers")
}

fn test_query_error(source: tokio_postgres::Error) -> PostgresStateError {
    PostgresStateError::Query {
        action: "run test SQL",
        location: "test server".to_owned(),
        source,
    }
}

fn execute(sql: &str) {
    let sql = sql.to_owned();
    admin_session()
        .run("run test SQL", move |client| async move {
            client.batch_execute(&sql).await.map_err(test_query_error)
        })
        .unwrap();
}

fn query_count(sql: &str) -> i64 {
    let sql = sql.to_owned();
    admin_session()
        .run("run test SQL", move |client| async move {
            let row = client
                .query_one(&sql, &[])
                .await
                .map_err(test_query_error)?;
            Ok(row.get::<_, i64>(0))
        })
        .unwrap()
}

fn resource(address: &str) -> ResourceState {
    let mut attrs = Attrs::new();
    attrs.insert("id".to_owned(), Value::string(address));
    attrs.insert(
        "password".to_owned(),
        Value::sensitive(Value::string("s3cret")),
    );
    ResourceState::new(address, "postgres_database", "postgres", attrs)
}

fn state_with(addresses: &[&str]) -> State {
    let mut state = State::new();
    for address in addresses {
        state.upsert_resource(resource(address));
    }
    state
}

fn addresses(state: &State) -> Vec<&str> {
    state.resources.keys().map(|address| address.as_str()).collect()
}

#[test]
fn write_then_read_round_trips() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    assert!(backend.read().unwrap().is_none());
    let mut state = state_with(&["tenant.acme", "tenant.acme.database.postgres"]);

    backend.write(&mut state).unwrap();

    assert_eq!(state.serial, 1);
    assert_eq!(backend.read().unwrap().unwrap(), state);
    let fresh = fixture.backend();
    assert_eq!(fresh.read().unwrap().unwrap(), state);
}

#[test]
fn serial_increments_on_every_write() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let mut state = state_with(&["tenant.acme"]);

    for expected in 1..=3 {
        backend.write(&mut state).unwrap();
        assert_eq!(state.serial, expected);
    }

    let stored = query_count(&format!(
        "SELECT serial FROM \"{}\".states WHERE name = '{}'",
        fixture.schema, fixture.name
    ));
    assert_eq!(stored, 3);
    assert_eq!(backend.read().unwrap().unwrap().serial, 3);
}

#[test]
fn names_keep_separate_states_in_one_table() {
    let fixture = Fixture::new();
    let staging = fixture.backend_named("staging");
    let production = fixture.backend_named("production");
    let mut first = state_with(&["tenant.a"]);
    let mut second = state_with(&["tenant.b"]);

    staging.write(&mut first).unwrap();
    production.write(&mut second).unwrap();
    let _staging_lock = staging.lock("apply").unwrap();
    let production_lock = production.lock("apply");

    assert_eq!(addresses(&staging.read().unwrap().unwrap()), ["tenant.a"]);
    assert_eq!(
        addresses(&production.read().unwrap().unwrap()),
        ["tenant.b"]
    );
    assert!(production_lock.is_ok(), "{production_lock:?}");
    assert_eq!(fixture.count("states"), 2);
}

#[test]
fn second_lock_fails_naming_holder() {
    let fixture = Fixture::new();
    let first = fixture.backend().lock("apply").unwrap();

    let error = fixture.backend().lock("plan").unwrap_err();

    let StateError::Locked {
        holder: Some(holder),
        ..
    } = &error
    else {
        panic!("expected a lock error naming the holder, got {error:?}");
    };
    assert_eq!(holder.id, first.info().id);
    assert_eq!(holder.operation, "apply");
    assert_eq!(holder.pid, std::process::id());
    let message = error.to_string();
    assert!(message.contains(&first.info().id), "{message}");
    assert!(message.contains(&fixture.name), "{message}");

    first.unlock().unwrap();
    let again = fixture.backend().lock("plan");
    assert!(again.is_ok(), "{again:?}");
}

#[test]
fn lock_timeout_waits_for_release() {
    let fixture = Fixture::new();
    let held = fixture.backend().lock("apply").unwrap();
    let mut waiter = fixture.backend();
    waiter.set_lock_timeout(Duration::from_secs(20));
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        held.unlock().unwrap();
    });

    let started = std::time::Instant::now();
    let lock = waiter.lock("plan");

    releaser.join().unwrap();
    assert!(lock.is_ok(), "{lock:?}");
    assert!(started.elapsed() >= Duration::from_millis(500), "{:?}", started.elapsed());
}

#[test]
fn lock_timeout_ends_in_lock_error() {
    let fixture = Fixture::new();
    let held = fixture.backend().lock("apply").unwrap();
    let mut waiter = fixture.backend();
    waiter.set_lock_timeout(Duration::from_millis(1200));

    let error = waiter.lock("plan").unwrap_err();

    let StateError::Locked { holder, waited, .. } = &error else {
        panic!("expected a lock error, got {error:?}");
    };
    assert_eq!(holder.as_ref().map(|holder| holder.id.as_str()), Some(held.info().id.as_str()));
    assert!(*waited >= Duration::from_millis(1200), "{waited:?}");
}

#[test]
fn lock_timeout_setting_is_read() {
    let attrs = tenancy_sdk::Attrs::from([
        ("url", tenancy_sdk::Value::string(server_url())),
        ("lock_timeout", tenancy_sdk::Value::string("2m")),
    ]);

    let backend = PostgresBackend::from_settings(&attrs).unwrap();
    let invalid = tenancy_sdk::Attrs::from([
        ("url", tenancy_sdk::Value::string(server_url())),
        ("lock_timeout", tenancy_sdk::Value::string("soon")),
    ]);

    assert_eq!(backend.lock_timeout, Some(Duration::from_secs(120)));
    let error = PostgresBackend::from_settings(&invalid).unwrap_err().to_string();
    assert!(error.contains("lock_timeout"), "{error}");
}

#[test]
fn released_lock_leaves_no_record() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let lock = backend.lock("apply").unwrap();
    assert_eq!(fixture.count("states_locks"), 1);

    drop(lock);

    assert_eq!(fixture.count("states_locks"), 0);
    assert!(backend.lock("apply").is_ok());
}

/// Holds the lock named by [`HOLD_LOCK_VARIABLE`] until the process is
/// killed. [`lock_of_killed_process_is_released`] runs it as a child.
#[test]
#[ignore = "run as a child process by lock_of_killed_process_is_released"]
fn hold_lock_until_killed() {
    let Ok(target) = std::env::var(HOLD_LOCK_VARIABLE) else {
        return;
    };
    let (schema, name) = target.split_once('/').unwrap();
    let backend = PostgresBackend::new(&server_url(), schema, "states", name).unwrap();
    let _lock = backend.lock("apply").unwrap();
    println!("locked");
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn lock_of_killed_process_is_released() {
    let fixture = Fixture::new();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "state::postgres::tests::hold_lock_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(
            HOLD_LOCK_VARIABLE,
            format!("{}/{}", fixture.schema, fixture.name),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let locked = stdout
        .lines()
        .map_while(Result::ok)
        .any(|line| line == "locked");
    assert!(locked, "the child process did not take the lock");

    let error = fixture.backend().lock("apply").unwrap_err();
    let StateError::Locked {
        holder: Some(holder),
        ..
    } = &error
    else {
        panic!("expected the child to hold the lock, got {error:?}");
    };
    assert_eq!(holder.pid, child.id());

    // Child::kill sends SIGKILL, so the child runs no cleanup at all.
    child.kill().unwrap();
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    let lock = loop {
        match fixture.backend().lock("apply") {
            Ok(lock) => break lock,
            Err(error) if Instant::now() < deadline => {
                assert!(matches!(error, StateError::Locked { .. }), "{error:?}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => panic!("the lock of the killed process was not released: {error}"),
        }
    };
    assert_ne!(lock.info().id, holder.id);
}

#[test]
fn write_with_stale_serial_is_rejected() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    backend.write(&mut state_with(&["tenant.acme"])).unwrap();
    let mut first = backend.read().unwrap().unwrap();
    let mut second = fixture.backend().read().unwrap().unwrap();

    first.upsert_resource(resource("tenant.first"));
    backend.write(&mut first).unwrap();
    second.upsert_resource(resource("tenant.second"));
    let error = fixture.backend().write(&mut second).unwrap_err();

    assert_eq!(error.code(), "tenancy::state::stale_serial");
    let message = error.to_string();
    assert!(message.contains("changed since it was read"), "{message}");
    assert!(message.contains("serial 2"), "{message}");
    assert_eq!(second.serial, 1, "a failed write keeps the serial");
    assert_eq!(backend.read().unwrap().unwrap(), first);
}

#[test]
fn write_of_other_lineage_is_rejected() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let mut stored = state_with(&["tenant.acme"]);
    backend.write(&mut stored).unwrap();
    let mut other = State::with_lineage(uuid::Uuid::new_v4().to_string(), 1);

    let error = backend.write(&mut other).unwrap_err();

    assert_eq!(error.code(), "tenancy::state::lineage_mismatch");
    assert!(error.to_string().contains(&stored.lineage), "{error}");
    assert_eq!(backend.read().unwrap().unwrap(), stored);
}

#[test]
fn concurrent_writers_store_one_serial_each() {
    let fixture = Fixture::new();
    let base = State::new();
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let backend = fixture.backend();
            let mut state = base.clone();
            std::thread::spawn(move || backend.write(&mut state).is_ok())
        })
        .collect();

    let succeeded = writers
        .into_iter()
        .map(|writer| writer.join().unwrap())
        .filter(|ok| *ok)
        .count();

    assert_eq!(succeeded, 1);
    assert_eq!(fixture.backend().read().unwrap().unwrap().serial, 1);
}

#[test]
fn journal_is_replayed_after_crash() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let mut base = state_with(&["tenant.old"]);
    backend.write(&mut base).unwrap();

    let mut journal = backend.journal(&base).unwrap();
    journal
        .append(&JournalChange::Upsert(resource("tenant.a")))
        .unwrap();
    journal
        .append_many(&[
            JournalChange::Upsert(resource("tenant.b")),
            JournalChange::Remove("tenant.old".to_owned()),
        ])
        .unwrap();
    // Dropping the journal without compacting is what a crash leaves.
    drop(journal);
    drop(backend);

    let restarted = fixture.backend();
    let mut replayed = restarted.read().unwrap().unwrap();
    assert_eq!(addresses(&replayed), ["tenant.a", "tenant.b"]);
    assert_eq!(replayed.serial, 1);
    assert_eq!(
        replayed.resource("tenant.a").unwrap(),
        &resource("tenant.a")
    );
    assert_eq!(fixture.count("states_journal"), 3);

    let continued = restarted.journal(&replayed).unwrap();
    continued.compact(&mut replayed).unwrap();

    assert_eq!(replayed.serial, 2);
    assert_eq!(fixture.count("states_journal"), 0);
    assert_eq!(restarted.read().unwrap().unwrap(), replayed);
}

#[test]
fn write_removes_folded_journal() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let mut base = State::new();
    let mut journal = backend.journal(&base).unwrap();
    journal
        .append(&JournalChange::Upsert(resource("tenant.a")))
        .unwrap();

    let mut read = backend.read().unwrap().unwrap();
    assert_eq!(read.lineage, base.lineage);
    assert_eq!(addresses(&read), ["tenant.a"]);
    backend.write(&mut read).unwrap();

    assert_eq!(fixture.count("states_journal"), 0);
    assert_eq!(backend.read().unwrap().unwrap(), read);
    let error = journal.compact(&mut base).unwrap_err();
    assert_eq!(error.code(), "tenancy::state::stale_serial", "{error}");
}

#[test]
fn journal_of_other_lineage_is_reported() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let mut stored = state_with(&["tenant.acme"]);
    backend.write(&mut stored).unwrap();

    let mut journal = backend.journal(&State::new()).unwrap();
    journal
        .append(&JournalChange::Remove("tenant.acme".to_owned()))
        .unwrap();
    let error = backend.read().unwrap_err();

    assert_eq!(error.code(), "tenancy::state::journal_mismatch");
    assert!(error.to_string().contains(&stored.lineage), "{error}");
    let reopened = backend.journal(&stored).unwrap_err();
    assert_eq!(reopened.code(), "tenancy::state::journal_mismatch");
}

#[test]
fn force_unlock_keeps_live_advisory_lock() {
    let fixture = Fixture::new();
    let holder_lock = fixture.backend().lock("apply").unwrap();

    let error = fixture
        .backend()
        .force_unlock(&holder_lock.info().id)
        .unwrap_err();

    assert_eq!(error.code(), "tenancy::state::holder_running");
    let message = error.to_string();
    assert!(message.contains("live PostgreSQL session"), "{message}");
    assert!(message.contains("server process"), "{message}");
    let hint = error.hint().unwrap();
    assert!(hint.contains("advisory lock"), "{hint}");
    assert!(hint.contains("pg_terminate_backend"), "{hint}");
    assert!(matches!(
        fixture.backend().lock("plan"),
        Err(StateError::Locked { .. })
    ));
}

#[test]
fn force_unlock_checks_id() {
    let fixture = Fixture::new();
    let holder_lock = fixture.backend().lock("apply").unwrap();

    let error = fixture.backend().force_unlock("not-the-id").unwrap_err();

    assert!(
        matches!(error, StateError::LockIdMismatch { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&holder_lock.info().id),
        "{error}"
    );
}

#[test]
fn force_unlock_removes_stale_record() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    drop(backend.lock("apply").unwrap());
    let stale = LockInfo::new("apply");
    execute(&format!(
        "INSERT INTO \"{}\".states_locks (name, id, info, session_pid) VALUES ('{}', '{}', '{}', 0)",
        fixture.schema,
        fixture.name,
        stale.id,
        serde_json::to_string(&stale).unwrap()
    ));

    backend.force_unlock(&stale.id).unwrap();

    assert_eq!(fixture.count("states_locks"), 0);
    let again = backend.force_unlock(&stale.id).unwrap_err();
    assert!(matches!(again, StateError::NotLocked { .. }), "{again:?}");
}

#[test]
fn stale_record_does_not_block_lock() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    drop(backend.lock("apply").unwrap());
    let stale = LockInfo::new("apply");
    execute(&format!(
        "INSERT INTO \"{}\".states_locks (name, id, info, session_pid) VALUES ('{}', '{}', '{}', 0)",
        fixture.schema,
        fixture.name,
        stale.id,
        serde_json::to_string(&stale).unwrap()
    ));

    let lock = backend.lock("plan").unwrap();
    let error = fixture.backend().lock("apply").unwrap_err();

    let StateError::Locked {
        holder: Some(holder),
        ..
    } = &error
    else {
        panic!("expected a lock error naming the holder, got {error:?}");
    };
    assert_eq!(holder.id, lock.info().id);
}

#[test]
fn backend_runs_inside_multi_threaded_runtime() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let read = runtime.block_on(async move {
        tokio::spawn(async move {
            let _lock = backend.lock("apply")?;
            backend.write(&mut state_with(&["tenant.acme"]))?;
            backend.read()
        })
        .await
        .unwrap()
    });

    assert_eq!(addresses(&read.unwrap().unwrap()), ["tenant.acme"]);
}

#[test]
fn closed_port_reports_connection_failure() {
    let backend = PostgresBackend::new(
        "postgres://admin:hunter2@127.0.0.1:1/postgres",
        "public",
        "states",
        "x",
    )
    .unwrap();

    let error = backend.read().unwrap_err();

    assert_eq!(error.code(), "tenancy::state::postgres_connect");
    let message = error.to_string();
    assert!(
        message.contains("failed to connect to PostgreSQL state `x`"),
        "{message}"
    );
    assert!(message.contains("127.0.0.1:1/postgres"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn settings_default_and_validate() {
    let mut attrs = Attrs::new();
    attrs.insert(
        "url".to_owned(),
        Value::sensitive(Value::string(
            "postgres://admin:hunter2@db.internal:5433/ops",
        )),
    );
    let backend = PostgresBackend::from_settings(&attrs).unwrap();
    assert_eq!(backend.name(), DEFAULT_NAME);
    assert_eq!(
        backend.describe(),
        "PostgreSQL state `default` in table `public.tenancy_state` on db.internal:5433/ops"
    );
    assert!(!format!("{backend:?}").contains("hunter2"));

    let cases: [(&str, Value, &str); 5] = [
        ("schema", Value::string("bad-name"), "not an identifier"),
        (
            "table",
            Value::string("t".repeat(60)),
            "longer than 55 bytes",
        ),
        ("name", Value::string(""), "non-empty string"),
        ("encryption_key", Value::string("k"), "not available"),
        ("bucket", Value::string("b"), "no such setting"),
    ];
    for (setting, value, expected) in cases {
        let mut invalid = attrs.clone();
        invalid.insert(setting.to_owned(), value);

        let error = PostgresBackend::from_settings(&invalid).unwrap_err();

        let message = error.to_string();
        assert!(message.contains(&format!("`{setting}`")), "{message}");
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn missing_or_invalid_url_is_rejected_without_echo() {
    let error = PostgresBackend::from_settings(&Attrs::new()).unwrap_err();
    assert!(error.to_string().contains("`url`"), "{error}");
    assert!(error.to_string().contains("required"), "{error}");

    let mut attrs = Attrs::new();
    attrs.insert(
        "url".to_owned(),
        Value::sensitive(Value::string("postgres://u:hunter2@h:notaport/db")),
    );
    let error = PostgresBackend::from_settings(&attrs).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not a valid PostgreSQL connection string"),
        "{error}"
    );
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[test]
fn lock_keys_differ_per_state() {
    let keys = [
        derive_key(&["lock", "public", "tenancy_state", "a"]),
        derive_key(&["lock", "public", "tenancy_state", "b"]),
        derive_key(&["lock", "public", "other", "a"]),
        derive_key(&["lock", "publi", "ctenancy_state", "a"]),
    ];

    for (index, key) in keys.iter().enumerate() {
        assert!(!keys[index + 1..].contains(key), "key {index} repeats");
    }
    assert_eq!(split_key(-1), (u32::MAX, u32::MAX));
    assert_eq!(split_key(1 << 32 | 7), (1, 7));
}
