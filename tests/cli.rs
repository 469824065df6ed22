//! End-to-end tests of the `tenancy` binary on the embedded provider, each in
//! its own temporary directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenancy"));
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("TENANCY_LOG")
        .stdin(Stdio::null());
    command
}

fn tenancy(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("the tenancy binary runs")
}

/// Rewrites the state file of `dir` through `edit`, as a hand edit would.
fn edit_state(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(".tenancy/state.json");
    let mut state: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut state);
    fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn quickstart() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("quickstart");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart"), &dir);
    (temp, dir)
}

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

const SMALL: &str = r#"
tier "free" {
  price    = 0
  currency = "EUR"
}

tier "pro" {
  price      = 49
  currency   = "EUR"
  trial_days = 14

  limits {
    storage_gb = 10
  }
}

tenant "acme" {
  name   = "Acme"
  tier   = tier.free
  region = "eu-central-1"

  database "sqlite" {}
}

tenant "globex" {
  name   = "Globex"
  tier   = tier.free
  region = "us-east-1"

  database "sqlite" {}
}
"#;

fn small() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    write(&dir, "main.hcl", SMALL);
    (temp, dir)
}

#[test]
fn quickstart_apply_then_plan_has_no_changes() {
    let (_temp, dir) = quickstart();

    let apply = tenancy(&dir, &["apply", "-auto-approve"]);
    assert_success(&apply);
    assert!(stdout(&apply).contains("Apply complete!"), "{}", stdout(&apply));

    let plan = tenancy(&dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}\n{}", stdout(&plan), stderr(&plan));
    assert!(stdout(&plan).contains("No changes"), "{}", stdout(&plan));
}

#[test]
fn quickstart_creates_catalog_and_databases() {
    let (_temp, dir) = quickstart();

    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));

    let list = tenancy(&dir, &["state", "list"]);
    assert_success(&list);
    let addresses = stdout(&list);
    for address in [
        "tier.pro",
        "security_policy.eu_strict",
        "tenant.acme",
        "tenant.acme.subscription",
        "tenant.acme.database.sqlite",
        "tenant.studios[\"berlin\"].database.sqlite",
    ] {
        assert!(addresses.lines().any(|line| line == address), "{address} missing from:\n{addresses}");
    }
    let tenants = tenancy(&dir, &["tenants"]);
    assert_success(&tenants);
    assert!(stdout(&tenants).contains("studios_berlin"), "{}", stdout(&tenants));
    let databases: Vec<_> = fs::read_dir(dir.join(".tenancy/databases")).unwrap().collect();
    assert!(databases.len() >= 6, "expected one database file per tenant, found {}", databases.len());
}

#[test]
fn tier_change_updates_in_place() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));

    write(&dir, "main.hcl", &SMALL.replacen("tier   = tier.free", "tier   = tier.pro", 1));
    let plan = tenancy(&dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}\n{}", stdout(&plan), stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("tenant.acme will be updated in place"), "{text}");
    assert!(text.contains("\"free\" -> \"pro\""), "{text}");
    assert!(text.contains("0 to add"), "{text}");
    assert!(text.contains("0 to destroy"), "{text}");

    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let show = tenancy(&dir, &["state", "show", "tenant.acme"]);
    assert!(stdout(&show).contains("\"pro\""), "{}", stdout(&show));
    let again = tenancy(&dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}

#[test]
fn removed_tenant_plans_deletion_of_what_it_owns() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let database = dir.join(".tenancy/databases/globex.db");
    assert!(database.exists());

    let without_globex = SMALL.split("tenant \"globex\"").next().unwrap();
    write(&dir, "main.hcl", without_globex);
    let plan = tenancy(&dir, &["plan"]);
    assert_success(&plan);
    let text = stdout(&plan);
    assert!(text.contains("tenant.globex will be destroyed"), "{text}");
    assert!(text.contains("tenant.globex.database.sqlite will be destroyed"), "{text}");
    assert!(text.contains("tenant.globex.subscription will be destroyed"), "{text}");
    assert!(text.contains("3 to destroy"), "{text}");

    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    assert!(!database.exists(), "the tenant database file is removed");
}

#[test]
fn deleted_database_file_is_drift_and_recreated() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let database = dir.join(".tenancy/databases/acme.db");
    fs::remove_file(&database).unwrap();

    let plan = tenancy(&dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}\n{}", stdout(&plan), stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("outside of tenancy"), "{text}");
    assert!(text.contains("tenant.acme.database.sqlite will be created"), "{text}");

    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    assert!(database.exists());
}

#[test]
fn stale_saved_plan_is_rejected() {
    let (_temp, dir) = small();
    let plan_file = dir.join("first.plan");
    assert_success(&tenancy(&dir, &["plan", "-out", plan_file.to_str().unwrap()]));
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));

    let apply = tenancy(&dir, &["apply", plan_file.to_str().unwrap()]);

    assert_eq!(apply.status.code(), Some(1));
    assert!(stderr(&apply).contains("stale"), "{}", stderr(&apply));
}

