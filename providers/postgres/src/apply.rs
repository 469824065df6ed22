//! Create, update and delete of a tenant's role and isolation objects.
//!
//! Create and update share one idempotent "converge" step that brings the
//! role settings and the database, schema or row-level security objects to
//! the spec, so an update also repairs drift that refresh found. Steps that
//! touch objects shared by tenants run in one transaction under an advisory
//! lock in the shared database: PostgreSQL reports "tuple concurrently
//! updated" when two sessions grant on the same object at once.

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::connection::Server;
use crate::credentials::{self, generate_password, scram_verifier};
use crate::error::{Error, Result, query};
use crate::rls;
use crate::spec::{Isolation, TenantSpec};
use crate::sql::{TableName, ident, literal};

/// The advisory lock key that serialises changes to shared objects in a
/// shared database: the ASCII bytes of "tenancy".
pub const SHARED_LOCK_KEY: i64 = 0x0074_656e_616e_6379;

/// The password a converge step sets, and when it was set.
pub struct Credentials {
    /// The plaintext password, for the tenant URL.
    pub password: String,
    /// When it was set, RFC 3339.
    pub updated_at: String,
}

/// Creates the role and its isolation objects. Fails with a conflict when
/// the role exists already; undoes what it made when a later step fails.
pub async fn create(server: &Server, spec: &TenantSpec) -> Result<Credentials> {
    let client = server.connect().await?;
    if role_exists(&client, &spec.role).await? {
        return Err(Error::Conflict(format!(
            "role `{}` exists already on {}",
            spec.role,
            server.target(None)
        )));
    }
    let credentials = Credentials {
        password: generate_password(),
        updated_at: credentials::now_text(),
    };
    let statement = format!("CREATE ROLE {}", ident(&spec.role));
    client
        .batch_execute(&statement)
        .await
        .map_err(query(format!("create role `{}`", spec.role)))?;

    let mut result = converge_role(&client, spec, &credentials.updated_at, Some(&credentials.password)).await;
    if result.is_ok() {
        result = converge_isolation(server, &client, spec, &[]).await;
    }
    if let Err(error) = result {
        if let Err(cleanup) = delete(server, spec).await {
            tracing::warn!(role = %spec.role, error = %cleanup, "failed to undo a partial create");
        }
        return Err(error);
    }
    Ok(credentials)
}

/// Brings an existing role and its objects to the spec. With `rotated`
/// set, the role gets that new password; otherwise its password stays and
/// `kept_updated_at` is the time it was set. `prior_tables` are the tables
/// granted before, so grants on tables no longer listed are revoked.
pub async fn update(
    server: &Server,
    spec: &TenantSpec,
    prior_tables: &[TableName],
    rotated: Option<&Credentials>,
    kept_updated_at: &str,
) -> Result<()> {
    let client = server.connect().await?;
    if !role_exists(&client, &spec.role).await? {
        return Err(Error::NotFound(format!(
            "role `{}` does not exist on {}; refresh to plan its creation",
            spec.role,
            server.target(None)
        )));
    }
    match rotated {
        Some(credentials) => converge_role(&client, spec, &credentials.updated_at, Some(&credentials.password)).await?,
        None => converge_role(&client, spec, kept_updated_at, None).await?,
    }
    converge_isolation(server, &client, spec, prior_tables).await
}

/// Sets the role's attributes, settings and metadata comment in one
/// transaction.
async fn converge_role(client: &Client, spec: &TenantSpec, updated_at: &str, new_password: Option<&str>) -> Result<()> {
    let role = ident(&spec.role);
    let valid_until = credentials::valid_until(updated_at, spec.password_rotation_days)
        .unwrap_or_else(|| "infinity".into());
    let mut statements = vec![format!(
        "ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS \
         CONNECTION LIMIT {} VALID UNTIL {}",
        spec.connection_limit,
        literal(&valid_until)
    )];
    if let Some(password) = new_password {
        let verifier = scram_verifier(password);
        statements.push(format!("ALTER ROLE {role} WITH PASSWORD {}", literal(&verifier)));
    }
    statements.push(setting(&role, "statement_timeout", spec.statement_timeout_ms.map(|ms| ms.to_string())));
    statements.push(setting(
        &role,
        "idle_in_transaction_session_timeout",
        spec.idle_timeout_ms.map(|ms| ms.to_string()),
    ));
    statements.push(setting(&role, "log_statement", spec.audit_logging.then(|| literal("all"))));
    statements.push(setting(&role, "search_path", spec.schema().map(ident)));
    statements.push(format!(
        "COMMENT ON ROLE {role} IS {}",
        literal(&spec.comment(updated_at))
    ));

    let batch = format!("BEGIN; {}; COMMIT;", statements.join("; "));
    client
        .batch_execute(&batch)
        .await
        .map_err(query(format!("set attributes and settings of role `{}`", spec.role)))
}

