//! Refresh: reads the real state of many tenants from `pg_catalog` with one
//! query per kind of object, whatever the number of tenants.
//!
//! Roles, their settings and databases come from the maintenance database
//! in three queries. Schemas, policies and table grants live in each shared
//! database, so each shared database gets one connection and one query per
//! kind of object for all its tenants.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tenancy_sdk::{Attrs, ProviderResult, Value};
use tokio_postgres::Client;

use crate::attrs::{optional_number, optional_text};
use crate::connection::Server;
use crate::error::{Result, query};
use crate::rls::{POLICY_NAME, RLS_SCHEMA};
use crate::spec::{Isolation, Metadata, TenantSpec, tables_value};
use crate::sql::{self, qualified};

/// A role as the server has it.
#[derive(Debug, Clone)]
pub struct RoleRow {
    /// `rolconnlimit`.
    pub connection_limit: i64,
    /// `rolvaliduntil` as RFC 3339, or none for no limit.
    pub valid_until: Option<String>,
    /// The role comment.
    pub comment: Option<String>,
    /// Settings from `ALTER ROLE … SET`, by name.
    pub settings: BTreeMap<String, String>,
}

/// A database as the server has it.
#[derive(Debug, Clone)]
struct DatabaseRow {
    owner: String,
    public_connect: bool,
}

/// Facts read from one shared database about its tenants.
#[derive(Debug, Default)]
struct SharedFacts {
    /// Schema name → (owner, no privileges granted to other roles).
    schemas: HashMap<String, (String, bool)>,
    function_present: bool,
    /// Quoted table name → row security enabled and policy present.
    tables: HashMap<String, bool>,
    /// (role, quoted table) pairs with every privilege the role needs.
    table_grants: BTreeSet<(String, String)>,
}

/// One tenant to refresh: its spec, its prior attributes and its address.
pub type ReadItem = (TenantSpec, Attrs, String);

/// Reads many tenants. An entry is `Ok(None)` when the role is gone.
pub async fn read_many(server: &Server, items: &[ReadItem]) -> Vec<ProviderResult<Option<Attrs>>> {
    match read_all(server, items).await {
        Ok(results) => results,
        // A failure shared by every entry, such as a refused connection.
        Err(error) => items.iter().map(|(_, _, address)| Err(error.for_resource(address))).collect(),
    }
}

async fn read_all(server: &Server, items: &[ReadItem]) -> Result<Vec<ProviderResult<Option<Attrs>>>> {
    let specs: Vec<&TenantSpec> = items.iter().map(|(spec, _, _)| spec).collect();
    let admin = server.connect().await?;
    let role_names: Vec<String> = specs.iter().map(|spec| spec.role.clone()).collect();
    let roles = read_roles(&admin, &role_names).await?;
    let database_names: Vec<String> = specs.iter().map(|spec| spec.database.clone()).collect();
    let databases = read_databases(&admin, &database_names).await?;
    let connects = read_connect_grants(&admin, &specs).await?;

    // One connection per shared database that exists and has live tenants.
    let mut shared: HashMap<String, Result<SharedFacts>> = HashMap::new();
    for spec in &specs {
        let needs_shared = spec.isolation != Isolation::Database
            && roles.contains_key(&spec.role)
            && databases.contains_key(&spec.database);
        if needs_shared && !shared.contains_key(&spec.database) {
            let members: Vec<&TenantSpec> = specs
                .iter()
                .copied()
                .filter(|other| other.database == spec.database && other.isolation != Isolation::Database)
                .collect();
            let facts = read_shared(server, &spec.database, &members).await;
            shared.insert(spec.database.clone(), facts);
        }
    }

    let mut results = Vec::with_capacity(items.len());
    for (spec, prior, address) in items {
        let Some(role) = roles.get(&spec.role) else {
            results.push(Ok(None));
            continue;
        };
        let intact = match spec.isolation {
            Isolation::Database => databases
                .get(&spec.database)
                .is_some_and(|database| database.owner == spec.role && !database.public_connect),
            _ => match shared.get(&spec.database) {
                None => false,
                Some(Err(error)) => {
                    results.push(Err(error.for_resource(address)));
                    continue;
                }
                Some(Ok(facts)) => {
                    connects.contains(&(spec.role.clone(), spec.database.clone())) && shared_intact(spec, role, facts)
                }
            },
        };
        results.push(Ok(Some(current_attrs(spec, prior, role, intact))));
    }
    Ok(results)
}