#[test]
fn saved_plan_applies_and_shows() {
    let (_temp, dir) = small();
    let plan_file = dir.join("tenants.plan");
    assert_success(&tenancy(&dir, &["plan", "-out", plan_file.to_str().unwrap()]));

    let show = tenancy(&dir, &["show", plan_file.to_str().unwrap()]);
    assert_success(&show);
    assert!(stdout(&show).contains("tenant.acme will be created"), "{}", stdout(&show));

    let apply = tenancy(&dir, &["apply", plan_file.to_str().unwrap()]);
    assert_success(&apply);
    assert!(stdout(&apply).contains("8 added"), "{}", stdout(&apply));
}

#[cfg(unix)]
#[test]
fn plan_file_over_older_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_temp, dir) = small();
    let plan_file = dir.join("tenants.plan");
    fs::write(&plan_file, "old").unwrap();
    fs::set_permissions(&plan_file, fs::Permissions::from_mode(0o644)).unwrap();

    assert_success(&tenancy(&dir, &["plan", "-out", plan_file.to_str().unwrap()]));

    let mode = fs::metadata(&plan_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[cfg(target_os = "linux")]
#[test]
fn failed_stdout_write_is_reported() {
    let (_temp, dir) = small();
    let full = fs::OpenOptions::new().write(true).open("/dev/full").unwrap();

    let output = command(&dir, &["plan", "-json"])
        .stdout(full)
        .output()
        .expect("the tenancy binary runs");

    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("failed to write to standard output"), "{}", stderr(&output));
}

#[test]
fn show_prints_outputs_of_state_without_resources() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    write(dir, "main.hcl", "output \"greeting\" {\n  value = \"hello\"\n}\n");
    assert_success(&tenancy(dir, &["apply", "-auto-approve"]));

    let show = tenancy(dir, &["show"]);

    assert_success(&show);
    assert!(stdout(&show).contains("greeting = \"hello\""), "{}", stdout(&show));
    assert!(!stdout(&show).contains("The state is empty"), "{}", stdout(&show));
}

