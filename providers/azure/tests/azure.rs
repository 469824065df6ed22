//! Tests of the Azure provider against Azurite.
//!
//! The emulator comes from `TENANCY_TEST_AZURE_ENDPOINT` (default
//! `http://127.0.0.1:10000/devstoreaccount1`, as `scripts/services start
//! azurite` provides), with the public development account unless
//! `TENANCY_TEST_AZURE_ACCOUNT` and `TENANCY_TEST_AZURE_KEY` are set.
//! The tests check the provider's work through the official client
//! directly, and change containers by hand through it to cause drift. Each
//! test uses its own container names, and a guard deletes them even when
//! the test fails.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use azure_core::credentials::Secret;
use azure_core::http::{RequestContent, StatusCode};
use azure_storage_blob::models::{
    AccessPolicy, BlobContainerClientCreateOptions, BlobContainerClientGetPropertiesResultHeaders,
    BlobContainerClientSetAccessPolicyOptions, PublicAccessType, SignedIdentifier, SignedIdentifiers,
};
use azure_storage_blob::{BlobContainerClient, BlobServiceClient, BlobServiceClientOptions};
use tenancy_provider_azure::AzureProvider;
use tenancy_provider_azure::settings::{DEVELOPMENT_ACCOUNT_KEY, DEVELOPMENT_ACCOUNT_NAME, DEVELOPMENT_ENDPOINT};
use tenancy_provider_azure::shared_key::SharedKeyPolicy;
use tenancy_sdk::{Attrs, ErrorKind, ImportRequest, Operation, Provider, ProviderContext, ReadRequest, Value};

const TYPE: &str = "azure_container";
const ADDRESS: &str = "tenant.test.storage.azure_blob";

fn endpoint() -> String {
    std::env::var("TENANCY_TEST_AZURE_ENDPOINT").unwrap_or_else(|_| DEVELOPMENT_ENDPOINT.into())
}

fn account_name() -> String {
    std::env::var("TENANCY_TEST_AZURE_ACCOUNT").unwrap_or_else(|_| DEVELOPMENT_ACCOUNT_NAME.into())
}

fn account_key() -> String {
    std::env::var("TENANCY_TEST_AZURE_KEY").unwrap_or_else(|_| DEVELOPMENT_ACCOUNT_KEY.into())
}

/// Returns a tenant id no other test or earlier run uses.
fn tenant_id(stem: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{stem}_{}_{nanos}_{count}", std::process::id())
}

fn container_name(tenant_id: &str) -> String {
    tenant_id.replace('_', "-")
}

/// Creates a client of the emulator that bypasses the provider.
fn service() -> BlobServiceClient {
    let policy = SharedKeyPolicy::new(account_name(), Secret::new(account_key()));
    let mut options = BlobServiceClientOptions::default();
    options.client_options.per_try_policies.push(Arc::new(policy));
    let url = azure_core::http::Url::parse(&endpoint()).expect("valid endpoint");
    BlobServiceClient::new(url, None, Some(options)).expect("service client")
}

fn container(name: &str) -> BlobContainerClient {
    service().blob_container_client(name)
}

/// Deletes the given containers, also when a test panics.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let names = std::mem::take(&mut self.0);
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                for name in names {
                    let _ = container(&name).delete(None).await;
                }
            });
        });
        let _ = worker.join();
    }
}

fn provider_config(key: &str, endpoint: &str) -> Attrs {
    let mut config = Attrs::new();
    config.insert("account_name", account_name().into());
    config.insert("account_key", Value::sensitive(key.into()));
    config.insert("endpoint", endpoint.into());
    config
}

fn context() -> ProviderContext {
    ProviderContext {
        working_dir: PathBuf::from("."),
        instance: "azure".into(),
    }
}

async fn provider() -> AzureProvider {
    let mut provider = AzureProvider::new();
    provider
        .configure(&provider_config(&account_key(), &endpoint()), &context())
        .await
        .expect("configure provider");
    provider
}

fn container_config(tenant_id: &str, tier: &str) -> Attrs {
    let mut config = Attrs::new();
    config.insert("tenant_id", tenant_id.into());
    config.insert("tier", tier.into());
    config.insert("security_policy", "strict".into());
    config.insert("region", "westeurope".into());
    config.insert("versioning", false.into());
    config
}

async fn create(provider: &AzureProvider, config: &Attrs) -> Attrs {
    let change = provider.plan(TYPE, None, config).expect("plan create");
    provider
        .apply(TYPE, ADDRESS, Operation::Create { planned: &change.planned })
        .await
        .expect("create")
        .expect("attributes after create")
}