/// Returns the prior attributes overwritten with what the server has.
pub fn current_attrs(spec: &TenantSpec, prior: &Attrs, role: &RoleRow, intact: bool) -> Attrs {
    let mut attrs = prior.clone();
    let metadata = Metadata::parse(role.comment.as_deref());
    let mut set = |name: &str, value: Value| {
        attrs.insert(name.to_owned(), value);
    };
    set("id", spec.role.clone().into());
    set("role", spec.role.clone().into());
    set("connection_limit", role.connection_limit.into());
    set("statement_timeout_ms", duration_setting(role, "statement_timeout"));
    set("idle_timeout_ms", duration_setting(role, "idle_in_transaction_session_timeout"));
    let audit = role.settings.get("log_statement").is_some_and(|value| value.trim_matches('\'') == "all");
    set("audit_logging", audit.into());
    set("valid_until", optional_text(role.valid_until.clone()));
    set("isolation_intact", intact.into());
    if let Some(updated_at) = metadata.password_updated_at {
        set("password_updated_at", updated_at.into());
    }
    if let Some(ssl_required) = metadata.ssl_required {
        set("ssl_required", ssl_required.into());
    }
    if spec.isolation == Isolation::Row && prior.get("tables").is_none_or(Value::is_null) {
        set("tables", tables_value(&spec.tables));
    }
    attrs
}

fn duration_setting(role: &RoleRow, name: &str) -> Value {
    match role.settings.get(name) {
        // A value that does not parse still shows as drift, as -1.
        Some(text) => optional_number(Some(sql::parse_duration_ms(text).unwrap_or(-1))),
        None => Value::Null,
    }
}

fn shared_intact(spec: &TenantSpec, role: &RoleRow, facts: &SharedFacts) -> bool {
    match spec.isolation {
        Isolation::Schema => {
            let schema = spec.schema().unwrap_or(&spec.role);
            let owned_and_private = facts
                .schemas
                .get(schema)
                .is_some_and(|(owner, private)| owner == &spec.role && *private);
            let search_path = role
                .settings
                .get("search_path")
                .is_some_and(|path| path.trim_matches('"') == schema);
            owned_and_private && search_path
        }
        Isolation::Row => {
            facts.function_present
                && spec.tables.iter().all(|table| {
                    let name = qualified(table);
                    facts.tables.get(&name).copied().unwrap_or(false)
                        && facts.table_grants.contains(&(spec.role.clone(), name))
                })
        }
        Isolation::Database => false,
    }
}

/// Reads roles, their settings and comments, keyed by role name.
pub async fn read_roles(client: &Client, names: &[String]) -> Result<HashMap<String, RoleRow>> {
    let rows = client
        .query(
            "SELECT r.rolname::text, r.rolconnlimit, \
               CASE WHEN r.rolvaliduntil IS NULL OR NOT isfinite(r.rolvaliduntil) THEN NULL \
                 ELSE to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END, \
               shobj_description(r.oid, 'pg_authid'), \
               COALESCE(s.setconfig, '{}'::text[]) \
             FROM pg_roles r \
             LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid AND s.setdatabase = 0 \
             WHERE r.rolname::text = ANY($1::text[])",
            &[&names],
        )
        .await
        .map_err(query("read tenant roles from pg_roles"))?;
    let mut roles = HashMap::new();
    for row in rows {
        let settings: Vec<String> = row.get(4);
        let settings = settings
            .iter()
            .filter_map(|entry| entry.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let connection_limit: i32 = row.get(1);
        roles.insert(
            row.get(0),
            RoleRow {
                connection_limit: connection_limit.into(),
                valid_until: row.get(2),
                comment: row.get(3),
                settings,
            },
        );
    }
    Ok(roles)
}

async fn read_databases(client: &Client, names: &[String]) -> Result<HashMap<String, DatabaseRow>> {
    let rows = client
        .query(
            "SELECT d.datname::text, pg_get_userbyid(d.datdba)::text, \
               has_database_privilege('public', d.oid, 'CONNECT') \
             FROM pg_database d WHERE d.datname::text = ANY($1::text[])",
            &[&names],
        )
        .await
        .map_err(query("read tenant databases from pg_database"))?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let database = DatabaseRow {
                owner: row.get(1),
                public_connect: row.get(2),
            };
            (row.get(0), database)
        })
        .collect())
}