/// Starts an apply of `dir` that waits at its confirmation prompt, and
/// returns once it holds the state lock.
fn spawn_lock_holder(dir: &Path) -> std::process::Child {
    let holder = Command::new(env!("CARGO_BIN_EXE_tenancy"))
        .arg("-C")
        .arg(dir)
        .args(["apply"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock_file = dir.join(".tenancy/state.json.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fs::read_to_string(&lock_file).unwrap_or_default().contains("apply") {
        assert!(Instant::now() < deadline, "the apply never took the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    holder
}

#[test]
fn concurrent_apply_fails_naming_lock_holder() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    write(&dir, "main.hcl", &SMALL.replace("tier   = tier.free", "tier   = tier.pro"));

    let mut holder = spawn_lock_holder(&dir);

    let second = tenancy(&dir, &["apply", "-auto-approve"]);
    assert_eq!(second.status.code(), Some(1));
    let message = stderr(&second);
    assert!(message.contains("lock"), "{message}");
    assert!(message.contains("apply"), "{message}");

    use std::io::Write;
    holder.stdin.take().unwrap().write_all(b"yes\n").unwrap();
    let first = holder.wait_with_output().unwrap();
    assert_success(&first);
    let plan = tenancy(&dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
}

#[test]
fn lock_timeout_waits_for_holder() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    write(&dir, "main.hcl", &SMALL.replace("tier   = tier.free", "tier   = tier.pro"));
    let mut holder = spawn_lock_holder(&dir);

    let started = Instant::now();
    let short = tenancy(&dir, &["plan", "-lock-timeout=1s"]);
    let short_wait = started.elapsed();
    let waiting = command(&dir, &["plan", "-lock-timeout", "60s"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    use std::io::Write;
    holder.stdin.take().unwrap().write_all(b"no\n").unwrap();
    holder.wait_with_output().unwrap();
    let waited = waiting.wait_with_output().unwrap();

    assert_eq!(short.status.code(), Some(1));
    assert!(stderr(&short).contains("lock"), "{}", stderr(&short));
    assert!(short_wait >= Duration::from_secs(1), "{short_wait:?}");
    assert_success(&waited);
    assert!(stdout(&waited).contains("Plan: 0 to add, 6 to change"), "{}", stdout(&waited));
}

#[test]
fn state_commands_wait_for_lock() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    write(&dir, "main.hcl", &SMALL.replace("tier   = tier.free", "tier   = tier.pro"));
    let mut holder = spawn_lock_holder(&dir);

    let commands: [&[&str]; 3] = [
        &["state", "rm", "-lock-timeout=1s", "tenant.acme"],
        &["state", "mv", "-lock-timeout=1s", "tenant.acme", "tenant.renamed"],
        &["import", "-lock-timeout=1s", "tenant.acme", "acme"],
    ];
    let mut results = Vec::new();
    for args in commands {
        let started = Instant::now();
        let output = tenancy(&dir, args);
        results.push((args.join(" "), output, started.elapsed()));
    }
    use std::io::Write;
    holder.stdin.take().unwrap().write_all(b"no\n").unwrap();
    holder.wait_with_output().unwrap();

    for (command, output, elapsed) in results {
        assert_eq!(output.status.code(), Some(1), "{command}");
        assert!(stderr(&output).contains("lock"), "{command}: {}", stderr(&output));
        assert!(elapsed >= Duration::from_secs(1), "{command}: {elapsed:?}");
    }
    let list = tenancy(&dir, &["state", "list"]);
    assert!(stdout(&list).contains("tenant.acme\n"), "{}", stdout(&list));
}

#[test]
fn objects_deleted_outside_leave_state() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    fs::remove_file(dir.join(".tenancy/databases/acme.db")).unwrap();
    let without_database = SMALL.replacen("  database \"sqlite\" {}\n", "", 1);
    write(&dir, "main.hcl", &without_database);

    let apply = tenancy(&dir, &["apply", "-auto-approve"]);
    let after_apply = stdout(&tenancy(&dir, &["state", "list"]));
    for entry in fs::read_dir(dir.join(".tenancy/databases")).unwrap() {
        fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let destroy = tenancy(&dir, &["destroy", "-auto-approve"]);
    let after_destroy = stdout(&tenancy(&dir, &["state", "list"]));

    assert_success(&apply);
    assert!(!after_apply.contains("tenant.acme.database.sqlite"), "{after_apply}");
    assert!(after_apply.contains("tenant.acme\n"), "{after_apply}");
    assert_success(&destroy);
    assert_eq!(after_destroy, "");
}

#[test]
fn lock_timeout_rejects_unknown_unit() {
    let (_temp, dir) = small();

    let output = tenancy(&dir, &["plan", "-lock-timeout=5 minutes"]);

    assert_ne!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("5 minutes"), "{}", stderr(&output));
    assert!(stderr(&output).contains("-lock-timeout"), "{}", stderr(&output));
}

#[test]
fn state_backend_block_moves_state() {
    let (_temp, dir) = small();
    let settings = "tenancy {\n  state \"local\" {\n    path = \"kept/state.json\"\n  }\n}\n";
    write(&dir, "settings.hcl", settings);

    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let plan = tenancy(&dir, &["plan", "-detailed-exitcode"]);

    assert!(dir.join("kept/state.json").is_file());
    assert!(!dir.join(".tenancy/state.json").exists());
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
}

/// Runs two plans while an apply holds the lock of `dir`: one with a broken
/// extra file, then one without it. Returns both outputs.
fn plans_beside_lock_holder(dir: &Path) -> (Output, Output) {
    let mut holder = spawn_lock_holder(dir);

    write(dir, "broken.hcl", "tier \"broken\" {\n  price = \n}\n");
    let broken = tenancy(dir, &["plan"]);
    fs::remove_file(dir.join("broken.hcl")).unwrap();
    let locked = tenancy(dir, &["plan"]);

    use std::io::Write;
    holder.stdin.take().unwrap().write_all(b"no\n").unwrap();
    holder.wait_with_output().unwrap();
    (broken, locked)
}

#[test]
fn config_error_comes_before_lock_error() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    write(&dir, "main.hcl", &SMALL.replace("tier   = tier.free", "tier   = tier.pro"));

    let (broken, locked) = plans_beside_lock_holder(&dir);

    assert_eq!(broken.status.code(), Some(1));
    assert!(!stderr(&broken).contains("lock"), "{}", stderr(&broken));
    assert!(stderr(&broken).contains("broken.hcl"), "{}", stderr(&broken));
    assert_eq!(locked.status.code(), Some(1));
    assert!(stderr(&locked).contains("lock"), "{}", stderr(&locked));
}

#[test]
fn large_state_plans_and_keeps_error_order() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let padding = "x".repeat(tenancy::state::LARGE_STATE_BYTES as usize + 1);
    edit_state(&dir, |state| {
        state["outputs"]["padding"] = serde_json::json!({ "value": padding, "sensitive": false });
    });
    write(&dir, "main.hcl", &SMALL.replace("tier   = tier.free", "tier   = tier.pro"));

    let plan = tenancy(&dir, &["plan", "-refresh=false", "-detailed-exitcode"]);
    let (broken, locked) = plans_beside_lock_holder(&dir);

    assert_eq!(plan.status.code(), Some(2), "{}\n{}", stdout(&plan), stderr(&plan));
    assert!(stdout(&plan).contains("tenant.acme"), "{}", stdout(&plan));
    assert!(stdout(&plan).contains("padding"), "{}", stdout(&plan));
    assert_eq!(broken.status.code(), Some(1));
    assert!(!stderr(&broken).contains("lock"), "{}", stderr(&broken));
    assert!(stderr(&broken).contains("broken.hcl"), "{}", stderr(&broken));
    assert_eq!(locked.status.code(), Some(1));
    assert!(stderr(&locked).contains("lock"), "{}", stderr(&locked));
}

#[test]
fn large_state_plan_matches_small_state_plan() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    write(&dir, "main.hcl", &SMALL.replace("tier   = tier.free", "tier   = tier.pro"));
    let changes = |output: &Output| {
        let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        plan["resource_changes"].clone()
    };

    let small_plan = tenancy(&dir, &["plan", "-refresh=false", "-json"]);
    let padding = "x".repeat(tenancy::state::LARGE_STATE_BYTES as usize + 1);
    edit_state(&dir, |state| {
        state["outputs"]["padding"] = serde_json::json!({ "value": padding, "sensitive": false });
    });
    let large_plan = tenancy(&dir, &["plan", "-refresh=false", "-json"]);
    let large_refreshed = tenancy(&dir, &["plan", "-json"]);

    assert_success(&small_plan);
    assert_success(&large_plan);
    assert_success(&large_refreshed);
    let expected = changes(&small_plan);
    assert!(expected.as_array().is_some_and(|changes| changes.len() > 3), "{expected}");
    assert_eq!(changes(&large_plan), expected);
    assert_eq!(changes(&large_refreshed), expected);
}