async fn refresh(provider: &AzureProvider, prior: &Attrs) -> Option<Attrs> {
    let request = ReadRequest {
        type_name: TYPE.into(),
        address: ADDRESS.into(),
        prior: prior.clone(),
    };
    provider.read(&[request]).await.remove(0).expect("read")
}

async fn update(provider: &AzureProvider, prior: &Attrs, planned: &Attrs) -> Attrs {
    provider
        .apply(TYPE, ADDRESS, Operation::Update { prior, planned })
        .await
        .expect("update")
        .expect("attributes after update")
}

/// Returns the container's metadata and public access as the service has
/// them.
async fn properties(name: &str) -> (BTreeMap<String, String>, Option<PublicAccessType>) {
    let response = container(name).get_properties(None).await.expect("get container properties");
    let metadata = response.metadata().expect("metadata").into_iter().collect();
    (metadata, response.access().expect("public access header"))
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_map()
        .expect("a map")
        .iter()
        .map(|(key, value)| (key.clone(), value.as_str().expect("a string").to_owned()))
        .collect()
}

#[tokio::test]
async fn apply_creates_planned_container() {
    let provider = provider().await;
    let tenant = tenant_id("create");
    let _cleanup = Cleanup(vec![container_name(&tenant)]);
    let mut config = container_config(&tenant, "pro");
    let mut extra = BTreeMap::new();
    extra.insert("team".to_owned(), Value::string("data platform"));
    config.insert("metadata", Value::map(extra));

    let planned = provider.plan(TYPE, None, &config).expect("plan").planned;
    let created = create(&provider, &config).await;

    assert_eq!(created, planned);
    assert!(!created.values().any(Value::contains_unknown));
    let name = container_name(&tenant);
    assert_eq!(created["url"], Value::string(format!("{}/{name}", endpoint())));
    let (metadata, access) = properties(&name).await;
    assert_eq!(metadata, string_map(&planned["metadata"]));
    assert_eq!(metadata["tenant"], tenant);
    assert_eq!(metadata["tier"], "pro");
    assert_eq!(metadata["policy"], "strict");
    assert_eq!(access, None);
}

#[tokio::test]
async fn plan_after_apply_is_empty() {
    let provider = provider().await;
    let tenant = tenant_id("noop");
    let _cleanup = Cleanup(vec![container_name(&tenant)]);
    let config = container_config(&tenant, "pro");
    let created = create(&provider, &config).await;

    let current = refresh(&provider, &created).await.expect("container exists");
    let change = provider.plan(TYPE, Some(&current), &config).expect("plan");

    assert_eq!(current, created);
    assert_eq!(change.planned, current);
    assert!(change.requires_replace.is_empty());
}

#[tokio::test]
async fn metadata_changed_by_hand_is_drift() {
    let provider = provider().await;
    let tenant = tenant_id("meta");
    let name = container_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let config = container_config(&tenant, "pro");
    let created = create(&provider, &config).await;
    let mut by_hand: HashMap<String, String> = string_map(&created["metadata"]).into_iter().collect();
    by_hand.insert("owner".into(), "someone".into());
    by_hand.insert("tier".into(), "free".into());
    container(&name).set_metadata(&by_hand, None).await.expect("set metadata by hand");

    let current = refresh(&provider, &created).await.expect("container exists");
    let change = provider.plan(TYPE, Some(&current), &config).expect("plan");

    let drifted = string_map(&current["metadata"]);
    assert_eq!(drifted["owner"], "someone");
    assert_eq!(drifted["tier"], "free");
    assert_eq!(change.planned["metadata"], created["metadata"]);
    assert!(change.requires_replace.is_empty());

    update(&provider, &current, &change.planned).await;
    let (metadata, _) = properties(&name).await;
    assert_eq!(metadata, string_map(&created["metadata"]));
}

