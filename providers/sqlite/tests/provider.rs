//! Integration tests of the sqlite provider against real SQLite files in a
//! temporary directory, driven through the `Provider` trait as the engine
//! drives it: plan, then apply the planned attributes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::Connection;
use tempfile::TempDir;
use tenancy_provider_sqlite::{APPLICATION_ID, SqliteProvider};
use tenancy_sdk::{
    Attrs, ErrorKind, ImportRequest, Operation, Provider, ProviderContext, ReadRequest, Value,
};

fn attrs(pairs: &[(&str, Value)]) -> Attrs {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect()
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|item| Value::string(*item)).collect())
}

fn number_map(pairs: &[(&str, f64)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(key, number)| (key.to_string(), Value::Number(*number)))
            .collect::<BTreeMap<_, _>>().into(),
    )
}

async fn configured(directory: &TempDir) -> SqliteProvider {
    let mut provider = SqliteProvider::new();
    let context = ProviderContext {
        working_dir: directory.path().to_path_buf(),
        instance: "sqlite".to_owned(),
    };
    provider.configure(&Attrs::new(), &context).await.unwrap();
    provider
}

fn catalog_path(directory: &TempDir) -> PathBuf {
    directory.path().join(".tenancy/catalog.db")
}

fn database_path(directory: &TempDir, tenant_id: &str) -> PathBuf {
    directory
        .path()
        .join(".tenancy/databases")
        .join(format!("{tenant_id}.db"))
}

async fn create(provider: &SqliteProvider, type_name: &str, address: &str, config: Attrs) -> Attrs {
    let change = provider.plan(type_name, None, &config).unwrap();
    let operation = Operation::Create {
        planned: &change.planned,
    };
    provider
        .apply(type_name, address, operation)
        .await
        .unwrap()
        .unwrap()
}

async fn update(
    provider: &SqliteProvider,
    type_name: &str,
    address: &str,
    prior: &Attrs,
    config: Attrs,
) -> Attrs {
    let change = provider.plan(type_name, Some(prior), &config).unwrap();
    assert!(
        change.requires_replace.is_empty(),
        "{address} should update in place"
    );
    let operation = Operation::Update {
        prior,
        planned: &change.planned,
    };
    provider
        .apply(type_name, address, operation)
        .await
        .unwrap()
        .unwrap()
}

async fn delete(provider: &SqliteProvider, type_name: &str, address: &str, prior: &Attrs) {
    let result = provider
        .apply(type_name, address, Operation::Delete { prior })
        .await
        .unwrap();
    assert_eq!(result, None);
}

async fn read_one(
    provider: &SqliteProvider,
    type_name: &str,
    address: &str,
    prior: &Attrs,
) -> Option<Attrs> {
    let request = ReadRequest {
        type_name: type_name.to_owned(),
        address: address.to_owned(),
        prior: prior.clone(),
    };
    let mut results = provider.read(&[request]).await;
    results.remove(0).unwrap()
}

fn tier_config(name: &str) -> Attrs {
    attrs(&[
        ("name", Value::string(name)),
        ("price", Value::Number(49.0)),
        ("currency", Value::string("EUR")),
        ("billing_cycle", Value::string("monthly")),
        ("trial_days", Value::Number(14.0)),
        (
            "limits",
            number_map(&[("storage_gb", 50.0), ("connections", 20.0)]),
        ),
        ("features", list(&["sso", "audit"])),
        ("usage_prices", number_map(&[("api_calls", 0.002)])),
    ])
}

fn tenant_config(tenant_id: &str) -> Attrs {
    attrs(&[
        ("tenant_id", Value::string(tenant_id)),
        ("display_name", Value::string("Acme Corporation")),
        ("tier", Value::string("pro")),
        ("region", Value::string("eu-central-1")),
        (
            "labels",
            Value::Map(
                [("team".to_owned(), Value::string("core"))]
                    .into_iter()
                    .collect(),
            ),
        ),
        ("databases", list(&["sqlite", "postgres"])),
    ])
}

/// Creates the `pro` tier and the tenant `acme` on it.
async fn with_tenant(provider: &SqliteProvider) -> Attrs {
    create(provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    create(
        provider,
        "catalog_tenant",
        "tenant.acme",
        tenant_config("acme"),
    )
    .await
}

/// Asserts that `actual` has every attribute of `expected` with its value.
fn assert_contains(actual: &Attrs, expected: &Attrs) {
    for (name, value) in expected {
        assert_eq!(actual.get(name), Some(value), "attribute `{name}`");
    }
}

#[tokio::test]
async fn configure_creates_catalog_and_data_dir() {
    let directory = tempfile::tempdir().unwrap();

    configured(&directory).await;

    let connection = Connection::open(catalog_path(&directory)).unwrap();
    let version: i64 = connection
        .query_row("SELECT max(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(version, 2);
    let mode: String = connection
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(directory.path().join(".tenancy/databases").is_dir());
}

#[tokio::test]
async fn configure_twice_keeps_existing_rows() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let tier = create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    drop(provider);

    let provider = configured(&directory).await;

    assert_eq!(
        read_one(&provider, "catalog_tier", "tier.pro", &tier).await,
        Some(tier)
    );
}

#[tokio::test]
async fn configure_rejects_unknown_attribute() {
    let directory = tempfile::tempdir().unwrap();
    let mut provider = SqliteProvider::new();
    let context = ProviderContext {
        working_dir: directory.path().to_path_buf(),
        instance: "sqlite".to_owned(),
    };

    let error = provider
        .configure(&attrs(&[("datadir", Value::string("x"))]), &context)
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Invalid);
    assert!(
        error.message.contains("unknown attribute `datadir`"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn tier_create_read_update_delete() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;

    let created = create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    assert_contains(&created, &tier_config("pro"));
    assert_eq!(created["id"], Value::string("pro"));
    assert_eq!(created["description"], Value::Null);
    assert_eq!(
        read_one(&provider, "catalog_tier", "tier.pro", &created).await,
        Some(created.clone())
    );

    let mut changed = tier_config("pro");
    changed.insert("price".to_owned(), Value::Number(59.5));
    changed.insert("description".to_owned(), Value::string("For growing teams"));
    let updated = update(
        &provider,
        "catalog_tier",
        "tier.pro",
        &created,
        changed.clone(),
    )
    .await;
    assert_contains(&updated, &changed);
    assert_eq!(
        read_one(&provider, "catalog_tier", "tier.pro", &created).await,
        Some(updated.clone())
    );

    delete(&provider, "catalog_tier", "tier.pro", &updated).await;
    assert_eq!(
        read_one(&provider, "catalog_tier", "tier.pro", &updated).await,
        None
    );
}

#[tokio::test]
async fn security_policy_create_read_update_delete() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let config = attrs(&[
        ("name", Value::string("strict")),
        ("encryption_at_rest", Value::Bool(true)),
        ("audit_logging", Value::Bool(true)),
        ("mfa_required", Value::Bool(false)),
        ("tls_min_version", Value::string("1.2")),
        ("allowed_networks", list(&["10.0.0.0/8"])),
        ("data_residency", list(&["eu"])),
        ("compliance", list(&["gdpr", "iso_27001"])),
        ("retention_days", Value::Number(30.0)),
    ]);
    let address = "security_policy.strict";

    let created = create(
        &provider,
        "catalog_security_policy",
        address,
        config.clone(),
    )
    .await;
    assert_contains(&created, &config);
    assert_eq!(created["password_rotation_days"], Value::Null);

    let mut changed = config.clone();
    changed.insert("mfa_required".to_owned(), Value::Bool(true));
    changed.insert("statement_timeout_seconds".to_owned(), Value::Number(60.0));
    let updated = update(
        &provider,
        "catalog_security_policy",
        address,
        &created,
        changed.clone(),
    )
    .await;
    assert_contains(&updated, &changed);
    assert_eq!(
        read_one(&provider, "catalog_security_policy", address, &created).await,
        Some(updated.clone())
    );

    delete(&provider, "catalog_security_policy", address, &updated).await;
    assert_eq!(
        read_one(&provider, "catalog_security_policy", address, &updated).await,
        None
    );
}

#[tokio::test]
async fn tenant_create_read_update_delete() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    create(
        &provider,
        "catalog_tier",
        "tier.enterprise",
        tier_config("enterprise"),
    )
    .await;

    let created = with_tenant(&provider).await;
    assert_contains(&created, &tenant_config("acme"));
    assert_eq!(created["status"], Value::string("active"));
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|time| time.ends_with('Z'))
    );
    assert_eq!(
        read_one(&provider, "catalog_tenant", "tenant.acme", &created).await,
        Some(created.clone())
    );

    let mut changed = tenant_config("acme");
    changed.insert("tier".to_owned(), Value::string("enterprise"));
    changed.insert("status".to_owned(), Value::string("suspended"));
    changed.insert("region".to_owned(), Value::string("us-east-1"));
    changed.insert(
        "databases".to_owned(),
        list(&["postgres", "sqlite", "redis"]),
    );
    let updated = update(
        &provider,
        "catalog_tenant",
        "tenant.acme",
        &created,
        changed.clone(),
    )
    .await;
    assert_contains(&updated, &changed);
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_eq!(
        read_one(&provider, "catalog_tenant", "tenant.acme", &created).await,
        Some(updated.clone())
    );

    delete(&provider, "catalog_tenant", "tenant.acme", &updated).await;
    assert_eq!(
        read_one(&provider, "catalog_tenant", "tenant.acme", &updated).await,
        None
    );
    let connection = Connection::open(catalog_path(&directory)).unwrap();
    let engines: i64 = connection
        .query_row("SELECT count(*) FROM tenant_databases", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(engines, 0);
}