/// Reads which tenant roles may connect to their shared database.
async fn read_connect_grants(client: &Client, specs: &[&TenantSpec]) -> Result<BTreeSet<(String, String)>> {
    let (roles, databases): (Vec<String>, Vec<String>) = specs
        .iter()
        .filter(|spec| spec.isolation != Isolation::Database)
        .map(|spec| (spec.role.clone(), spec.database.clone()))
        .unzip();
    let rows = client
        .query(
            // CASE makes sure the privilege function never sees a missing
            // role or database, which it would reject with an error.
            "SELECT t.r, t.d FROM unnest($1::text[], $2::text[]) AS t(r, d) \
             WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname::text = t.r) \
                         AND EXISTS (SELECT 1 FROM pg_database WHERE datname::text = t.d) \
                    THEN has_database_privilege(t.r, t.d, 'CONNECT') ELSE false END",
            &[&roles, &databases],
        )
        .await
        .map_err(query("read CONNECT grants on shared databases"))?;
    Ok(rows.into_iter().map(|row| (row.get(0), row.get(1))).collect())
}

async fn read_shared(server: &Server, database: &str, members: &[&TenantSpec]) -> Result<SharedFacts> {
    let client = server.connect_to(database).await?;
    let mut facts = SharedFacts::default();

    let schemas: Vec<String> = members.iter().filter_map(|spec| spec.schema().map(str::to_owned)).collect();
    if !schemas.is_empty() {
        let rows = client
            .query(
                "SELECT n.nspname::text, pg_get_userbyid(n.nspowner)::text, \
                   NOT EXISTS (SELECT 1 FROM aclexplode(n.nspacl) a WHERE a.grantee <> n.nspowner) \
                 FROM pg_namespace n WHERE n.nspname::text = ANY($1::text[])",
                &[&schemas],
            )
            .await
            .map_err(query(format!("read tenant schemas in `{database}`")))?;
        for row in rows {
            facts.schemas.insert(row.get(0), (row.get(1), row.get(2)));
        }
    }

    let row_members: Vec<&&TenantSpec> = members.iter().filter(|spec| spec.isolation == Isolation::Row).collect();
    if !row_members.is_empty() {
        read_row_security(&client, database, &row_members, &mut facts).await?;
    }
    Ok(facts)
}

async fn read_row_security(client: &Client, database: &str, members: &[&&TenantSpec], facts: &mut SharedFacts) -> Result<()> {
    let function = format!("{}.current_tenant()", sql::ident(RLS_SCHEMA));
    let row = client
        .query_one("SELECT to_regprocedure($1) IS NOT NULL", &[&function])
        .await
        .map_err(query(format!("look up the row-isolation function in `{database}`")))?;
    facts.function_present = row.get(0);

    let tables: BTreeSet<String> = members
        .iter()
        .flat_map(|spec| spec.tables.iter().map(qualified))
        .collect();
    let tables: Vec<String> = tables.into_iter().collect();
    let rows = client
        .query(
            "SELECT t.name, c.relrowsecurity AND EXISTS (SELECT 1 FROM pg_policies p \
               WHERE p.schemaname = n.nspname AND p.tablename = c.relname AND p.policyname = $2) \
             FROM unnest($1::text[]) AS t(name) \
             JOIN pg_class c ON c.oid = to_regclass(t.name) \
             JOIN pg_namespace n ON n.oid = c.relnamespace",
            &[&tables, &POLICY_NAME],
        )
        .await
        .map_err(query(format!("read row-level security policies in `{database}`")))?;
    for row in rows {
        facts.tables.insert(row.get(0), row.get(1));
    }

    let (roles, grant_tables): (Vec<String>, Vec<String>) = members
        .iter()
        .flat_map(|spec| spec.tables.iter().map(|table| (spec.role.clone(), qualified(table))))
        .unzip();
    let rows = client
        .query(
            "SELECT t.r, t.tbl FROM unnest($1::text[], $2::text[]) AS t(r, tbl) \
             JOIN pg_class c ON c.oid = to_regclass(t.tbl) \
             WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname::text = t.r) \
               THEN has_schema_privilege(t.r, c.relnamespace, 'USAGE') \
                 AND has_table_privilege(t.r, c.oid, 'SELECT') \
                 AND has_table_privilege(t.r, c.oid, 'INSERT') \
                 AND has_table_privilege(t.r, c.oid, 'UPDATE') \
                 AND has_table_privilege(t.r, c.oid, 'DELETE') \
               ELSE false END",
            &[&roles, &grant_tables],
        )
        .await
        .map_err(query(format!("read table grants in `{database}`")))?;
    for row in rows {
        facts.table_grants.insert((row.get(0), row.get(1)));
    }
    Ok(())
}
