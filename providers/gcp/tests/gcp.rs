//! Tests of the gcp provider against fake-gcs-server.
//!
//! The emulator comes from `TENANCY_TEST_GCS_ENDPOINT` (default
//! `http://127.0.0.1:4443`, as `scripts/services start fake-gcs` provides)
//! and is used with anonymous credentials. Each test uses its own tenant ids,
//! so tests run in parallel, and a guard deletes the buckets a test made
//! even when it fails. The emulator reports every bucket in `US-CENTRAL1`
//! and keeps no labels, retention policy or IAM settings, so the tests that
//! round-trip through it use that location, and the fields it drops are
//! checked on the request body instead (see `docs/providers/gcp.md`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value as Json, json};
use tenancy_provider_gcp::bucket::BucketSpec;
use tenancy_provider_gcp::{BUCKET_TYPE, GcpProvider};
use tenancy_sdk::{
    Attrs, ErrorKind, ImportRequest, Operation, Provider, ProviderContext, ReadRequest, Value,
};

const ADDRESS: &str = "tenant.test.storage.gcs";
const PREFIX: &str = "tenancy-test";

fn endpoint() -> String {
    std::env::var("TENANCY_TEST_GCS_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4443".to_owned())
}

/// Returns a tenant ID that no other test of this run uses.
fn tenant_id(stem: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{stem}_{}_{nanos}_{count}", std::process::id())
}

fn bucket_name(tenant: &str) -> String {
    format!("{PREFIX}-{}", tenant.replace('_', "-"))
}

/// Deletes the named buckets and their objects, also when a test panics.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let names = std::mem::take(&mut self.0);
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                for name in names {
                    emulator_empty_and_delete(&name).await;
                }
            });
        });
        let _ = worker.join();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn emulator_get(name: &str) -> Option<Json> {
    let response = http()
        .get(format!("{}/storage/v1/b/{name}", endpoint()))
        .send()
        .await
        .unwrap();
    if response.status() == 404 {
        return None;
    }
    assert!(response.status().is_success(), "{}", response.status());
    Some(response.json().await.unwrap())
}

