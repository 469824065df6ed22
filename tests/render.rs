//! Rendering of hand-built plans: terminal text, JSON and Markdown, pinned
//! as snapshots under `testdata/render/snapshots`, with the JSON validated
//! against `schemas/plan.schema.json`.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use tenancy::plan::{
    Action, ActionReason, Drift, OutputChange, Plan, PlanBase, PlanMode, ResourceChange,
};
use tenancy::render::{GITHUB_COMMENT_LIMIT, TextOptions, plan_json, render_markdown, render_text};
use tenancy_sdk::{Attrs, Value};

/// Every secret in the fixtures contains this text, so one search finds a
/// leak of any of them.
const SECRET_MARKER: &str = "SECRET";

fn attrs(pairs: &[(&str, Value)]) -> Attrs {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(attrs(pairs).into_map().into())
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|item| Value::string(*item)).collect())
}

fn secret(text: &str) -> Value {
    Value::sensitive(Value::string(format!("{SECRET_MARKER}-{text}")))
}

fn change(address: &str, type_name: &str, action: Action) -> ResourceChange {
    ResourceChange {
        address: address.to_owned().into(),
        type_name: type_name.to_owned().into(),
        provider: "sqlite".into(),
        action,
        reason: None,
        before: None,
        after: None,
        replace_paths: Vec::new().into(),
        depends_on: Box::default(),
        refs: Vec::new().into(),
        prior_depends_on: Vec::new().into(),
    }
}

fn empty_plan() -> Plan {
    Plan {
        mode: PlanMode::Normal,
        base: PlanBase {
            lineage: Some("5f0c7c52-6d3e-4c59-a1f6-1a0c2a7b9e10".to_owned()),
            serial: 7,
            config_digest: "0".repeat(64),
        },
        changes: Vec::new(),
        drift: Vec::new(),
        outputs: Vec::new(),
        targets: Vec::new(),
        created_at: "2025-03-14T09:26:53Z".to_owned(),
        variables: BTreeMap::new(),
    }
}

fn tenant_create() -> ResourceChange {
    let mut create = change("tenant.acme", "tenancy_tenant", Action::Create);
    create.after = Some(attrs(&[
        ("id", Value::Unknown),
        ("name", Value::string("Acme Corporation")),
        ("tier", Value::string("pro")),
        ("api_key", secret("acme-api-key")),
        (
            "labels",
            map(&[
                ("team", "platform".into()),
                ("app.kubernetes.io/name", "acme".into()),
            ]),
        ),
        ("regions", list(&["eu-central-1"])),
        ("suspended_at", Value::Null),
    ]));
    create
}

