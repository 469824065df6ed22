//! Tests of the GCS backend against fake-gcs-server.
//!
//! The emulator comes from `TENANCY_TEST_GCS_ENDPOINT` (default
//! `http://127.0.0.1:4443`, as `scripts/services start fake-gcs` provides).
//! Each test creates its own bucket and deletes it when it ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tenancy_sdk::Value;

use super::*;
use crate::state::model::ResourceState;

fn endpoint() -> String {
    std::env::var("TENANCY_TEST_GCS_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4443".to_owned())
}

/// Runs an emulator request for a fixture on a runtime of its own thread.
fn emulator<F, Fut>(request: F)
where
    F: FnOnce(reqwest::Client, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        runtime.block_on(request(client, endpoint()));
    })
    .join()
    .unwrap();
}

/// A bucket of the emulator for one test, deleted with its objects on drop.
struct Fixture {
    bucket: String,
}

impl Fixture {
    fn new() -> Fixture {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let bucket = format!("tenancy-state-test-{}-{count}", std::process::id());
        let name = bucket.clone();
        emulator(move |client, endpoint| async move {
            let response = client
                .post(format!("{endpoint}/storage/v1/b?project=tenancy-test"))
                .json(&serde_json::json!({"name": name}))
                .send()
                .await
                .expect("the emulator accepts connections");
            assert!(
                response.status().is_success(),
                "create bucket: {}",
                response.status()
            );
        });
        Fixture { bucket }
    }

    fn backend(&self) -> GcsBackend {
        GcsBackend::new(&self.bucket, "tenancy/test", &endpoint(), "anonymous", None).unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let bucket = self.bucket.clone();
        emulator(move |client, endpoint| async move {
            let listing = client
                .get(format!("{endpoint}/storage/v1/b/{bucket}/o"))
                .send()
                .await;
            if let Ok(listing) = listing {
                let body: serde_json::Value = listing.json().await.unwrap_or_default();
                for item in body
                    .get("items")
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = item["name"].as_str().unwrap_or_default();
                    let url = format!(
                        "{endpoint}/storage/v1/b/{bucket}/o/{}",
                        store::encode_path_segment(name)
                    );
                    let _ = client.delete(url).send().await;
                }
            }
            let _ = client
                .delete(format!("{endpoint}/storage/v1/b/{bucket}"))
                .send()
                .await;
        });
    }
}

fn resource(address: &str) -> ResourceState {
    let mut resource = ResourceState::new(address, "gcp_bucket", "gcp", Attrs::new());
    resource
        .attrs
        .insert("name".to_owned(), Value::string(address));
    resource.attrs.insert(
        "secret".to_owned(),
        Value::sensitive(Value::string("hunter2")),
    );
    resource
}

#[test]
fn write_then_read_round_trips() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let mut state = State::new();
    state.upsert_resource(resource("tenant.acme.storage.gcs"));

    backend.write(&mut state).unwrap();
    let read = backend.read().unwrap().expect("a state was written");

    assert_eq!(state.serial, 1);
    assert_eq!(read, state);
    assert!(read.resource("tenant.acme.storage.gcs").unwrap().attrs["secret"].is_sensitive());
}

#[test]
fn missing_state_reads_as_none() {
    let fixture = Fixture::new();

    assert_eq!(fixture.backend().read().unwrap(), None);
}

#[test]
fn stale_writer_is_rejected() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let mut first = State::new();
    backend.write(&mut first).unwrap();
    let mut second = backend.read().unwrap().unwrap();
    backend.write(&mut first).unwrap();

    let error = backend.write(&mut second).unwrap_err();

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
    assert_eq!(second.serial, 1, "a failed write keeps the serial");
}

#[test]
fn generation_precondition_admits_one_writer() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let store = backend.store().unwrap();

    let generation = store
        .write("tenancy/test/probe", "{}".to_owned(), 0)
        .unwrap();
    let again = store.write("tenancy/test/probe", "{}".to_owned(), 0);
    let stale = store.write("tenancy/test/probe", "{}".to_owned(), generation + 1);
    let current = store.write("tenancy/test/probe", "{\"a\":1}".to_owned(), generation);

    assert!(
        matches!(again, Err(StoreError::PreconditionFailed { .. })),
        "{again:?}"
    );
    assert!(
        matches!(stale, Err(StoreError::PreconditionFailed { .. })),
        "{stale:?}"
    );
    assert!(current.is_ok(), "{current:?}");
}

#[test]
fn second_lock_reports_holder() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let held = backend.lock("apply").unwrap();

    let error = backend.lock("plan").unwrap_err();

    let StateError::Locked {
        holder: Some(holder),
        ..
    } = &error
    else {
        panic!("expected a lock error naming the holder, got {error:?}");
    };
    assert_eq!(holder.id, held.info().id);
    assert_eq!(holder.operation, "apply");
    assert!(error.to_string().contains("gs://"), "{error}");
}

#[test]
fn unlock_deletes_lock_object() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let held = backend.lock("apply").unwrap();

    held.unlock().unwrap();

    assert!(
        backend
            .store()
            .unwrap()
            .read(&backend.lock_object())
            .unwrap()
            .is_none()
    );
    assert!(backend.lock("apply").is_ok());
}