#[test]
fn config_error_in_new_directory_creates_nothing() {
    let temp = tempfile::tempdir().unwrap();
    write(temp.path(), "broken.hcl", "tier \"broken\" {\n  price = \n}\n");

    let plan = tenancy(temp.path(), &["plan"]);

    assert_eq!(plan.status.code(), Some(1));
    assert!(!temp.path().join(".tenancy").exists());
}

#[test]
fn plan_writes_schema_into_catalog_file() {
    let (_temp, dir) = small();

    assert_success(&tenancy(&dir, &["plan"]));

    // The schema of the catalog spans many pages. Left in the `-wal` file
    // alone, the main file would hold a single page.
    let catalog = fs::metadata(dir.join(".tenancy/catalog.db")).unwrap();
    assert!(catalog.len() > 4096, "catalog.db has {} bytes", catalog.len());
}

fn many_tenants(count: usize) -> String {
    let mut text = String::from("tier \"free\" {\n  price    = 0\n  currency = \"EUR\"\n}\n\ntenant \"t\" {\n  for_each = toset([");
    let keys: Vec<String> = (0..count).map(|index| format!("\"n{index:04}\"")).collect();
    text.push_str(&keys.join(", "));
    text.push_str("])\n\n  name   = \"Tenant ${each.key}\"\n  tier   = tier.free\n  region = \"eu-central-1\"\n\n  database \"sqlite\" {}\n}\n");
    text
}

#[test]
fn killed_apply_resumes_without_duplicates() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    write(dir, "main.hcl", &many_tenants(200));

    let mut child = Command::new(env!("CARGO_BIN_EXE_tenancy"))
        .arg("-C")
        .arg(dir)
        .args(["apply", "-auto-approve", "-parallelism=2"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The child blocks on a full stdout pipe as soon as this test stops
    // reading, so it is halfway through when the kill arrives.
    use std::io::BufRead;
    let reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut completed = 0;
    for line in reader.lines() {
        if line.unwrap().contains("Creation complete") {
            completed += 1;
        }
        if completed == 250 {
            break;
        }
    }
    assert_eq!(completed, 250, "apply finished fewer changes than expected");
    assert!(dir.join(".tenancy/state.json.journal").exists(), "apply records progress in the journal");
    child.kill().unwrap();
    child.wait().unwrap();

    let plan = tenancy(dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}\n{}", stdout(&plan), stderr(&plan));
    assert!(!stdout(&plan).contains("to destroy") || stdout(&plan).contains("0 to destroy"), "{}", stdout(&plan));

    assert_success(&tenancy(dir, &["apply", "-auto-approve"]));
    let list = stdout(&tenancy(dir, &["state", "list"]));
    assert_eq!(list.lines().count(), 1 + 200 * 3, "{list}");
    let files = fs::read_dir(dir.join(".tenancy/databases"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension().is_some_and(|ext| ext == "db"))
        .count();
    assert_eq!(files, 200);
    let again = tenancy(dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}

#[test]
fn single_dash_flags_work_like_double_dash() {
    let (_temp, dir) = small();

    let single = tenancy(&dir, &["plan", "-no-color", "-detailed-exitcode", "-refresh=false"]);
    let double = tenancy(&dir, &["plan", "--no-color", "--detailed-exitcode", "--refresh=false"]);

    assert_eq!(single.status.code(), Some(2));
    assert_eq!(double.status.code(), Some(2));
}

#[test]
fn destroy_removes_everything() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));

    let destroy = tenancy(&dir, &["destroy", "-auto-approve"]);

    assert_success(&destroy);
    assert!(stdout(&destroy).contains("8 destroyed"), "{}", stdout(&destroy));
    assert_eq!(stdout(&tenancy(&dir, &["state", "list"])), "");
    assert!(!dir.join(".tenancy/databases/acme.db").exists());
}