#[tokio::test]
async fn tenant_on_missing_tier_names_the_tier() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let change = provider
        .plan("catalog_tenant", None, &tenant_config("acme"))
        .unwrap();

    let error = provider
        .apply(
            "catalog_tenant",
            "tenant.acme",
            Operation::Create {
                planned: &change.planned,
            },
        )
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(
        error.message.contains("tier `pro` does not exist"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn create_adopts_rows_left_by_interrupted_apply() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let subscription = attrs(&[
        ("tenant_id", Value::string("acme")),
        ("tier", Value::string("pro")),
        ("trial_days", Value::Number(14.0)),
    ]);
    create(
        &provider,
        "catalog_subscription",
        "tenant.acme.subscription",
        subscription.clone(),
    )
    .await;
    let monitoring = attrs(&[("tenant_id", Value::string("acme"))]);
    create(
        &provider,
        "catalog_monitoring",
        "tenant.acme.monitoring",
        monitoring.clone(),
    )
    .await;
    // The trial started before the interrupted apply; adopting the row must
    // not restart it.
    let connection = Connection::open(catalog_path(&directory)).unwrap();
    connection
        .execute(
            "UPDATE subscriptions SET started_at = '2025-01-01T00:00:00Z' WHERE tenant_id = 'acme'",
            [],
        )
        .unwrap();

    // State lost every result, so the next plan creates everything again,
    // some of it with changed values.
    let mut tier = tier_config("pro");
    tier.insert("price".to_owned(), Value::Number(59.0));
    let mut tenant = tenant_config("acme");
    tenant.insert("display_name".to_owned(), Value::string("Acme AG"));
    tenant.insert("databases".to_owned(), list(&["sqlite"]));
    let tier = create(&provider, "catalog_tier", "tier.pro", tier).await;
    let tenant = create(&provider, "catalog_tenant", "tenant.acme", tenant).await;
    let subscription = create(
        &provider,
        "catalog_subscription",
        "tenant.acme.subscription",
        subscription,
    )
    .await;
    let monitoring = create(
        &provider,
        "catalog_monitoring",
        "tenant.acme.monitoring",
        monitoring,
    )
    .await;

    assert_eq!(tier["price"], Value::Number(59.0));
    assert_eq!(tenant["display_name"], Value::string("Acme AG"));
    assert_eq!(tenant["databases"], list(&["sqlite"]));
    assert_eq!(
        subscription["started_at"],
        Value::string("2025-01-01T00:00:00Z")
    );
    assert_eq!(
        subscription["trial_ends_at"],
        Value::string("2025-01-15T00:00:00Z")
    );
    assert_eq!(monitoring["enabled"], Value::Bool(true));
    for (table, address, written) in [
        ("tiers", "tier.pro", &tier),
        ("tenants", "tenant.acme", &tenant),
        ("subscriptions", "tenant.acme.subscription", &subscription),
        ("monitoring", "tenant.acme.monitoring", &monitoring),
    ] {
        let rows: i64 = connection
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(rows, 1, "`{table}` has one row");
        let type_name = match table {
            "tiers" => "catalog_tier",
            "tenants" => "catalog_tenant",
            "subscriptions" => "catalog_subscription",
            _ => "catalog_monitoring",
        };
        assert_eq!(
            read_one(&provider, type_name, address, written)
                .await
                .as_ref(),
            Some(written),
            "{address} reads back what the adopting create returned"
        );
    }
}

#[tokio::test]
async fn database_create_adopts_own_file() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.database.sqlite";
    let mut first = database_config("acme");
    first.insert("audit_logging".to_owned(), Value::Bool(false));
    create(&provider, "sqlite_database", address, first).await;
    let path = database_path(&directory, "acme");
    let application = Connection::open(&path).unwrap();
    application
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('kept');")
        .unwrap();

    let adopted = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;

    assert_contains(&adopted, &database_config("acme"));
    let body: String = application
        .query_row("SELECT body FROM notes", [], |row| row.get(0))
        .unwrap();
    assert_eq!(body, "kept");
    application
        .execute_batch("INSERT INTO notes VALUES ('audited')")
        .unwrap();
    let audited: i64 = application
        .query_row("SELECT count(*) FROM _tenancy_audit", [], |row| row.get(0))
        .unwrap();
    assert_eq!(audited, 1, "the adopting create installed the triggers");
    assert_eq!(
        read_one(&provider, "sqlite_database", address, &adopted).await,
        Some(adopted.clone())
    );
}

