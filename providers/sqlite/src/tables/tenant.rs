//! `catalog_tenant`: tenants in the `tenants` table, and the database
//! engines that hold each tenant's data in `tenant_databases`.

use rusqlite::{Connection, params};

use super::fields::{Column, Field};
use super::{CatalogTable, row_exists, tables_with_tenant};
use crate::attrs::Input;
use crate::error::{Result, SqliteError};
use crate::schemas::ResourceType;

/// The values `status` accepts.
pub const STATUSES: [&str; 2] = ["active", "suspended"];

/// The `tenants` table.
pub struct Tenants;

/// One validated `tenants` row with its database engines.
pub struct TenantRow {
    tenant_id: String,
    display_name: Option<String>,
    tier: Option<String>,
    security_policy: Option<String>,
    region: Option<String>,
    labels: Option<String>,
    status: String,
    contact_email: Option<String>,
    databases: Vec<String>,
}

impl CatalogTable for Tenants {
    const KIND: ResourceType = ResourceType::Tenant;
    const TABLE: &'static str = "tenants";
    const KEY: &'static str = "tenant_id";
    const COLUMNS: &'static str = "tenant_id, display_name, tier, security_policy, region, labels, status, \
         contact_email, created_at, \
         (SELECT json_group_array(engine ORDER BY position) FROM tenant_databases AS d \
          WHERE d.tenant_id = tenants.tenant_id)";
    const FIELDS: &'static [Field] = &[
        Field::new("contact_email", Column::Text(7)),
        Field::new("created_at", Column::Text(8)),
        Field::new("databases", Column::Json(9)),
        Field::new("display_name", Column::Text(1)),
        Field::new("id", Column::Key(0)),
        Field::new("labels", Column::Json(5)),
        Field::new("region", Column::Text(4)),
        Field::new("security_policy", Column::Text(3)),
        Field::new("status", Column::Text(6)),
        Field::new("tenant_id", Column::Key(0)),
        Field::new("tier", Column::Text(2)),
    ];

    type Row = TenantRow;

    fn parse(input: &Input<'_>) -> Result<TenantRow> {
        let databases = input.strings("databases")?;
        for (index, engine) in databases.iter().enumerate() {
            if databases[..index].contains(engine) {
                return Err(SqliteError::invalid(
                    input.subject(),
                    format!("attribute `databases` lists `{engine}` twice; list each engine once"),
                ));
            }
        }
        Ok(TenantRow {
            tenant_id: input.tenant_id("tenant_id")?,
            display_name: input.string("display_name")?,
            tier: input.reference("tier")?,
            security_policy: input.reference("security_policy")?,
            region: input.string("region")?,
            labels: input.string_map_json("labels")?,
            status: input.choice("status", &STATUSES, STATUSES[0])?,
            contact_email: input.string("contact_email")?,
            databases,
        })
    }

    fn key(row: &TenantRow) -> &str {
        &row.tenant_id
    }

    fn insert(connection: &Connection, row: &TenantRow, now: &str) -> rusqlite::Result<()> {
        let mut statement = connection.prepare_cached(
            "INSERT INTO tenants (tenant_id, display_name, tier, security_policy, region, labels,
                                  status, contact_email, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        )?;
        statement.execute(params![
            row.tenant_id,
            row.display_name,
            row.tier,
            row.security_policy,
            row.region,
            row.labels,
            row.status,
            row.contact_email,
            now
        ])?;
        replace_databases(connection, row)
    }

    fn update(connection: &Connection, row: &TenantRow, now: &str) -> rusqlite::Result<usize> {
        let mut statement = connection.prepare_cached(
            "UPDATE tenants SET display_name = ?2, tier = ?3, security_policy = ?4, region = ?5,
                                labels = ?6, status = ?7, contact_email = ?8, updated_at = ?9
             WHERE tenant_id = ?1",
        )?;
        let changed = statement.execute(params![
            row.tenant_id,
            row.display_name,
            row.tier,
            row.security_policy,
            row.region,
            row.labels,
            row.status,
            row.contact_email,
            now
        ])?;
        if changed > 0 {
            replace_databases(connection, row)?;
        }
        Ok(changed)
    }

    fn missing_reference(
        connection: &Connection,
        row: &TenantRow,
    ) -> rusqlite::Result<Option<String>> {
        missing_tier_or_policy(
            connection,
            row.tier.as_deref(),
            row.security_policy.as_deref(),
        )
    }

    fn dependent_rows(connection: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
        let tables = tables_with_tenant(
            connection,
            &["subscriptions", "monitoring", "database_files"],
            key,
        )?;
        if tables.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!(
            "the tenant still has rows in {}",
            tables.join(", ")
        )))
    }

    /// Removes the tenant's `database_files` rows whose file no longer
    /// exists. Refresh reads such a database as deleted, so no plan deletes
    /// its row, and the row would keep the tenant from being deleted.
    fn remove_orphans(connection: &Connection, key: &str) -> rusqlite::Result<()> {
        let paths: Vec<String> = connection
            .prepare_cached("SELECT path FROM database_files WHERE tenant_id = ?1")?
            .query_map([key], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut remove = connection
            .prepare_cached("DELETE FROM database_files WHERE tenant_id = ?1 AND path = ?2")?;
        for path in paths {
            let missing = matches!(
                std::fs::symlink_metadata(&path),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound
            );
            if missing {
                remove.execute(params![key, path])?;
            }
        }
        Ok(())
    }
}

/// Writes the tenant's `tenant_databases` rows, replacing any it has. A new
/// tenant row can find rows left over: the tenant row may have been deleted
/// by hand with foreign keys off, which skips the `ON DELETE CASCADE`.
fn replace_databases(connection: &Connection, row: &TenantRow) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM tenant_databases WHERE tenant_id = ?1")?
        .execute([&row.tenant_id])?;
    let mut statement = connection.prepare_cached(
        "INSERT INTO tenant_databases (tenant_id, engine, position) VALUES (?1, ?2, ?3)",
    )?;
    for (position, engine) in row.databases.iter().enumerate() {
        statement.execute(params![row.tenant_id, engine, position as i64])?;
    }
    Ok(())
}

/// Names the tier or policy that a tenant or subscription refers to but the
/// catalog lacks.
pub fn missing_tier_or_policy(
    connection: &Connection,
    tier: Option<&str>,
    policy: Option<&str>,
) -> rusqlite::Result<Option<String>> {
    if let Some(tier) = tier {
        if !row_exists(connection, "tiers", "name", tier)? {
            return Ok(Some(format!("tier `{tier}` does not exist")));
        }
    }
    if let Some(policy) = policy {
        if !row_exists(connection, "security_policies", "name", policy)? {
            return Ok(Some(format!("security policy `{policy}` does not exist")));
        }
    }
    Ok(None)
}

/// Names the tenant that a subscription, monitoring or database row refers
/// to but the catalog lacks.
pub fn missing_tenant(
    connection: &Connection,
    tenant_id: &str,
) -> rusqlite::Result<Option<String>> {
    if row_exists(connection, "tenants", "tenant_id", tenant_id)? {
        return Ok(None);
    }
    Ok(Some(format!("tenant `{tenant_id}` does not exist")))
}