#[test]
fn invalid_configuration_exits_one_with_diagnostic() {
    let temp = tempfile::tempdir().unwrap();
    write(temp.path(), "main.hcl", "tenant \"Bad-Id\" {\n  name = \"x\"\n}\n");

    let validate = tenancy(temp.path(), &["validate"]);

    assert_eq!(validate.status.code(), Some(1));
    assert!(stderr(&validate).contains("main.hcl"), "{}", stderr(&validate));
}

#[test]
fn corrupted_state_is_rejected_and_kept() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let state = dir.join(".tenancy/state.json");
    fs::write(&state, "{\"format_version\": 1, \"lin").unwrap();

    let plan = tenancy(&dir, &["plan"]);

    assert_eq!(plan.status.code(), Some(1));
    assert!(stderr(&plan).contains("state.json"), "{}", stderr(&plan));
    assert_eq!(fs::read_to_string(&state).unwrap(), "{\"format_version\": 1, \"lin");
}

fn validate_against(schema_file: &str, document: &serde_json::Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(schema_file);
    let schema: serde_json::Value = serde_json::from_str(&fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(document).map(|error| error.to_string()).collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}");
}

#[test]
fn plan_json_and_state_validate_against_schemas() {
    let (_temp, dir) = quickstart();
    let plan = tenancy(&dir, &["plan", "-json"]);
    assert_success(&plan);
    let document: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    validate_against("plan.schema.json", &document);

    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let state: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.join(".tenancy/state.json")).unwrap()).unwrap();
    validate_against("state.schema.json", &state);
    let shown = tenancy(&dir, &["show", "-json"]);
    assert_success(&shown);
    validate_against("state.schema.json", &serde_json::from_slice(&shown.stdout).unwrap());
}

#[test]
fn every_valid_testdata_configuration_converges() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/converge");
    let Ok(entries) = fs::read_dir(&root) else {
        return;
    };
    for entry in entries {
        let case = entry.unwrap().path();
        let temp = tempfile::tempdir().unwrap();
        copy_dir(&case, temp.path());
        let apply = tenancy(temp.path(), &["apply", "-auto-approve"]);
        assert!(apply.status.success(), "{}: {}", case.display(), stderr(&apply));
        let plan = tenancy(temp.path(), &["plan", "-detailed-exitcode"]);
        assert_eq!(plan.status.code(), Some(0), "{}: {}", case.display(), stdout(&plan));
    }
}

#[test]
fn target_limits_plan_to_owned_resources() {
    let (_temp, dir) = small();

    let plan = tenancy(&dir, &["plan", "-target=tenant.acme"]);

    assert_success(&plan);
    let text = stdout(&plan);
    assert!(text.contains("tenant.acme.database.sqlite will be created"), "{text}");
    assert!(text.contains("tier.free will be created"), "a target brings its dependencies: {text}");
    assert!(!text.contains("tenant.globex"), "{text}");
    assert!(text.contains("4 to add"), "{text}");
}

#[test]
fn replace_flag_plans_replacement() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));

    let plan = tenancy(&dir, &["plan", "-replace=tenant.acme.database.sqlite"]);

    assert_success(&plan);
    let text = stdout(&plan);
    assert!(text.contains("tenant.acme.database.sqlite must be replaced"), "{text}");
    assert!(text.contains("1 to add, 0 to change, 1 to destroy"), "{text}");
}

#[test]
fn unknown_target_is_rejected() {
    let (_temp, dir) = small();

    let plan = tenancy(&dir, &["plan", "-target=tenant.nobody"]);

    assert_eq!(plan.status.code(), Some(1));
    assert!(stderr(&plan).contains("tenant.nobody"), "{}", stderr(&plan));
}