#[tokio::test]
async fn database_create_rejects_file_of_other_tenant() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    create(
        &provider,
        "catalog_tenant",
        "tenant.beta",
        tenant_config("beta"),
    )
    .await;
    create(
        &provider,
        "sqlite_database",
        "tenant.acme.database.sqlite",
        database_config("acme"),
    )
    .await;
    let beta_path = database_path(&directory, "beta");
    std::fs::copy(database_path(&directory, "acme"), &beta_path).unwrap();
    let change = provider
        .plan("sqlite_database", None, &database_config("beta"))
        .unwrap();

    let error = provider
        .apply(
            "sqlite_database",
            "tenant.beta.database.sqlite",
            Operation::Create {
                planned: &change.planned,
            },
        )
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(
        error.message.contains("database of tenant `acme`"),
        "{}",
        error.message
    );
    let recorded: String = Connection::open(&beta_path)
        .unwrap()
        .query_row(
            "SELECT value FROM _tenancy_settings WHERE name = 'tenant_id'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(recorded, "acme", "the rejected file is left as it was");
}

#[tokio::test]
async fn hand_deleted_tenant_row_is_created_over_orphans() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let subscription = attrs(&[
        ("tenant_id", Value::string("acme")),
        ("tier", Value::string("pro")),
    ]);
    let subscribed = create(
        &provider,
        "catalog_subscription",
        "tenant.acme.subscription",
        subscription.clone(),
    )
    .await;
    let database = create(
        &provider,
        "sqlite_database",
        "tenant.acme.database.sqlite",
        database_config("acme"),
    )
    .await;
    // The sqlite3 shell runs with foreign keys off, so the delete leaves the
    // tenant's rows in the other tables behind.
    let connection = Connection::open(catalog_path(&directory)).unwrap();
    connection
        .execute_batch("PRAGMA foreign_keys = OFF; DELETE FROM tenants WHERE tenant_id = 'acme';")
        .unwrap();
    let count = |table: &str| -> i64 {
        connection
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE tenant_id = 'acme'"),
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    assert_eq!(count("tenant_databases"), 2);

    let tenant = create(
        &provider,
        "catalog_tenant",
        "tenant.acme",
        tenant_config("acme"),
    )
    .await;
    let adopted = create(
        &provider,
        "catalog_subscription",
        "tenant.acme.subscription",
        subscription,
    )
    .await;

    assert_eq!(tenant["databases"], list(&["sqlite", "postgres"]));
    assert_eq!(count("tenants"), 1);
    assert_eq!(count("tenant_databases"), 2);
    assert_eq!(adopted["started_at"], subscribed["started_at"]);
    assert_eq!(
        read_one(
            &provider,
            "sqlite_database",
            "tenant.acme.database.sqlite",
            &database
        )
        .await,
        Some(database.clone()),
        "the orphaned database row is valid again"
    );
}

#[tokio::test]
async fn unique_conflict_names_the_clashing_column() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    create(
        &provider,
        "catalog_tenant",
        "tenant.beta",
        tenant_config("beta"),
    )
    .await;
    create(
        &provider,
        "sqlite_database",
        "tenant.acme.database.sqlite",
        database_config("acme"),
    )
    .await;
    // A hand edit points acme's row at the path that beta's database gets.
    let beta_path = database_path(&directory, "beta").display().to_string();
    Connection::open(catalog_path(&directory))
        .unwrap()
        .execute(
            "UPDATE database_files SET path = ?1 WHERE tenant_id = 'acme'",
            [&beta_path],
        )
        .unwrap();
    let change = provider
        .plan("sqlite_database", None, &database_config("beta"))
        .unwrap();

    let error = provider
        .apply(
            "sqlite_database",
            "tenant.beta.database.sqlite",
            Operation::Create {
                planned: &change.planned,
            },
        )
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(
        error
            .message
            .contains("another row of `database_files` has the same `path`"),
        "{}",
        error.message
    );
    assert!(!error.message.contains("tenant_id"), "{}", error.message);
}

#[tokio::test]
async fn tenant_delete_with_subscription_is_rejected() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let tenant = with_tenant(&provider).await;
    let subscription = attrs(&[
        ("tenant_id", Value::string("acme")),
        ("tier", Value::string("pro")),
    ]);
    create(
        &provider,
        "catalog_subscription",
        "tenant.acme.subscription",
        subscription,
    )
    .await;

    let error = provider
        .apply(
            "catalog_tenant",
            "tenant.acme",
            Operation::Delete { prior: &tenant },
        )
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(
        error.message.contains("`subscriptions`"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn subscription_create_read_update_delete() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.subscription";
    let config = attrs(&[
        ("tenant_id", Value::string("acme")),
        ("tier", Value::string("pro")),
        ("price", Value::Number(49.0)),
        ("currency", Value::string("EUR")),
        ("billing_cycle", Value::string("monthly")),
        ("trial_days", Value::Number(14.0)),
    ]);

    let created = create(&provider, "catalog_subscription", address, config.clone()).await;
    assert_contains(&created, &config);
    assert_eq!(created["status"], Value::string("trialing"));
    let started = created["started_at"].as_str().unwrap().to_owned();
    let expected_end =
        chrono::DateTime::parse_from_rfc3339(&started).unwrap() + chrono::Duration::days(14);
    assert_eq!(
        created["trial_ends_at"].as_str().unwrap(),
        expected_end
            .to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(
        read_one(&provider, "catalog_subscription", address, &created).await,
        Some(created.clone())
    );

    let mut changed = config.clone();
    changed.insert("trial_days".to_owned(), Value::Number(0.0));
    let updated = update(
        &provider,
        "catalog_subscription",
        address,
        &created,
        changed,
    )
    .await;
    assert_eq!(updated["started_at"], created["started_at"]);
    assert_eq!(updated["trial_ends_at"], created["started_at"]);
    assert_eq!(updated["status"], Value::string("active"));

    delete(&provider, "catalog_subscription", address, &updated).await;
    assert_eq!(
        read_one(&provider, "catalog_subscription", address, &updated).await,
        None
    );
}

#[tokio::test]
async fn subscription_plan_computes_trial_end_from_start() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let config = attrs(&[
        ("tenant_id", Value::string("acme")),
        ("trial_days", Value::Number(14.0)),
    ]);
    let created = create(
        &provider,
        "catalog_subscription",
        "tenant.acme.subscription",
        config.clone(),
    )
    .await;

    let mut longer = config.clone();
    longer.insert("trial_days".to_owned(), Value::Number(30.0));
    let change = provider
        .plan("catalog_subscription", Some(&created), &longer)
        .unwrap();

    let started =
        chrono::DateTime::parse_from_rfc3339(created["started_at"].as_str().unwrap()).unwrap();
    let expected = (started + chrono::Duration::days(30))
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        change.planned["trial_ends_at"],
        Value::string(expected.clone())
    );
    assert_eq!(change.planned["started_at"], created["started_at"]);
    let applied = update(
        &provider,
        "catalog_subscription",
        "tenant.acme.subscription",
        &created,
        longer,
    )
    .await;
    assert_eq!(applied["trial_ends_at"], Value::string(expected));
}

#[tokio::test]
async fn subscription_create_plans_unknown_times() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let config = attrs(&[
        ("tenant_id", Value::string("acme")),
        ("trial_days", Value::Number(14.0)),
    ]);

    let change = provider
        .plan("catalog_subscription", None, &config)
        .unwrap();

    assert_eq!(change.planned["id"], Value::string("acme"));
    assert_eq!(change.planned["started_at"], Value::Unknown);
    assert_eq!(change.planned["trial_ends_at"], Value::Unknown);
}

