//! Tests of the PostgreSQL provider against a real server.
//!
//! The server comes from `TENANCY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, as `scripts/services start`
//! provides) and must accept a superuser. Each test uses its own random
//! tenant ids and shared database, so tests run in parallel, and a guard
//! drops what a test made even when it fails.

use std::path::PathBuf;

use rand::Rng;
use rand::distr::Alphanumeric;
use tenancy_provider_postgres::PostgresProvider;
use tenancy_sdk::{Attrs, ErrorKind, ImportRequest, Operation, Provider, ProviderContext, ReadRequest, Value};
use tokio_postgres::{Client, NoTls};

const TYPE: &str = "postgres_database";

fn admin_url() -> String {
    std::env::var("TENANCY_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn suffix() -> String {
    let text: String = rand::rng().sample_iter(Alphanumeric).take(10).map(char::from).collect();
    text.to_lowercase()
}

/// Drops the databases, then the roles, a test made, also when it panics.
struct Cleanup {
    databases: Vec<String>,
    roles: Vec<String>,
}

impl Cleanup {
    fn new() -> Self {
        Cleanup {
            databases: Vec::new(),
            roles: Vec::new(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let databases = std::mem::take(&mut self.databases);
        let roles = std::mem::take(&mut self.roles);
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let client = connect(&admin_url()).await;
                for database in databases {
                    let statement = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
                    let _ = client.batch_execute(&statement).await;
                }
                for role in roles {
                    let _ = client.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\"")).await;
                }
            });
        });
        let _ = worker.join();
    }
}