#[test]
fn lock_timeout_waits_for_release() {
    let fixture = Fixture::new();
    let holder = fixture.backend();
    let waiter = GcsBackend::new(
        &fixture.bucket,
        "tenancy/test",
        &endpoint(),
        "anonymous",
        Some(Duration::from_secs(10)),
    )
    .unwrap();
    let held = holder.lock("apply").unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
    });

    let lock = waiter.lock("plan");

    releaser.join().unwrap();
    assert!(lock.is_ok(), "{lock:?}");
}

#[test]
fn force_unlock_removes_crashed_holder() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    // Forgetting the guard leaves the lock object behind, as a crash would.
    let crashed = backend.lock("apply").unwrap();
    let id = crashed.info().id.clone();
    std::mem::forget(crashed);

    let wrong = backend.force_unlock("not-the-id").unwrap_err();
    backend.force_unlock(&id).unwrap();

    assert!(
        matches!(wrong, StateError::LockIdMismatch { .. }),
        "{wrong:?}"
    );
    assert!(backend.lock("plan").is_ok());
}

#[test]
fn force_unlock_without_lock_reports_it() {
    let fixture = Fixture::new();

    let error = fixture.backend().force_unlock("abc").unwrap_err();

    assert!(matches!(error, StateError::NotLocked { .. }), "{error:?}");
}

#[test]
fn journal_replays_after_crash_and_compacts() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let mut base = State::new();
    base.upsert_resource(resource("tenant.old.storage.gcs"));
    backend.write(&mut base).unwrap();

    let mut journal = backend.journal(&base).unwrap();
    journal
        .append(&JournalChange::Upsert(resource("tenant.acme.storage.gcs")))
        .unwrap();
    journal
        .append_many(&[
            JournalChange::Upsert(resource("tenant.beta.storage.gcs")),
            JournalChange::Remove("tenant.old.storage.gcs".to_owned()),
        ])
        .unwrap();
    drop(journal);

    let replayed = backend.read().unwrap().unwrap();
    assert_eq!(replayed.serial, base.serial);
    assert!(replayed.resource("tenant.acme.storage.gcs").is_some());
    assert!(replayed.resource("tenant.beta.storage.gcs").is_some());
    assert!(replayed.resource("tenant.old.storage.gcs").is_none());

    let mut continued = backend.journal(&base).unwrap();
    continued
        .append(&JournalChange::Remove("tenant.beta.storage.gcs".to_owned()))
        .unwrap();
    let mut state = backend.read().unwrap().unwrap();
    assert!(state.resource("tenant.beta.storage.gcs").is_none());
    continued.compact(&mut state).unwrap();

    assert_eq!(state.serial, base.serial + 1);
    assert!(backend.list_batches().unwrap().is_empty());
    assert_eq!(backend.read().unwrap().unwrap(), state);
}

#[test]
fn journal_of_other_lineage_is_rejected() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let mut stored = State::new();
    backend.write(&mut stored).unwrap();
    let mut journal = backend.journal(&stored).unwrap();
    journal
        .append(&JournalChange::Remove("x".to_owned()))
        .unwrap();

    let error = backend.journal(&State::new()).unwrap_err();

    assert!(
        matches!(error, StateError::JournalMismatch { .. }),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_works_inside_async_runtime() {
    let fixture = Fixture::new();
    let backend = fixture.backend();
    let mut state = State::new();

    backend.write(&mut state).unwrap();
    let read = backend.read().unwrap();

    assert_eq!(read, Some(state));
}

#[test]
fn unreachable_endpoint_names_state() {
    let backend = GcsBackend::new(
        "tenancy-none",
        "tenancy",
        "http://127.0.0.1:9",
        "anonymous",
        None,
    )
    .unwrap();

    let error = backend.read().unwrap_err();

    assert_eq!(error.code(), "tenancy::state::gcs_unavailable", "{error}");
    assert!(
        error
            .to_string()
            .contains("gs://tenancy-none/tenancy/state.json"),
        "{error}"
    );
}

#[test]
fn settings_require_bucket_and_credentials() {
    let attrs = |pairs: &[(&str, &str)]| -> Attrs {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), Value::string(*value)))
            .collect()
    };

    let no_bucket = GcsBackend::from_settings(&attrs(&[("credentials", "anonymous")])).unwrap_err();
    let no_credentials = GcsBackend::from_settings(&attrs(&[("bucket", "state")])).unwrap_err();
    let bad_endpoint = GcsBackend::from_settings(&attrs(&[
        ("bucket", "state"),
        ("credentials", "anonymous"),
        ("endpoint", "ftp://x"),
    ]))
    .unwrap_err();
    let unknown = GcsBackend::from_settings(&attrs(&[
        ("bucket", "state"),
        ("credentials", "anonymous"),
        ("region", "eu"),
    ]))
    .unwrap_err();

    assert!(no_bucket.to_string().contains("`bucket`"), "{no_bucket}");
    assert!(
        no_credentials.to_string().contains("`credentials`"),
        "{no_credentials}"
    );
    assert!(
        bad_endpoint.to_string().contains("ftp://x"),
        "{bad_endpoint}"
    );
    assert!(unknown.to_string().contains("`region`"), "{unknown}");
}

#[test]
fn batch_names_parse_with_dashed_lineage() {
    let batch = parse_batch_name("6f1c-aa-42-0000000003-0000000012.json").unwrap();

    assert_eq!(batch.lineage, "6f1c-aa-42");
    assert_eq!(batch.base_serial, 3);
    assert_eq!(batch.sequence, 12);
    assert_eq!(parse_batch_name("notes.txt"), None);
}