#[tokio::test]
async fn monitoring_create_read_update_delete() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.monitoring";
    let config = attrs(&[
        ("tenant_id", Value::string("acme")),
        ("alert_email", Value::string("ops@acme.example")),
        ("metrics_retention_days", Value::Number(30.0)),
    ]);

    let created = create(&provider, "catalog_monitoring", address, config.clone()).await;
    assert_contains(&created, &config);
    assert_eq!(created["enabled"], Value::Bool(true));

    let mut changed = config.clone();
    changed.insert("enabled".to_owned(), Value::Bool(false));
    changed.insert("alert_email".to_owned(), Value::Null);
    let updated = update(
        &provider,
        "catalog_monitoring",
        address,
        &created,
        changed.clone(),
    )
    .await;
    assert_contains(&updated, &changed);
    assert_eq!(
        read_one(&provider, "catalog_monitoring", address, &created).await,
        Some(updated.clone())
    );

    delete(&provider, "catalog_monitoring", address, &updated).await;
    assert_eq!(
        read_one(&provider, "catalog_monitoring", address, &updated).await,
        None
    );
}

fn database_config(tenant_id: &str) -> Attrs {
    attrs(&[
        ("tenant_id", Value::string(tenant_id)),
        ("journal_mode", Value::string("wal")),
        ("max_size_mb", Value::Number(51200.0)),
        ("secure_delete", Value::Bool(true)),
        ("audit_logging", Value::Bool(true)),
        ("encryption_at_rest", Value::Bool(true)),
        ("tls_min_version", Value::string("1.2")),
    ])
}

#[tokio::test]
async fn database_create_read_update_delete() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.database.sqlite";
    let path = database_path(&directory, "acme");

    let plan = provider
        .plan("sqlite_database", None, &database_config("acme"))
        .unwrap();
    let created = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;
    assert_contains(&created, &database_config("acme"));
    assert_eq!(created["path"], Value::string(path.display().to_string()));
    assert_eq!(
        created["url"],
        Value::string(format!("sqlite://{}", path.display()))
    );
    assert_eq!(plan.planned["path"], created["path"]);
    let file = Connection::open(&path).unwrap();
    let application_id: i32 = file
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .unwrap();
    assert_eq!(application_id, APPLICATION_ID);
    let stored_limit: f64 = file
        .query_row(
            "SELECT value FROM _tenancy_settings WHERE name = 'max_size_mb'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stored_limit, 51200.0);
    drop(file);
    assert_eq!(
        read_one(&provider, "sqlite_database", address, &created).await,
        Some(created.clone())
    );

    let mut changed = database_config("acme");
    changed.insert("journal_mode".to_owned(), Value::string("delete"));
    changed.insert("audit_logging".to_owned(), Value::Bool(false));
    changed.insert("max_size_mb".to_owned(), Value::Null);
    let updated = update(
        &provider,
        "sqlite_database",
        address,
        &created,
        changed.clone(),
    )
    .await;
    assert_contains(&updated, &changed);
    assert_eq!(
        read_one(&provider, "sqlite_database", address, &created).await,
        Some(updated.clone())
    );

    delete(&provider, "sqlite_database", address, &updated).await;
    assert!(!path.exists());
    assert_eq!(
        read_one(&provider, "sqlite_database", address, &updated).await,
        None
    );
}

#[tokio::test]
async fn database_delete_removes_wal_and_shm() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.database.sqlite";
    let created = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;
    let path = database_path(&directory, "acme");
    // An application that still has the file open keeps `-wal` and `-shm`
    // on disk.
    let application = Connection::open(&path).unwrap();
    application
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")
        .unwrap();
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let shm = PathBuf::from(format!("{}-shm", path.display()));
    assert!(wal.exists());

    delete(&provider, "sqlite_database", address, &created).await;

    assert!(!path.exists());
    assert!(!wal.exists());
    assert!(!shm.exists());
    let connection = Connection::open(catalog_path(&directory)).unwrap();
    let rows: i64 = connection
        .query_row("SELECT count(*) FROM database_files", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn deleted_database_file_reads_as_none() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.database.sqlite";
    let created = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;

    std::fs::remove_file(database_path(&directory, "acme")).unwrap();

    assert_eq!(
        read_one(&provider, "sqlite_database", address, &created).await,
        None
    );
    let recreated = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;
    assert_eq!(recreated, created);
}

#[tokio::test]
async fn tenant_delete_removes_rows_of_deleted_files() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let tenant = with_tenant(&provider).await;
    create(
        &provider,
        "sqlite_database",
        "tenant.acme.database.sqlite",
        database_config("acme"),
    )
    .await;
    let beta = tenant_config("beta");
    let beta = create(&provider, "catalog_tenant", "tenant.beta", beta).await;
    create(
        &provider,
        "sqlite_database",
        "tenant.beta.database.sqlite",
        database_config("beta"),
    )
    .await;

    std::fs::remove_file(database_path(&directory, "acme")).unwrap();
    delete(&provider, "catalog_tenant", "tenant.acme", &tenant).await;
    let conflict = provider
        .apply("catalog_tenant", "tenant.beta", Operation::Delete { prior: &beta })
        .await
        .unwrap_err();

    let connection = rusqlite::Connection::open(catalog_path(&directory)).unwrap();
    let tenants: Vec<String> = connection
        .prepare("SELECT tenant_id FROM database_files ORDER BY tenant_id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tenants, ["beta"]);
    assert_eq!(conflict.kind, ErrorKind::Conflict);
    assert!(conflict.message.contains("`database_files`"), "{}", conflict.message);
}

#[tokio::test]
async fn hand_changed_journal_mode_is_drift() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.database.sqlite";
    let created = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;

    let file = Connection::open(database_path(&directory, "acme")).unwrap();
    let _: String = file
        .pragma_update_and_check(None, "journal_mode", "DELETE", |row| row.get(0))
        .unwrap();
    drop(file);

    let refreshed = read_one(&provider, "sqlite_database", address, &created)
        .await
        .unwrap();
    assert_eq!(refreshed["journal_mode"], Value::string("delete"));
    assert_eq!(provider.full_inspections(), 1);
    let change = provider
        .plan(
            "sqlite_database",
            Some(&refreshed),
            &database_config("acme"),
        )
        .unwrap();
    assert_eq!(change.planned["journal_mode"], Value::string("wal"));
}

#[tokio::test]
async fn new_table_without_audit_triggers_is_drift() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.database.sqlite";
    let created = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;
    let file = Connection::open(database_path(&directory, "acme")).unwrap();
    file.execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
        .unwrap();

    let refreshed = read_one(&provider, "sqlite_database", address, &created)
        .await
        .unwrap();
    assert_eq!(refreshed["audit_logging"], Value::Bool(false));

    let updated = update(
        &provider,
        "sqlite_database",
        address,
        &refreshed,
        database_config("acme"),
    )
    .await;
    assert_eq!(updated["audit_logging"], Value::Bool(true));
    file.execute_batch("INSERT INTO orders (total) VALUES (9.5)")
        .unwrap();
    let (table, operation): (String, String) = file
        .query_row(
            "SELECT table_name, operation FROM _tenancy_audit",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((table.as_str(), operation.as_str()), ("orders", "insert"));
}