fn setting(role: &str, name: &str, value: Option<String>) -> String {
    match value {
        Some(value) => format!("ALTER ROLE {role} SET {name} = {value}"),
        None => format!("ALTER ROLE {role} RESET {name}"),
    }
}

async fn converge_isolation(server: &Server, client: &Client, spec: &TenantSpec, prior_tables: &[TableName]) -> Result<()> {
    match spec.isolation {
        Isolation::Database => converge_own_database(client, spec).await,
        Isolation::Schema | Isolation::Row => converge_shared(server, client, spec, prior_tables).await,
    }
}

/// Makes the tenant's own database exist, owned by the role, with CONNECT
/// and TEMPORARY revoked from PUBLIC.
async fn converge_own_database(client: &Client, spec: &TenantSpec) -> Result<()> {
    let database = ident(&spec.database);
    let role = ident(&spec.role);
    if !database_exists(client, &spec.database).await? {
        let statement = format!("CREATE DATABASE {database} OWNER {role}");
        client
            .batch_execute(&statement)
            .await
            .map_err(query(format!("create database `{}`", spec.database)))?;
    }
    let statements = format!(
        "ALTER DATABASE {database} OWNER TO {role}; \
         REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM PUBLIC"
    );
    client
        .batch_execute(&statements)
        .await
        .map_err(query(format!("restrict access to database `{}`", spec.database)))
}

/// Makes the shared database exist and sets up the tenant's schema or its
/// row-level security grants in it.
async fn converge_shared(server: &Server, admin: &Client, spec: &TenantSpec, prior_tables: &[TableName]) -> Result<()> {
    ensure_shared_database(admin, &spec.database).await?;
    let mut shared = server.connect_to(&spec.database).await?;
    let transaction = shared
        .transaction()
        .await
        .map_err(query(format!("start a transaction in `{}`", spec.database)))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&SHARED_LOCK_KEY])
        .await
        .map_err(query(format!("lock shared objects in `{}`", spec.database)))?;

    let role = ident(&spec.role);
    let statements = format!(
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT CONNECT ON DATABASE {} TO {role}",
        ident(&spec.database)
    );
    transaction
        .batch_execute(&statements)
        .await
        .map_err(query(format!("grant `{}` access to `{}`", spec.role, spec.database)))?;

    match spec.isolation {
        Isolation::Schema => converge_schema(&transaction, spec).await?,
        _ => rls::converge(&transaction, spec, prior_tables).await?,
    }
    transaction
        .commit()
        .await
        .map_err(query(format!("commit changes in `{}`", spec.database)))
}

/// Creates the shared database when missing. A new shared database gets
/// CONNECT and TEMPORARY revoked from PUBLIC; an existing one is left as it
/// is, because other applications may rely on its grants.
async fn ensure_shared_database(admin: &Client, database: &str) -> Result<()> {
    if database_exists(admin, database).await? {
        return Ok(());
    }
    let statement = format!("CREATE DATABASE {}", ident(database));
    match admin.batch_execute(&statement).await {
        Ok(()) => {}
        // Another tenant's apply created it at the same moment.
        Err(error) if error.code() == Some(&SqlState::DUPLICATE_DATABASE) => return Ok(()),
        Err(error) => return Err(query(format!("create shared database `{database}`"))(error)),
    }
    let statement = format!("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC", ident(database));
    admin
        .batch_execute(&statement)
        .await
        .map_err(query(format!("restrict access to shared database `{database}`")))
}

