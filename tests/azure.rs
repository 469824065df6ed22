//! End-to-end test of the `tenancy` binary with the azure provider against
//! Azurite (`scripts/services start azurite`, or the Blob service URL in
//! `TENANCY_TEST_AZURE_ENDPOINT`).
#![cfg(feature = "azure")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tenancy_provider_azure::AzureProvider;
use tenancy_provider_azure::settings::{DEVELOPMENT_ACCOUNT_KEY, DEVELOPMENT_ACCOUNT_NAME, DEVELOPMENT_ENDPOINT};
use tenancy_sdk::{Attrs, ErrorKind, ImportRequest, Provider, ProviderContext, Value};

fn endpoint() -> String {
    std::env::var("TENANCY_TEST_AZURE_ENDPOINT").unwrap_or_else(|_| DEVELOPMENT_ENDPOINT.into())
}

fn tenancy(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenancy"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("TENANCY_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("the tenancy binary runs")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Returns a tenant id that no other run uses.
fn unique_tenant_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    format!("e2e_{}_{nanos}", std::process::id())
}

fn configuration(tenant_id: &str) -> String {
    format!(
        r#"
provider "azure" {{
  account_name = "{DEVELOPMENT_ACCOUNT_NAME}"
  account_key  = "{DEVELOPMENT_ACCOUNT_KEY}"
  endpoint     = "{endpoint}"
}}

tier "pro" {{
  price    = 49
  currency = "EUR"
}}

security_policy "strict" {{
  encryption_at_rest = true
}}

tenant "{tenant_id}" {{
  name            = "End to end"
  tier            = tier.pro
  region          = "westeurope"
  security_policy = security_policy.strict

  storage "azure_blob" {{}}
}}
"#,
        endpoint = endpoint()
    )
}

/// Looks the container up through the provider's import, which lists the
/// account's containers.
async fn find_container(name: &str) -> Result<Attrs, ErrorKind> {
    let mut provider = AzureProvider::new();
    let mut config = Attrs::new();
    config.insert("account_name", DEVELOPMENT_ACCOUNT_NAME.into());
    config.insert("account_key", Value::sensitive(DEVELOPMENT_ACCOUNT_KEY.into()));
    config.insert("endpoint", endpoint().into());
    let context = ProviderContext {
        working_dir: PathBuf::from("."),
        instance: "azure".into(),
    };
    provider.configure(&config, &context).await.expect("configure provider");
    let request = ImportRequest {
        type_name: "azure_container".into(),
        address: "check".into(),
        id: name.into(),
    };
    provider.import(&request).await.map_err(|error| error.kind)
}

#[tokio::test]
async fn apply_plan_destroy_round_trip() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let tenant_id = unique_tenant_id();
    let container = tenant_id.replace('_', "-");
    fs::write(dir.join("main.hcl"), configuration(&tenant_id)).unwrap();

    let apply = tenancy(dir, &["apply", "-auto-approve"]);
    assert!(apply.status.success(), "{}", describe(&apply));
    let created = find_container(&container).await.expect("container exists after apply");
    let metadata = created["metadata"].as_map().expect("metadata map");
    assert_eq!(metadata["tenant"], Value::string(&tenant_id));
    assert_eq!(metadata["tier"], Value::string("pro"));
    assert_eq!(metadata["policy"], Value::string("strict"));

    let plan = tenancy(dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", describe(&plan));

    let destroy = tenancy(dir, &["destroy", "-auto-approve"]);
    assert!(destroy.status.success(), "{}", describe(&destroy));
    assert_eq!(find_container(&container).await.unwrap_err(), ErrorKind::NotFound);
    let list = tenancy(dir, &["state", "list"]);
    let addresses = String::from_utf8_lossy(&list.stdout);
    assert!(!addresses.contains("azure_blob"), "{addresses}");
}