#[tokio::test]
async fn hand_edited_row_is_drift() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let tenant = with_tenant(&provider).await;
    create(&provider, "catalog_tier", "tier.free", tier_config("free")).await;

    let connection = Connection::open(catalog_path(&directory)).unwrap();
    connection
        .execute(
            "UPDATE tenants SET tier = 'free' WHERE tenant_id = 'acme'",
            [],
        )
        .unwrap();

    let refreshed = read_one(&provider, "catalog_tenant", "tenant.acme", &tenant)
        .await
        .unwrap();
    assert_eq!(refreshed["tier"], Value::string("free"));
    let change = provider
        .plan("catalog_tenant", Some(&refreshed), &tenant_config("acme"))
        .unwrap();
    assert_eq!(change.planned["tier"], Value::string("pro"));
}

#[tokio::test]
async fn unchanged_rows_read_as_the_recorded_sets() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let tier = create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    let tenant = create(
        &provider,
        "catalog_tenant",
        "tenant.acme",
        tenant_config("acme"),
    )
    .await;
    let subscription = attrs(&[
        ("tenant_id", Value::string("acme")),
        ("tier", Value::string("pro")),
        ("trial_days", Value::Number(14.0)),
    ]);
    let subscription = create(
        &provider,
        "catalog_subscription",
        "tenant.acme.subscription",
        subscription,
    )
    .await;
    let monitoring = attrs(&[("tenant_id", Value::string("acme"))]);
    let monitoring = create(
        &provider,
        "catalog_monitoring",
        "tenant.acme.monitoring",
        monitoring,
    )
    .await;
    let database = create(
        &provider,
        "sqlite_database",
        "tenant.acme.database.sqlite",
        database_config("acme"),
    )
    .await;

    let recorded = [
        ("catalog_tier", "tier.pro", tier),
        ("catalog_tenant", "tenant.acme", tenant),
        (
            "catalog_subscription",
            "tenant.acme.subscription",
            subscription,
        ),
        ("catalog_monitoring", "tenant.acme.monitoring", monitoring),
        ("sqlite_database", "tenant.acme.database.sqlite", database),
    ];
    for (type_name, address, prior) in recorded {
        let refreshed = read_one(&provider, type_name, address, &prior)
            .await
            .unwrap();

        assert!(
            refreshed.shares_with(&prior),
            "{address} was read into a copy"
        );
    }
}

#[tokio::test]
async fn reformatted_json_column_reads_as_equal_values() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let tier = create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;

    let connection = Connection::open(catalog_path(&directory)).unwrap();
    connection
        .execute(
            "UPDATE tiers SET limits = '{ \"storage_gb\": 50, \"connections\": 20 }' WHERE name = 'pro'",
            [],
        )
        .unwrap();

    let refreshed = read_one(&provider, "catalog_tier", "tier.pro", &tier)
        .await
        .unwrap();
    assert_eq!(refreshed, tier);
    assert!(!refreshed.shares_with(&tier));
}

#[tokio::test]
async fn hand_deleted_row_reads_as_none() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let tier = create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;

    let connection = Connection::open(catalog_path(&directory)).unwrap();
    connection
        .execute("DELETE FROM tiers WHERE name = 'pro'", [])
        .unwrap();

    assert_eq!(
        read_one(&provider, "catalog_tier", "tier.pro", &tier).await,
        None
    );
}

#[tokio::test]
async fn import_adopts_existing_tenant() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let created = with_tenant(&provider).await;
    let request = ImportRequest {
        type_name: "catalog_tenant".to_owned(),
        address: "tenant.acme".to_owned(),
        id: "acme".to_owned(),
    };

    let imported = provider.import(&request).await.unwrap();

    assert_eq!(imported, created);
}

#[tokio::test]
async fn import_of_missing_tier_is_not_found() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let request = ImportRequest {
        type_name: "catalog_tier".to_owned(),
        address: "tier.gold".to_owned(),
        id: "gold".to_owned(),
    };

    let error = provider.import(&request).await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(error.message.contains("`gold`"), "{}", error.message);
}

#[tokio::test]
async fn import_adopts_database_file_without_row() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let created = create(
        &provider,
        "sqlite_database",
        "tenant.acme.database.sqlite",
        database_config("acme"),
    )
    .await;
    let connection = Connection::open(catalog_path(&directory)).unwrap();
    connection
        .execute("DELETE FROM database_files", [])
        .unwrap();
    let request = ImportRequest {
        type_name: "sqlite_database".to_owned(),
        address: "tenant.acme.database.sqlite".to_owned(),
        id: "acme".to_owned(),
    };

    let imported = provider.import(&request).await.unwrap();

    assert_eq!(imported["path"], created["path"]);
    assert_eq!(imported["secure_delete"], Value::Bool(true));
    assert_eq!(imported["encryption_at_rest"], Value::Bool(false));
}

#[tokio::test]
async fn invalid_tenant_id_is_rejected() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let config = attrs(&[("tenant_id", Value::string("../escape"))]);

    let plan_error = provider.plan("sqlite_database", None, &config).unwrap_err();
    let mut planned = database_config("x");
    planned.insert("tenant_id".to_owned(), Value::string("../escape"));
    let apply_error = provider
        .apply(
            "sqlite_database",
            "tenant.bad.database.sqlite",
            Operation::Create { planned: &planned },
        )
        .await
        .unwrap_err();

    assert_eq!(plan_error.kind, ErrorKind::Invalid);
    assert!(
        plan_error.message.contains("\"../escape\" is invalid"),
        "{}",
        plan_error.message
    );
    assert_eq!(apply_error.kind, ErrorKind::Invalid);
    assert!(
        apply_error
            .message
            .starts_with("tenant.bad.database.sqlite: tenant_id"),
        "{}",
        apply_error.message
    );
    assert!(!directory.path().join(".tenancy/escape.db").exists());
}

#[tokio::test]
async fn tenant_id_with_leading_underscore_is_accepted() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;

    let tenant = create(
        &provider,
        "catalog_tenant",
        "tenant._acme",
        tenant_config("_acme"),
    )
    .await;
    let database = create(
        &provider,
        "sqlite_database",
        "tenant._acme.database.sqlite",
        database_config("_acme"),
    )
    .await;

    assert_eq!(tenant["id"], Value::string("_acme"));
    let path = database_path(&directory, "_acme");
    assert_eq!(database["path"], Value::string(path.display().to_string()));
    assert!(path.exists());
}

#[tokio::test]
async fn tenant_id_outside_language_rule_is_rejected() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;

    for id in ["Acme", "a-1", "1acme", "a\0b", ".."] {
        let config = attrs(&[("tenant_id", Value::string(id))]);
        let error = provider.plan("catalog_tenant", None, &config).unwrap_err();

        assert_eq!(error.kind, ErrorKind::Invalid, "{id:?}");
        assert!(
            error.message.contains("`^[a-z_][a-z0-9_]*$`"),
            "{}",
            error.message
        );
    }
}