#[tokio::test]
async fn public_access_set_by_hand_is_drift() {
    let provider = provider().await;
    let tenant = tenant_id("public");
    let name = container_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let config = container_config(&tenant, "pro");
    let created = create(&provider, &config).await;
    let policy = AccessPolicy {
        permission: Some("r".into()),
        ..Default::default()
    };
    let identifier = SignedIdentifier {
        id: Some("readers".into()),
        access_policy: Some(policy),
    };
    let identifiers = SignedIdentifiers {
        items: Some(vec![identifier]),
    };
    let options = BlobContainerClientSetAccessPolicyOptions {
        access: Some(PublicAccessType::Container),
        ..Default::default()
    };
    let body = RequestContent::try_from(identifiers).expect("access policy body");
    container(&name)
        .set_access_policy(body, Some(options))
        .await
        .expect("set public access by hand");

    let current = refresh(&provider, &created).await.expect("container exists");
    let change = provider.plan(TYPE, Some(&current), &config).expect("plan");

    assert_eq!(current["public_access"], Value::string("container"));
    assert_eq!(change.planned["public_access"], Value::string("none"));
    assert!(change.requires_replace.is_empty());

    let updated = update(&provider, &current, &change.planned).await;
    assert_eq!(updated["public_access"], Value::string("none"));
    let (_, access) = properties(&name).await;
    assert_eq!(access, None);
    let stored_policies = container(&name)
        .get_access_policy(None)
        .await
        .and_then(|response| response.into_model())
        .expect("read access policy");
    let ids: Vec<_> = stored_policies.items.unwrap_or_default().into_iter().filter_map(|item| item.id).collect();
    assert_eq!(ids, vec!["readers".to_owned()]);
}

#[tokio::test]
async fn tier_change_updates_metadata_in_place() {
    let provider = provider().await;
    let tenant = tenant_id("tier");
    let name = container_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let created = create(&provider, &container_config(&tenant, "pro")).await;
    let changed = container_config(&tenant, "enterprise");

    let change = provider.plan(TYPE, Some(&created), &changed).expect("plan");
    assert!(change.requires_replace.is_empty());
    let updated = update(&provider, &created, &change.planned).await;

    assert_eq!(updated, change.planned);
    let (metadata, _) = properties(&name).await;
    assert_eq!(metadata["tier"], "enterprise");
    let current = refresh(&provider, &updated).await.expect("container exists");
    assert_eq!(current, updated);
}

#[tokio::test]
async fn destroy_leaves_nothing() {
    let provider = provider().await;
    let tenant = tenant_id("destroy");
    let name = container_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let created = create(&provider, &container_config(&tenant, "pro")).await;

    let result = provider
        .apply(TYPE, ADDRESS, Operation::Delete { prior: &created })
        .await
        .expect("delete");

    assert_eq!(result, None);
    assert!(!container(&name).exists().await.expect("check existence"));
    assert_eq!(refresh(&provider, &created).await, None);
    let again = provider.apply(TYPE, ADDRESS, Operation::Delete { prior: &created }).await;
    assert!(again.is_ok(), "deleting a deleted container succeeds: {again:?}");
}

#[tokio::test]
async fn import_adopts_existing_container() {
    let provider = provider().await;
    let tenant = tenant_id("import");
    let name = container_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let mut metadata = HashMap::new();
    metadata.insert("tenant".to_owned(), tenant.clone());
    metadata.insert("tier".to_owned(), "pro".to_owned());
    metadata.insert("policy".to_owned(), "strict".to_owned());
    let options = BlobContainerClientCreateOptions {
        metadata: Some(metadata),
        ..Default::default()
    };
    container(&name).create(Some(options)).await.expect("create by hand");

    let request = ImportRequest {
        type_name: TYPE.into(),
        address: ADDRESS.into(),
        id: name.clone(),
    };
    let imported = provider.import(&request).await.expect("import");
    let change = provider
        .plan(TYPE, Some(&imported), &container_config(&tenant, "pro"))
        .expect("plan");

    assert_eq!(imported["tenant_id"], Value::string(&tenant));
    assert_eq!(imported["id"], Value::string(&name));
    assert!(change.requires_replace.is_empty());
    let mut expected = imported.clone();
    expected.insert("region", "westeurope".into());
    assert_eq!(change.planned, expected, "only the recorded region changes");
}

#[tokio::test]
async fn import_of_missing_container_is_not_found() {
    let provider = provider().await;
    let request = ImportRequest {
        type_name: TYPE.into(),
        address: ADDRESS.into(),
        id: container_name(&tenant_id("missing")),
    };

    let error = provider.import(&request).await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(error.message.starts_with(ADDRESS), "{}", error.message);
    assert!(error.message.contains(&request.id), "{}", error.message);
    assert!(error.hint.is_some());
}