fn database_update() -> ResourceChange {
    let mut update = change(
        "tenant.beta.database.postgres",
        "postgres_database",
        Action::Update,
    );
    update.provider = "postgres.eu".into();
    update.before = Some(attrs(&[
        ("id", Value::string("db-7")),
        ("name", Value::string("beta")),
        ("owner", Value::string("beta_owner")),
        ("encoding", Value::string("UTF8")),
        ("connection_limit", Value::Number(10.0)),
        ("password", secret("old-password")),
        (
            "settings",
            map(&[
                ("statement_timeout", "30s".into()),
                ("work_mem", "4MB".into()),
                ("search_path", "public".into()),
            ]),
        ),
        ("allowed_networks", list(&["10.0.0.0/8", "192.168.0.0/16"])),
        (
            "rules",
            Value::list(vec![
                map(&[("port", 5432.into()), ("cidr", "10.0.0.0/8".into())]),
                map(&[("port", 9187.into()), ("cidr", "10.1.0.0/16".into())]),
            ]),
        ),
        (
            "init_sql",
            Value::string("CREATE SCHEMA app;\nGRANT USAGE ON SCHEMA app TO beta;\n"),
        ),
    ]));
    update.after = Some(attrs(&[
        ("id", Value::string("db-7")),
        ("name", Value::string("beta")),
        ("owner", Value::string("beta_owner")),
        ("encoding", Value::string("UTF8")),
        ("connection_limit", Value::Number(20.0)),
        ("password", secret("new-password")),
        (
            "settings",
            map(&[
                ("statement_timeout", "60s".into()),
                ("work_mem", "4MB".into()),
                ("lock_timeout", "5s".into()),
            ]),
        ),
        (
            "allowed_networks",
            list(&["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]),
        ),
        (
            "rules",
            Value::list(vec![
                map(&[("port", 6432.into()), ("cidr", "10.0.0.0/8".into())]),
                map(&[("port", 9187.into()), ("cidr", "10.1.0.0/16".into())]),
            ]),
        ),
        (
            "init_sql",
            Value::string(
                "CREATE SCHEMA app;\nCREATE SCHEMA audit;\nGRANT USAGE ON SCHEMA app TO beta;\n",
            ),
        ),
    ]));
    update
}

fn database_replace() -> ResourceChange {
    let mut replace = change(
        "tenant.gamma.database.sqlite",
        "sqlite_database",
        Action::Replace,
    );
    replace.reason = Some(ActionReason::ReplaceBecauseAttribute);
    replace.replace_paths = vec!["region".to_owned(), "limits.storage_gb".to_owned()].into();
    replace.before = Some(attrs(&[
        ("id", Value::string("gamma-1")),
        ("path", Value::string("/var/lib/tenancy/gamma.db")),
        ("region", Value::string("eu-central-1")),
        ("journal_mode", Value::string("wal")),
        (
            "limits",
            map(&[("storage_gb", 10.into()), ("connections", 5.into())]),
        ),
    ]));
    replace.after = Some(attrs(&[
        ("id", Value::Unknown),
        ("path", Value::Unknown),
        ("region", Value::string("us-east-1")),
        ("journal_mode", Value::string("wal")),
        (
            "limits",
            map(&[("storage_gb", 50.into()), ("connections", 5.into())]),
        ),
    ]));
    replace
}

fn bucket_replace_by_request() -> ResourceChange {
    let mut replace = change(
        r#"tenant.delta.storage["logs"]"#,
        "gcp_bucket",
        Action::Replace,
    );
    replace.provider = "gcp".into();
    replace.reason = Some(ActionReason::ReplaceByRequest);
    let bucket = attrs(&[
        ("id", Value::string("delta-logs")),
        ("retention_days", Value::Number(30.0)),
    ]);
    replace.before = Some(bucket.clone());
    let mut after = bucket;
    after.insert("id".to_owned(), Value::Unknown);
    replace.after = Some(after);
    replace
}

fn catalog_delete() -> ResourceChange {
    let mut delete = change("tenant.old.catalog", "sqlite_catalog_entry", Action::Delete);
    delete.reason = Some(ActionReason::DeleteBecauseNoResource);
    delete.before = Some(attrs(&[
        ("id", Value::string("old")),
        ("status", Value::string("active")),
        ("labels", map(&[("team", "legacy".into())])),
        ("notes", Value::string("migrated in 2023\nkept for audit\n")),
        ("signing_key", secret("old-signing-key")),
    ]));
    delete
}

fn catalog_recreate() -> ResourceChange {
    let mut create = change(
        "tenant.beta.catalog",
        "sqlite_catalog_entry",
        Action::Create,
    );
    create.reason = Some(ActionReason::CreateBecauseMissing);
    create.after = Some(attrs(&[
        ("id", Value::Unknown),
        ("status", Value::string("active")),
    ]));
    create
}

fn untenanted_create() -> ResourceChange {
    let mut create = change("resource.redis_user.ops", "redis_user", Action::Create);
    create.provider = "redis".into();
    create.after = Some(attrs(&[
        ("username", Value::string("ops")),
        ("commands", list(&["+@read", "-@dangerous"])),
        ("password", secret("ops-password")),
    ]));
    create
}

fn unchanged_tenant() -> ResourceChange {
    let mut noop = change("tenant.zeta", "tenancy_tenant", Action::NoOp);
    let same = attrs(&[
        ("id", Value::string("zeta")),
        ("tier", Value::string("free")),
    ]);
    noop.before = Some(same.clone());
    noop.after = Some(same);
    noop
}

fn drift() -> Vec<Drift> {
    vec![
        Drift {
            address: "tenant.beta.database.postgres".to_owned(),
            type_name: "postgres_database".into(),
            provider: "postgres.eu".into(),
            before: attrs(&[
                ("id", Value::string("db-7")),
                ("name", Value::string("beta")),
                ("connection_limit", Value::Number(10.0)),
                ("owner", Value::string("beta_owner")),
            ]),
            after: Some(attrs(&[
                ("id", Value::string("db-7")),
                ("name", Value::string("beta")),
                ("connection_limit", Value::Number(15.0)),
                ("owner", Value::string("beta_owner")),
            ])),
        },
        Drift {
            address: "tenant.beta.catalog".to_owned(),
            type_name: "sqlite_catalog_entry".into(),
            provider: "sqlite".into(),
            before: attrs(&[
                ("id", Value::string("beta")),
                ("status", Value::string("active")),
            ]),
            after: None,
        },
    ]
}

fn outputs() -> Vec<OutputChange> {
    vec![
        OutputChange {
            name: "catalog_url".to_owned(),
            action: Action::Create,
            before: None,
            after: Some(Value::Unknown),
            sensitive: false,
        },
        OutputChange {
            name: "tenant_count".to_owned(),
            action: Action::Update,
            before: Some(Value::Number(2.0)),
            after: Some(Value::Number(3.0)),
            sensitive: false,
        },
        OutputChange {
            name: "admin_token".to_owned(),
            action: Action::Create,
            before: None,
            after: Some(Value::string(format!("{SECRET_MARKER}-admin-token"))),
            sensitive: true,
        },
        OutputChange {
            name: "legacy_endpoint".to_owned(),
            action: Action::Delete,
            before: Some(Value::string("https://old.example.test")),
            after: None,
            sensitive: false,
        },
        OutputChange {
            name: "region".to_owned(),
            action: Action::NoOp,
            before: Some(Value::string("eu-central-1")),
            after: Some(Value::string("eu-central-1")),
            sensitive: false,
        },
    ]
}

/// Returns a plan with one of every kind of change, drift and output.
fn full_plan() -> Plan {
    let mut plan = empty_plan();
    plan.changes = vec![
        untenanted_create(),
        tenant_create(),
        catalog_recreate(),
        database_update(),
        bucket_replace_by_request(),
        database_replace(),
        catalog_delete(),
        unchanged_tenant(),
    ];
    plan.drift = drift();
    plan.outputs = outputs();
    plan.variables = BTreeMap::from([
        ("region".to_owned(), Value::string("eu-central-1")),
        ("admin_password".to_owned(), secret("admin-password")),
        ("tenants".to_owned(), list(&["acme", "beta"])),
    ]);
    plan
}

/// Returns a plan whose only resource is unchanged.
fn no_change_plan() -> Plan {
    let mut plan = empty_plan();
    plan.changes = vec![unchanged_tenant()];
    plan
}

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../testdata/render/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings
}

fn plain() -> TextOptions {
    TextOptions {
        color: false,
        show_unchanged_attributes: false,
    }
}

/// Removes ANSI escape sequences, so coloured text can be compared with
/// plain text.
fn strip_ansi(text: &str) -> String {
    let mut plain = String::new();
    let mut chars = text.chars();
    while let Some(character) = chars.next() {
        if character == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(character);
        }
    }
    plain
}