#[tokio::test]
async fn numbers_beyond_range_are_rejected() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let mut long_trial = tier_config("pro");
    long_trial.insert("trial_days".to_owned(), Value::Number(1e300));
    let mut huge_limit = tier_config("pro");
    huge_limit.insert(
        "limits".to_owned(),
        number_map(&[("connections", 9_223_372_036_854_775_807.0)]),
    );
    let cases = [
        (
            long_trial,
            "`trial_days` is 1e300, but it must be at most 3650",
        ),
        (
            huge_limit,
            "`limits` key `connections` is 9.223372036854776e18, but it must be between \
             -9007199254740992 and 9007199254740992",
        ),
    ];

    for (config, expected) in cases {
        let plan_error = provider.plan("catalog_tier", None, &config).unwrap_err();
        // Apply checks too, for attributes that become known only at apply.
        let apply_error = provider
            .apply(
                "catalog_tier",
                "tier.pro",
                Operation::Create { planned: &config },
            )
            .await
            .unwrap_err();

        assert_eq!(plan_error.kind, ErrorKind::Invalid);
        assert!(
            plan_error.message.contains(expected),
            "{}",
            plan_error.message
        );
        assert_eq!(apply_error.kind, ErrorKind::Invalid);
        assert!(
            apply_error.message.contains(expected),
            "{}",
            apply_error.message
        );
    }
    let tiers: i64 = Connection::open(catalog_path(&directory))
        .unwrap()
        .query_row("SELECT count(*) FROM tiers", [], |row| row.get(0))
        .unwrap();
    assert_eq!(tiers, 0);
}

#[tokio::test]
async fn foreign_file_at_database_path_is_not_adopted() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let path = database_path(&directory, "acme");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE theirs (x)")
        .unwrap();
    let change = provider
        .plan("sqlite_database", None, &database_config("acme"))
        .unwrap();

    let error = provider
        .apply(
            "sqlite_database",
            "tenant.acme.database.sqlite",
            Operation::Create {
                planned: &change.planned,
            },
        )
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(
        error.message.contains(&path.display().to_string()),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn unknown_resource_type_is_rejected() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;

    let error = provider
        .plan("sqlite_table", None, &Attrs::new())
        .unwrap_err();

    assert!(error.message.contains("no resource type `sqlite_table`"));
}

