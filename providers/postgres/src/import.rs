//! Import: adopts an existing tenant role with its database or schema.
//!
//! The import id is `TENANT_OR_ROLE[@DATABASE]`: `acme`, `tenant_acme`, or
//! `tenant_acme@tenancy_shared` for a role without the provider's metadata
//! comment whose data lives in a shared database. The password cannot be
//! read back, so an imported tenant has no password in state and the next
//! plan sets a new one.

use tenancy_sdk::{Attrs, ProviderResult, Value};
use tokio_postgres::Client;

use crate::apply::database_exists;
use crate::connection::Server;
use crate::error::{Error, Result, query};
use crate::read::{RoleRow, read_many, read_roles};
use crate::rls::POLICY_NAME;
use crate::spec::{Isolation, Metadata, ROLE_PREFIX, TenantSpec, check_tenant_id, role_name, tables_value};
use crate::sql::TableName;

/// Reads the tenant named by `id` and returns its attributes.
pub async fn import(server: &Server, id: &str, default_tables: &[TableName], address: &str) -> ProviderResult<Attrs> {
    let (spec, prior) = discover(server, id, default_tables)
        .await
        .map_err(|error| error.for_resource(address))?;
    let role = spec.role.clone();
    let item = (spec, prior, address.to_owned());
    let mut attrs = match read_many(server, std::slice::from_ref(&item)).await.remove(0)? {
        Some(attrs) => attrs,
        None => {
            let error = Error::NotFound(format!("role `{role}` disappeared during import"));
            return Err(error.for_resource(address));
        }
    };
    attrs.insert("password", Value::Null);
    attrs.insert("url", Value::Null);
    attrs.get_or_insert("password_updated_at", Value::Null);
    Ok(attrs)
}

/// Finds the role and works out its isolation, shared database and tables.
async fn discover(server: &Server, id: &str, default_tables: &[TableName]) -> Result<(TenantSpec, Attrs)> {
    let (name, database) = match id.split_once('@') {
        Some((name, database)) => (name, Some(database)),
        None => (id, None),
    };
    let admin = server.connect().await?;
    let (role, row) = find_role(&admin, name, server).await?;
    let metadata = Metadata::parse(row.comment.as_deref());
    let tenant_id = metadata
        .tenant_id
        .clone()
        .unwrap_or_else(|| role.trim_start_matches(ROLE_PREFIX).to_owned());
    check_tenant_id(&tenant_id)?;
    let shared_database = database.map(str::to_owned).or(metadata.database.clone());
    let isolation = detect_isolation(server, &admin, &role, &metadata, shared_database.as_deref()).await?;

    let mut prior = Attrs::new();
    prior.insert("tenant_id", tenant_id.into());
    prior.insert("isolation", isolation.as_str().into());
    prior.insert("database", shared_database.clone().map(Value::from).unwrap_or_default());
    prior.insert("ssl_required", metadata.ssl_required.unwrap_or(false).into());
    if isolation == Isolation::Row {
        let database = shared_database.as_deref().unwrap_or_default();
        let mut tables = granted_tables(server, database, &role).await?;
        if tables.is_empty() {
            tables = default_tables.to_vec();
        }
        prior.insert("tables", tables_value(&tables));
    }
    let spec = TenantSpec::from_attrs(&prior, default_tables)?;
    Ok((spec, prior))
}

async fn find_role(admin: &Client, name: &str, server: &Server) -> Result<(String, RoleRow)> {
    let mut candidates = Vec::new();
    if name.starts_with(ROLE_PREFIX) {
        candidates.push(name.to_owned());
    }
    candidates.push(role_name(name));
    let mut roles = read_roles(admin, &candidates).await?;
    for candidate in &candidates {
        if let Some(row) = roles.remove(candidate) {
            return Ok((candidate.clone(), row));
        }
    }
    Err(Error::NotFound(format!(
        "no role `{}` on {}; the import id is a tenant id or a role name",
        candidates.join("` or `"),
        server.target(None)
    )))
}

async fn detect_isolation(
    server: &Server,
    admin: &Client,
    role: &str,
    metadata: &Metadata,
    shared_database: Option<&str>,
) -> Result<Isolation> {
    if let Some(isolation) = &metadata.isolation {
        return Isolation::parse(isolation);
    }
    let owned = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND pg_get_userbyid(datdba) = $1)",
            &[&role],
        )
        .await
        .map_err(query(format!("look up the database of role `{role}`")))?;
    if owned.get(0) {
        return Ok(Isolation::Database);
    }
    let Some(database) = shared_database else {
        return Err(Error::Invalid(format!(
            "role `{role}` owns no database of its name and carries no tenancy metadata; \
             for schema or row isolation, import it as `{role}@DATABASE`"
        )));
    };
    if !database_exists(admin, database).await? {
        return Err(Error::NotFound(format!("database `{database}` does not exist")));
    }
    let client = server.connect_to(database).await?;
    let schema = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1 AND pg_get_userbyid(nspowner) = $1)",
            &[&role],
        )
        .await
        .map_err(query(format!("look up the schema of role `{role}` in `{database}`")))?;
    Ok(if schema.get(0) { Isolation::Schema } else { Isolation::Row })
}

/// Lists the tables under the provider's policy that the role may read.
async fn granted_tables(server: &Server, database: &str, role: &str) -> Result<Vec<TableName>> {
    let client = server.connect_to(database).await?;
    let rows = client
        .query(
            "SELECT p.schemaname::text, p.tablename::text FROM pg_policies p \
             WHERE p.policyname = $1 \
               AND has_table_privilege($2, format('%I.%I', p.schemaname, p.tablename), 'SELECT')",
            &[&POLICY_NAME, &role],
        )
        .await
        .map_err(query(format!("list the tables of role `{role}` in `{database}`")))?;
    let mut tables = Vec::new();
    for row in rows {
        let schema: String = row.get(0);
        let table: String = row.get(1);
        let text = if schema == "public" { table } else { format!("{schema}.{table}") };
        // Tables whose names need quoting cannot be listed in `tables`.
        if let Ok(name) = TableName::parse(&text) {
            tables.push(name);
        }
    }
    tables.sort();
    Ok(tables)
}