/// Returns the plan's JSON with the tenancy version replaced, so a version
/// bump does not change the snapshot.
fn stable_json(plan: &Plan) -> Json {
    let mut document = plan_json(plan);
    assert_eq!(
        document["tenancy_version"],
        json!(env!("CARGO_PKG_VERSION"))
    );
    document["tenancy_version"] = json!("[version]");
    document
}

fn schema_validator() -> jsonschema::Validator {
    let text = include_str!("../schemas/plan.schema.json");
    let schema: Json = serde_json::from_str(text).expect("schema is valid JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema is a valid 2020-12 schema")
}

fn schema_errors(document: &Json) -> Vec<String> {
    let validator = schema_validator();
    validator
        .iter_errors(document)
        .map(|error| format!("{}: {error}", error.instance_path))
        .collect()
}

#[test]
fn text_full_plan() {
    let text = render_text(&full_plan(), &plain());

    snapshot_settings().bind(|| insta::assert_snapshot!("text_full_plan", text));
}

#[test]
fn text_shows_unchanged_on_request() {
    let mut plan = empty_plan();
    plan.changes = vec![database_update()];
    let options = TextOptions {
        color: false,
        show_unchanged_attributes: true,
    };

    let text = render_text(&plan, &options);

    snapshot_settings().bind(|| insta::assert_snapshot!("text_unchanged_shown", text));
}