fn tenant_ids(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("tenant_{index:05}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_read_answers_ten_thousand_tenants_in_order() {
    let directory = tempfile::tempdir().unwrap();
    let provider = Arc::new(configured(&directory).await);
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    let ids = tenant_ids(10_000);

    // Apply as the engine does: up to `max_concurrency` operations at once.
    let permits = Arc::new(tokio::sync::Semaphore::new(provider.max_concurrency()));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(ids.len());
    for id in ids.clone() {
        let provider = Arc::clone(&provider);
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let address = format!("tenant.{id}");
            let attrs = create(&provider, "catalog_tenant", &address, tenant_config(&id)).await;
            drop(permit);
            attrs
        }));
    }
    let mut created = Vec::with_capacity(ids.len());
    for task in tasks {
        created.push(task.await.unwrap());
    }
    let create_time = started.elapsed();

    let mut requests: Vec<ReadRequest> = created
        .iter()
        .rev()
        .map(|prior| ReadRequest {
            type_name: "catalog_tenant".to_owned(),
            address: format!("tenant.{}", prior["tenant_id"].as_str().unwrap()),
            prior: prior.clone(),
        })
        .collect();
    let missing = attrs(&[
        ("id", Value::string("gone")),
        ("tenant_id", Value::string("gone")),
    ]);
    requests.insert(
        5_000,
        ReadRequest {
            type_name: "catalog_tenant".to_owned(),
            address: "tenant.gone".to_owned(),
            prior: missing,
        },
    );
    let started = Instant::now();
    let results = provider.read(&requests).await;
    let read_time = started.elapsed();

    eprintln!(
        "sqlite provider: 10,000 catalog_tenant plans and creates, {} at a time, took \
         {create_time:?}; one batched read of 10,001 took {read_time:?}",
        provider.max_concurrency()
    );
    assert_eq!(results.len(), requests.len());
    let by_id: std::collections::HashMap<&str, &Attrs> = created
        .iter()
        .map(|attrs| (attrs["id"].as_str().unwrap(), attrs))
        .collect();
    for (request, result) in requests.iter().zip(&results) {
        let expected = by_id.get(request.prior["id"].as_str().unwrap()).copied();
        assert_eq!(
            result.as_ref().unwrap().as_ref(),
            expected,
            "{}",
            request.address
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_applies_do_not_lock() {
    let directory = tempfile::tempdir().unwrap();
    let provider = Arc::new(configured(&directory).await);
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    let ids = tenant_ids(200);

    let mut tasks = Vec::new();
    for id in ids.clone() {
        let provider = Arc::clone(&provider);
        tasks.push(tokio::spawn(async move {
            let tenant = format!("tenant.{id}");
            create(&provider, "catalog_tenant", &tenant, tenant_config(&id)).await;
            let database = format!("tenant.{id}.database.sqlite");
            let subscription = attrs(&[
                ("tenant_id", Value::string(&id)),
                ("trial_days", Value::Number(7.0)),
            ]);
            let subscription_address = format!("tenant.{id}.subscription");
            tokio::join!(
                create(
                    &provider,
                    "sqlite_database",
                    &database,
                    database_config(&id)
                ),
                create(
                    &provider,
                    "catalog_subscription",
                    &subscription_address,
                    subscription
                ),
            );
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let connection = Connection::open(catalog_path(&directory)).unwrap();
    let rows: i64 = connection
        .query_row("SELECT count(*) FROM database_files", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 200);
    assert!(ids.iter().all(|id| database_path(&directory, id).exists()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_database_read_opens_every_file() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    let mut created = Vec::new();
    for id in tenant_ids(50) {
        create(
            &provider,
            "catalog_tenant",
            &format!("tenant.{id}"),
            tenant_config(&id),
        )
        .await;
        let address = format!("tenant.{id}.database.sqlite");
        created.push((
            address.clone(),
            create(&provider, "sqlite_database", &address, database_config(&id)).await,
        ));
    }
    std::fs::remove_file(Path::new(created[7].1["path"].as_str().unwrap())).unwrap();
    let requests: Vec<ReadRequest> = created
        .iter()
        .map(|(address, prior)| ReadRequest {
            type_name: "sqlite_database".to_owned(),
            address: address.clone(),
            prior: prior.clone(),
        })
        .collect();

    let results = provider.read(&requests).await;

    for (index, ((_, prior), result)) in created.iter().zip(results).enumerate() {
        let expected = if index == 7 {
            None
        } else {
            Some(prior.clone())
        };
        assert_eq!(result.unwrap(), expected, "request {index}");
    }
}

#[tokio::test]
async fn plan_after_apply_changes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    let minimal = [
        (
            "catalog_tier",
            "tier.pro",
            attrs(&[("name", Value::string("pro"))]),
        ),
        (
            "catalog_security_policy",
            "security_policy.base",
            attrs(&[("name", Value::string("base"))]),
        ),
        (
            "catalog_tenant",
            "tenant.acme",
            attrs(&[("tenant_id", Value::string("acme"))]),
        ),
        (
            "catalog_subscription",
            "tenant.acme.subscription",
            attrs(&[("tenant_id", Value::string("acme"))]),
        ),
        (
            "catalog_monitoring",
            "tenant.acme.monitoring",
            attrs(&[("tenant_id", Value::string("acme"))]),
        ),
        (
            "sqlite_database",
            "tenant.acme.database.sqlite",
            attrs(&[("tenant_id", Value::string("acme"))]),
        ),
    ];

    for (type_name, address, config) in minimal {
        let created = create(&provider, type_name, address, config.clone()).await;
        let refreshed = read_one(&provider, type_name, address, &created)
            .await
            .unwrap();
        let change = provider.plan(type_name, Some(&refreshed), &config).unwrap();

        assert_eq!(
            refreshed, created,
            "{address} reads back what apply returned"
        );
        assert_eq!(change.planned, refreshed, "{address} plans no change");
        assert!(change.requires_replace.is_empty(), "{address}");
    }
}

async fn configured_with(working_dir: &Path, config: Attrs) -> SqliteProvider {
    let mut provider = SqliteProvider::new();
    let context = ProviderContext {
        working_dir: working_dir.to_path_buf(),
        instance: "sqlite".to_owned(),
    };
    provider.configure(&config, &context).await.unwrap();
    provider
}

/// Returns the rows of the table `kept` in a tenant database.
fn kept_rows(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM kept", [], |row| row.get(0))
        .unwrap()
}

/// Returns the path that a catalog records for a tenant's database.
fn recorded_path(catalog: &Path, tenant_id: &str) -> String {
    Connection::open(catalog)
        .unwrap()
        .query_row(
            "SELECT path FROM database_files WHERE tenant_id = ?1",
            [tenant_id],
            |row| row.get(0),
        )
        .unwrap()
}

/// Waits until the catalog's writer thread has closed its connection, which
/// checkpoints and removes the `-wal` file, so a copy of the file is whole.
fn wait_for_catalog_close(catalog: &Path) {
    let wal = PathBuf::from(format!("{}-wal", catalog.display()));
    for _ in 0..100 {
        if !wal.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the catalog writer did not close `{}`", catalog.display());
}

/// Copies every file of `from` into `to`, as `cp -r` does.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn changed_data_dir_leaves_old_file() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.database.sqlite";
    let created = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;
    let old_path = database_path(&directory, "acme");
    Connection::open(&old_path)
        .unwrap()
        .execute_batch("CREATE TABLE kept (x); INSERT INTO kept VALUES (1);")
        .unwrap();
    drop(provider);

    let config = attrs(&[("data_dir", Value::string("moved"))]);
    let provider = configured_with(directory.path(), config).await;
    let new_path = directory.path().join("moved/acme.db");

    assert_eq!(
        read_one(&provider, "sqlite_database", address, &created).await,
        None,
        "the database is missing where the new data_dir keeps it"
    );
    let change = provider
        .plan("sqlite_database", Some(&created), &database_config("acme"))
        .unwrap();
    assert_eq!(
        change.planned["path"],
        Value::string(new_path.display().to_string())
    );
    assert_eq!(change.requires_replace, vec!["path".to_owned()]);

    delete(&provider, "sqlite_database", address, &created).await;
    let replaced = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;

    assert_eq!(
        replaced["path"],
        Value::string(new_path.display().to_string())
    );
    assert!(new_path.exists());
    assert_eq!(kept_rows(&old_path), 1, "the old file keeps its data");
    assert_eq!(
        recorded_path(&catalog_path(&directory), "acme"),
        new_path.display().to_string()
    );
}

#[tokio::test]
async fn moved_file_is_adopted_at_new_data_dir() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.database.sqlite";
    create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;
    let old_path = database_path(&directory, "acme");
    Connection::open(&old_path)
        .unwrap()
        .execute_batch("CREATE TABLE kept (x); INSERT INTO kept VALUES (1);")
        .unwrap();
    drop(provider);
    let new_path = directory.path().join("moved/acme.db");
    std::fs::create_dir_all(new_path.parent().unwrap()).unwrap();
    std::fs::rename(&old_path, &new_path).unwrap();

    let config = attrs(&[("data_dir", Value::string("moved"))]);
    let provider = configured_with(directory.path(), config).await;
    let adopted = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;

    assert_eq!(
        adopted["path"],
        Value::string(new_path.display().to_string())
    );
    assert_eq!(kept_rows(&new_path), 1);
}

#[tokio::test]
async fn copied_configuration_leaves_original_files_alone() {
    let original = tempfile::tempdir().unwrap();
    let provider = configured(&original).await;
    with_tenant(&provider).await;
    let address = "tenant.acme.database.sqlite";
    let created = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;
    let original_path = database_path(&original, "acme");
    Connection::open(&original_path)
        .unwrap()
        .execute_batch("CREATE TABLE kept (x); INSERT INTO kept VALUES (1);")
        .unwrap();
    drop(provider);
    wait_for_catalog_close(&catalog_path(&original));

    // `cp -r A B`, then remove B's tenant databases.
    let copy = tempfile::tempdir().unwrap();
    copy_tree(
        &original.path().join(".tenancy"),
        &copy.path().join(".tenancy"),
    );
    for entry in std::fs::read_dir(copy.path().join(".tenancy/databases")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let provider = configured(&copy).await;
    let copy_path = database_path(&copy, "acme");

    assert_eq!(
        read_one(&provider, "sqlite_database", address, &created).await,
        None,
        "a path in the other directory reads as missing"
    );
    let recreated = create(
        &provider,
        "sqlite_database",
        address,
        database_config("acme"),
    )
    .await;
    assert_eq!(
        recreated["path"],
        Value::string(copy_path.display().to_string())
    );
    // A delete planned from the copied state must not reach the original.
    delete(&provider, "sqlite_database", address, &created).await;

    assert!(original_path.exists());
    assert_eq!(kept_rows(&original_path), 1);
    assert_eq!(
        recorded_path(&catalog_path(&original), "acme"),
        original_path.display().to_string()
    );
    assert!(copy_path.exists(), "the stale prior removed only the row");
}

/// Creates the tenant `id` on the `pro` tier with a database of `config`.
async fn with_database(provider: &SqliteProvider, id: &str, config: Attrs) -> (String, Attrs) {
    create(
        provider,
        "catalog_tenant",
        &format!("tenant.{id}"),
        tenant_config(id),
    )
    .await;
    let address = format!("tenant.{id}.database.sqlite");
    let created = create(provider, "sqlite_database", &address, config).await;
    (address, created)
}

fn database_read(address: &str, prior: &Attrs) -> ReadRequest {
    ReadRequest {
        type_name: "sqlite_database".to_owned(),
        address: address.to_owned(),
        prior: prior.clone(),
    }
}

/// Waits until a file written now gets a later mtime than `path` has, so a
/// write to `path` from here on changes its mtime. File timestamps advance
/// in coarse ticks, and writes within one tick keep the same mtime.
fn wait_for_next_timestamp_tick(directory: &Path, path: &Path) {
    let recorded = std::fs::metadata(path).unwrap().modified().unwrap();
    let probe = directory.join("timestamp-probe");
    for _ in 0..1000 {
        std::fs::write(&probe, b"").unwrap();
        if std::fs::metadata(&probe).unwrap().modified().unwrap() > recorded {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("file timestamps did not advance past `{}`", path.display());
}

fn set_secure_delete_off(file: &Connection) {
    file.execute(
        "UPDATE _tenancy_settings SET value = 0 WHERE name = 'secure_delete'",
        [],
    )
    .unwrap();
}

#[tokio::test]
async fn unchanged_files_are_not_reopened() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    let mut rollback = database_config("rollback");
    rollback.insert("journal_mode".to_owned(), Value::string("delete"));
    rollback.insert("secure_delete".to_owned(), Value::Bool(false));
    let mut unlimited = database_config("unlimited");
    unlimited.insert("max_size_mb".to_owned(), Value::Null);
    unlimited.insert("audit_logging".to_owned(), Value::Bool(false));
    let mut created = Vec::new();
    for (id, config) in [
        ("acme", database_config("acme")),
        ("rollback", rollback),
        ("unlimited", unlimited),
    ] {
        created.push(with_database(&provider, id, config).await);
    }
    let requests: Vec<ReadRequest> = created
        .iter()
        .map(|(address, prior)| database_read(address, prior))
        .collect();

    let fast: Vec<_> = provider.read(&requests).await;

    assert_eq!(provider.full_inspections(), 0, "no file is opened");
    for ((address, prior), result) in created.iter().zip(&fast) {
        assert_eq!(result.as_ref().unwrap().as_ref(), Some(prior), "{address}");
    }

    // Without the recorded inspections, refresh opens every file and must
    // read the same values.
    Connection::open(catalog_path(&directory))
        .unwrap()
        .execute("DELETE FROM _tenancy_file_inspections", [])
        .unwrap();
    let full: Vec<_> = provider.read(&requests).await;

    assert_eq!(provider.full_inspections(), 3, "every file is opened");
    for (address, (fast, full)) in requests.iter().zip(fast.into_iter().zip(full)) {
        assert_eq!(fast.unwrap(), full.unwrap(), "{}", address.address);
    }
}

#[tokio::test]
async fn dropped_inspection_table_reopens_files() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    let (address, prior) = with_database(&provider, "acme", database_config("acme")).await;
    Connection::open(catalog_path(&directory))
        .unwrap()
        .execute_batch("DROP TABLE _tenancy_file_inspections")
        .unwrap();

    let read = provider.read(&[database_read(&address, &prior)]).await;

    assert_eq!(read[0].as_ref().unwrap().as_ref(), Some(&prior));
    assert_eq!(provider.full_inspections(), 1);
}

#[tokio::test]
async fn hand_edited_file_settings_are_drift() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;

    // Rollback journaling increments the header's change counter on every
    // commit, so an edit right after apply changes the fingerprint.
    let mut rollback = database_config("rollback");
    rollback.insert("journal_mode".to_owned(), Value::string("delete"));
    let (rollback_address, rollback_prior) = with_database(&provider, "rollback", rollback).await;
    set_secure_delete_off(&Connection::open(database_path(&directory, "rollback")).unwrap());

    // In WAL mode, the checkpoint when the editing connection closes
    // changes the main file's mtime, once the timestamp has moved on.
    let (wal_address, wal_prior) =
        with_database(&provider, "checkpointed", database_config("checkpointed")).await;
    let wal_path = database_path(&directory, "checkpointed");
    wait_for_next_timestamp_tick(directory.path(), &wal_path);
    set_secure_delete_off(&Connection::open(&wal_path).unwrap());

    // An edit still in the `-wal` file of an open connection.
    let (open_address, open_prior) =
        with_database(&provider, "open", database_config("open")).await;
    let application = Connection::open(database_path(&directory, "open")).unwrap();
    set_secure_delete_off(&application);

    let requests = [
        database_read(&rollback_address, &rollback_prior),
        database_read(&wal_address, &wal_prior),
        database_read(&open_address, &open_prior),
    ];
    let results = provider.read(&requests).await;

    for (request, result) in requests.iter().zip(results) {
        let refreshed = result.unwrap().unwrap();
        assert_eq!(
            refreshed["secure_delete"],
            Value::Bool(false),
            "{}",
            request.address
        );
    }
    assert_eq!(provider.full_inspections(), 3);
}

#[tokio::test]
async fn table_added_after_apply_clears_audit_logging() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    let (address, created) = with_database(&provider, "acme", database_config("acme")).await;

    // The new table changes the schema cookie, so the fingerprint differs
    // even within one file timestamp tick.
    Connection::open(database_path(&directory, "acme"))
        .unwrap()
        .execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        .unwrap();

    let refreshed = read_one(&provider, "sqlite_database", &address, &created)
        .await
        .unwrap();
    assert_eq!(refreshed["audit_logging"], Value::Bool(false));
    assert_eq!(provider.full_inspections(), 1);
}

#[tokio::test]
async fn journal_mode_switched_to_wal_is_drift() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    let mut config = database_config("acme");
    config.insert("journal_mode".to_owned(), Value::string("delete"));
    let (address, created) = with_database(&provider, "acme", config).await;

    let file = Connection::open(database_path(&directory, "acme")).unwrap();
    let _: String = file
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .unwrap();
    drop(file);

    let refreshed = read_one(&provider, "sqlite_database", &address, &created)
        .await
        .unwrap();
    assert_eq!(refreshed["journal_mode"], Value::string("wal"));
}

#[tokio::test]
async fn deleted_database_forgets_its_fingerprint() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    let (address, created) = with_database(&provider, "acme", database_config("acme")).await;
    let catalog = Connection::open(catalog_path(&directory)).unwrap();
    let recorded = |catalog: &Connection| -> i64 {
        catalog
            .query_row(
                "SELECT count(*) FROM _tenancy_file_inspections WHERE tenant_id = 'acme'",
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    assert_eq!(recorded(&catalog), 1);

    delete(&provider, "sqlite_database", &address, &created).await;

    assert_eq!(recorded(&catalog), 0);
}

#[tokio::test]
async fn catalog_at_version_one_upgrades_and_reads_files() {
    let directory = tempfile::tempdir().unwrap();
    let provider = configured(&directory).await;
    create(&provider, "catalog_tier", "tier.pro", tier_config("pro")).await;
    let (address, created) = with_database(&provider, "acme", database_config("acme")).await;
    drop(provider);
    wait_for_catalog_close(&catalog_path(&directory));
    // Turn the catalog back into what version 1 created.
    Connection::open(catalog_path(&directory))
        .unwrap()
        .execute_batch(
            "DROP TABLE _tenancy_file_inspections;
             DELETE FROM schema_migrations WHERE version = 2;",
        )
        .unwrap();

    let provider = configured(&directory).await;

    let refreshed = read_one(&provider, "sqlite_database", &address, &created).await;
    assert_eq!(refreshed, Some(created.clone()));
    assert_eq!(provider.full_inspections(), 1, "nothing recorded yet");
    let updated = update(
        &provider,
        "sqlite_database",
        &address,
        &created,
        database_config("acme"),
    )
    .await;
    let refreshed = read_one(&provider, "sqlite_database", &address, &updated).await;
    assert_eq!(refreshed, Some(updated));
    assert_eq!(provider.full_inspections(), 1, "the update recorded one");
}