async fn emulator_patch(name: &str, body: Json) {
    let response = http()
        .patch(format!("{}/storage/v1/b/{name}", endpoint()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

async fn emulator_insert(name: &str) {
    let response = http()
        .post(format!("{}/storage/v1/b?project=tenancy-test", endpoint()))
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

async fn emulator_put_object(bucket: &str, object: &str) {
    let url = format!(
        "{}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={object}",
        endpoint()
    );
    let response = http().post(url).body("data").send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

async fn emulator_empty_and_delete(name: &str) {
    let client = http();
    let list = client
        .get(format!("{}/storage/v1/b/{name}/o", endpoint()))
        .send()
        .await;
    if let Ok(list) = list {
        let body: Json = list.json().await.unwrap_or_default();
        for item in body
            .get("items")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(object) = item.get("name").and_then(Json::as_str) {
                let url = format!(
                    "{}/storage/v1/b/{name}/o/{}",
                    endpoint(),
                    object.replace('/', "%2F")
                );
                let _ = client.delete(url).send().await;
            }
        }
    }
    let _ = client
        .delete(format!("{}/storage/v1/b/{name}", endpoint()))
        .send()
        .await;
}

async fn provider() -> GcpProvider {
    provider_at(&endpoint()).await
}

async fn provider_at(endpoint: &str) -> GcpProvider {
    let mut provider = GcpProvider::new();
    let config: Attrs = [
        ("project", Value::string("tenancy-test")),
        ("endpoint", Value::string(endpoint)),
        ("credentials", Value::string("anonymous")),
        ("bucket_prefix", Value::string(PREFIX)),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let context = ProviderContext {
        working_dir: PathBuf::from("."),
        instance: "gcp".to_owned(),
    };
    provider
        .configure(&config, &context)
        .await
        .expect("configure provider");
    provider
}

/// Returns the attributes the engine sends for `storage "gcs"` of a tenant in
/// `us-central1`, the one location the emulator reports.
fn tenant_config(tenant: &str) -> Attrs {
    [
        ("tenant_id", Value::string(tenant)),
        ("region", Value::string("us-central1")),
        ("tier", Value::string("pro")),
        ("security_policy", Value::string("eu_strict")),
        ("allowed_networks", Value::Null),
        ("versioning", Value::Bool(true)),
        ("retention_days", Value::Null),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

async fn create(provider: &GcpProvider, config: &Attrs) -> (Attrs, Attrs) {
    let planned = provider
        .plan(BUCKET_TYPE, None, config)
        .expect("plan create")
        .planned;
    let applied = provider
        .apply(
            BUCKET_TYPE,
            ADDRESS,
            Operation::Create { planned: &planned },
        )
        .await
        .expect("create bucket")
        .expect("attributes after create");
    (planned, applied)
}

async fn read_one(provider: &GcpProvider, prior: &Attrs) -> Option<Attrs> {
    let request = ReadRequest {
        type_name: BUCKET_TYPE.to_owned(),
        address: ADDRESS.to_owned(),
        prior: prior.clone(),
    };
    provider
        .read(&[request])
        .await
        .remove(0)
        .expect("read bucket")
}

#[tokio::test]
async fn apply_creates_planned_bucket() {
    let tenant = tenant_id("create");
    let name = bucket_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let provider = provider().await;

    let (planned, applied) = create(&provider, &tenant_config(&tenant)).await;

    let stored = emulator_get(&name)
        .await
        .expect("bucket exists on the emulator");
    assert_eq!(stored["name"], name.as_str());
    assert_eq!(stored["location"], "US-CENTRAL1");
    assert_eq!(stored["versioning"]["enabled"], true);
    assert_eq!(planned["name"], Value::string(&name));
    for (key, value) in &planned {
        if !value.is_unknown() {
            assert_eq!(&applied[key], value, "attribute `{key}` after create");
        }
    }
    for (key, value) in &applied {
        assert!(
            !value.contains_unknown(),
            "attribute `{key}` is unknown after create"
        );
    }
    assert_eq!(
        applied["self_link"],
        Value::string(format!("{}/storage/v1/b/{name}", endpoint()))
    );
}

#[tokio::test]
async fn plan_after_apply_is_empty() {
    let tenant = tenant_id("noop");
    let _cleanup = Cleanup(vec![bucket_name(&tenant)]);
    let provider = provider().await;
    let config = tenant_config(&tenant);
    let (_, applied) = create(&provider, &config).await;

    let current = read_one(&provider, &applied).await.expect("bucket exists");
    let change = provider.plan(BUCKET_TYPE, Some(&current), &config).unwrap();

    assert_eq!(current, applied);
    assert_eq!(change.planned, current);
    assert!(change.requires_replace.is_empty());
}

#[tokio::test]
async fn versioning_changed_by_hand_is_drift() {
    let tenant = tenant_id("drift");
    let name = bucket_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let provider = provider().await;
    let config = tenant_config(&tenant);
    let (_, applied) = create(&provider, &config).await;

    emulator_patch(&name, json!({"versioning": {"enabled": false}})).await;
    let current = read_one(&provider, &applied).await.expect("bucket exists");
    let change = provider.plan(BUCKET_TYPE, Some(&current), &config).unwrap();

    assert_eq!(current["versioning"], Value::Bool(false));
    assert_eq!(
        current["labels"], applied["labels"],
        "labels the emulator drops keep their value"
    );
    assert_eq!(change.planned["versioning"], Value::Bool(true));
    assert!(change.requires_replace.is_empty());
}

#[tokio::test]
async fn update_changes_versioning_in_place() {
    let tenant = tenant_id("update");
    let name = bucket_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let provider = provider().await;
    let (_, applied) = create(&provider, &tenant_config(&tenant)).await;
    let mut config = tenant_config(&tenant);
    config.insert("versioning".to_owned(), Value::Bool(false));
    config.insert("tier".to_owned(), Value::string("enterprise"));

    let change = provider.plan(BUCKET_TYPE, Some(&applied), &config).unwrap();
    let operation = Operation::Update {
        prior: &applied,
        planned: &change.planned,
    };
    let updated = provider
        .apply(BUCKET_TYPE, ADDRESS, operation)
        .await
        .unwrap()
        .unwrap();

    assert!(change.requires_replace.is_empty());
    assert_eq!(
        emulator_get(&name).await.unwrap()["versioning"]["enabled"],
        false
    );
    assert_eq!(updated["versioning"], Value::Bool(false));
    assert_eq!(
        updated["labels"].as_map().unwrap()["tier"],
        Value::string("enterprise")
    );
}

#[tokio::test]
async fn destroy_leaves_nothing() {
    let tenant = tenant_id("destroy");
    let name = bucket_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let provider = provider().await;
    let (_, applied) = create(&provider, &tenant_config(&tenant)).await;

    let result = provider
        .apply(BUCKET_TYPE, ADDRESS, Operation::Delete { prior: &applied })
        .await
        .unwrap();

    assert_eq!(result, None);
    assert_eq!(emulator_get(&name).await, None);
    assert_eq!(read_one(&provider, &applied).await, None);
}

#[tokio::test]
async fn import_adopts_existing_bucket() {
    let tenant = tenant_id("import");
    let name = bucket_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    emulator_insert(&name).await;
    let provider = provider().await;

    let request = ImportRequest {
        type_name: BUCKET_TYPE.to_owned(),
        address: ADDRESS.to_owned(),
        id: name.clone(),
    };
    let imported = provider.import(&request).await.unwrap();
    let change = provider
        .plan(BUCKET_TYPE, Some(&imported), &tenant_config(&tenant))
        .unwrap();

    assert_eq!(imported["name"], Value::string(&name));
    assert_eq!(imported["id"], Value::string(&name));
    assert_eq!(imported["location"], Value::string("US-CENTRAL1"));
    assert_eq!(
        imported["tenant_id"],
        Value::string(tenant.replace('_', "-"))
    );
    assert_eq!(
        change.requires_replace,
        vec!["tenant_id".to_owned()],
        "the name does not keep underscores"
    );
}

#[tokio::test]
async fn batched_read_finds_each_bucket() {
    let tenants: Vec<String> = (0..3)
        .map(|index| tenant_id(&format!("batch{index}")))
        .collect();
    let _cleanup = Cleanup(tenants.iter().map(|tenant| bucket_name(tenant)).collect());
    let provider = provider().await;
    let mut requests = Vec::new();
    for tenant in &tenants {
        let (_, applied) = create(&provider, &tenant_config(tenant)).await;
        requests.push(ReadRequest {
            type_name: BUCKET_TYPE.to_owned(),
            address: format!("tenant.{tenant}.storage.gcs"),
            prior: applied,
        });
    }
    let mut missing = requests[0].prior.clone();
    missing.insert(
        "name".to_owned(),
        Value::string(bucket_name(&tenant_id("missing"))),
    );
    requests.push(ReadRequest {
        type_name: BUCKET_TYPE.to_owned(),
        address: "tenant.missing.storage.gcs".to_owned(),
        prior: missing,
    });

    let results = provider.read(&requests).await;

    assert_eq!(results.len(), 4);
    for (request, result) in requests.iter().zip(&results).take(3) {
        assert_eq!(
            result.as_ref().unwrap().as_ref(),
            Some(&request.prior),
            "{}",
            request.address
        );
    }
    assert_eq!(results[3].as_ref().unwrap(), &None);
}

#[tokio::test]
async fn taken_name_is_conflict() {
    let tenant = tenant_id("taken");
    let name = bucket_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    emulator_insert(&name).await;
    let provider = provider().await;
    let planned = provider
        .plan(BUCKET_TYPE, None, &tenant_config(&tenant))
        .unwrap()
        .planned;

    let error = provider
        .apply(
            BUCKET_TYPE,
            ADDRESS,
            Operation::Create { planned: &planned },
        )
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(error.message.starts_with(ADDRESS), "{}", error.message);
    assert!(
        error.message.contains(&format!("create bucket `{name}`")),
        "{}",
        error.message
    );
    assert!(error.message.contains("HTTP 409"), "{}", error.message);
    assert!(error.hint.unwrap().contains("global"));
}

#[tokio::test]
async fn missing_bucket_import_is_not_found() {
    let provider = provider().await;
    let request = ImportRequest {
        type_name: BUCKET_TYPE.to_owned(),
        address: ADDRESS.to_owned(),
        id: bucket_name(&tenant_id("absent")),
    };

    let error = provider.import(&request).await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(error.message.contains(&request.id), "{}", error.message);
}

#[tokio::test]
async fn deleting_nonempty_bucket_is_conflict() {
    let tenant = tenant_id("full");
    let name = bucket_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let provider = provider().await;
    let (_, applied) = create(&provider, &tenant_config(&tenant)).await;
    emulator_put_object(&name, "report.csv").await;

    let error = provider
        .apply(BUCKET_TYPE, ADDRESS, Operation::Delete { prior: &applied })
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(
        error.message.contains(&format!("delete bucket `{name}`")),
        "{}",
        error.message
    );
    assert!(error.hint.unwrap().contains("delete its objects"));
    assert!(emulator_get(&name).await.is_some());
}

#[tokio::test]
async fn closed_port_is_unavailable() {
    // Port 9 (discard) has no listener on a test machine's loopback.
    let provider = provider_at("http://127.0.0.1:9").await;
    let prior: Attrs = [("name".to_owned(), Value::string("tenancy-test-none"))].into();

    let request = ReadRequest {
        type_name: BUCKET_TYPE.to_owned(),
        address: ADDRESS.to_owned(),
        prior,
    };
    let error = provider.read(&[request]).await.remove(0).unwrap_err();

    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(
        error.message.contains("read bucket `tenancy-test-none`"),
        "{}",
        error.message
    );
}

/// The emulator keeps no labels, retention policy, location or IAM
/// settings, so this test checks the body that `apply` sends, built by the
/// same code from the same plan.
#[tokio::test]
async fn request_shape_carries_fields_the_emulator_ignores() {
    let provider = provider().await;
    let mut config = tenant_config("north_wind");
    config.insert("location".to_owned(), Value::string("europe-west1"));
    config.insert("retention_days".to_owned(), Value::Number(30.0));

    let planned = provider.plan(BUCKET_TYPE, None, &config).unwrap().planned;
    let body = BucketSpec::from_attrs(&planned).unwrap().insert_body();

    assert_eq!(body["name"], "tenancy-test-north-wind");
    assert_eq!(body["location"], "EUROPE-WEST1");
    assert_eq!(
        body["labels"],
        json!({"tenant": "north_wind", "tier": "pro", "policy": "eu_strict"})
    );
    assert_eq!(body["versioning"], json!({"enabled": true}));
    assert_eq!(
        body["retentionPolicy"],
        json!({"retentionPeriod": "2592000"})
    );
    assert_eq!(
        body["iamConfiguration"],
        json!({"uniformBucketLevelAccess": {"enabled": true}, "publicAccessPrevention": "enforced"})
    );
}