async fn connect(url: &str) -> Client {
    let mut config: tokio_postgres::Config = url.parse().expect("valid URL");
    config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    let (client, connection) = config.connect(NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

async fn try_connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse().expect("valid URL");
    config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn admin_to(database: &str) -> Client {
    let mut config: tokio_postgres::Config = admin_url().parse().unwrap();
    config.dbname(database);
    let (client, connection) = config.connect(NoTls).await.expect("connect as admin");
    tokio::spawn(connection);
    client
}

async fn provider(tables: &[&str]) -> PostgresProvider {
    let mut provider = PostgresProvider::new();
    let mut config = Attrs::new();
    config.insert("url", Value::sensitive(admin_url().into()));
    if !tables.is_empty() {
        config.insert("tables", Value::List(tables.iter().map(|t| Value::from(*t)).collect()));
    }
    let context = ProviderContext {
        working_dir: PathBuf::from("."),
        instance: "postgres".into(),
    };
    provider.configure(&config, &context).await.expect("configure provider");
    provider
}

fn tenant_config(tenant_id: &str, isolation: &str, database: &str) -> Attrs {
    let mut config = Attrs::new();
    config.insert("tenant_id", tenant_id.into());
    config.insert("isolation", isolation.into());
    config.insert("database", database.into());
    config.insert("connection_limit", Value::from(5i64));
    config.insert("statement_timeout_ms", Value::from(30_000i64));
    config.insert("idle_timeout_ms", Value::from(60_000i64));
    config.insert("password_rotation_days", Value::Null);
    config.insert("audit_logging", true.into());
    config.insert("ssl_required", false.into());
    config
}

async fn create(provider: &PostgresProvider, config: &Attrs) -> Attrs {
    let change = provider.plan(TYPE, None, config).expect("plan create");
    provider
        .apply(TYPE, "tenant.test.database.postgres", Operation::Create { planned: &change.planned })
        .await
        .expect("create")
        .expect("attributes after create")
}

async fn refresh(provider: &PostgresProvider, prior: &Attrs) -> Option<Attrs> {
    let request = ReadRequest {
        type_name: TYPE.into(),
        address: "tenant.test.database.postgres".into(),
        prior: prior.clone(),
    };
    provider.read(&[request]).await.remove(0).expect("read")
}

async fn update(provider: &PostgresProvider, prior: &Attrs, config: &Attrs) -> Attrs {
    let change = provider.plan(TYPE, Some(prior), config).expect("plan update");
    assert!(change.requires_replace.is_empty(), "update must be in place: {:?}", change.requires_replace);
    let operation = Operation::Update {
        prior,
        planned: &change.planned,
    };
    provider
        .apply(TYPE, "tenant.test.database.postgres", operation)
        .await
        .expect("update")
        .expect("attributes after update")
}

async fn delete(provider: &PostgresProvider, prior: &Attrs) {
    let result = provider
        .apply(TYPE, "tenant.test.database.postgres", Operation::Delete { prior })
        .await
        .expect("delete");
    assert!(result.is_none());
}

fn url_of(attrs: &Attrs) -> String {
    attrs["url"].as_str().expect("url").to_owned()
}

async fn scalar<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    client: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> T {
    client.query_one(sql, params).await.expect(sql).get(0)
}

#[tokio::test]
async fn database_isolation_creates_role_and_private_database() {
    let id = format!("db_{}", suffix());
    let role = format!("tenant_{id}");
    let mut cleanup = Cleanup::new();
    cleanup.databases.push(role.clone());
    cleanup.roles.push(role.clone());
    let provider = provider(&[]).await;

    let attrs = create(&provider, &tenant_config(&id, "database", "unused")).await;

    let admin = connect(&admin_url()).await;
    let limit: i32 = scalar(&admin, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", &[&role]).await;
    assert_eq!(limit, 5);
    let owner: String = scalar(
        &admin,
        "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
        &[&role],
    )
    .await;
    assert_eq!(owner, role);
    let public_connect: bool = scalar(&admin, "SELECT has_database_privilege('public', $1, 'CONNECT')", &[&role]).await;
    assert!(!public_connect);
    let settings: Vec<String> = scalar(
        &admin,
        "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1",
        &[&role],
    )
    .await;
    assert!(settings.contains(&"statement_timeout=30000".to_owned()), "{settings:?}");
    assert!(settings.contains(&"idle_in_transaction_session_timeout=60000".to_owned()));
    assert!(settings.contains(&"log_statement=all".to_owned()));
    assert_eq!(attrs["role"], Value::from(role.as_str()));
    assert!(attrs["password"].is_sensitive());
    assert!(attrs["password"].as_str().unwrap().len() >= 32);

    let tenant = connect(&url_of(&attrs)).await;
    let user: String = scalar(&tenant, "SELECT current_user::text", &[]).await;
    assert_eq!(user, role);
}

#[tokio::test]
async fn database_tenants_cannot_reach_each_other() {
    let (first, second) = (format!("dba_{}", suffix()), format!("dbb_{}", suffix()));
    let mut cleanup = Cleanup::new();
    for id in [&first, &second] {
        cleanup.databases.push(format!("tenant_{id}"));
        cleanup.roles.push(format!("tenant_{id}"));
    }
    let provider = provider(&[]).await;
    let first_attrs = create(&provider, &tenant_config(&first, "database", "unused")).await;
    let second_attrs = create(&provider, &tenant_config(&second, "database", "unused")).await;

    let owner = connect(&url_of(&first_attrs)).await;
    owner
        .batch_execute("CREATE TABLE secrets (value text); INSERT INTO secrets VALUES ('first only')")
        .await
        .expect("tenant writes its own database");

    let second_url = url_of(&second_attrs);
    let (base, _) = second_url.rsplit_once('/').unwrap();
    let intruder_url = format!("{base}/tenant_{first}");
    let Err(error) = try_connect(&intruder_url).await else {
        panic!("the second tenant must not connect to the first tenant's database");
    };
    let message = error.as_db_error().map(|db_error| db_error.message().to_owned()).unwrap_or_default();
    assert!(message.contains("permission denied for database"), "{error:?}");
}

#[tokio::test]
async fn schema_tenants_cannot_read_each_other() {
    let shared = format!("tenancy_test_{}", suffix());
    let (first, second) = (format!("sa_{}", suffix()), format!("sb_{}", suffix()));
    let mut cleanup = Cleanup::new();
    cleanup.databases.push(shared.clone());
    cleanup.roles.extend([format!("tenant_{first}"), format!("tenant_{second}")]);
    let provider = provider(&[]).await;
    let first_attrs = create(&provider, &tenant_config(&first, "schema", &shared)).await;
    let second_attrs = create(&provider, &tenant_config(&second, "schema", &shared)).await;

    let admin = admin_to(&shared).await;
    let owner: String = scalar(
        &admin,
        "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1",
        &[&format!("tenant_{first}")],
    )
    .await;
    assert_eq!(owner, format!("tenant_{first}"));

    let owner = connect(&url_of(&first_attrs)).await;
    owner
        .batch_execute("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('first only')")
        .await
        .expect("tenant writes its own schema");
    let schema: String = scalar(
        &admin,
        "SELECT schemaname::text FROM pg_tables WHERE tablename = 'notes'",
        &[],
    )
    .await;
    assert_eq!(schema, format!("tenant_{first}"), "search_path puts tables in the tenant schema");

    let intruder = connect(&url_of(&second_attrs)).await;
    let error = intruder
        .query(&format!("SELECT * FROM tenant_{first}.notes"), &[])
        .await
        .expect_err("second tenant must not read the first schema");
    assert!(error.as_db_error().unwrap().message().contains("permission denied"));
    let error = intruder
        .batch_execute("CREATE TABLE public.leak (x int)")
        .await
        .expect_err("tenants must not create in public");
    assert!(error.as_db_error().unwrap().message().contains("permission denied"));
}

#[tokio::test]
async fn row_tenants_see_only_their_rows() {
    let shared = format!("tenancy_test_{}", suffix());
    let (first, second) = (format!("ra_{}", suffix()), format!("rb_{}", suffix()));
    let mut cleanup = Cleanup::new();
    cleanup.databases.push(shared.clone());
    cleanup.roles.extend([format!("tenant_{first}"), format!("tenant_{second}")]);
    let admin = connect(&admin_url()).await;
    admin.batch_execute(&format!("CREATE DATABASE \"{shared}\"")).await.unwrap();
    let shared_admin = admin_to(&shared).await;
    shared_admin
        .batch_execute("CREATE TABLE orders (tenant_id text NOT NULL, item text)")
        .await
        .unwrap();
    let provider = provider(&["orders"]).await;

    let first_attrs = create(&provider, &tenant_config(&first, "row", &shared)).await;
    let second_attrs = create(&provider, &tenant_config(&second, "row", &shared)).await;
    shared_admin
        .execute(
            "INSERT INTO orders VALUES ($1, 'first item'), ($2, 'second item')",
            &[&first, &second],
        )
        .await
        .unwrap();

    assert_eq!(first_attrs["tables"], Value::list(vec!["orders".into()]));
    let policies: i64 = scalar(
        &shared_admin,
        "SELECT count(*) FROM pg_policies WHERE tablename = 'orders' AND policyname = 'tenancy_tenant_isolation'",
        &[],
    )
    .await;
    assert_eq!(policies, 1);

    let tenant = connect(&url_of(&first_attrs)).await;
    let rows = tenant.query("SELECT item FROM orders", &[]).await.unwrap();
    let items: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(items, vec!["first item".to_owned()]);
    let error = tenant
        .execute("INSERT INTO orders VALUES ($1, 'forged')", &[&second])
        .await
        .expect_err("a tenant must not write another tenant's rows");
    assert!(error.as_db_error().unwrap().message().contains("row-level security"));

    let other = connect(&url_of(&second_attrs)).await;
    let count: i64 = scalar(&other, "SELECT count(*) FROM orders", &[]).await;
    assert_eq!(count, 1);
}

#[tokio::test]
async fn connection_limit_change_updates_in_place() {
    let id = format!("cl_{}", suffix());
    let role = format!("tenant_{id}");
    let mut cleanup = Cleanup::new();
    cleanup.databases.push(role.clone());
    cleanup.roles.push(role.clone());
    let provider = provider(&[]).await;
    let attrs = create(&provider, &tenant_config(&id, "database", "unused")).await;
    let mut config = tenant_config(&id, "database", "unused");
    config.insert("connection_limit", Value::from(42i64));

    let change = provider.plan(TYPE, Some(&attrs), &config).unwrap();

    assert!(change.requires_replace.is_empty());
    assert_eq!(change.planned["password"], attrs["password"], "no rotation without a period");
    let updated = update(&provider, &attrs, &config).await;
    let admin = connect(&admin_url()).await;
    let limit: i32 = scalar(&admin, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", &[&role]).await;
    assert_eq!(limit, 42);
    assert_eq!(updated["password"], attrs["password"]);
}

#[tokio::test]
async fn refresh_detects_drift_and_update_repairs_it() {
    let id = format!("dr_{}", suffix());
    let role = format!("tenant_{id}");
    let mut cleanup = Cleanup::new();
    cleanup.databases.push(role.clone());
    cleanup.roles.push(role.clone());
    let provider = provider(&[]).await;
    let config = tenant_config(&id, "database", "unused");
    let attrs = create(&provider, &config).await;
    let unchanged = refresh(&provider, &attrs).await.expect("tenant exists");
    let change = provider.plan(TYPE, Some(&unchanged), &config).unwrap();
    assert_eq!(change.planned, unchanged, "a fresh tenant has no drift");

    let admin = connect(&admin_url()).await;
    admin
        .batch_execute(&format!(
            "ALTER ROLE \"{role}\" CONNECTION LIMIT 99; ALTER ROLE \"{role}\" SET statement_timeout = '1min'; \
             GRANT CONNECT ON DATABASE \"{role}\" TO PUBLIC"
        ))
        .await
        .unwrap();
    let drifted = refresh(&provider, &attrs).await.expect("tenant exists");

    assert_eq!(drifted["connection_limit"], Value::from(99i64));
    assert_eq!(drifted["statement_timeout_ms"], Value::from(60_000i64));
    assert_eq!(drifted["isolation_intact"], Value::from(false));
    let repaired = update(&provider, &drifted, &config).await;
    let public_connect: bool = scalar(&admin, "SELECT has_database_privilege('public', $1, 'CONNECT')", &[&role]).await;
    assert!(!public_connect);
    let after = refresh(&provider, &repaired).await.expect("tenant exists");
    assert_eq!(after["connection_limit"], Value::from(5i64));
    assert_eq!(after["statement_timeout_ms"], Value::from(30_000i64));
    assert_eq!(after["isolation_intact"], Value::from(true));

    admin.batch_execute(&format!("DROP DATABASE \"{role}\"")).await.unwrap();
    admin.batch_execute(&format!("DROP ROLE \"{role}\"")).await.unwrap();
    assert_eq!(refresh(&provider, &repaired).await, None);
}

#[tokio::test]
async fn delete_leaves_nothing_behind() {
    let shared = format!("tenancy_test_{}", suffix());
    let ids = [format!("dd_{}", suffix()), format!("ds_{}", suffix()), format!("dw_{}", suffix())];
    let mut cleanup = Cleanup::new();
    cleanup.databases.extend([shared.clone(), format!("tenant_{}", ids[0])]);
    cleanup.roles.extend(ids.iter().map(|id| format!("tenant_{id}")));
    let admin = connect(&admin_url()).await;
    admin.batch_execute(&format!("CREATE DATABASE \"{shared}\"")).await.unwrap();
    let shared_admin = admin_to(&shared).await;
    shared_admin.batch_execute("CREATE TABLE orders (tenant_id text, item text)").await.unwrap();
    let provider = provider(&["orders"]).await;

    let mut created = Vec::new();
    for (id, isolation) in ids.iter().zip(["database", "schema", "row"]) {
        created.push(create(&provider, &tenant_config(id, isolation, &shared)).await);
    }
    for attrs in &created {
        delete(&provider, attrs).await;
    }

    let roles: Vec<String> = ids.iter().map(|id| format!("tenant_{id}")).collect();
    let left: i64 = scalar(&admin, "SELECT count(*) FROM pg_roles WHERE rolname::text = ANY($1)", &[&roles]).await;
    assert_eq!(left, 0);
    let databases: i64 = scalar(&admin, "SELECT count(*) FROM pg_database WHERE datname::text = ANY($1)", &[&roles]).await;
    assert_eq!(databases, 0);
    let schemas: i64 = scalar(&shared_admin, "SELECT count(*) FROM pg_namespace WHERE nspname::text = ANY($1)", &[&roles]).await;
    assert_eq!(schemas, 0);
    for attrs in &created {
        assert_eq!(refresh(&provider, attrs).await, None);
    }
}

#[tokio::test]
async fn refresh_reads_many_tenants_in_one_call() {
    let shared = format!("tenancy_test_{}", suffix());
    let ids = [format!("ba_{}", suffix()), format!("bb_{}", suffix()), format!("bc_{}", suffix())];
    let mut cleanup = Cleanup::new();
    cleanup.databases.extend([shared.clone(), format!("tenant_{}", ids[0])]);
    cleanup.roles.extend(ids.iter().map(|id| format!("tenant_{id}")));
    let provider = provider(&[]).await;
    let first = create(&provider, &tenant_config(&ids[0], "database", &shared)).await;
    let second = create(&provider, &tenant_config(&ids[1], "schema", &shared)).await;
    let third = create(&provider, &tenant_config(&ids[2], "schema", &shared)).await;
    delete(&provider, &third).await;

    let requests: Vec<ReadRequest> = [&first, &second, &third]
        .into_iter()
        .map(|prior| ReadRequest {
            type_name: TYPE.into(),
            address: "tenant.test.database.postgres".into(),
            prior: prior.clone(),
        })
        .collect();
    let results = provider.read(&requests).await;

    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap().as_ref().unwrap()["isolation_intact"], Value::from(true));
    assert_eq!(results[1].as_ref().unwrap().as_ref().unwrap()["isolation_intact"], Value::from(true));
    assert!(results[2].as_ref().unwrap().is_none());
}

#[tokio::test]
async fn due_rotation_plans_and_sets_new_password() {
    let id = format!("rot_{}", suffix());
    let role = format!("tenant_{id}");
    let mut cleanup = Cleanup::new();
    cleanup.databases.push(role.clone());
    cleanup.roles.push(role.clone());
    let provider = provider(&[]).await;
    let mut config = tenant_config(&id, "database", "unused");
    config.insert("password_rotation_days", Value::from(30i64));
    let attrs = create(&provider, &config).await;
    assert!(attrs["valid_until"].as_str().is_some());

    let mut old = attrs.clone();
    old.insert("password_updated_at", "2020-01-01T00:00:00Z".into());
    let change = provider.plan(TYPE, Some(&old), &config).unwrap();
    assert!(change.requires_replace.is_empty());
    assert!(change.planned["password"].is_unknown());
    assert!(change.planned["password"].is_sensitive());

    let rotated = update(&provider, &old, &config).await;
    assert_ne!(rotated["password"], attrs["password"]);
    assert_ne!(rotated["password_updated_at"], old["password_updated_at"]);
    let tenant = connect(&url_of(&rotated)).await;
    let user: String = scalar(&tenant, "SELECT current_user::text", &[]).await;
    assert_eq!(user, role);
}

#[tokio::test]
async fn import_adopts_existing_tenant() {
    let shared = format!("tenancy_test_{}", suffix());
    let id = format!("imp_{}", suffix());
    let role = format!("tenant_{id}");
    let mut cleanup = Cleanup::new();
    cleanup.databases.push(shared.clone());
    cleanup.roles.push(role.clone());
    let provider = provider(&[]).await;
    let config = tenant_config(&id, "schema", &shared);
    create(&provider, &config).await;

    for import_id in [id.clone(), role.clone()] {
        let request = ImportRequest {
            type_name: TYPE.into(),
            address: "tenant.test.database.postgres".into(),
            id: import_id,
        };
        let imported = provider.import(&request).await.expect("import");

        assert_eq!(imported["tenant_id"], Value::from(id.as_str()));
        assert_eq!(imported["isolation"], Value::from("schema"));
        assert_eq!(imported["database"], Value::from(shared.as_str()));
        assert_eq!(imported["isolation_intact"], Value::from(true));
        assert_eq!(imported["password"], Value::Null);
        let change = provider.plan(TYPE, Some(&imported), &config).unwrap();
        assert!(change.requires_replace.is_empty());
        assert!(change.planned["password"].is_unknown(), "import sets a new password on apply");
    }
}

#[tokio::test]
async fn existing_role_conflicts_on_create() {
    let id = format!("cf_{}", suffix());
    let role = format!("tenant_{id}");
    let mut cleanup = Cleanup::new();
    cleanup.roles.push(role.clone());
    let admin = connect(&admin_url()).await;
    admin.batch_execute(&format!("CREATE ROLE \"{role}\"")).await.unwrap();
    let provider = provider(&[]).await;
    let config = tenant_config(&id, "database", "unused");
    let change = provider.plan(TYPE, None, &config).unwrap();

    let error = provider
        .apply(TYPE, "tenant.conflict.database.postgres", Operation::Create { planned: &change.planned })
        .await
        .expect_err("role exists");

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(error.message.starts_with("tenant.conflict.database.postgres: "));
    assert!(error.hint.as_deref().unwrap_or_default().contains("import"));
}

#[tokio::test]
async fn errors_never_show_the_password() {
    let mut provider = PostgresProvider::new();
    let mut config = Attrs::new();
    config.insert(
        "url",
        Value::sensitive("postgres://postgres:Sup3rSecretPw@127.0.0.1:1/postgres".into()),
    );
    let context = ProviderContext {
        working_dir: PathBuf::from("."),
        instance: "postgres".into(),
    };

    let error = provider.configure(&config, &context).await.expect_err("nothing listens on port 1");

    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(error.hint.as_deref().unwrap_or_default().contains("scripts/services start"));
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains("Sup3rSecretPw"), "{text}");
    }

    let shared = format!("tenancy_test_{}", suffix());
    let id = format!("pw_{}", suffix());
    let mut cleanup = Cleanup::new();
    cleanup.databases.push(shared.clone());
    cleanup.roles.push(format!("tenant_{id}"));
    let provider = self::provider(&["missing_table"]).await;
    let change = provider.plan(TYPE, None, &tenant_config(&id, "row", &shared)).unwrap();
    let error = provider
        .apply(TYPE, "tenant.test.database.postgres", Operation::Create { planned: &change.planned })
        .await
        .expect_err("the listed table does not exist");
    assert_eq!(error.kind, ErrorKind::Invalid);
    assert!(error.message.contains("missing_table"));
    assert!(!format!("{error:?}").contains("SCRAM"), "no verifier in errors");
}

#[tokio::test]
async fn shared_isolation_drift_is_detected_and_repaired() {
    let shared = format!("tenancy_test_{}", suffix());
    let (schema_id, row_id) = (format!("ss_{}", suffix()), format!("rr_{}", suffix()));
    let mut cleanup = Cleanup::new();
    cleanup.databases.push(shared.clone());
    cleanup.roles.extend([format!("tenant_{schema_id}"), format!("tenant_{row_id}")]);
    let admin = connect(&admin_url()).await;
    admin.batch_execute(&format!("CREATE DATABASE \"{shared}\"")).await.unwrap();
    let shared_admin = admin_to(&shared).await;
    shared_admin.batch_execute("CREATE TABLE orders (tenant_id text, item text)").await.unwrap();
    let provider = provider(&["orders"]).await;
    let schema_config = tenant_config(&schema_id, "schema", &shared);
    let row_config = tenant_config(&row_id, "row", &shared);
    let schema_attrs = create(&provider, &schema_config).await;
    let row_attrs = create(&provider, &row_config).await;

    shared_admin
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA \"tenant_{schema_id}\" TO PUBLIC; \
             DROP POLICY tenancy_tenant_isolation ON orders"
        ))
        .await
        .unwrap();
    let schema_drifted = refresh(&provider, &schema_attrs).await.expect("schema tenant exists");
    let row_drifted = refresh(&provider, &row_attrs).await.expect("row tenant exists");

    assert_eq!(schema_drifted["isolation_intact"], Value::from(false));
    assert_eq!(row_drifted["isolation_intact"], Value::from(false));
    let schema_repaired = update(&provider, &schema_drifted, &schema_config).await;
    let row_repaired = update(&provider, &row_drifted, &row_config).await;
    let schema_after = refresh(&provider, &schema_repaired).await.expect("schema tenant exists");
    let row_after = refresh(&provider, &row_repaired).await.expect("row tenant exists");
    assert_eq!(schema_after["isolation_intact"], Value::from(true));
    assert_eq!(row_after["isolation_intact"], Value::from(true));
    let public_usage: bool = scalar(
        &shared_admin,
        "SELECT has_schema_privilege('public', $1, 'USAGE')",
        &[&format!("tenant_{schema_id}")],
    )
    .await;
    assert!(!public_usage);
}
