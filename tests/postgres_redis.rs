//! End-to-end tests of the postgres and redis providers and the PostgreSQL
//! state backend, running the `tenancy` binary against real servers.
//!
//! PostgreSQL comes from `TENANCY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, a superuser) and Redis from
//! `TENANCY_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`, a user allowed
//! the ACL commands). `scripts/services start` starts both. Each test names
//! every tenant, database, schema, state and Redis user with its own random
//! suffix, so the tests run in parallel. At the end, also when it fails, a
//! test runs `tenancy destroy` and then drops whatever still ends in its
//! suffix.

#![cfg(all(feature = "postgres", feature = "redis"))]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use redis::Commands;
use serde_json::Value as Json;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row};

/// The table that row-isolated tenants share. The tests create it in each
/// shared database before the first apply.
const SHARED_TABLE: &str = "app.orders";

/// The state name that every test configuration uses, in its own schema.
const STATE_NAME: &str = "e2e";

fn postgres_url() -> String {
    std::env::var("TENANCY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn redis_url() -> String {
    std::env::var("TENANCY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn tenancy_command(dir: &Path, args: &[&str]) -> Command {
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

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    )
}

/// A synchronous PostgreSQL client for checks: a current-thread runtime
/// that only runs while a call waits on it.
struct Postgres {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Postgres {
    fn connect(config: &Config) -> Result<Postgres, tokio_postgres::Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (client, connection) = runtime.block_on(config.connect(NoTls))?;
        runtime.spawn(connection);
        Ok(Postgres { runtime, client })
    }

    /// Connects as the test superuser to `database`.
    fn admin(database: &str) -> Postgres {
        let mut config: Config = postgres_url().parse().unwrap();
        config.dbname(database);
        Postgres::connect(&config).expect("the test PostgreSQL server answers")
    }

    /// Connects with a tenant's URL, optionally to another database.
    fn tenant(url: &str, database: Option<&str>) -> Result<Postgres, tokio_postgres::Error> {
        let mut config: Config = url.parse().unwrap();
        if let Some(database) = database {
            config.dbname(database);
        }
        Postgres::connect(&config)
    }

    fn execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.runtime.block_on(self.client.batch_execute(sql))
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.runtime.block_on(self.client.query(sql, params))
    }

    fn modified(&self, sql: &str) -> Result<u64, tokio_postgres::Error> {
        self.runtime.block_on(self.client.execute(sql, &[]))
    }

    fn strings(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> BTreeSet<String> {
        self.query(sql, params)
            .unwrap()
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect()
    }
}

/// Returns the server's message for an error the server reported, or the
/// driver's text for any other error.
fn server_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => error.to_string(),
    }
}

/// Returns the values of `column` in the catalog `table` that end in `suffix`.
fn names_ending_in(client: &Postgres, table: &str, column: &str, suffix: &str) -> BTreeSet<String> {
    client.strings(
        &format!("SELECT {column}::text FROM {table} WHERE right({column}, length($1)) = $1"),
        &[&suffix],
    )
}

fn redis_admin() -> redis::Connection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .expect("the test Redis server answers")
}

fn redis_users_ending_in(suffix: &str) -> BTreeSet<String> {
    let users: Vec<String> = redis::cmd("ACL")
        .arg("USERS")
        .query(&mut redis_admin())
        .unwrap();
    users
        .into_iter()
        .filter(|user| user.ends_with(suffix))
        .collect()
}

/// One tenant of a test configuration.
struct Tenant {
    id: String,
    tier: &'static str,
    isolation: &'static str,
    redis: bool,
}

/// A configuration in a temporary directory with its own suffix, its shared
/// database and its state schema, removed from both servers on drop.
struct Platform {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    suffix: String,
    tenants: Vec<Tenant>,
}