/// Makes the tenant's schema exist, owned by the role, with every privilege
/// of other roles on it revoked.
async fn converge_schema(transaction: &tokio_postgres::Transaction<'_>, spec: &TenantSpec) -> Result<()> {
    let schema_name = spec.schema().unwrap_or(&spec.role);
    let schema = ident(schema_name);
    let role = ident(&spec.role);
    let statements = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}; \
         ALTER SCHEMA {schema} OWNER TO {role}; \
         REVOKE ALL ON SCHEMA {schema} FROM PUBLIC"
    );
    transaction
        .batch_execute(&statements)
        .await
        .map_err(query(format!("create schema `{schema_name}`")))?;

    let grantees = transaction
        .query(
            "SELECT DISTINCT g.rolname::text FROM pg_namespace n, aclexplode(n.nspacl) a \
             JOIN pg_roles g ON g.oid = a.grantee \
             WHERE n.nspname = $1 AND a.grantee <> n.nspowner",
            &[&schema_name],
        )
        .await
        .map_err(query(format!("list grants on schema `{schema_name}`")))?;
    for row in grantees {
        let grantee: String = row.get(0);
        let statement = format!("REVOKE ALL ON SCHEMA {schema} FROM {}", ident(&grantee));
        transaction
            .batch_execute(&statement)
            .await
            .map_err(query(format!("revoke `{grantee}`'s access to schema `{schema_name}`")))?;
    }
    Ok(())
}

/// Deletes the role and everything it owns: its database, or its schema and
/// grants in the shared database. Objects already gone are skipped.
pub async fn delete(server: &Server, spec: &TenantSpec) -> Result<()> {
    let client = server.connect().await?;
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
            &[&spec.role],
        )
        .await
        .map_err(query(format!("end the sessions of role `{}`", spec.role)))?;

    let role_present = role_exists(&client, &spec.role).await?;
    match spec.isolation {
        Isolation::Database => {
            let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&spec.database));
            client
                .batch_execute(&statement)
                .await
                .map_err(query(format!("drop database `{}`", spec.database)))?;
        }
        Isolation::Schema | Isolation::Row => {
            if role_present && database_exists(&client, &spec.database).await? {
                drop_from_shared(server, spec).await?;
            }
        }
    }
    if role_present {
        let statement = format!("DROP ROLE IF EXISTS {}", ident(&spec.role));
        client
            .batch_execute(&statement)
            .await
            .map_err(query(format!("drop role `{}`", spec.role)))?;
    }
    Ok(())
}

async fn drop_from_shared(server: &Server, spec: &TenantSpec) -> Result<()> {
    let mut shared = server.connect_to(&spec.database).await?;
    let transaction = shared
        .transaction()
        .await
        .map_err(query(format!("start a transaction in `{}`", spec.database)))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&SHARED_LOCK_KEY])
        .await
        .map_err(query(format!("lock shared objects in `{}`", spec.database)))?;
    let mut statements = Vec::new();
    if let Some(schema) = spec.schema() {
        statements.push(format!("DROP SCHEMA IF EXISTS {} CASCADE", ident(schema)));
    }
    // DROP OWNED also revokes the role's privileges here and on shared
    // objects such as the database itself.
    statements.push(format!("DROP OWNED BY {}", ident(&spec.role)));
    transaction
        .batch_execute(&statements.join("; "))
        .await
        .map_err(query(format!("drop the objects and grants of `{}` in `{}`", spec.role, spec.database)))?;
    transaction
        .commit()
        .await
        .map_err(query(format!("commit changes in `{}`", spec.database)))
}

/// Returns true when the role exists.
pub async fn role_exists(client: &Client, role: &str) -> Result<bool> {
    let row = client
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", &[&role])
        .await
        .map_err(query(format!("look up role `{role}`")))?;
    Ok(row.get(0))
}

/// Returns true when the database exists.
pub async fn database_exists(client: &Client, database: &str) -> Result<bool> {
    let row = client
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", &[&database])
        .await
        .map_err(query(format!("look up database `{database}`")))?;
    Ok(row.get(0))
}