#[test]
fn dependency_cycle_names_every_address() {
    let temp = tempfile::tempdir().unwrap();
    write(
        temp.path(),
        "main.hcl",
        r#"
resource "catalog_tier" "a" {
  name       = "a"
  price      = 1
  currency   = "EUR"
  depends_on = [catalog_tier.b]
}

resource "catalog_tier" "b" {
  name       = "b"
  price      = 1
  currency   = "EUR"
  depends_on = [catalog_tier.a]
}
"#,
    );

    let validate = tenancy(temp.path(), &["validate"]);

    assert_eq!(validate.status.code(), Some(1));
    let message = stderr(&validate);
    assert!(message.contains("Dependency cycle"), "{message}");
    assert!(message.contains("catalog_tier.a → catalog_tier.b → catalog_tier.a"), "{message}");
}

#[test]
fn markdown_plan_has_summary() {
    let (_temp, dir) = small();

    let plan = tenancy(&dir, &["plan", "--format", "markdown"]);

    assert_success(&plan);
    assert!(stdout(&plan).contains("8 to add"), "{}", stdout(&plan));
}

#[test]
fn state_rm_removes_what_an_address_owns() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));

    let removed = tenancy(&dir, &["state", "rm", "tenant.acme"]);

    assert_success(&removed);
    let list = stdout(&tenancy(&dir, &["state", "list"]));
    assert!(!list.contains("tenant.acme"), "{list}");
    assert!(list.contains("tenant.globex.database.sqlite"), "{list}");
}

#[test]
fn graph_prints_dependencies_as_dot() {
    let (_temp, dir) = small();

    let graph = tenancy(&dir, &["graph"]);

    assert_success(&graph);
    assert!(stdout(&graph).contains("\"tenant.acme.database.sqlite\" -> \"tenant.acme\";"), "{}", stdout(&graph));
}

#[test]
fn output_prints_recorded_values() {
    let (_temp, dir) = quickstart();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));

    let output = tenancy(&dir, &["output", "-raw", "acme_database_path"]);

    assert_success(&output);
    assert!(stdout(&output).trim_end().ends_with("acme.db"), "{}", stdout(&output));
}

#[test]
fn moved_block_renames_in_state() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let renamed = SMALL.replace("tenant \"acme\" {", "tenant \"acme_corp\" {\n  id = \"acme\"\n");
    write(&dir, "main.hcl", &format!("{renamed}\nmoved {{\n  from = tenant.acme\n  to   = tenant.acme_corp\n}}\n"));

    let plan = tenancy(&dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}\n{}", stdout(&plan), stderr(&plan));
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));

    let list = stdout(&tenancy(&dir, &["state", "list"]));
    assert!(list.contains("tenant.acme_corp.database.sqlite"), "{list}");
    assert!(!list.lines().any(|line| line.starts_with("tenant.acme.")), "{list}");
    write(&dir, "main.hcl", &renamed);
    let without_moved = tenancy(&dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(without_moved.status.code(), Some(0), "{}", stdout(&without_moved));
    assert!(dir.join(".tenancy/databases/acme.db").exists());
}

#[test]
fn destroy_target_keeps_dependencies() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));

    let destroy = tenancy(&dir, &["destroy", "-auto-approve", "-target=tenant.acme"]);

    assert_success(&destroy);
    let list = stdout(&tenancy(&dir, &["state", "list"]));
    assert!(list.contains("tier.free"), "{list}");
    assert!(list.contains("tenant.globex"), "{list}");
    assert!(!list.contains("tenant.acme"), "{list}");
}

#[test]
fn tier_rename_applies_in_one_run() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    write(&dir, "main.hcl", &SMALL.replace("\"free\"", "\"starter\"").replace("tier.free", "tier.starter"));

    let apply = tenancy(&dir, &["apply", "-auto-approve"]);

    assert_success(&apply);
    let plan = tenancy(&dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
}

#[test]
fn sensitive_variable_stays_hidden_after_apply() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    write(
        dir,
        "main.hcl",
        &format!(
            "variable \"secret\" {{\n  type      = string\n  default   = \"S3CRETvalue\"\n  sensitive = true\n}}\n{}",
            SMALL.replace("name   = \"Acme\"", "name   = \"acme-${var.secret}\"")
        ),
    );
    assert_success(&tenancy(dir, &["apply", "-auto-approve"]));

    for args in [&["plan", "-json"][..], &["plan"], &["show"], &["state", "show", "tenant.acme"], &["show", "-json"]] {
        let output = tenancy(dir, args);
        assert_success(&output);
        if args != ["show", "-json"] {
            assert!(!stdout(&output).contains("S3CRET"), "{args:?} printed the secret:\n{}", stdout(&output));
        }
    }
    let state = fs::read_to_string(dir.join(".tenancy/state.json")).unwrap();
    assert!(state.contains("\"display_name\": true"), "state marks the attribute sensitive:\n{state}");
}