impl Platform {
    /// Creates the platform for tenants given as (id prefix, isolation,
    /// Redis user or not), all on the `small` tier.
    fn new(layout: &[(&str, &'static str, bool)]) -> Platform {
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let temp = tempfile::tempdir().unwrap();
        let tenants = layout
            .iter()
            .map(|&(prefix, isolation, redis)| Tenant {
                id: format!("{prefix}_{suffix}"),
                tier: "small",
                isolation,
                redis,
            })
            .collect();
        let platform = Platform {
            dir: temp.path().to_path_buf(),
            _temp: temp,
            suffix,
            tenants,
        };
        platform.create_shared_database();
        platform.write_config();
        platform
    }

    fn shared_database(&self) -> String {
        format!("shared_{}", self.suffix)
    }

    fn state_schema(&self) -> String {
        format!("state_{}", self.suffix)
    }

    fn tenant(&self, prefix: &str) -> &Tenant {
        let id = format!("{prefix}_{}", self.suffix);
        self.tenants.iter().find(|tenant| tenant.id == id).unwrap()
    }

    /// Creates the shared database with the table that row isolation needs,
    /// as an application would before its first apply.
    fn create_shared_database(&self) {
        let database = self.shared_database();
        let admin = Postgres::admin("postgres");
        // CREATE DATABASE cannot share a statement batch, which runs as one
        // transaction.
        admin
            .execute(&format!("CREATE DATABASE {database}"))
            .unwrap();
        admin
            .execute(&format!(
                "REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM PUBLIC"
            ))
            .unwrap();
        Postgres::admin(&database)
            .execute(&format!(
                "CREATE SCHEMA app; \
                 CREATE TABLE {SHARED_TABLE} (tenant_id text NOT NULL, item text NOT NULL)"
            ))
            .unwrap();
    }

    fn write_config(&self) {
        let mut text = format!(
            r#"tenancy {{
  state "postgres" {{
    url    = var.postgres_url
    schema = "{schema}"
    name   = "{STATE_NAME}"
  }}
}}

variable "postgres_url" {{
  type      = string
  default   = "{postgres_url}"
  sensitive = true
}}

variable "redis_url" {{
  type      = string
  default   = "{redis_url}"
  sensitive = true
}}

provider "postgres" {{
  url    = var.postgres_url
  tables = ["{SHARED_TABLE}"]
}}

provider "redis" {{
  url = var.redis_url
}}

tier "small" {{
  price    = 0
  currency = "EUR"

  limits {{
    connections = 5
  }}
}}

tier "large" {{
  price    = 99
  currency = "EUR"

  limits {{
    connections = 50
  }}
}}
"#,
            schema = self.state_schema(),
            postgres_url = postgres_url(),
            redis_url = redis_url(),
        );
        for tenant in &self.tenants {
            text.push_str(&self.tenant_blocks(tenant));
        }
        std::fs::write(self.dir.join("main.hcl"), text).unwrap();
    }

    fn tenant_blocks(&self, tenant: &Tenant) -> String {
        let id = &tenant.id;
        let redis = if tenant.redis {
            "\n  database \"redis\" {}\n"
        } else {
            ""
        };
        let mut text = format!(
            r#"
tenant "{id}" {{
  name   = "Tenant {id}"
  tier   = tier.{tier}
  region = "eu-central-1"

  database "postgres" {{
    isolation = "{isolation}"
    database  = "{shared}"
  }}
{redis}}}

output "{id}_postgres_url" {{
  value     = tenant.{id}.database.postgres.url
  sensitive = true
}}
"#,
            tier = tenant.tier,
            isolation = tenant.isolation,
            shared = self.shared_database(),
        );
        if tenant.redis {
            text.push_str(&format!(
                "\noutput \"{id}_redis_url\" {{\n  value     = tenant.{id}.database.redis.url\n  sensitive = true\n}}\n"
            ));
        }
        text
    }

    fn set_tier(&mut self, prefix: &str, tier: &'static str) {
        let id = format!("{prefix}_{}", self.suffix);
        self.tenants
            .iter_mut()
            .find(|tenant| tenant.id == id)
            .unwrap()
            .tier = tier;
        self.write_config();
    }

    fn run(&self, args: &[&str]) -> Output {
        tenancy_command(&self.dir, args)
            .output()
            .expect("the tenancy binary runs")
    }