#[tokio::test]
async fn create_over_existing_container_is_conflict() {
    let provider = provider().await;
    let tenant = tenant_id("conflict");
    let name = container_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    container(&name).create(None).await.expect("create by hand");
    let change = provider.plan(TYPE, None, &container_config(&tenant, "pro")).expect("plan");

    let error = provider
        .apply(TYPE, ADDRESS, Operation::Create { planned: &change.planned })
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(error.message.starts_with(ADDRESS), "{}", error.message);
    assert!(error.message.contains("ContainerAlreadyExists"), "{}", error.message);
    assert!(error.message.contains(&format!("`{name}`")), "{}", error.message);
    assert!(error.hint.as_deref().unwrap_or_default().contains("tenancy import"));
}

#[tokio::test]
async fn update_of_deleted_container_is_not_found() {
    let provider = provider().await;
    let tenant = tenant_id("gone");
    let name = container_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let created = create(&provider, &container_config(&tenant, "pro")).await;
    container(&name).delete(None).await.expect("delete by hand");

    let error = provider
        .apply(TYPE, ADDRESS, Operation::Update { prior: &created, planned: &created })
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(error.message.contains("ContainerNotFound"), "{}", error.message);
}

#[tokio::test]
async fn wrong_key_is_auth_error() {
    let mut provider = AzureProvider::new();
    // A valid base64 key that is not the account's.
    let wrong_key = "d3Jvbmcga2V5IGZvciB0aGUgdGVzdCBhY2NvdW50IG9ubHk=";

    let error = provider
        .configure(&provider_config(wrong_key, &endpoint()), &context())
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Auth);
    assert!(error.message.starts_with("provider `azure`"), "{}", error.message);
    assert!(error.message.contains("HTTP 403"), "{}", error.message);
    assert!(!error.message.contains(wrong_key));
    assert!(error.hint.as_deref().unwrap_or_default().contains("account_key"));
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable() {
    let mut provider = AzureProvider::new();
    // Nothing listens on port 9 of the loopback address.
    let endpoint = "http://127.0.0.1:9/devstoreaccount1";

    let error = provider
        .configure(&provider_config(&account_key(), endpoint), &context())
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Unavailable, "{}", error.message);
    assert!(error.hint.as_deref().unwrap_or_default().contains("scripts/services"));
}

#[tokio::test]
async fn read_batches_many_containers() {
    let provider = provider().await;
    let tenants: Vec<String> = (0..3).map(|_| tenant_id("batch")).collect();
    let _cleanup = Cleanup(tenants.iter().map(|tenant| container_name(tenant)).collect());
    let mut priors = Vec::new();
    for tenant in &tenants {
        priors.push(create(&provider, &container_config(tenant, "pro")).await);
    }
    let mut missing = priors[0].clone();
    let missing_name = container_name(&tenant_id("batch_missing"));
    missing.insert("name", missing_name.clone().into());
    missing.insert("id", missing_name.into());
    priors.insert(1, missing);

    let requests: Vec<ReadRequest> = priors
        .iter()
        .map(|prior| ReadRequest {
            type_name: TYPE.into(),
            address: ADDRESS.into(),
            prior: prior.clone(),
        })
        .collect();
    let results = provider.read(&requests).await;

    assert_eq!(results.len(), 4);
    assert_eq!(results[0].as_ref().unwrap().as_ref(), Some(&priors[0]));
    assert_eq!(results[1].as_ref().unwrap(), &None);
    assert_eq!(results[2].as_ref().unwrap().as_ref(), Some(&priors[2]));
    assert_eq!(results[3].as_ref().unwrap().as_ref(), Some(&priors[3]));
}

#[tokio::test]
async fn invalid_configured_name_is_rejected_at_plan() {
    let provider = provider().await;
    let mut config = container_config(&tenant_id("name"), "pro");
    config.insert("name", "Not_Valid".into());

    let error = provider.plan(TYPE, None, &config).unwrap_err();

    assert_eq!(error.kind, ErrorKind::Invalid);
    assert!(error.message.contains("`Not_Valid`"), "{}", error.message);
}

#[tokio::test]
async fn deleted_container_reads_as_missing() {
    let provider = provider().await;
    let tenant = tenant_id("vanish");
    let name = container_name(&tenant);
    let _cleanup = Cleanup(vec![name.clone()]);
    let created = create(&provider, &container_config(&tenant, "pro")).await;
    container(&name).delete(None).await.expect("delete by hand");

    assert_eq!(refresh(&provider, &created).await, None);
    let status = container(&name).get_properties(None).await.unwrap_err().http_status();
    assert_eq!(status, Some(StatusCode::NotFound));
}