#[test]
fn text_no_changes() {
    let text = render_text(&no_change_plan(), &plain());

    assert_eq!(
        text,
        "No changes. Your infrastructure matches the configuration.\n"
    );
}

#[test]
fn text_drift_without_changes() {
    let mut plan = no_change_plan();
    plan.drift = drift();

    let text = render_text(&plan, &plain());

    snapshot_settings().bind(|| insta::assert_snapshot!("text_drift_only", text));
}

#[test]
fn text_colour_only_adds_escapes() {
    let plan = full_plan();
    let coloured = render_text(
        &plan,
        &TextOptions {
            color: true,
            ..plain()
        },
    );

    assert!(coloured.contains('\u{1b}'));
    assert_eq!(strip_ansi(&coloured), render_text(&plan, &plain()));
}

#[test]
fn text_ends_with_summary() {
    let text = render_text(&full_plan(), &plain());

    assert!(
        text.ends_with("Plan: 5 to add, 1 to change, 3 to destroy.\n"),
        "{text}"
    );
}

#[test]
fn text_output_changes_only() {
    let mut plan = no_change_plan();
    plan.outputs = outputs();

    let text = render_text(&plan, &plain());

    assert!(text.starts_with("Changes to Outputs:\n"), "{text}");
    assert!(
        text.ends_with("\n\nPlan: 0 to add, 0 to change, 0 to destroy.\n"),
        "{text}"
    );
    assert!(!text.contains("will perform"), "{text}");
}

#[test]
fn text_warns_about_targets() {
    let mut plan = empty_plan();
    plan.changes = vec![tenant_create()];
    plan.targets = vec!["tenant.acme".to_owned()];

    let text = render_text(&plan, &plain());

    assert!(text.contains("-target (tenant.acme)"), "{text}");
}

#[test]
fn json_full_plan() {
    let document = stable_json(&full_plan());

    snapshot_settings().bind(|| insta::assert_json_snapshot!("json_full_plan", document));
}

#[test]
fn json_no_changes() {
    let document = stable_json(&no_change_plan());

    assert_eq!(document["applyable"], json!(false));
    assert_eq!(
        document["resource_changes"][0]["change"]["actions"],
        json!(["no-op"])
    );
}

#[test]
fn json_matches_schema() {
    for plan in [full_plan(), no_change_plan(), empty_plan()] {
        let document = plan_json(&plan);

        assert_eq!(schema_errors(&document), Vec::<String>::new());
    }
}

#[test]
fn schema_rejects_unknown_fields() {
    let mut document = plan_json(&full_plan());
    document["resource_changes"][0]["change"]["after_secret"] = json!("x");

    assert_eq!(schema_errors(&document).len(), 1);
}

#[test]
fn schema_rejects_bad_timestamp() {
    let mut plan = full_plan();
    plan.created_at = "yesterday".to_owned();

    assert_eq!(schema_errors(&plan_json(&plan)).len(), 1);
}