#[test]
fn long_attribute_name_in_state_shows_without_panic() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let long_name = "n".repeat(70_000);
    edit_state(&dir, |state| {
        let resources = state["resources"].as_array_mut().unwrap();
        let tenant = resources.iter_mut().find(|resource| resource["address"] == "tenant.acme").unwrap();
        tenant["attributes"][long_name.as_str()] = serde_json::json!("x");
    });

    for args in [&["show"][..], &["state", "show", "tenant.acme"]] {
        let output = tenancy(&dir, args);

        assert_success(&output);
        assert!(stdout(&output).contains(&format!("{long_name} = \"x\"")), "{args:?} shows the attribute");
    }
}

#[test]
fn tenants_listing_hides_sensitive_region() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    write(
        dir,
        "main.hcl",
        &format!(
            "variable \"region\" {{\n  type      = string\n  default   = \"eu-central-1\"\n  sensitive = true\n}}\n{}",
            SMALL.replace("region = \"eu-central-1\"", "region = var.region")
        ),
    );
    assert_success(&tenancy(dir, &["apply", "-auto-approve"]));

    let text = tenancy(dir, &["tenants"]);
    assert_success(&text);
    assert!(!stdout(&text).contains("eu-central-1"), "{}", stdout(&text));
    assert!(stdout(&text).contains("(sensitive value)"), "{}", stdout(&text));

    let json = tenancy(dir, &["tenants", "-json"]);
    assert_success(&json);
    assert!(!stdout(&json).contains("eu-central-1"), "{}", stdout(&json));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let acme = rows.as_array().unwrap().iter().find(|row| row["address"] == "tenant.acme").unwrap();
    assert_eq!(acme["region"], serde_json::Value::Null);
    assert_eq!(acme["tier"], "free");
}

#[test]
fn sensitive_input_errors_hide_value() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let config = "variable \"secret\" {\n  type      = string\n  sensitive = true\n}\n";
    let cases = [
        format!("{config}{}", SMALL.replace("name   = \"Acme\"", "name   = \"Acme\"\n  labels = { (var.secret) = \"a\" }")),
        format!("{config}{}", SMALL.replace("tier   = tier.free\n  region = \"eu", "tier   = var.secret\n  region = \"eu")),
        format!("{config}{SMALL}locals {{\n  picked = {{ a = \"1\" }}[var.secret]\n}}\n"),
    ];
    for text in &cases {
        write(dir, "main.hcl", text);
        for args in [&["plan", "-var", "secret=hunter2XYZ"][..], &["validate", "-json", "-var", "secret=hunter2XYZ"]] {
            let output = tenancy(dir, args);
            assert_eq!(output.status.code(), Some(1), "{args:?}\n{}\n{}", stdout(&output), stderr(&output));
            let printed = format!("{}{}", stdout(&output), stderr(&output));
            assert!(!printed.contains("hunter2XYZ"), "{args:?} printed the secret:\n{printed}");
        }
    }
}

#[test]
fn saved_plan_rejects_planning_flags() {
    let (_temp, dir) = small();
    let plan_file = dir.join("saved.plan");
    assert_success(&tenancy(&dir, &["plan", "-out", plan_file.to_str().unwrap()]));

    let apply = tenancy(&dir, &["apply", "-target=tenant.acme", plan_file.to_str().unwrap()]);

    assert_eq!(apply.status.code(), Some(1));
    assert!(stderr(&apply).contains("-target"), "{}", stderr(&apply));
}

#[test]
fn replace_of_for_each_parent_is_rejected() {
    let (_temp, dir) = quickstart();

    let plan = tenancy(&dir, &["plan", "-replace=tenant.studios"]);

    assert_eq!(plan.status.code(), Some(1));
    assert!(stderr(&plan).contains("one resource"), "{}", stderr(&plan));
}

#[test]
fn zero_parallelism_is_rejected() {
    let (_temp, dir) = small();

    let apply = tenancy(&dir, &["apply", "-auto-approve", "-parallelism=0"]);

    assert_eq!(apply.status.code(), Some(1));
    assert!(stderr(&apply).contains("parallelism"), "{}", stderr(&apply));
}

#[test]
fn failed_policy_keeps_loader_warnings() {
    let (_temp, dir) = small();
    write(
        &dir,
        "policy.hcl",
        r#"
policy "no_free_tier" {
  condition     = tenant.tier != "free"
  error_message = "Free tenants need approval."
}
"#,
    );

    let var_file = dir.join("extra.vars");
    fs::write(&var_file, "undeclared = 1\n").unwrap();

    let output = tenancy(&dir, &["plan", "-var-file", var_file.to_str().unwrap()]);

    assert!(!output.status.success());
    let errors = stderr(&output);
    assert!(errors.contains("Policy violation"), "{errors}");
    assert!(errors.contains("Value for undeclared variable"), "{errors}");
}

const CYCLE_TIER: &str = r#"
tier "free" {
  price    = 0
  currency = "EUR"
}
"#;