    fn apply(&self) -> Output {
        let output = self.run(&["apply", "-auto-approve"]);
        assert!(
            output.status.success(),
            "apply failed: {}",
            describe(&output)
        );
        output
    }

    /// Runs `plan -detailed-exitcode` and returns its exit code and output.
    fn plan(&self) -> (Option<i32>, Output) {
        let output = self.run(&["plan", "-detailed-exitcode"]);
        (output.status.code(), output)
    }

    fn plan_json(&self) -> Json {
        let output = self.run(&["plan", "-json"]);
        assert!(
            output.status.success(),
            "plan -json failed: {}",
            describe(&output)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    fn output(&self, name: &str) -> String {
        let output = self.run(&["output", "-json"]);
        assert!(
            output.status.success(),
            "output failed: {}",
            describe(&output)
        );
        let outputs: Json = serde_json::from_slice(&output.stdout).unwrap();
        outputs[name]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("output `{name}` is missing"))
            .to_owned()
    }

    /// Returns every object on both servers that ends in this platform's
    /// suffix, apart from the shared database and the state schema, which
    /// the test itself creates.
    fn remaining_objects(&self) -> BTreeSet<String> {
        let admin = Postgres::admin("postgres");
        let shared = Postgres::admin(&self.shared_database());
        let suffix = &self.suffix;
        let mut objects = BTreeSet::new();
        for role in names_ending_in(&admin, "pg_roles", "rolname", suffix) {
            objects.insert(format!("role {role}"));
        }
        for database in names_ending_in(&admin, "pg_database", "datname", suffix) {
            if database != self.shared_database() {
                objects.insert(format!("database {database}"));
            }
        }
        for schema in names_ending_in(&shared, "pg_namespace", "nspname", suffix) {
            objects.insert(format!("schema {schema}"));
        }
        for user in redis_users_ending_in(suffix) {
            objects.insert(format!("redis user {user}"));
        }
        objects
    }

    /// Drops whatever still ends in the suffix, after a destroy that may
    /// have failed.
    fn drop_leftovers(&self) {
        let admin = Postgres::admin("postgres");
        let suffix = &self.suffix;
        for database in names_ending_in(&admin, "pg_database", "datname", suffix) {
            let _ = admin.execute(&format!(
                "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
            ));
        }
        for role in names_ending_in(&admin, "pg_roles", "rolname", suffix) {
            let _ = admin.execute(&format!(
                "DROP OWNED BY \"{role}\"; DROP ROLE IF EXISTS \"{role}\""
            ));
        }
        let _ = admin.execute(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.state_schema()
        ));
        let mut redis = redis_admin();
        for user in redis_users_ending_in(suffix) {
            let _: redis::RedisResult<i64> = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(&user)
                .query(&mut redis);
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if self.dir.join("main.hcl").exists() {
            let destroy = self.run(&["destroy", "-auto-approve"]);
            if !destroy.status.success() {
                eprintln!(
                    "cleanup: destroy failed, dropping leftovers: {}",
                    describe(&destroy)
                );
            }
        }
        self.drop_leftovers();
    }
}

/// The objects a plan creates, named as the servers name them.
#[derive(Debug, Default, PartialEq)]
struct PlannedObjects {
    roles: BTreeSet<String>,
    databases: BTreeSet<String>,
    schemas: BTreeSet<String>,
    policy_tables: BTreeSet<String>,
    redis_users: BTreeSet<String>,
}

fn planned_objects(plan: &Json) -> PlannedObjects {
    let mut objects = PlannedObjects::default();
    for change in plan["resource_changes"].as_array().unwrap() {
        if change["change"]["actions"] != serde_json::json!(["create"]) {
            continue;
        }
        let after = &change["change"]["after"];
        let role = format!("tenant_{}", after["tenant_id"].as_str().unwrap_or_default());
        match change["type"].as_str().unwrap() {
            "postgres_database" => {
                match after["isolation"].as_str().unwrap() {
                    "database" => objects.databases.insert(role.clone()),
                    "schema" => objects.schemas.insert(role.clone()),
                    _ => false,
                };
                for table in after["tables"].as_array().unwrap() {
                    objects
                        .policy_tables
                        .insert(table.as_str().unwrap().to_owned());
                }
                objects.roles.insert(role);
            }
            "redis_user" => {
                objects.redis_users.insert(role);
            }
            _ => {}
        }
    }
    objects
}

fn existing_objects(platform: &Platform) -> PlannedObjects {
    let admin = Postgres::admin("postgres");
    let shared = Postgres::admin(&platform.shared_database());
    let suffix = &platform.suffix;
    let mut databases = names_ending_in(&admin, "pg_database", "datname", suffix);
    databases.remove(&platform.shared_database());
    PlannedObjects {
        roles: names_ending_in(&admin, "pg_roles", "rolname", suffix),
        databases,
        schemas: names_ending_in(&shared, "pg_namespace", "nspname", suffix),
        policy_tables: shared.strings(
            "SELECT schemaname || '.' || tablename FROM pg_policies \
             WHERE policyname = 'tenancy_tenant_isolation'",
            &[],
        ),
        redis_users: redis_users_ending_in(suffix),
    }
}

fn connection_limit(role: &str) -> i32 {
    let rows = Postgres::admin("postgres")
        .query(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .unwrap();
    rows.first()
        .unwrap_or_else(|| panic!("role {role} does not exist"))
        .get(0)
}

fn role_exists(role: &str) -> bool {
    !Postgres::admin("postgres")
        .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .unwrap()
        .is_empty()
}

#[test]
fn apply_creates_exactly_planned_objects() {
    let platform = Platform::new(&[
        ("db", "database", true),
        ("sc", "schema", true),
        ("rw", "row", false),
    ]);

    let planned = planned_objects(&platform.plan_json());
    platform.apply();

    let suffix = &platform.suffix;
    let expected = PlannedObjects {
        roles: [
            format!("tenant_db_{suffix}"),
            format!("tenant_sc_{suffix}"),
            format!("tenant_rw_{suffix}"),
        ]
        .into(),
        databases: [format!("tenant_db_{suffix}")].into(),
        schemas: [format!("tenant_sc_{suffix}")].into(),
        policy_tables: [SHARED_TABLE.to_owned()].into(),
        redis_users: [format!("tenant_db_{suffix}"), format!("tenant_sc_{suffix}")].into(),
    };
    assert_eq!(
        planned, expected,
        "the plan creates one object of each kind per tenant"
    );
    assert_eq!(
        existing_objects(&platform),
        planned,
        "apply creates what the plan showed"
    );

    let shared = Postgres::admin(&platform.shared_database());
    let secured = shared
        .query(
            "SELECT relrowsecurity FROM pg_class WHERE oid = $1::text::regclass",
            &[&SHARED_TABLE],
        )
        .unwrap();
    assert!(
        secured[0].get::<_, bool>(0),
        "row-level security is enabled on {SHARED_TABLE}"
    );
    let stored = Postgres::admin("postgres")
        .query(
            &format!(
                "SELECT serial FROM \"{}\".tenancy_state WHERE name = $1",
                platform.state_schema()
            ),
            &[&STATE_NAME],
        )
        .unwrap();
    assert!(
        stored[0].get::<_, i64>(0) >= 1,
        "the state is stored in PostgreSQL"
    );
    assert!(
        !platform.dir.join(".tenancy/state.json").exists(),
        "no local state file is written"
    );
}

#[test]
fn plan_after_apply_is_empty() {
    let platform = Platform::new(&[
        ("db", "database", true),
        ("sc", "schema", false),
        ("rw", "row", false),
    ]);
    platform.apply();

    let (code, plan) = platform.plan();

    assert_eq!(code, Some(0), "{}", describe(&plan));
    assert!(stdout(&plan).contains("No changes"), "{}", describe(&plan));
}

#[test]
fn destroy_leaves_nothing_behind() {
    let platform = Platform::new(&[
        ("db", "database", true),
        ("sc", "schema", true),
        ("rw", "row", false),
    ]);
    platform.apply();
    assert_eq!(
        platform.remaining_objects().len(),
        3 + 1 + 1 + 2,
        "{:?}",
        platform.remaining_objects()
    );

    let destroy = platform.run(&["destroy", "-auto-approve"]);

    assert!(destroy.status.success(), "{}", describe(&destroy));
    assert_eq!(platform.remaining_objects(), BTreeSet::new());
    let shared = Postgres::admin(&platform.shared_database());
    let grants = shared
        .query(
            "SELECT grantee::text FROM information_schema.role_table_grants WHERE grantee LIKE 'tenant\\_%'",
            &[],
        )
        .unwrap();
    assert!(grants.is_empty(), "no table grant to a tenant role remains");
    let list = platform.run(&["state", "list"]);
    assert!(list.status.success(), "{}", describe(&list));
    assert_eq!(stdout(&list).trim(), "", "the state records no resource");
}

#[test]
fn database_tenant_cannot_reach_other_database() {
    let platform = Platform::new(&[("da", "database", false), ("db", "database", false)]);
    platform.apply();
    let first = platform.tenant("da");
    let second = platform.tenant("db");
    let first_url = platform.output(&format!("{}_postgres_url", first.id));
    let second_url = platform.output(&format!("{}_postgres_url", second.id));

    let own = Postgres::tenant(&first_url, None).expect("a tenant connects to its own database");
    let created =
        own.execute("CREATE TABLE secrets (value text); INSERT INTO secrets VALUES ('first')");
    let crossed = Postgres::tenant(&first_url, Some(&format!("tenant_{}", second.id)));
    let reversed = Postgres::tenant(&second_url, Some(&format!("tenant_{}", first.id)));

    assert!(created.is_ok(), "a tenant owns its database: {created:?}");
    for (direction, attempt) in [("first to second", crossed), ("second to first", reversed)] {
        let error = attempt
            .err()
            .unwrap_or_else(|| panic!("{direction}: connected to another tenant's database"));
        let message = server_message(&error);
        assert!(
            message.contains("permission denied for database"),
            "{direction}: {message}"
        );
    }
}

#[test]
fn schema_tenant_cannot_read_other_schema() {
    let platform = Platform::new(&[("sa", "schema", false), ("sb", "schema", false)]);
    platform.apply();
    let first = platform.tenant("sa");
    let second = platform.tenant("sb");
    let first_url = platform.output(&format!("{}_postgres_url", first.id));
    let second_url = platform.output(&format!("{}_postgres_url", second.id));

    let owner = Postgres::tenant(&first_url, None).unwrap();
    owner
        .execute("CREATE TABLE notes (value text); INSERT INTO notes VALUES ('first')")
        .unwrap();
    let intruder = Postgres::tenant(&second_url, None).unwrap();

    let own_rows = owner.query("SELECT value FROM notes", &[]).unwrap();
    assert_eq!(
        own_rows.len(),
        1,
        "the owner reads its own table by its search_path"
    );
    let read = intruder.query(&format!("SELECT value FROM tenant_{}.notes", first.id), &[]);
    let error = read.expect_err("another tenant cannot read the schema");
    assert!(
        server_message(&error).contains("permission denied for schema"),
        "{error:?}"
    );
    let create = intruder.execute("CREATE TABLE public.spill (value text)");
    assert!(
        create.is_err(),
        "no tenant may create tables in the public schema"
    );
}

#[test]
fn row_tenant_sees_only_its_rows() {
    let platform = Platform::new(&[("ra", "row", false), ("rb", "row", false)]);
    platform.apply();
    let first = platform.tenant("ra");
    let second = platform.tenant("rb");
    Postgres::admin(&platform.shared_database())
        .execute(&format!(
            "INSERT INTO {SHARED_TABLE} VALUES ('{a}', 'a1'), ('{a}', 'a2'), ('{b}', 'b1')",
            a = first.id,
            b = second.id
        ))
        .unwrap();
    let url = platform.output(&format!("{}_postgres_url", first.id));
    let tenant = Postgres::tenant(&url, None).unwrap();

    let visible: BTreeSet<String> = tenant
        .query(&format!("SELECT tenant_id FROM {SHARED_TABLE}"), &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let updated = tenant
        .modified(&format!(
            "UPDATE {SHARED_TABLE} SET item = 'changed' WHERE tenant_id = '{}'",
            second.id
        ))
        .unwrap();
    let foreign_insert = tenant.execute(&format!(
        "INSERT INTO {SHARED_TABLE} VALUES ('{}', 'forged')",
        second.id
    ));
    let own_insert = tenant.execute(&format!(
        "INSERT INTO {SHARED_TABLE} VALUES ('{}', 'a3')",
        first.id
    ));

    assert_eq!(visible, BTreeSet::from([first.id.clone()]));
    assert_eq!(updated, 0, "another tenant's rows cannot be updated");
    let error = foreign_insert.expect_err("a row for another tenant cannot be inserted");
    assert!(
        server_message(&error).contains("row-level security"),
        "{error:?}"
    );
    assert!(own_insert.is_ok(), "{own_insert:?}");
}

#[test]
fn redis_tenant_cannot_read_other_namespace() {
    let platform = Platform::new(&[("ka", "row", true), ("kb", "row", true)]);
    platform.apply();
    let first = platform.tenant("ka");
    let second = platform.tenant("kb");
    let first_url = platform.output(&format!("{}_redis_url", first.id));
    let second_url = platform.output(&format!("{}_redis_url", second.id));
    let mut owner = redis::Client::open(second_url)
        .unwrap()
        .get_connection()
        .unwrap();
    let mut intruder = redis::Client::open(first_url)
        .unwrap()
        .get_connection()
        .unwrap();

    let written: redis::RedisResult<()> = owner.set(format!("{}:secret", second.id), "value");
    let own: redis::RedisResult<()> = intruder.set(format!("{}:key", first.id), "value");
    let read: redis::RedisResult<Option<String>> = intruder.get(format!("{}:secret", second.id));

    assert!(written.is_ok(), "{written:?}");
    assert!(own.is_ok(), "{own:?}");
    let error = read.expect_err("a tenant cannot read another tenant's keys");
    // The client renders the server's NOPERM code as `NoPerm`.
    assert!(
        error.to_string().to_uppercase().contains("NOPERM"),
        "{error}"
    );
    let mut admin = redis_admin();
    let _: redis::RedisResult<i64> = redis::cmd("DEL")
        .arg(format!("{}:secret", second.id))
        .arg(format!("{}:key", first.id))
        .query(&mut admin);
}

#[test]
fn tier_change_updates_connection_limit_in_place() {
    let mut platform = Platform::new(&[("tc", "schema", false)]);
    platform.apply();
    let role = format!("tenant_{}", platform.tenant("tc").id);
    assert_eq!(connection_limit(&role), 5);

    platform.set_tier("tc", "large");
    let (code, plan) = platform.plan();

    assert_eq!(code, Some(2), "{}", describe(&plan));
    let text = stdout(&plan);
    let address = format!("tenant.{}.database.postgres", platform.tenant("tc").id);
    assert!(
        text.contains(&format!("{address} will be updated in place")),
        "{text}"
    );
    assert!(text.contains("~ connection_limit"), "{text}");
    assert!(text.contains("5 -> 50"), "{text}");
    assert!(!text.contains("must be replaced"), "{text}");
    assert!(text.contains("0 to add"), "{text}");
    assert!(text.contains("0 to destroy"), "{text}");

    platform.apply();
    assert_eq!(connection_limit(&role), 50);
    let (code, plan) = platform.plan();
    assert_eq!(code, Some(0), "{}", describe(&plan));
}

/// Makes one drift by hand, then checks that a plan reports it with exit
/// code 2 and that apply repairs it.
fn check_drift(
    platform: &Platform,
    kind: &str,
    make_drift: impl Fn(),
    is_repaired: impl Fn() -> bool,
) {
    make_drift();
    assert!(!is_repaired(), "{kind}: the drift was not made");

    let (code, plan) = platform.plan();
    assert_eq!(code, Some(2), "{kind}: {}", describe(&plan));
    assert!(
        stdout(&plan).contains("outside of tenancy"),
        "{kind}: {}",
        describe(&plan)
    );

    platform.apply();
    assert!(is_repaired(), "{kind}: apply did not repair the drift");
    let (code, plan) = platform.plan();
    assert_eq!(code, Some(0), "{kind}: {}", describe(&plan));
}

#[test]
fn drift_is_detected_and_repaired() {
    let platform = Platform::new(&[
        ("dr", "row", false),
        ("dc", "schema", false),
        ("du", "database", true),
    ]);
    platform.apply();
    let dropped_role = format!("tenant_{}", platform.tenant("dr").id);
    let limited_role = format!("tenant_{}", platform.tenant("dc").id);
    let redis_user = format!("tenant_{}", platform.tenant("du").id);

    check_drift(
        &platform,
        "role dropped",
        || {
            Postgres::admin(&platform.shared_database())
                .execute(&format!(
                    "DROP OWNED BY {dropped_role}; DROP ROLE {dropped_role}"
                ))
                .unwrap();
        },
        || role_exists(&dropped_role),
    );
    check_drift(
        &platform,
        "connection limit changed",
        || {
            Postgres::admin("postgres")
                .execute(&format!("ALTER ROLE {limited_role} CONNECTION LIMIT 99"))
                .unwrap();
        },
        || connection_limit(&limited_role) == 5,
    );
    check_drift(
        &platform,
        "ACL user deleted",
        || {
            let deleted: i64 = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(&redis_user)
                .query(&mut redis_admin())
                .unwrap();
            assert_eq!(deleted, 1);
        },
        || redis_users_ending_in(&platform.suffix).contains(&redis_user),
    );
}

/// Waits until `child` has written `text` to its stdout and returns what
/// it wrote.
fn wait_for_output(child: &mut Child, text: &str) -> String {
    let stdout = child.stdout.as_mut().unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen).contains(text) {
        assert!(Instant::now() < deadline, "timed out waiting for {text:?}");
        let read = stdout.read(&mut buffer).unwrap();
        assert!(
            read > 0,
            "the process ended before writing {text:?}:\n{}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn concurrent_applies_serialise_on_state_lock() {
    let platform = Platform::new(&[("lk", "schema", false)]);

    // The first apply holds the lock while it waits at its confirmation prompt.
    let mut first = tenancy_command(&platform.dir, &["apply"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_output(&mut first, "Enter a value:");
    let second = platform.run(&["apply", "-auto-approve"]);

    assert_eq!(second.status.code(), Some(1), "{}", describe(&second));
    let message = stderr(&second);
    assert!(
        message.contains(&format!("PostgreSQL state `{STATE_NAME}`")),
        "{message}"
    );
    assert!(message.contains("is locked by"), "{message}");
    assert!(message.contains("for `apply`"), "{message}");
    assert!(
        message.contains(&format!("pid {}", first.id())),
        "{message}"
    );

    first.stdin.take().unwrap().write_all(b"yes\n").unwrap();
    let finished = first.wait_with_output().unwrap();
    assert!(finished.status.success(), "{}", describe(&finished));
    assert!(role_exists(&format!("tenant_{}", platform.tenant("lk").id)));
    let retried = platform.run(&["apply", "-auto-approve"]);
    assert!(retried.status.success(), "{}", describe(&retried));
    assert!(
        stdout(&retried).contains("No changes"),
        "{}",
        describe(&retried)
    );
}

#[test]
fn saas_platform_example_validates() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/saas-platform");

    let output = tenancy_command(&example, &["validate"]).output().unwrap();

    assert!(output.status.success(), "{}", describe(&output));
    assert!(stdout(&output).contains("is valid"), "{}", describe(&output));
}