#[test]
fn json_nulls_sensitive_values_and_marks_them() {
    let document = plan_json(&full_plan());
    let update = &document["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["address"] == "tenant.beta.database.postgres")
        .unwrap()["change"];

    assert_eq!(update["before"]["password"], Json::Null);
    assert_eq!(update["after"]["password"], Json::Null);
    assert_eq!(update["before_sensitive"], json!({"password": true}));
    assert_eq!(update["after_sensitive"], json!({"password": true}));
}

#[test]
fn json_omits_sensitive_variables() {
    let document = plan_json(&full_plan());
    let variables = document["variables"].as_object().unwrap();

    assert!(!variables.contains_key("admin_password"));
    assert_eq!(variables["region"], json!({"value": "eu-central-1"}));
}

#[test]
fn json_replace_paths_are_step_arrays() {
    let document = plan_json(&full_plan());
    let replace = document["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["address"] == "tenant.gamma.database.sqlite")
        .unwrap();

    assert_eq!(
        replace["change"]["replace_paths"],
        json!([["region"], ["limits", "storage_gb"]])
    );
    assert_eq!(replace["change"]["actions"], json!(["delete", "create"]));
    assert_eq!(
        replace["action_reason"],
        json!("replace_because_cannot_update")
    );
}

#[test]
fn json_splits_instance_key_from_name() {
    let document = plan_json(&full_plan());
    let bucket = document["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["type"] == "gcp_bucket")
        .unwrap();

    assert_eq!(bucket["name"], json!("storage"));
    assert_eq!(bucket["index"], json!("logs"));
}

#[test]
fn markdown_full_plan() {
    let markdown = render_markdown(&full_plan());

    snapshot_settings().bind(|| insta::assert_snapshot!("markdown_full_plan", markdown));
}

#[test]
fn markdown_no_changes() {
    let markdown = render_markdown(&no_change_plan());

    snapshot_settings().bind(|| insta::assert_snapshot!("markdown_no_changes", markdown));
}

#[test]
fn markdown_escapes_table_cells() {
    let mut plan = empty_plan();
    let mut create = change("tenant.<b>x</b>|`y`", "odd|type", Action::Create);
    create.after = Some(attrs(&[(
        "motd",
        Value::string("``` closes a fence <br> | pipe"),
    )]));
    plan.changes = vec![create];

    let markdown = render_markdown(&plan);

    assert!(
        markdown.contains("| odd\\|type | tenant.\\<b\\>x\\</b\\>\\|\\`y\\` |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("Tenant tenant.&lt;b&gt;x&lt;/b&gt;&#124;&#96;y&#96;: "),
        "{markdown}"
    );
    assert!(markdown.contains("````diff\n"), "{markdown}");
    assert!(
        markdown.contains("\"``` closes a fence <br> | pipe\""),
        "{markdown}"
    );
}

#[test]
fn markdown_stays_under_comment_limit() {
    let mut plan = empty_plan();
    let notes: String = (0..40).map(|line| format!("note line {line}\n")).collect();
    for index in 0..300 {
        let mut create = change(
            &format!("tenant.t{index:03}"),
            "tenancy_tenant",
            Action::Create,
        );
        create.after = Some(attrs(&[
            ("name", Value::string(format!("Tenant number {index}"))),
            ("notes", Value::string(notes.clone())),
        ]));
        plan.changes.push(create);
    }

    let markdown = render_markdown(&plan);

    assert!(
        markdown.chars().count() <= GITHUB_COMMENT_LIMIT,
        "{}",
        markdown.len()
    );
    assert!(markdown.contains("tenant.t000"));
    assert!(markdown.contains("sections were left out"), "{markdown}");
    assert!(markdown.contains("The full plan is in the JSON plan artifact"));
    assert!(markdown.contains("Tenant tenant.t000: 1 to add"));
}

#[test]
fn markdown_cuts_long_table() {
    let mut plan = empty_plan();
    for index in 0..2_000 {
        let mut create = change(
            &format!("tenant.t{index:04}"),
            "tenancy_tenant",
            Action::Create,
        );
        create.after = Some(attrs(&[("name", Value::string("x"))]));
        plan.changes.push(create);
    }

    let markdown = render_markdown(&plan);

    assert!(markdown.chars().count() <= GITHUB_COMMENT_LIMIT);
    assert!(
        markdown.contains("more changes are not listed in this table"),
        "{markdown}"
    );
}

#[test]
fn secrets_never_rendered() {
    let plan = full_plan();
    let outputs = [
        ("text", render_text(&plan, &plain())),
        (
            "text with unchanged",
            render_text(
                &plan,
                &TextOptions {
                    show_unchanged_attributes: true,
                    ..plain()
                },
            ),
        ),
        (
            "coloured text",
            render_text(
                &plan,
                &TextOptions {
                    color: true,
                    ..plain()
                },
            ),
        ),
        ("json", serde_json::to_string(&plan_json(&plan)).unwrap()),
        ("markdown", render_markdown(&plan)),
    ];

    for (format, output) in outputs {
        assert!(
            !output.contains(SECRET_MARKER),
            "{format} output contains a secret"
        );
        assert!(
            !output.contains("new-password"),
            "{format} output contains a secret"
        );
    }
}