fn cycle_tenant(label: &str, name: &str, depends_on: Option<&str>) -> String {
    let depends_on = depends_on.map(|other| format!("  depends_on = [tenant.{other}]\n")).unwrap_or_default();
    format!("tenant \"{label}\" {{\n  name   = \"{name}\"\n  tier   = tier.free\n  region = \"local\"\n{depends_on}}}\n")
}

#[test]
fn swapped_dependencies_destroy_cleanly() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let configure = |a_on: Option<&str>, b_on: Option<&str>, b_name: &str| {
        let text = format!("{CYCLE_TIER}{}{}", cycle_tenant("a", "A", a_on), cycle_tenant("b", b_name, b_on));
        write(&dir, "main.hcl", &text);
    };

    configure(Some("b"), None, "B");
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    configure(None, Some("a"), "B");
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    configure(None, Some("a"), "B2");
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let destroyed = tenancy(&dir, &["destroy", "-auto-approve"]);

    assert_success(&destroyed);
    assert!(stdout(&destroyed).contains("5 destroyed"), "{}", stdout(&destroyed));
    let listed = tenancy(&dir, &["state", "list"]);
    assert_eq!(stdout(&listed).trim(), "");
}

#[test]
fn dependency_cycle_in_state_fails_the_plan() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    write(&dir, "main.hcl", &format!("{CYCLE_TIER}{}", cycle_tenant("acme", "Acme", None)));
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    let path = dir.join(".tenancy/state.json");
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    for resource in json["resources"].as_array_mut().unwrap() {
        if resource["address"] == "tier.free" {
            resource["dependencies"] = serde_json::json!(["tenant.acme"]);
        }
    }
    fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();

    let output = tenancy(&dir, &["destroy", "-auto-approve"]);

    assert!(!output.status.success());
    let errors = stderr(&output);
    assert!(errors.contains("wait on each other in a cycle"), "{errors}");
    assert!(errors.contains("`tenant.acme`"), "{errors}");
    assert!(errors.contains("`tier.free`"), "{errors}");
    let listed = tenancy(&dir, &["state", "list"]);
    assert!(stdout(&listed).contains("tenant.acme"));
}

#[test]
fn too_deep_output_fails_the_plan() {
    let (_temp, dir) = small();
    let nested = format!("{}1{}", "[".repeat(110), "]".repeat(110));
    write(&dir, "outputs.hcl", &format!("output \"deep\" {{\n  value = jsondecode(\"{nested}\")\n}}\n"));

    let output = tenancy(&dir, &["apply", "-auto-approve"]);

    assert!(!output.status.success());
    let errors = stderr(&output);
    assert!(errors.contains("`output.deep`"), "{errors}");
    assert!(errors.contains("110 levels deep"), "{errors}");
    assert!(!dir.join(".tenancy/state.json").exists() || tenancy(&dir, &["state", "list"]).status.success());
}

#[test]
fn targeted_plan_leaves_out_other_drift() {
    let (_temp, dir) = small();
    assert_success(&tenancy(&dir, &["apply", "-auto-approve"]));
    fs::remove_file(dir.join(".tenancy/databases/globex.db")).unwrap();

    let targeted = tenancy(&dir, &["plan", "-no-color", "-detailed-exitcode", "-target=tenant.acme"]);
    let full = tenancy(&dir, &["plan", "-no-color", "-detailed-exitcode"]);

    assert_eq!(targeted.status.code(), Some(0), "{}", stdout(&targeted));
    assert!(!stdout(&targeted).contains("globex"), "{}", stdout(&targeted));
    assert_eq!(full.status.code(), Some(2));
    assert!(stdout(&full).contains("tenant.globex.database.sqlite has been deleted"), "{}", stdout(&full));
}

#[test]
fn state_io_error_names_the_cause() {
    let (_temp, dir) = small();
    fs::create_dir_all(dir.join(".tenancy")).unwrap();
    std::os::unix::fs::symlink("state.json", dir.join(".tenancy/state.json")).unwrap();

    let output = tenancy(&dir, &["plan"]);

    assert!(!output.status.success());
    let errors = stderr(&output);
    assert!(errors.contains("state.json"), "{errors}");
    assert!(errors.to_lowercase().contains("too many levels of symbolic links"), "{errors}");
}

#[test]
fn provider_errors_hide_sensitive_values() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    write(
        &dir,
        "main.hcl",
        r#"
variable "secret" {
  type      = string
  sensitive = true
}

resource "sqlite_database" "raw" {
  tenant_id = var.secret
}
"#,
    );

    let output = tenancy(&dir, &["plan", "-no-color", "-var", "secret=Hunter2XYZ"]);

    assert!(!output.status.success());
    let errors = stderr(&output);
    assert!(errors.contains("(sensitive value)"), "{errors}");
    assert!(!errors.contains("Hunter2XYZ"), "{errors}");
    assert!(!stdout(&output).contains("Hunter2XYZ"));
}
