//! End-to-end tests of the `tenancy` binary with the gcp provider and the
//! GCS state backend against fake-gcs-server.
//!
//! The emulator comes from `TENANCY_TEST_GCS_ENDPOINT` (default
//! `http://127.0.0.1:4443`, as `scripts/services start fake-gcs` provides).
//! Tenants use the region `us-central1` because the emulator reports every
//! bucket in `US-CENTRAL1`, whatever location it was created with.
#![cfg(feature = "gcp")]

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn endpoint() -> String {
    std::env::var("TENANCY_TEST_GCS_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4443".to_owned())
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

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", describe(output));
}

/// Sends one request to the emulator from a runtime of its own and returns
/// the status and JSON body.
fn emulator(
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let url = format!("{}{path}", endpoint());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let mut request = client.request(method, url);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request
                .send()
                .await
                .expect("the emulator accepts connections");
            let status = response.status().as_u16();
            let json = response.json().await.unwrap_or_default();
            (status, json)
        })
    })
    .join()
    .unwrap()
}

fn bucket_exists(name: &str) -> bool {
    let (status, _) = emulator(reqwest::Method::GET, &format!("/storage/v1/b/{name}"), None);
    status == 200
}

fn object_names(bucket: &str) -> Vec<String> {
    let (_, body) = emulator(
        reqwest::Method::GET,
        &format!("/storage/v1/b/{bucket}/o"),
        None,
    );
    let items = body
        .get("items")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|item| item["name"].as_str().map(str::to_owned))
        .collect()
}

/// Deletes the named buckets and their objects when a test ends, so a
/// failed test leaves nothing on the emulator.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for bucket in &self.0 {
            for object in object_names(bucket) {
                let encoded = object.replace('/', "%2F");
                emulator(
                    reqwest::Method::DELETE,
                    &format!("/storage/v1/b/{bucket}/o/{encoded}"),
                    None,
                );
            }
            emulator(
                reqwest::Method::DELETE,
                &format!("/storage/v1/b/{bucket}"),
                None,
            );
        }
    }
}

/// Returns a configuration with two tenants that each get a bucket.
fn configuration(prefix: &str, state_block: &str) -> String {
    format!(
        r#"
tenancy {{
{state_block}
}}

provider "gcp" {{
  project       = "tenancy-test"
  endpoint      = "{endpoint}"
  credentials   = "anonymous"
  bucket_prefix = "{prefix}"
}}

tier "pro" {{
  price    = 49
  currency = "EUR"
}}

security_policy "standard" {{
  encryption_at_rest = true
  retention_days     = 7
}}

tenant "acme" {{
  name            = "Acme"
  tier            = tier.pro
  region          = "us-central1"
  security_policy = security_policy.standard

  storage "gcs" {{
    versioning = true
  }}
}}

tenant "north_wind" {{
  name   = "North Wind"
  tier   = tier.pro
  region = "us-central1"

  storage "gcs" {{}}
}}
"#,
        endpoint = endpoint(),
    )
}

/// Runs apply, a plan that must show no change, and destroy, checking the
/// buckets on the emulator after each step.
fn apply_plan_destroy(dir: &Path, prefix: &str) {
    let buckets = [format!("{prefix}-acme"), format!("{prefix}-north-wind")];

    let apply = tenancy(dir, &["apply", "-auto-approve"]);
    assert_exit(&apply, 0);
    for bucket in &buckets {
        assert!(
            bucket_exists(bucket),
            "bucket `{bucket}` after apply\n{}",
            describe(&apply)
        );
    }

    let plan = tenancy(dir, &["plan", "-detailed-exitcode"]);
    assert_exit(&plan, 0);

    let destroy = tenancy(dir, &["destroy", "-auto-approve"]);
    assert_exit(&destroy, 0);
    for bucket in &buckets {
        assert!(
            !bucket_exists(bucket),
            "bucket `{bucket}` after destroy\n{}",
            describe(&destroy)
        );
    }
}

#[test]
fn apply_plan_destroy_with_local_state() {
    let temp = tempfile::tempdir().unwrap();
    let prefix = format!("tenancy-e2e-local-{}", std::process::id());
    let _cleanup = Cleanup(vec![
        format!("{prefix}-acme"),
        format!("{prefix}-north-wind"),
    ]);
    std::fs::write(temp.path().join("main.hcl"), configuration(&prefix, "")).unwrap();

    apply_plan_destroy(temp.path(), &prefix);
}

#[test]
fn apply_plan_destroy_with_gcs_state() {
    let temp = tempfile::tempdir().unwrap();
    let prefix = format!("tenancy-e2e-gcs-{}", std::process::id());
    let state_bucket = format!("{prefix}-state");
    let _cleanup = Cleanup(vec![
        format!("{prefix}-acme"),
        format!("{prefix}-north-wind"),
        state_bucket.clone(),
    ]);
    let (status, _) = emulator(
        reqwest::Method::POST,
        "/storage/v1/b?project=tenancy-test",
        Some(serde_json::json!({"name": state_bucket})),
    );
    assert_eq!(status, 200, "create the state bucket");
    let state_block = format!(
        "  state \"gcs\" {{\n    bucket      = \"{state_bucket}\"\n    prefix      = \"e2e\"\n    \
         endpoint    = \"{}\"\n    credentials = \"anonymous\"\n  }}",
        endpoint()
    );
    std::fs::write(
        temp.path().join("main.hcl"),
        configuration(&prefix, &state_block),
    )
    .unwrap();

    apply_plan_destroy(temp.path(), &prefix);

    let objects = object_names(&state_bucket);
    assert_eq!(objects, ["e2e/state.json"], "only the state object remains");
    assert!(
        !temp.path().join(".tenancy/state.json").exists(),
        "no local state file"
    );
    let (_, state) = emulator(
        reqwest::Method::GET,
        &format!("/storage/v1/b/{state_bucket}/o/e2e%2Fstate.json?alt=media"),
        None,
    );
    assert!(state["serial"].as_u64().unwrap() >= 2, "{state}");
}
